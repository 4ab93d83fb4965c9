"""`python -m benches.bench_nodes`: conflicts per 1,000 requests with hot cards shared by two
switch nodes on one PostgreSQL journal (docs/switch.md, "Several nodes").

A conflict is a turn at which a node found that the other node had appended since its last
turn and read its state again (`lps_node_refresh_seconds`, from each node's metrics). Closed
loop: `--connections` connections per node, each one request outstanding, earns and burns
(60/40) over `--hot` cards for `--seconds`; then the same with one node taking every
connection. A fresh database per run on a temporary cluster of tests/pg (a primary with a
synchronous standby, `--no-standby` without); the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from psycopg import sql

from iso8583 import Message
from tests.pg.cluster import APP_USER, PgCluster, pg_cluster
from tests.pg.nodes import EXTRA_TERMINALS, Node, answer, node_config
from tests.ports import free_port
from tests.switch.support import burn, card, earn, sign_on

STORE_1 = {42: "STORE0000000001"}


@contextlib.contextmanager
def database(cluster: PgCluster, name: str) -> Iterator[str]:
    with cluster.primary.admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(APP_USER)))
    try:
        yield cluster.url(dbname=name)
    finally:
        with cluster.primary.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def counter(metrics_port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read()
    found = re.search(rf"(?m)^{name} ([0-9.e+]+)$", text.decode())
    return float(found.group(1)) if found else 0.0


def counters(ports: list[int]) -> tuple[float, float, float]:
    """(refreshes, their seconds, turns with rows) summed over the nodes."""
    return (sum(counter(port, "lps_node_refresh_seconds_count") for port in ports),
            sum(counter(port, "lps_node_refresh_seconds_sum") for port in ports),
            sum(counter(port, "lps_batch_entries_count") for port in ports))


async def drive(nodes: list[Node], ports: list[int], connections: int, hot: list[str],
                seconds: float, seed: int) -> tuple[int, int, float, float, float, float]:
    """Closed loop on every node, after signing on and priming the hot cards: answers,
    approvals, seconds, refreshes, their seconds and turns of the loop alone."""
    terminals = EXTRA_TERMINALS[: connections * len(nodes)]
    at = {tid: nodes[i % len(nodes)] for i, tid in enumerate(terminals)}
    await asyncio.gather(*(answer(node.port, sign_on(tid, 900001)) for tid, node in at.items()))
    # Every hot card gets points first, from the first node.
    for i, pan in enumerate(hot):
        await answer(nodes[0].port, earn(terminals[0], 800000 + i, pan, 5_000_000, extra=STORE_1))
    refreshed, refresh_took, turned = await asyncio.to_thread(counters, ports)
    started = time.monotonic()
    stop = started + seconds
    answers = approvals = 0

    async def lane(tid: str, node: Node, rng: random.Random) -> None:
        nonlocal answers, approvals
        stan = 1
        while time.monotonic() < stop:
            stan += 1
            pan = rng.choice(hot)
            msg: Message = (earn(tid, stan, pan, 100_000, extra=STORE_1) if rng.random() < 0.6
                            else burn(tid, stan, pan, 2_000, extra=STORE_1))
            reply = await answer(node.port, msg)
            answers += 1
            approvals += reply.text(39) == "00"

    await asyncio.gather(*(lane(tid, node, random.Random(f"{seed}-{tid}"))
                           for tid, node in at.items()))
    took = time.monotonic() - started
    refreshes, refresh_seconds, turns = await asyncio.to_thread(counters, ports)
    return (answers, approvals, took, refreshes - refreshed, refresh_seconds - refresh_took,
            turns - turned)


def run(cluster: PgCluster, count: int, args: argparse.Namespace, tmp: Path) -> None:
    name = f"bench_nodes_{count}_{os.getpid()}"
    with database(cluster, name) as url:
        made: list[tuple[Node, int]] = []
        for i in range(count):
            port = free_port()
            made.append((Node(*node_config(tmp / f"{count}-{i}", url, metrics=port)), port))
        try:
            for node, _ in made:
                node.start()
            nodes = [node for node, _ in made]
            hot = [card(9000 + i) for i in range(args.hot)]
            before = os.getloadavg()
            answers, approvals, took, refreshes, refresh_s, turns = asyncio.run(drive(
                nodes, [port for _, port in made], args.connections * 2 // count, hot,
                args.seconds, args.seed))
            after = os.getloadavg()
        finally:
            for node, _ in made:
                node.kill()
    print(f"{count} node(s), {args.hot} hot card(s), {args.connections * 2} connections: "
          f"{answers} answers ({answers / took:.0f}/s, {approvals} approved), {turns:.0f} "
          f"turns with rows, {refreshes:.0f} refreshes = {1000 * refreshes / answers:.0f} per "
          f"1,000 requests ({1000 * refresh_s / max(refreshes, 1):.1f} ms each); "
          f"load average {before[0]:.1f} -> {after[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=10, help="per node (of two)")
    parser.add_argument("--hot", type=int, default=4, help="cards every connection uses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-standby", action="store_true")
    args = parser.parse_args()
    with pg_cluster(standby=not args.no_standby) as cluster, \
            tempfile.TemporaryDirectory(prefix="lps-nodes-") as tmp:
        for count in (1, 2):
            run(cluster, count, args, Path(tmp))


if __name__ == "__main__":
    main()
