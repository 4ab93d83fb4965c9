"""0500 totals are durable: a batch left open longer than the recovered window still balances.

The switch keeps each terminal batch's totals in `batch_totals`, changed in the same transaction
as the journal row; the shell reads a batch the cache has not seen right before deciding.
The scenarios run on each journal engine (tests/engines.py); the migration's is SQLite's own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import switch.journal.sqlite.schema
from switch.config import Config
from switch.core import (
    NO_CHECKS,
    Needs,
    Request,
    handle,
    journaled,
    needs,
    new_state,
    parse_request,
    prune,
)
from switch.core.model import Totals, txn_key
from switch.core.programs.rules import program_rules
from switch.journal import Journal, open_journal
from switch.journal.sql.verify import check_batch_totals, check_invariants
from switch.journal.sqlite.journal import SqliteJournal
from switch.journal.sqlite.schema import MIGRATIONS
from switch.server import Switch
from tests.engines import raw
from tests.switch.support import (
    NOW,
    T1,
    batch_close,
    burn,
    card,
    earn,
    example_config,
    reversal,
    sign_on,
)
from tests.switch.test_server import JOURNAL, client, config_for

PAN = card(31)
BATCH = "000042"
OLD = NOW - dt.timedelta(days=10)  # older than the 7-day idempotency window


@pytest.fixture
def journal(journal_settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The test's journal on its engine, which `config_for` (tests/switch/test_server.py)
    names too."""
    JOURNAL.update(journal_settings)
    yield journal_settings
    JOURNAL.clear()


def journal_totals(store: Journal, tid: str, batch: str) -> dict[int, int]:
    """The batch's totals recomputed from the journal, as PROTOCOL.md §4 defines them."""
    q = raw(store).execute
    fields = dict.fromkeys((74, 75, 76, 77, 86, 87, 88, 89), 0)
    for jid, pc, amount in q(
        "SELECT id, pc, amount FROM journal WHERE terminal_id = ? AND batch = ? AND "
        "response_code = '00' AND kind IN ('earn', 'advice', 'redeem', 'sv_purchase')",
        (tid, batch),
    ).fetchall():
        credit = pc == "000000"
        reversed_ = any(json.loads(detail).get("undone") for (detail,) in q(
            "SELECT detail FROM journal WHERE original_id = ? AND kind = 'reversal' AND "
            "response_code = '00'", (jid,)).fetchall())
        fields[74 if credit else 76] += 1
        fields[86 if credit else 88] += amount
        if reversed_:
            fields[75 if credit else 77] += 1
            fields[87 if credit else 89] += amount
    return fields


def old_batch(journal: dict[str, Any]) -> tuple[Config, dict[int, int]]:
    """A journal where T1's batch saw earns, a burn and a reversal ten days ago."""
    cfg = example_config(**journal)
    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, program_rules(cfg), OLD)
    entries = []
    first = earn(T1, 2, PAN, 300_000, now=OLD, batch=BATCH)
    for msg in (sign_on(T1, now=OLD), first, earn(T1, 3, PAN, 120_000, now=OLD, batch=BATCH),
                burn(T1, 4, PAN, 10_000, now=OLD, batch=BATCH),
                reversal(first, 5, now=OLD)):
        d = handle(state, msg, OLD)
        assert d.response is not None and d.response.fields[39] == "00", d.reason
        entries += d.entries
    store.append(entries)
    expected = state.totals[(T1, BATCH)].as_fields()
    assert expected == {74: 2, 75: 1, 76: 1, 77: 0, 86: 420_000, 87: 300_000, 88: 10_000,
                        89: 0}
    assert journal_totals(store, T1, BATCH) == expected
    store.close()
    return cfg, expected


def test_totals_are_stored_with_the_journal_and_read_back(journal: dict[str, Any]) -> None:
    cfg, expected = old_batch(journal)
    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, program_rules(cfg), NOW)
    assert state.txns == {}  # the whole batch is outside the idempotency window
    assert (T1, BATCH) not in state.totals
    # A 0500 of that batch needs its totals from the journal (the cache has not seen it).
    close = parse_request(batch_close(T1, 10, BATCH, expected), state.protocol)
    assert isinstance(close, Request)
    need = needs(state, close)
    assert need.totals == (T1, BATCH)
    assert store.fetch(need, NO_CHECKS).totals((T1, BATCH)).as_fields() == expected
    never = Needs(totals=(T1, "999999"))
    assert store.fetch(never, NO_CHECKS).totals((T1, "999999")) == Totals()  # never seen: zeros
    store.close()


def test_a_batch_older_than_the_window_balances_after_a_restart(
        tmp_path: Path, journal: dict[str, Any]) -> None:
    _, expected = old_batch(journal)
    cfg = config_for(tmp_path)

    async def main() -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            c = await client(sw, "ascii")
            assert (await c.send(sign_on(T1))).fields[39] == "00"
            r = await c.send(batch_close(T1, 10, BATCH, expected))
            assert r.fields[39] == "00"
            # More activity in the same old batch after the restart adds to it.
            assert (await c.send(earn(T1, 11, PAN, 50_000, batch=BATCH))).fields[39] == "00"
            later = {**expected, 74: expected[74] + 1, 86: expected[86] + 50_000}
            assert (await c.send(batch_close(T1, 12, BATCH, expected))).fields[39] == "95"
            assert (await c.send(batch_close(T1, 13, BATCH, later))).fields[39] == "00"
            await c.close()
        finally:
            await sw.stop()
        store = open_journal(cfg.switch.journal)
        assert journal_totals(store, T1, BATCH) == later
        stored = raw(store).execute(
            "SELECT credits, credit_amount FROM batch_totals WHERE terminal_id = ? AND "
            "batch = ?", (T1, BATCH)).fetchone()
        assert stored == (later[74], later[86])
        store.close()
    asyncio.run(main())


def test_reversal_after_restart_counts_in_its_originals_batch(
        tmp_path: Path, journal: dict[str, Any]) -> None:
    cfg = config_for(tmp_path)
    burn_msg = burn(T1, 22, PAN, 5_000, batch=BATCH)

    async def first() -> None:
        sw = Switch(cfg)
        await sw.start()
        c = await client(sw, "ascii")
        assert (await c.send(sign_on(T1))).fields[39] == "00"
        assert (await c.send(earn(T1, 21, PAN, 200_000, batch=BATCH))).fields[39] == "00"
        assert (await c.send(burn_msg)).fields[39] == "00"
        await c.close()
        await sw.stop()

    async def second() -> None:
        sw = Switch(cfg)
        await sw.start()
        c = await client(sw, "ascii")
        # The reversal names no batch of its own: it counts in the burn's.
        assert (await c.send(reversal(burn_msg, 23))).fields[39] == "00"
        totals = {74: 1, 75: 0, 76: 1, 77: 1, 86: 200_000, 87: 0, 88: 5_000, 89: 5_000}
        assert (await c.send(batch_close(T1, 24, BATCH, totals))).fields[39] == "00"
        await c.close()
        await sw.stop()

    asyncio.run(first())
    asyncio.run(second())
    store = open_journal(cfg.switch.journal)
    assert journal_totals(store, T1, BATCH)[77] == 1
    store.close()


def test_the_full_check_compares_them_with_the_journal(journal: dict[str, Any]) -> None:
    cfg, _ = old_batch(journal)
    store = open_journal(cfg.switch.journal)
    assert check_batch_totals(raw(store)) == []
    raw(store).execute("UPDATE batch_totals SET debit_amount = debit_amount + 1")
    problems = check_invariants(raw(store))
    assert len(problems) == 1 and f"batch {T1}/{BATCH}" in problems[0]
    store.close()


def test_migration_fills_them_from_an_older_journal(tmp_path: Path, monkeypatch: Any) -> None:
    cfg = example_config(tmp_path / "old.db")
    with monkeypatch.context() as m:
        m.setattr(switch.journal.sqlite.schema, "MIGRATIONS", [x for x in MIGRATIONS if x[0] < 7])
        store = SqliteJournal(cfg.switch.database)
        state = store.load(cfg, program_rules(cfg), OLD)
        first = earn(T1, 2, PAN, 300_000, now=OLD, batch=BATCH)
        entries = []
        for msg in (sign_on(T1, now=OLD), first, burn(T1, 3, PAN, 2_000, now=OLD, batch=BATCH),
                    reversal(first, 4, now=OLD)):
            d = handle(state, msg, OLD)
            entries += d.entries
        for e in entries:
            e.totals = None  # the switch before migration 7 kept no batch totals
        store.append(entries)
        store.close()
    store = SqliteJournal(cfg.switch.database)
    row = store.conn.execute("SELECT * FROM batch_totals").fetchall()
    assert row == [(T1, BATCH, 1, 300_000, 1, 300_000, 1, 2_000, 0, 0)]
    assert check_batch_totals(store.conn) == []
    store.close()


def test_prune_keeps_only_totals_an_uncommitted_entry_counted_in() -> None:
    cfg = example_config()
    state = new_state(cfg, program_rules(cfg))
    old_earn = earn(T1, 2, PAN, 300_000, now=OLD, batch="000101")
    entries = []
    for msg, now in ((sign_on(T1, now=OLD), OLD), (old_earn, OLD),
                     (earn(T1, 3, PAN, 100_000, batch="000102"), NOW),
                     (reversal(old_earn, 4), NOW)):  # counts in the old earn's batch
        d = handle(state, msg, now)
        assert d.response is not None and d.response.fields[39] == "00", d.reason
        entries += d.entries
    assert state.totals[(T1, "000101")].credit_reversals == 1
    assert prune(state, NOW) >= 1
    assert old_earn_key(old_earn) not in state.txns
    # Nothing committed yet: the journal's batch_totals lack every count, all are kept.
    assert (T1, "000101") in state.totals and (T1, "000102") in state.totals
    journaled(state, entries[:-1])  # committed, all but the reversal
    prune(state, NOW)
    assert (T1, "000102") not in state.totals  # read back from batch_totals when named again
    assert state.totals[(T1, "000101")].credit_reversals == 1
    journaled(state, entries[-1:])
    prune(state, NOW)
    assert state.totals == {}


def old_earn_key(msg: Any) -> str:
    return txn_key(msg.text(41), msg.text(11), msg.text(7))
