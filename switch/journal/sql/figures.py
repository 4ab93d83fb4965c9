"""Figures over the journal for people: the console's dashboard and settlement page, the
demo's summary. Scoped reads take the stores a reader may see (`stores`; None: all)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from switch.core.codes import Kind, sql_list, sql_text
from switch.journal.rows import DayFigures
from switch.journal.sql.common import OK, POINTS, scoped
from switch.journal.sql.db import Db

#: Journal kinds that are terminal traffic with an approve/decline answer.
TRAFFIC_KINDS = (Kind.EARN, Kind.ADVICE, Kind.REDEEM, Kind.INQUIRY, Kind.RETURN, Kind.TOPUP,
                 Kind.SV_PURCHASE, Kind.STAMP, Kind.REVERSAL)
_TRAFFIC = sql_list(TRAFFIC_KINDS)
_EARNS = sql_list((Kind.EARN, Kind.ADVICE))
_REDEEM = sql_text(Kind.REDEEM)


class FigureReads:
    """Mixed into `SqlReader`: `conn` is its read-only connection."""

    conn: Db
    table_names: set[str]

    def day_figures(self, day: dt.date, stores: Collection[str] | None = None) -> DayFigures:
        """A business day's terminal traffic by store and by response code."""
        where, ids = scoped("store_id", stores)
        args = (day.isoformat(), *ids)
        by_store = [(r[0], int(r[1]), int(r[2])) for r in self.conn.execute(
            f"SELECT COALESCE(store_id, ''), SUM(CASE WHEN response_code = {OK} THEN 1 ELSE 0 "
            f"END), SUM(CASE WHEN response_code != {OK} THEN 1 ELSE 0 END) FROM journal "
            "WHERE business_day = ? AND kind IN "
            f"{_TRAFFIC}{where} GROUP BY 1 ORDER BY 1", args)]
        by_code = [(r[0], int(r[1])) for r in self.conn.execute(
            "SELECT COALESCE(response_code, ''), COUNT(*) FROM journal WHERE business_day = ? "
            f"AND kind IN {_TRAFFIC}{where} GROUP BY 1 ORDER BY 2 DESC, 1", args)]
        return DayFigures(by_store, by_code)

    def signed_on(self) -> dict[str, bool]:
        """Each terminal's sign-on state as the switch last committed it."""
        return {tid: bool(on) for tid, on in self.conn.execute(
            "SELECT id, signed_on FROM terminals")}

    def business_days(self, before: dt.date, limit: int = 60) -> list[dt.date]:
        """Business days with journal rows before `before`, newest first."""
        return [dt.date.fromisoformat(r[0]) for r in self.conn.execute(
            "SELECT DISTINCT business_day FROM journal WHERE business_day < ? "
            "ORDER BY business_day DESC LIMIT ?", (before.isoformat(), limit))]

    def size(self) -> tuple[int, int]:
        """(journal rows, cards)."""
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM journal), (SELECT COUNT(*) FROM cards)").fetchone()
        return int(row[0]), int(row[1])

    def points_by_store(self) -> list[tuple[str, int, int, int]]:
        """Per store, over every approved row: points issued (earns), redeemed there, and
        moved by returns and reversals."""
        return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in self.conn.execute(
            f"SELECT store_id, SUM(CASE WHEN kind IN {_EARNS} THEN points ELSE 0 END), "
            f"-SUM(CASE WHEN kind = {_REDEEM} THEN points ELSE 0 END), "
            f"SUM(CASE WHEN kind IN {sql_list((Kind.RETURN, Kind.REVERSAL))} THEN points "
            f"ELSE 0 END) FROM journal WHERE response_code = {OK} AND store_id != '' "
            "GROUP BY store_id")]

    def redeemed_by_issuer(self) -> list[tuple[str, str, int]]:
        """(issuing store, redeeming store, points): redemptions drawn from each store's
        lots, net of the reversals that gave them back."""
        return [(r[0], r[1], int(r[2])) for r in self.conn.execute(
            "SELECT m.store_id, j.store_id, -SUM(m.delta) FROM lot_moves m JOIN journal j "
            f"ON j.id = m.journal_id WHERE m.kind = {POINTS} AND (j.kind = {_REDEEM} OR "
            f"(j.kind = {sql_text(Kind.REVERSAL)} AND m.delta > 0 AND j.original_id IN "
            f"(SELECT id FROM journal WHERE kind = {_REDEEM}))) GROUP BY 1, 2 ORDER BY 1, 2")]

    def top_cards(self, limit: int) -> list[tuple[str, int]]:
        """The cards holding the most points: (card, points)."""
        return [(r[0], int(r[1])) for r in self.conn.execute(
            f"SELECT pan, SUM(remaining) FROM lots WHERE kind = {POINTS} "
            "GROUP BY pan ORDER BY 2 DESC LIMIT ?", (limit,))]
