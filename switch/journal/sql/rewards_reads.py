"""Reads of rewards beyond points (docs/programs.md "Coupons" and "Gift cards"): a coupon's
record for `lps coupons show`, the day's coupon discounts and the gift-card lots lapsing, for
settlement (docs/settlement.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

from switch.journal.rows import CouponRecord
from switch.journal.sql import coupons
from switch.journal.sql.common import SV
from switch.journal.sql.days import CHUNK, due_lots_sql
from switch.journal.sql.db import Db


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
