"""`fetch(needs)`: exactly the committed rows one decision reads (`switch.core.needs`), into
`Facts` (docs/switch.md, "The request path", step 3). Per request, on the event loop: one
indexed look-up per row named, nothing else (a request that left memory: `recall`)."""

from __future__ import annotations

import datetime as dt

from switch.core.codes import Kind, sql_text
from switch.core.entries import Entry, LotDelta
from switch.core.facts import NOTHING_RETURNED, Checks, Facts, Needs, Returned, ReturnRow
from switch.core.model import Totals
from switch.journal.codec import detail_from_json, message_from_json, undone
from switch.journal.sql import coupons, recall
from switch.journal.sql.accounts import account_cards, account_fact
from switch.journal.sql.club import segment_of_card
from switch.journal.sql.common import LOT_COLUMNS, OK, REVERSAL, TOTALS_COLUMNS, lot, marks
from switch.journal.sql.db import Db


def fetch(conn: Db, needs: Needs, checks: Checks) -> Facts:
    reply = original = original_totals = earn = totals = None
    returned = NOTHING_RETURNED
    if needs.reply is not None:
        row = conn.execute("SELECT response FROM journal WHERE id = ?",
                           (needs.reply,)).fetchone()
        reply = message_from_json(row[0]) if row is not None and row[0] else None
    if needs.original is not None:
        original = journal_entry(conn, needs.original)
        if original is not None:  # no row: nothing counted in that batch yet
            original_totals = batch_totals(conn, original.terminal_id,
                                           original.batch) or Totals()
    if needs.earn is not None:
        earn = journal_entry(conn, needs.earn)
        returned = _returned(conn, needs.earn)
    if needs.totals is not None:
        totals = batch_totals(conn, *needs.totals)
    recalled = recalled_original = tombstone = None
    if needs.recall is not None:
        found = recall.remembered(conn, needs.recall, needs.recall_since)
        if found is not None:
            recalled = found[0]
            reply = message_from_json(found[1]) if found[1] else None
        if needs.recall_tombstone:
            tombstone = recall.tombstone(conn, needs.recall, needs.recall_since)
    if needs.recall_original is not None:
        found = recall.remembered(conn, needs.recall_original, needs.recall_since,
                                  with_reversal=True)
        if found is not None:
            recalled_original = found[0]
            if recalled_original.reversible:
                original = journal_entry(conn, recalled_original.journal_id)
                if original is not None:
                    original_totals = batch_totals(conn, original.terminal_id,
                                                   original.batch) or Totals()
                    # The returns standing against it, should it be an earn (reversal.py).
                    earn, returned = original, _returned(conn, original.id)
    account = account_fact(conn, needs.account) if needs.account is not None else None
    segment = segment_of_card(conn, needs.segment) if needs.segment is not None else None
    cards = account_cards(conn, needs.birthday) if needs.birthday is not None else None
    return Facts(needs, checks, reply, original, original_totals, earn, returned, totals,
                 account_row=account, coupon_facts=coupons.fetch_needs(conn, needs),
                 recalled=recalled, recalled_original=recalled_original, tombstone_id=tombstone,
                 recall_answered=True, card_segment=segment, birthday_cards=cards)


def batch_totals(conn: Db, terminal_id: str, batch: str) -> Totals | None:
    row = conn.execute(
        f"SELECT {', '.join(TOTALS_COLUMNS)} FROM batch_totals WHERE terminal_id = ? "
        "AND batch = ?", (terminal_id, batch)).fetchone()
    return Totals(*row) if row is not None else None


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
    "WHERE j.id = ? ORDER BY m.rowid")
_ENTRY_COLUMNS = 22


def journal_entry(conn: Db, journal_id: int) -> Entry | None:
    """A journal row as the `Entry` that wrote it, with its lot moves naming each lot in full
    (what a reversal undoes, or the lots an earn made), without its stored reply."""
    rows = conn.execute(_ENTRY, (journal_id,)).fetchall()
    if not rows:
        return None
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


def _returned(conn: Db, journal_id: int) -> Returned:
    """The approved returns against earn `journal_id`, and which of them (or it) an approved
    reversal undid."""
    returns = tuple(ReturnRow(r[0], r[1], -r[2]) for r in conn.execute(
        f"SELECT id, amount, points FROM journal WHERE kind = {sql_text(Kind.RETURN)} AND "
        f"response_code = {OK} AND original_id = ? ORDER BY id", (journal_id,)))
    targets = [journal_id, *(r.journal_id for r in returns)]
    reversed_ids = frozenset(oid for oid, detail in conn.execute(
        f"SELECT original_id, detail FROM journal WHERE kind = {REVERSAL} AND "
        f"response_code = {OK} AND original_id IN ({marks(targets)})",
        targets) if undone(detail))
    return Returned(returns, reversed_ids)
