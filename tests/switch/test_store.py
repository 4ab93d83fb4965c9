"""The journal: migrations, recovery, invariants, old earns for returns, fail-stop (the
recovery scenarios on each engine, tests/engines.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from iso8583.loyalty import parse_de54
from switch.core import NO_CHECKS, Needs, Request, handle, needs, parse_request
from switch.journal import RecoveryError, open_journal
from switch.journal.sqlite.journal import SqliteJournal
from switch.journal.sqlite.schema import MIGRATIONS, migrate
from switch.server import Switch
from tests.engines import raw
from tests.switch.support import (
    NOW,
    T1,
    T2,
    PatientClient,
    burn,
    card,
    dismantle,
    earn,
    example_config,
    request,
    sign_on,
)
from tests.switch.test_server import config_for
from tests.waits import EVENT

PAN = card(9)


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    store = SqliteJournal(tmp_path / "a.db")
    assert store.version == MIGRATIONS[-1][0]
    assert migrate(store.conn) == store.version
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"journal", "lots", "lot_moves", "cards", "terminals"} <= names
    store.close()


def test_return_of_an_earn_older_than_the_cache(journal_settings: dict[str, Any]) -> None:
    cfg = example_config(**journal_settings)
    store = open_journal(cfg.switch.journal)
    old = NOW - dt.timedelta(days=40)
    state = store.load(cfg, None, old)
    entries = []
    for msg in (sign_on(T2, now=old), earn(T2, 1, PAN, 500_000, now=old)):
        d = handle(state, msg, old)
        entries += d.entries
    rrn = str(d.response.fields[37])  # type: ignore[union-attr]
    store.append(entries)
    store.close()

    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, None, NOW)
    assert state.txns == {}  # outside the idempotency window
    ret = request("0200", T2, 2, pan=PAN, pc="200000", amount=250_000, tags={"OR": rrn})
    parsed = parse_request(ret, state.protocol)
    assert isinstance(parsed, Request) and needs(state, parsed).earn == int(rrn)
    d = handle(state, ret, NOW, fetch=store.fetch)
    assert d.response is not None and d.response.fields[39] == "00"
    store.append(d.entries)
    store.close()

    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, None, NOW)
    earn_row, returned = store.fetch(Needs(earn=int(rrn)), NO_CHECKS).earn(int(rrn))
    assert earn_row is not None and earn_row.points == 100
    assert [(r.amount, r.clawed) for r in returned.returns] == [(250_000, 50)]
    too_much = request("0200", T2, 3, pan=PAN, pc="200000", amount=250_001, tags={"OR": rrn})
    d = handle(state, too_much, NOW, fetch=store.fetch)
    assert d.response is not None and d.response.fields[39] == "13"
    half = request("0200", T2, 4, pan=PAN, pc="200000", amount=250_000, tags={"OR": rrn})
    d = handle(state, half, NOW, fetch=store.fetch)
    assert d.response is not None and d.response.fields[39] == "00"
    assert d.entries[0].points == -50
    store.append(d.entries)
    assert store.check(full=True).problems == []
    store.close()


def test_recovery_refuses_a_database_that_breaks_the_invariants(
        journal_settings: dict[str, Any]) -> None:
    cfg = example_config(**journal_settings)
    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, None, NOW)
    entries = []
    for msg in (sign_on(T1), earn(T1, 1, PAN, 100_000)):
        entries += handle(state, msg, NOW).entries
    store.append(entries)
    raw(store).execute("UPDATE lots SET remaining = remaining + 5")
    with pytest.raises(RecoveryError, match="invariants broken"):
        store.load(cfg, None, NOW)
    store.close()


def test_commit_failure_stops_the_switch(tmp_path: Path) -> None:
    async def main() -> None:
        sw = Switch(config_for(tmp_path))
        await sw.start()
        addr = sw.addresses["ascii"]
        c = await PatientClient("ascii", addr.host, addr.port).connect()
        assert (await c.send(request("0800", T1, 1, extra={70: "001"})))[39] == "00"
        r = await c.send(earn(T1, 2, PAN, 100_000))
        assert parse_de54(str(r[54]))[0].amount == 10
        # A real SQLite error on the next commit (not a mock): the journal refuses inserts.
        conn = sqlite3.connect(tmp_path / "lps.db")
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON journal "
                     "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        conn.commit()
        conn.close()
        fut = c.send_nowait(burn(T1, 3, PAN, 5_000))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(fut, EVENT)  # no answer: the approval never became durable
        await asyncio.wait_for(sw.stopped.wait(), EVENT)
        assert sw.failure is not None and "disk on fire" in sw.failure
        await c.close()
        await dismantle(sw)
    asyncio.run(main())
    # Restart (trigger removed by the operator): the burn that was never answered never happened.
    conn = sqlite3.connect(tmp_path / "lps.db")
    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    conn.close()
    store = SqliteJournal(tmp_path / "lps.db")
    state = store.load(config_for(tmp_path), None, NOW)
    assert sum(lot.remaining for lot in state.cards[PAN].lots) == 10
    store.close()
