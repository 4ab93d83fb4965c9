"""The reports' reads (docs/settlement.md, "The figures"): new customers of every day of a
range in one pass, so that a report cut into periods does not read the journal once a
period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from switch.core.codes import sql_list
from switch.journal.sql.common import OK
from switch.journal.sql.db import Db


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


class ReportReads:
    """Mixed into `SqlReader`: `conn` is its read-only connection."""

    conn: Db

    def new_members_by_day(self, start: dt.date, end: dt.date, kinds: Collection[str]
                           ) -> tuple[dict[tuple[str, dt.date], int],
                                      dict[tuple[str, dt.date], int]]:
        """`new_members` per business day of the range: cards whose first approved row of
        `kinds` at a store is that day, per (store, day); cards enrolled that day, per
        (coalition, day)."""
        s, e = start.isoformat(), end.isoformat()
        by_store = {(store, _day(first)): int(n) for store, first, n in self.conn.execute(
            "SELECT store_id, first, COUNT(*) FROM (SELECT store_id, pan, MIN(business_day) "
            f"AS first FROM journal WHERE response_code = {OK} AND pan != '' AND kind IN "
            f"{sql_list(kinds)} GROUP BY store_id, pan) AS firsts "
            "WHERE first BETWEEN ? AND ? GROUP BY store_id, first", (s, e))}
        by_coalition = {(coalition, _day(day)): int(n) for coalition, day, n in self.conn.execute(
            "SELECT coalition_id, enrolled_on, COUNT(*) FROM cards WHERE enrolled_on "
            "BETWEEN ? AND ? GROUP BY coalition_id, enrolled_on", (s, e))}
        return by_store, by_coalition
