"""The money invariants and the verified checkpoint (migration 6; docs/switch.md, the journal).

(L) each lot's `remaining` is the sum of its `lot_moves`; (C) per card and kind, the lots'
`remaining` add up to the card's journal `points` (or `sv`). `check_invariants` re-adds the
whole history. The checkpoint (`verified`) records a journal id J up to which that history has
been checked, and what it adds up to: `verified_lots.moved` is the sum of a lot's moves with
`journal_id <= J` (with the card and kind its moves name), `verified_cards.total` the sum of a
card's journal points (sv) with `id <= J`; an absent row stands for 0.

It rests on the journal being append-only in id order: rows with ids up to J never change and
none are added below J (`write_batch` refuses ids that are not above every committed one). So
the sums up to J are facts about immutable rows, and a later check needs to add up only the
rows after J. `verify` checks those rows and compares the current `lots` against checkpoint +
tail; `advance` moves J forward, recomputing the new sums from the same immutable rows (never
from `lots`), inside whichever write transaction applies it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from switch.journal.reports import CheckResult, Verification
from switch.journal.sql import coupons
from switch.journal.sql.common import (
    POINTS,
    SV,
    TOTALS_COLUMNS,
    journal_batch_totals,
    live_lots,
)
from switch.journal.sql.db import Db, dialect_of, tables

#: Tail lots: every lot with a move after `after` against its checkpoint plus those moves (L).
_TAIL_LOTS = (
    "SELECT t.lot_id, l.remaining, COALESCE(v.moved, 0) + t.s, l.pan, l.kind, "
    "COALESCE(v.pan, l.pan), COALESCE(v.kind, l.kind) FROM "
    "(SELECT lot_id, SUM(delta) s FROM lot_moves WHERE journal_id > :after "
    "AND journal_id <= :upto GROUP BY lot_id) t "
    "LEFT JOIN lots l ON l.id = t.lot_id LEFT JOIN verified_lots v ON v.lot_id = t.lot_id "
    "WHERE l.remaining IS NULL OR l.remaining != COALESCE(v.moved, 0) + t.s "
    "OR l.pan != v.pan OR l.kind != v.kind ORDER BY t.lot_id LIMIT 20")

#: Tail moves naming another card or kind than their lot's.
_TAIL_OWNERS = (
    "SELECT m.lot_id, l.pan, l.kind, m.pan, m.kind FROM lot_moves m JOIN lots l "
    "ON l.id = m.lot_id WHERE m.journal_id > :after AND m.journal_id <= :upto "
    "AND (l.pan != m.pan OR l.kind != m.kind) ORDER BY m.lot_id LIMIT 20")

#: The lots the tail moves.
_TAIL_LOT_IDS = "(SELECT lot_id FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto)"

#: Every other lot against its checkpoint (L): each verified lot still holds what was verified,
#: and still belongs to the card and kind its moves named (so every card's sum stays (C))...
#: The tail's lots are left out of the few rows that differ, not probed for every verified lot
#: (`MATERIALIZED`: the planner must not move the test back into the scan).
_CHECKPOINT_LOTS = (
    "WITH differ AS MATERIALIZED (SELECT v.lot_id, l.remaining, v.moved, l.pan, l.kind, "
    "v.pan AS was_pan, v.kind AS was_kind FROM verified_lots v LEFT JOIN lots l "
    "ON l.id = v.lot_id WHERE l.remaining IS NULL OR l.remaining != v.moved "
    "OR l.pan != v.pan OR l.kind != v.kind) "
    "SELECT lot_id, remaining, moved, pan, kind, was_pan, was_kind FROM differ "
    f"WHERE lot_id NOT IN {_TAIL_LOT_IDS} ORDER BY lot_id LIMIT 20")
#: ...and no other lot is live: as many live lots outside the tail as verified ones. Each count
#: outside the tail is the whole count less the tail's part (the tail is a set of lot ids), so
#: only the tail's few lots are looked up, not every lot tested against the tail.
_LIVE_UNVERIFIED_COUNT = (
    "SELECT (SELECT COUNT(*) FROM lots WHERE remaining != 0) "
    f"- (SELECT COUNT(*) FROM lots WHERE remaining != 0 AND id IN {_TAIL_LOT_IDS}) "
    "- (SELECT COUNT(*) FROM verified_lots) "
    f"+ (SELECT COUNT(*) FROM verified_lots WHERE lot_id IN {_TAIL_LOT_IDS})")
_LIVE_UNVERIFIED = (
    "SELECT id, remaining, 0 FROM lots WHERE remaining != 0 AND id NOT IN "
    f"(SELECT lot_id FROM verified_lots) AND id NOT IN {_TAIL_LOT_IDS} "
    "ORDER BY id LIMIT 20")

_TAIL_SUMS = (
    f"SELECT pan, {POINTS} kind, SUM(points) s FROM journal WHERE id > :after "
    "AND id <= :upto AND points != 0 GROUP BY pan UNION ALL "
    f"SELECT pan, {SV}, SUM(sv) FROM journal WHERE id > :after AND id <= :upto AND sv != 0 "
    "GROUP BY pan")


#: The cards the tail touched (journal rows, or moves of their lots): live lots against the
#: checkpoint's total plus the journal rows after it (C). `{lots}`: the table as the
#: dialect reads a card's live lots (`common.live_lots`).
_TAIL_CARDS = (
    f"WITH tail(pan, kind, s) AS ({_TAIL_SUMS}), "
    "touched(pan) AS (SELECT pan FROM tail UNION SELECT l.pan FROM lot_moves m "
    "JOIN lots l ON l.id = m.lot_id WHERE m.journal_id > :after AND m.journal_id <= :upto) "
    "SELECT pan, kind, SUM(a), SUM(b) FROM ("
    "SELECT pan, kind, remaining a, 0 b FROM {lots} WHERE remaining != 0 "
    "AND pan IN (SELECT pan FROM touched) "
    "UNION ALL SELECT pan, kind, 0, total FROM verified_cards "
    "WHERE pan IN (SELECT pan FROM touched) "
    "UNION ALL SELECT pan, kind, 0, s FROM tail"
    ") AS sums GROUP BY pan, kind HAVING SUM(a) != SUM(b) LIMIT 20")


def _lot_problem(lot_id: int, remaining: int | None, expected: int) -> str:
    if remaining is None:
        return f"lot {lot_id}: has moves summing to {expected} but no lot row"
    return f"lot {lot_id}: remaining {remaining} but its moves sum to {expected}"


def _owner_problem(lot_id: int, pan: str, kind: str, was_pan: str, was_kind: str) -> str:
    return (f"lot {lot_id}: belongs to card {pan[:6]}...{pan[-4:]} ({kind}) but its moves name "
            f"card {was_pan[:6]}...{was_pan[-4:]} ({was_kind})")


def _checkpoint_lot_problem(lot_id: int, remaining: int | None, moved: int, pan: str | None,
                            kind: str | None, was_pan: str, was_kind: str) -> str:
    if remaining is None or pan is None or kind is None or remaining != moved:
        return _lot_problem(lot_id, remaining, moved)
    return _owner_problem(lot_id, pan, kind, was_pan, was_kind)


def _card_problem(pan: str, kind: str, lots_sum: int, journal_sum: int) -> str:
    return (f"card {pan[:6]}...{pan[-4:]}: {kind} lots sum to {lots_sum} "
            f"but its journal entries to {journal_sum}")


@contextmanager
def snapshot(conn: Db) -> Iterator[None]:
    """One read transaction: every query in the block sees the same committed state."""
    assert not conn.in_transaction
    conn.execute(dialect_of(conn).begin_snapshot)
    try:
        yield
    finally:
        conn.execute("COMMIT")


def verified_upto(conn: Db) -> int:
    """J: every journal row and lot move with a journal id up to it has been verified."""
    row = conn.execute("SELECT journal_id FROM verified WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def verify(conn: Db, *, everything: bool) -> Verification:
    """Check the journal rows after the verified checkpoint, in one read snapshot.

    Always, for the rows after the checkpoint J (up to the newest committed row): every lot
    they move has `remaining` = its checkpoint sum + those moves (L, as the full check) and the
    card and kind its moves name, and every card they touch has live lots summing to its
    checkpoint total + those journal rows (C, as the full check). With `everything` (start-up)
    also every other lot: `remaining` equal to its checkpoint sum, same card and kind (so no lot
    changed without a move or changed hands, and every untouched card still sums to its
    checkpoint total), and no live lot outside the checkpoint and the tail. What only
    `check_invariants` and `check_checkpoint` (`lps check --full`) see: journal or lot_moves
    rows up to J changed after they were verified, and checkpoint rows changed to match
    changed lots.
    """
    with snapshot(conn):
        after = verified_upto(conn)
        upto = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])
        args = {"after": after, "upto": upto}
        problems = [] if upto >= after else [
            f"journal: ends at #{upto}, before its verified checkpoint #{after}"]
        problems += [_checkpoint_lot_problem(*r) for r in conn.execute(_TAIL_LOTS, args)]
        problems += [_owner_problem(*r) for r in conn.execute(_TAIL_OWNERS, args)]
        if everything:
            problems += [_checkpoint_lot_problem(*r)
                         for r in conn.execute(_CHECKPOINT_LOTS, args)]
            if conn.execute(_LIVE_UNVERIFIED_COUNT, args).fetchone()[0] != 0:
                problems += [_lot_problem(*r) for r in conn.execute(_LIVE_UNVERIFIED, args)]
                if not problems:
                    problems.append("lots: the live lots do not match the verified checkpoint")
        if upto > after:
            cards = _TAIL_CARDS.format(lots=live_lots(dialect_of(conn)))
            problems += [_card_problem(*r) for r in conn.execute(cards, args)]
    return Verification(after, upto, problems[:40])


def advance(conn: Db, after: int, upto: int) -> bool:
    """Move the checkpoint from `after` to `upto` (verified) inside the caller's write
    transaction; False (and nothing written) when someone else moved it meanwhile."""
    assert conn.in_transaction
    if verified_upto(conn) != after:
        return False
    if upto == after:
        return True
    args = {"after": after, "upto": upto}
    tail_lots = ("SELECT lot_id FROM lot_moves WHERE journal_id > :after "
                 "AND journal_id <= :upto")
    # pan and kind as the (verified) moves name them: every move of a lot names the same.
    conn.execute(
        "INSERT INTO verified_lots (lot_id, pan, kind, moved) SELECT lot_id, MIN(pan), "
        "MIN(kind), SUM(delta) FROM lot_moves WHERE journal_id > :after AND journal_id <= :upto "
        "GROUP BY lot_id HAVING SUM(delta) != 0 "
        "ON CONFLICT(lot_id) DO UPDATE SET moved = verified_lots.moved + excluded.moved", args)
    conn.execute(f"DELETE FROM verified_lots WHERE moved = 0 AND lot_id IN ({tail_lots})", args)
    conn.execute(
        f"INSERT INTO verified_cards (pan, kind, total) SELECT * FROM ({_TAIL_SUMS}) AS t "
        "WHERE true ON CONFLICT(pan, kind) DO UPDATE SET "
        "total = verified_cards.total + excluded.total", args)
    conn.execute(
        "DELETE FROM verified_cards WHERE total = 0 AND pan IN (SELECT pan FROM journal "
        "WHERE id > :after AND id <= :upto AND (points != 0 OR sv != 0))", args)
    conn.execute(
        "INSERT INTO verified (id, journal_id, at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE "
        "SET journal_id = excluded.journal_id, at = excluded.at",
        (upto, dt.datetime.now(dt.UTC).isoformat()))
    return True


def check_invariants(conn: Db) -> list[str]:
    """Money invariants over the whole history (no checkpoint); the violations, empty when the
    database is sound. Start-up runs `verify` instead; `lps check --full` runs this."""
    problems = []
    q = conn.execute
    for lot_id, remaining, moved in q(
        "SELECT l.id, l.remaining, COALESCE(m.s, 0) FROM lots l LEFT JOIN "
        "(SELECT lot_id, SUM(delta) s FROM lot_moves GROUP BY lot_id) m ON m.lot_id = l.id "
        "WHERE l.remaining != COALESCE(m.s, 0) LIMIT 20"
    ):
        problems.append(f"lot {lot_id}: remaining {remaining} but its moves sum to {moved}")
    for pan, kind, lots_sum, journal_sum in q(
        "SELECT pan, kind, SUM(a), SUM(b) FROM ("
        "SELECT pan, kind, remaining a, 0 b FROM lots "
        f"UNION ALL SELECT pan, {POINTS}, 0, points FROM journal WHERE points != 0 "
        f"UNION ALL SELECT pan, {SV}, 0, sv FROM journal WHERE sv != 0"
        ") AS sums GROUP BY pan, kind HAVING SUM(a) != SUM(b) LIMIT 20"
    ):
        problems.append(_card_problem(pan, kind, lots_sum, journal_sum))
    problems += check_batch_totals(conn)
    return problems


def check_batch_totals(conn: Db) -> list[str]:
    """`batch_totals` against the journal: what a 0500 is compared with is what happened.
    (A database from before migration 7 has none yet: its first start-up fills them.)"""
    if "batch_totals" not in tables(conn):
        return []
    cols = ", ".join(f"b.{c}" for c in TOTALS_COLUMNS)
    stored = {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(
        f"SELECT b.terminal_id, b.batch, {cols} FROM batch_totals b")}
    problems = []
    for row in conn.execute(journal_batch_totals(dialect_of(conn))):
        key, journal = (row[0], row[1]), tuple(row[2:])
        got = stored.pop(key, (0,) * len(TOTALS_COLUMNS))
        if got != journal:
            problems.append(f"batch {key[0]}/{key[1]}: totals {got} but the journal's {journal}")
    problems += [f"batch {k[0]}/{k[1]}: totals {v} but the journal has no such batch"
                 for k, v in stored.items() if any(v)]
    return problems[:20]


def check_checkpoint(conn: Db) -> list[str]:
    """The verified checkpoint against the whole history up to it (for `lps check --full`):
    each recorded sum is what the rows up to J still add up to. Run in one snapshot."""
    problems = []
    with snapshot(conn):
        upto = verified_upto(conn)
        for lot_id, recorded, moved in conn.execute(
            "SELECT lot_id, SUM(a), SUM(b) FROM (SELECT lot_id, moved a, 0 b FROM verified_lots "
            "UNION ALL SELECT lot_id, 0, delta FROM lot_moves WHERE journal_id <= ?) "
            "AS sums GROUP BY lot_id HAVING SUM(a) != SUM(b) LIMIT 20", (upto,)
        ):
            problems.append(f"verified lot {lot_id}: checkpoint records {recorded} but its moves "
                            f"up to journal #{upto} sum to {moved}")
        for pan, kind, recorded, summed in conn.execute(
            "SELECT pan, kind, SUM(a), SUM(b) FROM (SELECT pan, kind, total a, 0 b FROM "
            f"verified_cards UNION ALL SELECT pan, {POINTS}, 0, points FROM journal "
            f"WHERE id <= :upto AND points != 0 UNION ALL SELECT pan, {SV}, 0, sv FROM journal "
            "WHERE id <= :upto AND sv != 0) AS sums GROUP BY pan, kind HAVING SUM(a) != SUM(b) "
            "LIMIT 20",
            {"upto": upto}
        ):
            problems.append(f"verified card {pan[:6]}...{pan[-4:]}: checkpoint records {kind} "
                            f"{recorded} but its journal up to #{upto} sums to {summed}")
    return problems


def check(conn: Db, *, full: bool) -> CheckResult:
    """`lps check`: the start-up check from the verified checkpoint, or with `full` (and for a
    database from before the checkpoint) the whole history and the checkpoint against it.
    Read-only: it may run on a read-only connection while the switch serves."""
    checkpointed = "verified" in tables(conn)
    last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
    if full or not checkpointed:
        problems = check_invariants(conn)
        what = f"full check of journal rows 1..{last}"
        if checkpointed:
            problems += check_checkpoint(conn)
            what += f" and of the verified checkpoint (#{verified_upto(conn)})"
        if "coupon_moves" in tables(conn):
            problems += coupons.problems(conn)
            what += ", every coupon against its moves"
        return CheckResult(what, problems)
    v = verify(conn, everything=True)
    return CheckResult(f"start-up check: journal rows {v.after + 1}..{v.upto} after the "
                       "verified checkpoint, every lot and card against it", v.problems)
