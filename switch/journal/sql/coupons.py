"""The coupons' SQL (`rewards_schema.coupons`; docs/programs.md "Coupons"): issuing codes,
a decision's coupon, the moves of a group commit, a coupon's record, the day's discounts for
settlement and the check that each coupon's state is what its moves say.

Codes are never stored: a coupon is its code's digest (`switch.core.coupon_code.digest`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from switch.core.facts import Needs
from switch.core.rewards import (
    ACTIVE,
    REDEEM,
    RELEASE,
    VOID,
    CouponFacts,
    CouponNeed,
    CouponState,
    CouponTerms,
)
from switch.journal.rows import CouponMoveRow, CouponRecord
from switch.journal.sql import club
from switch.journal.sql.common import marks
from switch.journal.sql.db import Db

_TERMS = ("i.id, i.coalition_id, i.issuer, i.percent, i.amount, i.max_discount, i.min_amount, "
          "i.per_customer, i.segment, i.expires_on")
_MOVE_COLUMNS = ("journal_id, digest, issue_id, action, coalition_id, issuer, store_id, pan, "
                 "discount, original_id")


def terms(row: Sequence[Any]) -> CouponTerms:
    issue, coalition, issuer, percent, amount, cap, minimum, per_customer, segment, expires = row
    return CouponTerms(issue, coalition, issuer, percent, amount, cap, minimum, per_customer,
                       segment, dt.date.fromisoformat(expires))


# -- issuing ------------------------------------------------------------------------------------


def issue(conn: Db, t: CouponTerms, digests: Sequence[str], file: str,
          at: dt.datetime, by: str, written: Callable[[int], None]) -> int:
    """Record an issue and its coupons inside the caller's write transaction (the journal's
    `issue_coupons`); `written(issue id)` writes the codes' file before the commit (an
    exception from it leaves nothing recorded). The driver's integrity error when a digest
    is taken (a code drawn twice)."""
    issue_id = int(conn.execute(
        "INSERT INTO coupon_issues (coalition_id, issuer, percent, amount, max_discount, "
        "min_amount, per_customer, segment, expires_on, count, file, issued_at, issued_by) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
        (t.coalition, t.issuer, t.percent, t.amount, t.max_discount, t.min_amount,
         t.per_customer, t.segment, t.expires_on.isoformat(), len(digests), file,
         at.isoformat(), by)).fetchone()[0])
    conn.executemany("INSERT INTO coupons (digest, issue_id) VALUES (?, ?)",
                     [(d, issue_id) for d in digests])
    written(issue_id)
    return issue_id


# -- the switch: a decision's coupon, a group commit's moves -----------------------------------


def fetch(conn: Db, need: CouponNeed) -> CouponFacts | None:
    """The coupon `need` names, as committed (None: no such code), with the digests of the
    coupons of its issue the card holds redeemed when the issue limits them per card."""
    row = conn.execute(
        f"SELECT c.status, c.redeemed_by, COALESCE(c.redeemed_pan, ''), {_TERMS} "
        "FROM coupons c JOIN coupon_issues i ON i.id = c.issue_id WHERE c.digest = ?",
        (need.digest,)).fetchone()
    if row is None:
        return None
    status, by, pan, *rest = row
    t = terms(rest)
    mine: frozenset[str] = frozenset()
    if t.per_customer and need.pan:
        mine = frozenset(r[0] for r in conn.execute(
            "SELECT digest FROM coupons WHERE redeemed_pan = ? AND issue_id = ?",
            (need.pan, t.issue)))
    segment = club.segment_of_card(conn, need.pan) if t.segment and need.pan else None
    return CouponFacts(t, CouponState(need.digest, status, by, pan), mine, segment)


def fetch_needs(conn: Db, needs: Needs) -> CouponFacts | None:
    return fetch(conn, needs.coupon) if needs.coupon is not None else None


def write_moves(conn: Db, rows: Sequence[tuple[Any, ...]]) -> None:
    """The moves of one group commit and their coupons' new state, in journal order (a
    redemption and its reversal may share a batch), inside the caller's transaction."""
    conn.executemany(f"INSERT INTO coupon_moves ({_MOVE_COLUMNS}) VALUES "
                     f"({marks(_MOVE_COLUMNS.split(','))})", rows)
    for jid, digest, _issue, action, _co, _issuer, _store, pan, _off, original in rows:
        if action == REDEEM:
            conn.execute("UPDATE coupons SET redeemed_by = ?, redeemed_pan = ? WHERE digest = ?",
                         (jid, pan, digest))
        elif action == RELEASE:
            conn.execute("UPDATE coupons SET redeemed_by = NULL, redeemed_pan = NULL "
                         "WHERE digest = ? AND redeemed_by = ?", (digest, original))
        elif action == VOID:
            conn.execute("UPDATE coupons SET status = ? WHERE digest = ?", (VOID, digest))


# -- readers ----------------------------------------------------------------------------------


def record(conn: Db, digest: str) -> CouponRecord | None:
    """A coupon with its issue and every move (`lps coupons show`); None: no such code."""
    row = conn.execute(
        f"SELECT c.status, c.redeemed_by, COALESCE(c.redeemed_pan, ''), {_TERMS}, i.issued_at, "
        "i.file, i.count FROM coupons c JOIN coupon_issues i ON i.id = c.issue_id "
        "WHERE c.digest = ?", (digest,)).fetchone()
    if row is None:
        return None
    status, by, pan, *rest = row
    issued_at, file, count = rest[-3:]
    moves = tuple(CouponMoveRow(jid, action, store, mpan, discount, original,
                                dt.datetime.fromisoformat(at) if at else None, tid or "",
                                rc or "")
                  for jid, action, store, mpan, discount, original, at, tid, rc in conn.execute(
        "SELECT m.journal_id, m.action, m.store_id, m.pan, m.discount, m.original_id, j.at, "
        "j.terminal_id, j.response_code FROM coupon_moves m LEFT JOIN journal j "
        "ON j.id = m.journal_id WHERE m.digest = ? ORDER BY m.journal_id", (digest,)))
    return CouponRecord(terms(rest[:-3]), CouponState(digest, status, by, pan),
                        dt.datetime.fromisoformat(issued_at), file, count, moves)


def day_moves(conn: Db, lo: int, hi: int) -> list[tuple[Any, ...]]:
    """Redemptions and releases of journal ids [lo, hi] as settlement hashes and sums them:
    (journal id, issue, coalition, issuer, store, discount), in journal order."""
    return list(conn.execute(
        "SELECT journal_id, issue_id, coalition_id, issuer, store_id, discount FROM coupon_moves "
        "WHERE journal_id BETWEEN ? AND ? AND action IN (?, ?) ORDER BY journal_id, rowid",
        (lo, hi, REDEEM, RELEASE)).fetchall())


def problems(conn: Db) -> list[str]:
    """Coupons whose state is not what their moves add up to (`lps check --full`)."""
    replayed: dict[str, tuple[str, int | None]] = {}
    for jid, digest, action, original in conn.execute(
        "SELECT journal_id, digest, action, original_id FROM coupon_moves ORDER BY journal_id"
    ):
        status, by = replayed.get(digest, (ACTIVE, None))
        if action == VOID:
            status = VOID
        elif action == REDEEM:
            by = jid
        elif action == RELEASE and by == original:
            by = None
        replayed[digest] = (status, by)
    found = []
    for digest, status, by in conn.execute(
        "SELECT digest, status, redeemed_by FROM coupons WHERE status != ? OR redeemed_by IS "
        "NOT NULL", (ACTIVE,)
    ):
        if replayed.pop(digest, (ACTIVE, None)) != (status, by):
            found.append(f"coupon {digest[:12]}: state {status}/{by} is not what its moves say")
    for digest, state in replayed.items():
        if state != (ACTIVE, None):
            found.append(f"coupon {digest[:12]}: its moves say {state[0]}/{state[1]}, the "
                         "table says active and free")
    return found[:20]
