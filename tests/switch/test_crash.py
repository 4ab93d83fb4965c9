"""Crash safety: SIGKILL the real `lps serve` process under load, restart it, check the journal,
on each engine (tests/engines.py).

Every approval a client received must be in the journal, no request may have taken effect
twice (retransmitting everything after the restart changes nothing already applied), and the
database invariants (balances = lots = journal) must hold. Then SIGTERM stops it gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from iso8583 import Message
from switch.client import TerminalClient
from switch.journal import open_journal
from tests.engines import query, toml_settings
from tests.ports import free_port
from tests.switch.support import EXAMPLE, T1, T2, T3, PatientClient, burn, card, earn, request
from tests.waits import EVENT, START

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp: Path, journal: dict[str, Any] | None = None) -> tuple[Path, int]:
    """The example configuration on a free port, its journal the one `journal` names
    (tests/engines.py; default: SQLite in `tmp`)."""
    port = free_port()
    text = EXAMPLE.read_text()
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"', 'metrics = ""')
    lines = toml_settings(journal or {"database": tmp / "lps.db"})
    text = re.sub(r'(?m)^database = "var/lps.db".*\n', lines, text, count=1)
    path = tmp / "lps.toml"
    path.write_text(text)
    return path, port


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lps.cli", "serve", "--config", str(config),
         "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + START
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"switch exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"switch not listening after {START:g} s")


PANS = [card(500 + i) for i in range(6)]


async def load(port: int, rng: random.Random, round_: int, kill_after: int,
               proc: subprocess.Popen[bytes]) -> tuple[dict[tuple[str, str, str], Message],
                                                       list[Message]]:
    """Pipelined earns and burns on 6 connections; SIGKILL after `kill_after` answers."""
    approved: dict[tuple[str, str, str], Message] = {}
    sent: list[Message] = []
    clients = [await PatientClient("ascii", "127.0.0.1", port).connect() for _ in range(6)]
    for i, tid in enumerate((T1, T2, T3)):
        await clients[0].send(request("0800", tid, 900000 + round_ * 10 + i, extra={70: "001"}))
    answered = 0
    killed = False

    async def lane(i: int, c: TerminalClient) -> None:
        nonlocal answered, killed
        tid = (T1, T2, T3)[i % 3]
        stan = round_ * 100_000 + i * 10_000
        inflight: set[asyncio.Future[Message]] = set()
        while not killed:
            stan += 1
            pan = rng.choice(PANS)
            msg = (earn(tid, stan, pan, rng.choice((50_000, 200_000))) if rng.random() < 0.6
                   else burn(tid, stan, pan, rng.choice((1_000, 5_000))))
            sent.append(msg)
            fut = c.send_nowait(msg)
            inflight.add(fut)

            def done(f: asyncio.Future[Message], m: Message = msg) -> None:
                nonlocal answered
                inflight.discard(f)
                if not f.cancelled() and f.exception() is None:
                    reply = f.result()
                    if reply.fields.get(39) == "00":
                        approved[(m.text(41), m.text(11), m.text(7))] = reply
                    answered += 1

            fut.add_done_callback(done)
            while len(inflight) >= 8 and not killed:
                await asyncio.wait(set(inflight), return_when=asyncio.FIRST_COMPLETED)
            if c.closed.is_set():
                return

    async def killer() -> None:
        nonlocal killed
        while answered < kill_after:
            await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        killed = True

    lanes = [asyncio.create_task(lane(i, c)) for i, c in enumerate(clients)]
    await killer()
    await asyncio.gather(*lanes, return_exceptions=True)
    for c in clients:
        await c.close()
    return approved, sent


async def retransmit_all(port: int, sent: list[Message]) -> dict[tuple[str, str, str], Message]:
    c = await PatientClient("ascii", "127.0.0.1", port).connect()
    replies = await asyncio.gather(*(c.send_nowait(m) for m in sent))
    await c.close()
    return {(m.text(41), m.text(11), m.text(7)): r for m, r in zip(sent, replies, strict=True)}


def journal_keys(db: str | Path) -> dict[tuple[str, str, str], int]:
    rows = query(db, "SELECT terminal_id, stan, transmission, COUNT(*) FROM journal "
                     "WHERE kind IN ('earn', 'redeem') GROUP BY 1, 2, 3")
    return {(t, s, d): n for t, s, d, n in rows}


def test_sigkill_under_load_loses_no_approval_and_applies_nothing_twice(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    config, port = write_config(tmp_path, journal_settings)
    rng = random.Random(20261123)
    db: str | Path = journal_settings.get("journal_url") or journal_settings["database"]
    total_approved = 0
    unanswered = 0
    for round_ in range(1, 4):
        proc = start(config, port)
        approved, sent = asyncio.run(load(port, rng, round_, rng.randint(50, 600), proc))
        proc.wait(EVENT)
        assert proc.returncode == -signal.SIGKILL
        total_approved += len(approved)
        unanswered += len(sent) - len(approved)
        keys = journal_keys(db)
        missing = [k for k in approved if k not in keys]
        assert not missing, f"round {round_}: approvals not in the journal: {missing[:5]}"
        assert all(n == 1 for n in keys.values())
        store = open_journal(db)
        assert store.check(full=True).problems == []
        store.close()
        # After the restart, every request sent is retransmitted: what was applied is
        # answered as before (identically for those the client saw), nothing applies twice.
        proc = start(config, port)
        replies = asyncio.run(retransmit_all(port, sent))
        for key, reply in approved.items():
            assert replies[key] == reply
        keys_after = journal_keys(db)
        assert all(n == 1 for n in keys_after.values())
        assert set(keys) <= set(keys_after)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
        store = open_journal(db)
        assert store.check(full=True).problems == []
        store.close()
    assert total_approved > 0
    assert unanswered > 0  # the kills did land with requests in flight
