"""Reads about one card, its terminals' keys and the draws' entrants: what the commands
(`lps cards show`, `lps balance`, `lps club`, `lps keys show`, draws) and the console show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from switch.core.codes import LotKind
from switch.core.model import Card
from switch.core.programs.club import Profile
from switch.journal.rows import JournalRow, KeyCheckValues
from switch.journal.sql import accounts, programs
from switch.journal.sql.common import card_lots, scoped
from switch.journal.sql.db import Db


class CardReads:
    """Mixed into `SqlReader`: `conn` is its read-only connection."""

    conn: Db
    table_names: set[str]

    def card(self, pan: str, *, stores: Collection[str] | None = None,
             club_on: dt.date | None = None) -> Card | None:
        """The card with its live lots (points in `lots`, stored value in `purse`, by id),
        only those of `stores` when given; with `club_on`, its program state as the switch
        loads it on that business day. None: not enrolled."""
        row = self.conn.execute(
            "SELECT coalition_id, status, enrolled_on FROM cards WHERE pan = ?", (pan,)
        ).fetchone()
        if row is None:
            return None
        card = Card(pan, row[0], row[1], dt.date.fromisoformat(row[2]))
        card.lots, card.purse = card_lots(self.conn, pan, stores)
        if club_on is not None and "card_club" in self.table_names:
            programs.load_clubs(self.conn, {pan: card}, club_on, pan)
        return card

    def history(self, pan: str, *, stores: Collection[str] | None = None,
                limit: int = 20) -> list[JournalRow]:
        """The card's last `limit` journal rows (of `stores` when given), newest first."""
        where, ids = scoped("store_id", stores)
        return [JournalRow(
            id=r[0], at=dt.datetime.fromisoformat(r[1]), business_day=dt.date.fromisoformat(r[2]),
            kind=r[3], terminal_id=r[4] or "", store_id=r[5] or "", pan=pan,
            response_code=r[6] or "", amount=r[7], points=r[8], sv=r[9]) for r in self.conn.execute(
            "SELECT id, at, business_day, kind, terminal_id, store_id, response_code, amount, "
            f"points, sv FROM journal WHERE pan = ?{where} ORDER BY id DESC LIMIT ?",
            (pan, *ids, limit))]

    def profile(self, pan: str) -> Profile | None:
        """The card's customer profile: its account's (docs/customers.md); None: the card has
        no account, or an erased one."""
        return accounts.read_profile(self.conn, pan)

    def key_check_values(self) -> dict[str, KeyCheckValues]:
        """Each terminal's key check values, by terminal id (never a key)."""
        if "terminal_keys" not in self.table_names:  # before migration 3: no keys yet
            return {}
        return {r[0]: KeyCheckValues(*r) for r in self.conn.execute(
            "SELECT terminal_id, tmk_kcv, mac_kcv, pin_kcv, bdk_kcv, updated_at "
            "FROM terminal_keys")}

    def members(self, coalition: str, enrolled_by: dt.date) -> list[str]:
        """Active cards of `coalition` enrolled by `enrolled_by`, by card number."""
        return [r[0] for r in self.conn.execute(
            "SELECT pan FROM cards WHERE coalition_id = ? AND status = 'active' AND "
            "enrolled_on <= ? ORDER BY pan", (coalition, enrolled_by.isoformat()))]

    def usable_points_at(self, coalition: str, day: dt.date) -> dict[str, int]:
        """Per card of `coalition`: the points usable on `day` as the journal stood at that
        business day's end (the lot moves of business days up to `day`; lots not expired on
        `day`, debts counted). Later rows never change it, so a draw run again sees the same."""
        points: dict[str, int] = {}
        for pan, expires_on, held in self.conn.execute(
            "SELECT l.pan, l.expires_on, SUM(m.delta) FROM lots l "
            "JOIN lot_moves m ON m.lot_id = l.id JOIN journal j ON j.id = m.journal_id "
            "WHERE l.kind = ? AND l.coalition_id = ? AND j.business_day <= ? "
            "GROUP BY l.id", (LotKind.POINTS, coalition, day.isoformat())):
            if held < 0 or expires_on is None or expires_on > day.isoformat():
                points[pan] = points.get(pan, 0) + int(held)
        return points
