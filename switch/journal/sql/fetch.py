"""`fetch(needs)`: exactly the committed rows one decision reads (`switch.core.needs`), into
`Facts` (docs/switch.md, "The request path", step 3). Per request, on the event loop: one
indexed look-up per row named, nothing else (a request that left memory: `recall`)."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from iso8583.message import Message
from switch.core.codes import Kind, sql_text
from switch.core.entries import Entry, LotDelta
from switch.core.facts import NOTHING_RETURNED, Checks, Facts, Needs, Returned, ReturnRow
from switch.core.model import Totals
from switch.journal.codec import detail_from_json, message_from_json, undone
from switch.journal.sql import coupons, recall
from switch.journal.sql.accounts import account_cards, account_fact
from switch.journal.sql.club import segment_of_card
from switch.journal.sql.common import LOT_COLUMNS, OK, REVERSAL, TOTALS_COLUMNS, lot
from switch.journal.sql.db import Cursor, Db, PipelineDb


def fetch(conn: Db, needs: Needs, checks: Checks) -> Facts:
    recalled_original = None
    original_id = needs.original
    earn_id = needs.earn
    if needs.recall_original is not None:  # its record names the row: read before the row
        found = recall.remembered(conn, needs.recall_original, needs.recall_since,
                                  with_reversal=True)
        if found is not None:
            recalled_original = found[0]
            if recalled_original.reversible:
                # The returns standing against it, should it be an earn (reversal.py).
                original_id = earn_id = recalled_original.journal_id
    with _together(conn, needs, original_id, earn_id):
        reply_rows = _by_id(conn, _REPLY, needs.reply)
        original_rows = _by_id(conn, _ENTRY, original_id)
        original_totals_rows = _by_id(conn, _ENTRY_TOTALS, original_id)
        earn_rows = original_rows if earn_id == original_id else _by_id(conn, _ENTRY, earn_id)
        returns_rows = None if earn_id is None else (
            conn.execute(_RETURNS, {"id": earn_id}), conn.execute(_UNDONE, {"id": earn_id}))
        totals_rows = None if needs.totals is None else conn.execute(_TOTALS, needs.totals)
    reply = _reply(reply_rows)
    original = _entry(original_rows, original_id)
    original_totals = None if original is None else \
        _totals(original_totals_rows) or Totals()  # no row: nothing counted in that batch yet
    earn = original if earn_rows is original_rows else _entry(earn_rows, earn_id)
    returned = NOTHING_RETURNED if returns_rows is None else _returned(*returns_rows)
    totals = _totals(totals_rows)
    recalled = tombstone = None
    if needs.recall is not None:
        found = recall.remembered(conn, needs.recall, needs.recall_since)
        if found is not None:
            recalled = found[0]
            reply = message_from_json(found[1]) if found[1] else None
        if needs.recall_tombstone:
            tombstone = recall.tombstone(conn, needs.recall, needs.recall_since)
    account = account_fact(conn, needs.account) if needs.account is not None else None
    segment = segment_of_card(conn, needs.segment) if needs.segment is not None else None
    cards = account_cards(conn, needs.birthday) if needs.birthday is not None else None
    return Facts(needs, checks, reply, original, original_totals, earn, returned, totals,
                 account_row=account, coupon_facts=coupons.fetch_needs(conn, needs),
                 recalled=recalled, recalled_original=recalled_original, tombstone_id=tombstone,
                 recall_answered=True, card_segment=segment, birthday_cards=cards)


def _together(conn: Db, needs: Needs, original_id: int | None, earn_id: int | None
              ) -> AbstractContextManager[Any]:
    """On a server, the rows of a decision's ids (its reply, its original with its batch's
    totals, an earn with its returns) and a batch's totals in one round trip: every statement
    is keyed by what the needs name, none by another's rows. The event loop waits for the
    server once a decision instead of once a statement."""
    several = original_id is not None or earn_id is not None \
        or (needs.reply is not None and needs.totals is not None)
    if several and isinstance(conn, PipelineDb):
        return conn.pipeline()
    return nullcontext()


def _by_id(conn: Db, sql: str, journal_id: int | None) -> Cursor | None:
    return None if journal_id is None else conn.execute(sql, {"id": journal_id})


_REPLY = "SELECT response FROM journal WHERE id = :id"


def _reply(rows: Cursor | None) -> Message | None:
    row = None if rows is None else rows.fetchone()
    return message_from_json(row[0]) if row is not None and row[0] else None


def _totals(rows: Cursor | None) -> Totals | None:
    row = None if rows is None else rows.fetchone()
    return Totals(*row) if row is not None else None


_TOTALS_OF = ", ".join(f"b.{c}" for c in TOTALS_COLUMNS)
#: A terminal batch's totals.
_TOTALS = (f"SELECT {_TOTALS_OF} FROM batch_totals b WHERE b.terminal_id = ? "
           "AND b.batch = ?")
#: The totals of the batch a journal row counted in (a reversal's original's): keyed by the
#: row, so that it goes out with the row's statement instead of after its rows.
_ENTRY_TOTALS = (f"SELECT {_TOTALS_OF} FROM journal j JOIN batch_totals b "
                 "ON b.terminal_id = COALESCE(j.terminal_id, '') "
                 "AND b.batch = COALESCE(j.batch, '') WHERE j.id = :id")


_MOVED_LOT = ", ".join(f"l.{c.strip()}" for c in LOT_COLUMNS.split(","))


#: A journal row with its lot moves, each naming its lot in full: one row a move in the order
#: they were written (one row with no move when it moved none; a move whose lot is missing
#: comes with no lot, and is left out as the inner join of the moves and their lots would).
#: One statement, which on PostgreSQL is one round trip on the event loop rather than two.
_ENTRY = (
    "SELECT j.at, j.business_day, j.kind, j.mti, j.pc, j.terminal_id, j.store_id, "
    "j.coalition_id, j.pan, j.stan, j.transmission, j.rrn, j.amount, j.points, j.sv, "
    "j.response_code, j.batch, j.digest, j.original_id, j.original_stan, "
    f"j.original_transmission, j.detail, m.delta, {_MOVED_LOT} FROM journal j "
    "LEFT JOIN lot_moves m ON m.journal_id = j.id LEFT JOIN lots l ON l.id = m.lot_id "
    "WHERE j.id = :id ORDER BY m.rowid")
_ENTRY_COLUMNS = 22


def _entry(cursor: Cursor | None, journal_id: int | None) -> Entry | None:
    """A journal row as the `Entry` that wrote it, with its lot moves naming each lot in full
    (what a reversal undoes, or the lots an earn made), without its stored reply."""
    rows = [] if cursor is None else cursor.fetchall()
    if not rows:
        return None
    assert journal_id is not None
    (at, day, kind, mti, pc, tid, store, coalition, pan, stan, de7, rrn, amount, points, sv,
     rc, batch, digest, original_id, ostan, ode7, detail) = rows[0][:_ENTRY_COLUMNS]
    moves = [LotDelta(lot(r[_ENTRY_COLUMNS + 1:]), r[_ENTRY_COLUMNS]) for r in rows
             if r[_ENTRY_COLUMNS + 1] is not None]
    return Entry(
        id=journal_id, at=dt.datetime.fromisoformat(at), business_day=dt.date.fromisoformat(day),
        kind=kind, mti=mti or "", pc=pc or "", terminal_id=tid or "", store_id=store or "",
        coalition_id=coalition or "", pan=pan or "", stan=stan or "", transmission=de7 or "",
        rrn=rrn or "", amount=amount, points=points, sv=sv, response_code=rc or "",
        batch=batch or "", digest=digest or "", original_id=original_id,
        original_key=(tid or "", ostan, ode7) if ostan is not None else None,
        detail=detail_from_json(detail), lot_deltas=moves)


#: The approved returns against an earn.
_RETURNS = (f"SELECT id, amount, points FROM journal WHERE kind = {sql_text(Kind.RETURN)} "
            f"AND response_code = {OK} AND original_id = :id ORDER BY id")
#: The approved reversals of an earn or of one of its approved returns: keyed by the earn
#: alone, so that it goes out with the returns' statement instead of after its rows.
_UNDONE = (f"SELECT original_id, detail FROM journal WHERE kind = {REVERSAL} AND "
           f"response_code = {OK} AND original_id IN ("
           "SELECT :id UNION ALL "
           f"SELECT id FROM journal WHERE kind = {sql_text(Kind.RETURN)} AND "
           f"response_code = {OK} AND original_id = :id)")


def _returned(returns_rows: Cursor, undone_rows: Cursor) -> Returned:
    """The approved returns against an earn, and which of them (or it) an approved reversal
    undid."""
    returns = tuple(ReturnRow(r[0], r[1], -r[2]) for r in returns_rows)
    reversed_ids = frozenset(oid for oid, detail in undone_rows if undone(detail))
    return Returned(returns, reversed_ids)
