"""The settlement bench's generated history (benches/settle_gen.py) is one the switch could have
written: the journal's full check passes on it (docs/switch.md: each lot holds what its moves
add up to, each card's lots what its rows add up to, each batch's totals what its approved
rows count), its card numbers pass the Luhn check, each reversal gives back exactly what its
original drew from the same card, and each 0500 records the batch's totals as the switch
counted them. Settling it accounts for every entry of the day."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from benches.settle_gen import DAY, DAY_BATCH, generate, store_ids
from settlement.day import DayBook
from settlement.journal import Journal, settle_journal
from settlement.netting import StoreInfo
from switch.core.luhn import luhn_ok
from switch.journal import open_reader

N, CARDS, STORES = 3000, 400, 10


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "day.db"
    generate(path, N, seed=5, cards=CARDS, stores=STORES)
    return path


def test_the_journals_full_check_passes(day: Path) -> None:
    reader = open_reader(day)
    try:
        result = reader.check(full=True)
    finally:
        reader.close()
    assert result.problems == []


def test_rows_are_as_the_switch_writes_them(day: Path) -> None:
    db = sqlite3.connect(f"file:{day}?mode=ro", uri=True)
    pans = [p for (p,) in db.execute("SELECT DISTINCT pan FROM journal WHERE pan != ''")]
    assert len(pans) > CARDS // 2 and all(luhn_ok(p) for p in pans)
    # Each lot was issued by the journal row it names: the card's, with a move of its size.
    issued = db.execute(
        "SELECT COUNT(*) FROM lots l JOIN journal j ON j.id = l.journal_id AND j.pan = l.pan "
        "JOIN lot_moves m ON m.journal_id = l.journal_id AND m.lot_id = l.id "
        "AND m.delta = l.initial").fetchone()[0]
    assert issued == db.execute("SELECT COUNT(*) FROM lots").fetchone()[0] > N // 2
    moves = defaultdict(list)
    for jid, lot, pan, delta in db.execute(
            "SELECT journal_id, lot_id, pan, delta FROM lot_moves ORDER BY rowid"):
        moves[jid].append((lot, pan, delta))
    reversals = db.execute(
        "SELECT r.id, r.pan, r.points, r.terminal_id, o.id, o.pan, o.points, o.terminal_id "
        "FROM journal r JOIN journal o ON o.id = r.original_id WHERE r.kind = 'reversal'"
    ).fetchall()
    assert len(reversals) > N // 50
    for rid, rpan, rpoints, rterm, oid, opan, opoints, oterm in reversals:
        assert (rpan, rterm, rpoints) == (opan, oterm, -opoints)
        assert moves[rid] == [(lot, pan, -delta) for lot, pan, delta in moves[oid]]
    # A 0500 records the switch's totals of the batch, which `batch_totals` holds too.
    totals = {t: row for t, *row in db.execute(
        "SELECT terminal_id, credits, credit_reversals, debits, debit_reversals, credit_amount,"
        " credit_reversal_amount, debit_amount, debit_reversal_amount FROM batch_totals "
        "WHERE batch = ?", (DAY_BATCH,))}
    closes = db.execute("SELECT terminal_id, detail FROM journal WHERE kind = 'batch_close'"
                        ).fetchall()
    assert len(closes) == 2 * STORES
    for tid, detail in closes:
        recorded = json.loads(detail)["switch"]
        assert [recorded[de] for de in ("74", "75", "76", "77", "86", "87", "88", "89")] \
            == totals[tid]
    db.close()


def test_settling_it_accounts_for_every_entry(day: Path) -> None:
    stores = {s: StoreInfo(s, s, "bench", 1000, "364") for s in store_ids(STORES)}
    journal = Journal(day)
    try:
        with journal:
            settled = settle_journal(journal, DayBook(DAY, stores), workers=1)
    finally:
        journal.close()
    assert settled.entries == N + 2 * STORES
    assert sum(settled.counts.values()) == settled.entries
    for side in (settled.points, settled.stored_value):
        assert side.obligations and sum(p.net for p in side.positions) == 0
    assert settled.breakage and settled.reconciliation
