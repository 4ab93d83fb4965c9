"""Two `lps serve` nodes on one PostgreSQL journal, both taking terminals (docs/switch.md,
"Several nodes"): the database arbitrates a card's balance, a retransmission or a reversal
arriving at the other node finds what the first node committed."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from iso8583 import Message
from switch.config import ConfigError
from switch.config.loader import load_config
from tests.engines import query
from tests.pg.cluster import APP_DATABASE, APP_USER
from tests.pg.fixtures import ClusterFactory
from tests.pg.nodes import (
    ASCII,
    EXTRA_TERMINALS,
    ROOT,
    Node,
    answer,
    exchange,
    node_config,
    nodes,
    points,
)
from tests.switch.support import T1, burn, card, earn, inquiry, reversal, sign_on
from tests.waits import START

PAN = card(7001)
#: The extra terminals' store (tests/pg/nodes.py).
AT_STORE_1 = {42: "STORE0000000001"}


async def sign_on_all(terminals: dict[str, Node]) -> None:
    replies = await asyncio.gather(*(answer(node.port, sign_on(tid, 900001))
                                     for tid, node in terminals.items()))
    assert {r.text(39) for r in replies} == {"00"}


async def balance(node: Node, stan: int) -> int:
    reply = await answer(node.port, inquiry(T1, stan, PAN))
    assert reply.text(39) == "00", reply
    return points(reply)


def lps_check_full(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lps.cli", "check", "--full", "--config",
                           str(config)], cwd=ROOT, capture_output=True, text=True,
                          timeout=START)


def test_hundred_terminals_on_two_nodes_burn_one_balance_once(
        tmp_path: Path, pg_journal_url: str) -> None:
    with nodes(tmp_path, pg_journal_url) as (a, b):
        spread = {tid: (a, b)[i % 2] for i, tid in enumerate(EXTRA_TERMINALS)}

        async def scenario() -> tuple[list[Message], int, int]:
            await sign_on_all({T1: a, **spread})
            earned = await answer(a.port, earn(T1, 1, PAN, 2_000_000))
            assert earned.text(39) == "00", earned
            whole = points(earned)
            assert whole > 0
            # The other node decides on the journal, not on what it last saw.
            assert await balance(b, 2) == whole
            burns = [burn(tid, 10 + i, PAN, whole * 1000, extra=AT_STORE_1)
                     for i, tid in enumerate(spread)]
            replies = await asyncio.gather(*(answer(spread[m.text(41)].port, m)
                                             for m in burns))
            return replies, await balance(a, 3), await balance(b, 4)

        replies, on_a, on_b = asyncio.run(scenario())
        codes = sorted(r.text(39) for r in replies)
        assert codes == ["00"] + ["51"] * 99, codes
        assert (on_a, on_b) == (0, 0)
        assert [n.stop() for n in (a, b)] == [0, 0]
        for node in (a, b):
            node.start()
        assert asyncio.run(balance(a, 5)) == asyncio.run(balance(b, 6)) == 0
        assert [n.stop() for n in (a, b)] == [0, 0]
    checked = lps_check_full(a.config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    approved = query(pg_journal_url, "SELECT COUNT(*) FROM journal WHERE kind = 'redeem' "
                                     "AND response_code = '00'")
    assert approved == [(1,)]


def test_retransmission_at_the_other_node_gets_the_same_bytes(
        tmp_path: Path, pg_journal_url: str) -> None:
    with nodes(tmp_path, pg_journal_url) as (a, b):

        async def scenario() -> tuple[bytes, bytes, int]:
            await sign_on_all({T1: a})
            first = await exchange(a.port, earn(T1, 21, PAN, 500_000))
            again = await exchange(b.port, earn(T1, 21, PAN, 500_000))
            return first, again, await balance(b, 22)

        first, again, on_b = asyncio.run(scenario())
    assert ASCII.decode(first).text(39) == "00"
    assert again == first
    assert on_b == points(ASCII.decode(first))
    rows = query(pg_journal_url, "SELECT COUNT(*) FROM journal WHERE kind = 'earn'")
    assert rows == [(1,)]


def test_reversal_at_the_other_node_undoes_the_original_once(
        tmp_path: Path, pg_journal_url: str) -> None:
    with nodes(tmp_path, pg_journal_url) as (a, b):

        async def scenario() -> tuple[int, Message, Message, int, int]:
            await sign_on_all({T1: a})
            original = earn(T1, 31, PAN, 800_000)
            earned = await answer(a.port, original)
            assert earned.text(39) == "00", earned
            undo = reversal(original, 32)
            undone = await answer(b.port, undo)
            repeated = await answer(a.port, undo)  # the terminal repeats it at the first node
            return points(earned), undone, repeated, await balance(a, 33), \
                await balance(b, 34)

        earned, undone, repeated, on_a, on_b = asyncio.run(scenario())
    assert undone.text(39) == "00", undone
    assert repeated.fields == undone.fields
    assert earned > 0
    assert (on_a, on_b) == (0, 0)
    rows = query(pg_journal_url, "SELECT response_code, COUNT(*) FROM journal "
                                 "WHERE kind = 'reversal' GROUP BY 1")
    assert rows == [("00", 1)]


def test_nodes_take_turns_under_load_and_agree(tmp_path: Path, pg_journal_url: str) -> None:
    """Earns and burns on one card from both nodes at once: every approval is in the
    journal once, and both nodes (and the journal) end with the same balance."""
    with nodes(tmp_path, pg_journal_url) as (a, b):
        spread = {tid: (a, b)[i % 2] for i, tid in enumerate(EXTRA_TERMINALS[:20])}

        async def scenario() -> tuple[list[Message], list[Message], int, int]:
            await sign_on_all({T1: a, **spread})
            earns = [earn(tid, 40 + i, PAN, 100_000, extra=AT_STORE_1)
                     for i, tid in enumerate(spread)]
            burns = [burn(tid, 80 + i, PAN, 3_000, extra=AT_STORE_1)
                     for i, tid in enumerate(spread)]
            mixed = [m for pair in zip(earns, burns, strict=True) for m in pair]
            replies = await asyncio.gather(*(answer(spread[m.text(41)].port, m)
                                             for m in mixed))
            return mixed, replies, await balance(a, 120), await balance(b, 121)

        sent, replies, on_a, on_b = asyncio.run(scenario())
    approved = [(m, r) for m, r in zip(sent, replies, strict=True) if r.text(39) == "00"]
    assert on_a == on_b
    journal = query(pg_journal_url, "SELECT terminal_id, stan, COUNT(*) FROM journal "
                                    "WHERE response_code = '00' AND kind IN ('earn', 'redeem') "
                                    "GROUP BY 1, 2")
    assert sorted((t, s) for t, s, _ in journal) == sorted(
        (m.text(41), m.text(11)) for m, _ in approved)
    assert {n for _, _, n in journal} == {1}
    lots = query(pg_journal_url, f"SELECT COALESCE(SUM(remaining), 0) FROM lots "
                                 f"WHERE pan = '{PAN}' AND kind = 'points'")
    assert lots == [(on_a,)]


def test_a_single_node_and_nodes_of_several_never_serve_one_database_together(
        tmp_path: Path, pg_journal_url: str) -> None:
    with nodes(tmp_path / "shared", pg_journal_url) as (a, _):
        single, _port = node_config(tmp_path / "single", pg_journal_url)
        single.write_text(single.read_text().replace('nodes = "shared"\n', ""))
        refused = subprocess.run([sys.executable, "-m", "lps.cli", "serve", "--config",
                                  str(single)], cwd=ROOT, capture_output=True, text=True,
                                 timeout=START)
        assert refused.returncode != 0
        assert "another switch node serves this database" in refused.stderr
        assert a.proc is not None and a.proc.poll() is None


def test_shared_nodes_need_a_postgresql_journal(tmp_path: Path) -> None:
    config, _port = node_config(tmp_path, "postgresql://lps@127.0.0.1:1/lps")
    text = re.sub(r'(?m)^database = .*\n(state_dir = .*\n)?', f'database = "{tmp_path}/lps.db"\n',
                  config.read_text(), count=1)
    config.write_text(text)
    with pytest.raises(ConfigError, match="'shared' needs a postgresql:// database"):
        load_config(config)
    config.write_text(text.replace('nodes = "shared"', 'nodes = "many"'))
    with pytest.raises(ConfigError, match="must be 'single' or 'shared'"):
        load_config(config)


def test_a_node_killed_under_load_loses_nothing_and_the_other_answers_its_terminals(
        tmp_path: Path, pg_journal_url: str) -> None:
    """SIGKILL node A while terminals on both nodes earn and burn one card; A's terminals then
    send everything again to node B: what A replied comes back byte for byte, what A never
    replied is decided once, and the journal, the lots and node B agree."""
    with nodes(tmp_path, pg_journal_url) as (a, b):
        spread = {tid: (a, b)[i % 2] for i, tid in enumerate(EXTRA_TERMINALS[:12])}
        replied: dict[tuple[str, str], bytes] = {}
        sent_to_a: list[Message] = []

        async def lane(tid: str, node: Node, first: int) -> None:
            for n in range(first, first + 40):
                msg = (earn(tid, n, PAN, 300_000, extra=AT_STORE_1) if n % 3
                       else burn(tid, n, PAN, 2_000, extra=AT_STORE_1))
                if node is a:
                    sent_to_a.append(msg)
                try:
                    replied[(tid, msg.text(11))] = await exchange(node.port, msg)
                except (ConnectionError, OSError):
                    return  # node A is gone: this terminal moves to node B below

        async def killer() -> None:
            while len(replied) < 60:
                await asyncio.sleep(0.01)  # polls the replies counted so far
            assert a.proc is not None
            a.proc.kill()

        async def scenario() -> tuple[list[tuple[Message, bytes]], int]:
            await sign_on_all({T1: b, **spread})
            await asyncio.gather(killer(), *(lane(tid, node, 200)
                                             for tid, node in spread.items()))
            again = [(m, await exchange(b.port, m)) for m in sent_to_a]
            return again, await balance(b, 500)

        again, on_b = asyncio.run(scenario())
    assert sent_to_a and len(replied) >= 60
    for msg, reply in again:
        first = replied.get((msg.text(41), msg.text(11)))
        if first is not None:
            assert reply == first, msg
        assert ASCII.decode(reply).text(39) in ("00", "51"), msg
    counts = query(pg_journal_url, "SELECT terminal_id, stan, transmission, COUNT(*) FROM journal "
                                   "WHERE kind IN ('earn', 'redeem') GROUP BY 1, 2, 3")
    assert {n for *_, n in counts} == {1}
    approved = {(t, s) for t, s, rc in query(
        pg_journal_url, "SELECT terminal_id, stan, response_code FROM journal "
                        "WHERE kind IN ('earn', 'redeem')") if rc == "00"}
    for (tid, stan), reply in replied.items():
        assert (ASCII.decode(reply).text(39) == "00") == ((tid, stan) in approved)
    lots = query(pg_journal_url, f"SELECT COALESCE(SUM(remaining), 0) FROM lots "
                                 f"WHERE pan = '{PAN}' AND kind = 'points'")
    assert lots == [(on_b,)]


def test_two_nodes_keep_serving_across_a_database_failover(
        tmp_path: Path, pg_cluster_factory: ClusterFactory) -> None:
    """The primary SIGKILLed under both nodes' load and the synchronous standby promoted
    (pg_ctl standing in for Patroni): both nodes find it through the multi-host URL, every
    approval replied is on the new primary once, and both nodes agree with its lots."""
    with pg_cluster_factory(standby=True) as cluster:
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in reversed(cluster.nodes))
        url = (f"postgresql://{APP_USER}:{cluster.passwords[APP_USER]}@{hosts}/"
               f"{APP_DATABASE}")
        standby = cluster.standby
        with nodes(tmp_path, url) as (a, b):
            spread = {tid: (a, b)[i % 2] for i, tid in enumerate(EXTRA_TERMINALS[:8])}
            replied: dict[tuple[str, str], bytes] = {}

            async def lane(tid: str, node: Node) -> None:
                for n in range(300, 330):
                    msg = earn(tid, n, PAN, 200_000, extra=AT_STORE_1) if n % 3 \
                        else burn(tid, n, PAN, 1_000, extra=AT_STORE_1)
                    replied[(tid, msg.text(11))] = await exchange(node.port, msg)

            async def failover() -> None:
                while len(replied) < 40:
                    await asyncio.sleep(0.01)  # polls the replies counted so far
                cluster.kill_primary()
                await asyncio.to_thread(cluster.promote, standby)

            async def scenario() -> tuple[int, int]:
                await sign_on_all({T1: a, **spread})
                await asyncio.gather(failover(), *(lane(t, n) for t, n in spread.items()))
                return await balance(a, 600), await balance(b, 601)

            on_a, on_b = asyncio.run(scenario())
        assert len(replied) == 8 * 30
        rows = cluster.primary.query(
            "SELECT terminal_id, stan, response_code FROM journal "
            "WHERE kind IN ('earn', 'redeem')", dbname=APP_DATABASE)
        assert len(rows) == len({(t, s) for t, s, _ in rows})  # none twice
        approved = {(t, s) for t, s, rc in rows if rc == "00"}
        assert approved == {key for key, reply in replied.items()
                            if ASCII.decode(reply).text(39) == "00"}
        lots = cluster.primary.query(
            f"SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = '{PAN}' "
            "AND kind = 'points'", dbname=APP_DATABASE)
        assert [tuple(r) for r in lots] == [(on_a,)] and on_a == on_b


def test_programs_are_not_reloaded_on_a_node_of_several(tmp_path: Path,
                                                        pg_journal_url: str) -> None:
    with nodes(tmp_path, pg_journal_url, count=1) as (a,):
        refused = subprocess.run([sys.executable, "-m", "lps.cli", "programs", "reload",
                                  "--config", str(a.config)], cwd=ROOT, capture_output=True,
                                 text=True, timeout=START)
        assert refused.returncode != 0
        assert "not reloaded on a node of several" in refused.stderr
        assert asyncio.run(answer(a.port, sign_on(T1, 900003))).text(39) == "00"


def test_nodes_hold_their_requests_while_the_database_stops_answering(
        tmp_path: Path, pg_cluster_factory: ClusterFactory) -> None:
    """Every process of the database SIGSTOPped for a second while both nodes have burns of
    one card's whole balance to decide: no reply before the database answers again, then
    exactly one approval, and the journal holds it."""
    with pg_cluster_factory() as cluster:
        url = cluster.url(dbname=APP_DATABASE)
        with nodes(tmp_path, url) as (a, b):
            spread = {tid: (a, b)[i % 2] for i, tid in enumerate(EXTRA_TERMINALS[:10])}
            loop_time: dict[str, float] = {}

            async def timed(node: Node, msg: Message) -> tuple[float, Message]:
                reply = await answer(node.port, msg)
                return asyncio.get_running_loop().time(), reply

            async def scenario() -> tuple[list[tuple[float, Message]], int, int]:
                await sign_on_all({T1: a, **spread})
                whole = points(await answer(a.port, earn(T1, 700, PAN, 1_000_000)))
                cluster.primary.pause()
                try:
                    burns = [asyncio.create_task(timed(
                        node, burn(tid, 701, PAN, whole * 1000, extra=AT_STORE_1)))
                        for tid, node in spread.items()]
                    await asyncio.sleep(1.0)  # the length of the fault, not a wait for it
                finally:
                    loop_time["resumed"] = asyncio.get_running_loop().time()
                    cluster.primary.resume()
                return await asyncio.gather(*burns), await balance(a, 702), \
                    await balance(b, 703)

            replies, on_a, on_b = asyncio.run(scenario())
        approved = cluster.primary.query(
            "SELECT terminal_id FROM journal WHERE kind = 'redeem' AND response_code = '00'",
            dbname=APP_DATABASE)
    assert all(at >= loop_time["resumed"] for at, _ in replies)
    assert sorted(r.text(39) for _, r in replies) == ["00"] + ["51"] * 9
    winner = next(r.text(41) for _, r in replies if r.text(39) == "00")
    assert [tuple(row) for row in approved] == [(winner,)]
    assert (on_a, on_b) == (0, 0)
