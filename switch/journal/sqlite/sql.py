"""SQL pieces the SQLite journal's modules share: literals from `switch.core.codes` and
column lists from the row types, so that neither a code nor a row shape is typed twice."""

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
JOURNAL_BATCH_TOTALS = (
    "SELECT j.terminal_id, j.batch, "
    f"SUM({_CREDIT}), SUM(CASE WHEN {_CREDIT} THEN j.amount ELSE 0 END), "
    f"SUM({_CREDIT} AND r.id IS NOT NULL), "
    f"SUM(CASE WHEN {_CREDIT} AND r.id IS NOT NULL THEN j.amount ELSE 0 END), "
    f"SUM(NOT {_CREDIT}), SUM(CASE WHEN NOT {_CREDIT} THEN j.amount ELSE 0 END), "
    f"SUM(NOT {_CREDIT} AND r.id IS NOT NULL), "
    f"SUM(CASE WHEN NOT {_CREDIT} AND r.id IS NOT NULL THEN j.amount ELSE 0 END) "
    "FROM journal j LEFT JOIN (SELECT DISTINCT original_id id FROM journal "
    f"WHERE kind = {REVERSAL} AND response_code = {OK} "
    "AND json_extract(detail, '$.undone')) r ON r.id = j.id "
    f"WHERE j.response_code = {OK} AND j.kind IN {sql_list(COUNTED_KINDS)} "
    "GROUP BY j.terminal_id, j.batch")
