"""SQL pieces the journal's modules share: literals from `switch.core.codes` and column lists
from the row types, so that neither a code nor a row shape is typed twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any

from switch.core.codes import (
    COUNTED_KINDS,
    CREDIT_PCS,
    DEBIT_PCS,
    RC,
    Kind,
    LotKind,
    sql_list,
    sql_text,
)
from switch.core.model import Lot, Totals
from switch.journal.sql.db import Db, Dialect, dialect_of

OK = sql_text(RC.APPROVED)
POINTS, SV = sql_text(LotKind.POINTS), sql_text(LotKind.STORED_VALUE)
REVERSAL = sql_text(Kind.REVERSAL)

#: The `batch_totals` counters, in `Totals`' order (docs/switch.md, migration 7).
TOTALS_COLUMNS = tuple(f.name for f in fields(Totals))

#: A `lots` row in `Lot`'s order (`lot` reads it back).
LOT_COLUMNS = ("id, pan, kind, store_id, coalition_id, earned_on, expires_on, initial, "
               "remaining")


def lot(row: Sequence[Any]) -> Lot:
    lid, pan, kind, store, coalition, earned, expires, initial, remaining = row
    return Lot(lid, pan, kind, store, coalition, dt.date.fromisoformat(earned),
               dt.date.fromisoformat(expires) if expires else None, initial, remaining)


def card_lots(conn: Db, pan: str,
              stores: Collection[str] | None = None) -> tuple[list[Lot], list[Lot]]:
    """One card's live lots, points and stored value, by id (those of `stores` when given):
    what recovery loads for it, committed rows only, which is all a card nobody has decided
    on since holds."""
    lots: list[Lot] = []
    purse: list[Lot] = []
    where, ids = scoped("store_id", stores)
    for row in conn.execute(f"SELECT {LOT_COLUMNS} FROM {live_lots(dialect_of(conn))} "
                            f"WHERE pan = ? AND remaining != 0{where} ORDER BY id", (pan, *ids)):
        one = lot(row)
        (lots if one.kind == LotKind.POINTS else purse).append(one)
    return lots, purse


def live_lots(dialect: Dialect) -> str:
    """`lots`, read for some cards' live lots through the partial index of live lots.

    SQLite planned `pan = ? AND remaining != 0` on an index of every lot by card as readily
    (`lots_pan`, until migration 17), which walks every lot the card ever had: a card with
    5,000 spent lots took 418 µs that way against 11 µs (benches/README.md, "Live lots by
    card"). Named, no such index can take its place. PostgreSQL plans by its statistics and
    takes no hint."""
    return dialect.indexed_by("lots", "lots_live")


def marks(values: Sequence[Any]) -> str:
    """`?,?,?` for an `IN (...)` over `values`."""
    return ",".join("?" * len(values))


def scoped(column: str, stores: Collection[str] | None) -> tuple[str, list[str]]:
    """`AND column IN (...)` for a reader limited to `stores`; nothing for all of them."""
    if stores is None:
        return "", []
    ids = sorted(stores)
    return f" AND {column} IN ({marks(ids)})", ids


#: A terminal batch's 0500 totals (docs/protocol.md §4) from the journal: approved
#: earns/advices (credits) and redemptions (debits) by the batch they were made in, and those
#: of them an approved reversal undid. The backfill of migration 7 and `lps check --full` use it.
_CREDIT = f"j.pc IN {sql_list(CREDIT_PCS)}"
assert len(CREDIT_PCS) == 1 and not CREDIT_PCS & DEBIT_PCS  # debits: every other counted pc


def _count(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _amount(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN j.amount ELSE 0 END)"


def journal_batch_totals(dialect: Dialect) -> str:
    """Every batch's totals as the journal adds them up: (terminal, batch, *TOTALS_COLUMNS)."""
    credit, debit, undone = _CREDIT, f"NOT {_CREDIT}", "r.id IS NOT NULL"
    return (
        "SELECT j.terminal_id, j.batch, "
        f"{_count(credit)}, {_amount(credit)}, "
        f"{_count(f'{credit} AND {undone}')}, {_amount(f'{credit} AND {undone}')}, "
        f"{_count(debit)}, {_amount(debit)}, "
        f"{_count(f'{debit} AND {undone}')}, {_amount(f'{debit} AND {undone}')} "
        "FROM journal j LEFT JOIN (SELECT DISTINCT original_id AS id FROM journal "
        f"WHERE kind = {REVERSAL} AND response_code = {OK} "
        f"AND {dialect.json_is_true('detail', 'undone')}) r ON r.id = j.id "
        f"WHERE j.response_code = {OK} AND j.kind IN {sql_list(COUNTED_KINDS)} "
        "GROUP BY j.terminal_id, j.batch")
