"""Remembered requests that left memory, read back from the journal (docs/switch.md,
"Memory"; `switch.core.replay`).

A request's key is DE41 + DE11 + DE7; the index `journal_request` is on (DE7, DE41, DE11),
DE7 first, so that the look-ups of fresh requests (DE7 about now) read the same few hot pages
at the index's end. Tombstones (reversals answered `25`) have their own partial index on
the original's key. Each look-up is one indexed read; rows of business days before the
window (`since`) count as never answered, as they are pruned from memory. The same SQL runs
on both engines; SQLite is told the index (`Dialect.indexed_by`), PostgreSQL's planner picks it
from the same condition.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from switch.core.codes import NOT_REVERSIBLE, RC, UNREMEMBERED_KINDS, sql_list, sql_text
from switch.core.model import APPROVED, REVERSED, REVERSIBLE, Remembered, TxnKey
from switch.journal.codec import undone
from switch.journal.sql.common import OK, REVERSAL
from switch.journal.sql.db import Db, Dialect, dialect_of

#: `journal_tombstone`'s condition, repeated word for word by the query so that both planners
#: see the partial index applies.
TOMBSTONE_ROWS = f"kind = {REVERSAL} AND response_code = {sql_text(RC.ORIGINAL_NOT_FOUND)}"


@cache
def _request(dialect: Dialect) -> str:
    return (
        "SELECT id, business_day, kind, response_code, digest, response "
        f"FROM {dialect.indexed_by('journal', 'journal_request')} "
        "WHERE transmission = ? AND terminal_id = ? AND stan = ? "
        f"AND kind NOT IN {sql_list(UNREMEMBERED_KINDS)} AND business_day >= ? "
        "ORDER BY id DESC LIMIT 1")


@cache
def _tombstone(dialect: Dialect) -> str:
    return (
        f"SELECT id FROM {dialect.indexed_by('journal', 'journal_tombstone')} "
        "WHERE original_transmission = ? AND terminal_id = ? AND original_stan = ? "
        f"AND {TOMBSTONE_ROWS} AND business_day >= ? ORDER BY id DESC LIMIT 1")


_REVERSALS = (
    f"SELECT detail FROM journal WHERE original_id = ? AND kind = {REVERSAL} "
    f"AND response_code = {OK}")


def split_key(key: TxnKey) -> tuple[str, str, str]:
    """DE41, DE11, DE7 of a `txn_key` (DE11 and DE7 are digits; DE41 may hold anything)."""
    tid, stan, de7 = key.rsplit("|", 2)
    return tid, stan, de7


def remembered(conn: Db, key: TxnKey, since: dt.date, *,
               with_reversal: bool = False) -> tuple[Remembered, str | None] | None:
    """The newest remembered request with `key` from business day `since` on, and its stored
    reply (JSON); with `with_reversal`, flagged reversed when an approved reversal undid it."""
    tid, stan, de7 = split_key(key)
    row = conn.execute(_request(dialect_of(conn)), (de7, tid, stan, since.isoformat())).fetchone()
    if row is None:
        return None
    jid, day, kind, rc, digest, response = row
    flags = (APPROVED if rc == RC.APPROVED else 0) | \
        (0 if kind in NOT_REVERSIBLE else REVERSIBLE)
    if with_reversal and flags & REVERSIBLE and any(
            undone(detail) for (detail,) in conn.execute(_REVERSALS, (jid,))):
        flags |= REVERSED
    record = Remembered(bytes.fromhex(digest or ""), jid, dt.date.fromisoformat(day), flags)
    return record, response


def tombstone(conn: Db, key: TxnKey, since: dt.date) -> int | None:
    """The newest reversal answered `25` naming `key` as its original, from `since` on."""
    tid, stan, de7 = split_key(key)
    row = conn.execute(_tombstone(dialect_of(conn)), (de7, tid, stan, since.isoformat())).fetchone()
    return int(row[0]) if row is not None else None
