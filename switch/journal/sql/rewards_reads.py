"""Reads of rewards beyond points (docs/programs.md "Coupons" and "Gift cards"): a coupon's
record for `lps coupons show`, the day's coupon discounts and the gift-card lots lapsing, for
settlement (docs/settlement.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

from switch.core.codes import RC, Kind, sql_text
from switch.journal.rows import CouponRecord
from switch.journal.sql import coupons
from switch.journal.sql.common import SV
from switch.journal.sql.days import CHUNK, due_lots_sql
from switch.journal.sql.db import Db, dialect_of
from switch.journal.sql.programs import with_members


class RewardReads:
    """Mixed into `SqliteReader`: `conn` is its read-only connection."""

    conn: Db
    table_names: set[str]

    def coupon(self, digest: str) -> CouponRecord | None:
        """A coupon by its code's digest, with its issue and moves (None: no such code)."""
        if "coupons" not in self.table_names:
            return None
        return coupons.record(self.conn, digest)

    def coupon_moves(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Coupon redemptions and releases of journal ids [lo, hi]: (journal id, issue,
        coalition, issuer, store, discount), in journal order."""
        if "coupon_moves" not in self.table_names:
            return []
        return coupons.day_moves(self.conn, lo, hi)

    def membership_sales(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Club cards sold (price > 0) and sales reversed (< 0) in journal ids [lo, hi]:
        (journal id, coalition, store, signed price), in journal order (docs/programs.md
        "Paid memberships")."""
        sold, reversal, ok = (sql_text(Kind.MEMBERSHIP), sql_text(Kind.REVERSAL),
                              sql_text(RC.APPROVED))
        undone = dialect_of(self.conn).json_is_true("j.detail", "undone")
        return list(self.conn.execute(
            f"SELECT j.id, j.coalition_id, j.store_id, CASE WHEN j.kind = {sold} THEN j.amount "
            "ELSE -j.amount END FROM journal j LEFT JOIN journal o ON o.id = j.original_id "
            f"WHERE j.id BETWEEN ? AND ? AND j.response_code = {ok} AND (j.kind = {sold} OR "
            f"(j.kind = {reversal} AND o.kind = {sold} AND {undone})) ORDER BY j.id",
            (lo, hi)).fetchall())

    def paid_members(self, since: dt.date) -> dict[str, tuple[str, dt.date]]:
        """Cards whose paid membership runs on `since` or later: card -> (tier, last day)."""
        if "card_club" not in self.table_names or not with_members(self.conn):
            return {}
        return {pan: (tier, dt.date.fromisoformat(until)) for pan, tier, until in self.conn.execute(
            "SELECT pan, member_tier, member_until FROM card_club WHERE member_tier != '' "
            "AND member_until >= ?", (since.isoformat(),))}

    def gift_lots_due(self, day: dt.date, skip_kinds: Collection[str] = ()
                      ) -> Iterator[tuple[int, str, str, dt.date, int, int]]:
        """Stored-value lots with an expiry (gift cards' only) unusable on `day`: lapsing that
        day, or lapsed and moved by one of its rows of a kind not in `skip_kinds`: (lot,
        seller, coalition, expiry, remaining at the end of the day before, at the end of
        `day`), each being now's less what later days moved."""
        sql = due_lots_sql(SV, skip_kinds, "l.store_id, l.coalition_id, l.expires_on")
        cur = self.conn.execute(sql, {"d": day.isoformat()})
        while rows := cur.fetchmany(CHUNK):
            for lid, store, coalition, expires, before, after in rows:
                yield lid, store, coalition, dt.date.fromisoformat(expires), before, after
