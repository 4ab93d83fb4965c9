"""The programs' durable state in the switch's SQLite database (schema migration 4).

`customers` (profiles), `card_club` (tier, daily earned, birthday year), `card_spend` (qualifying
spend per business day, for the rolling 12 months) and `card_stamps` (per store). A journal
entry rewrites the rows its effect touched (absolute values, `ClubRows`) in the same transaction
as the journal row, and the earn's effect itself is kept in the row's `detail.program`, so the
tables can be rebuilt from the journal and a reversal after a restart undoes it exactly.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import sqlite_utils

from switch.core.model import Card
from switch.core.programs.club import Club, ClubRows, Profile, year_before


def migrate_v4(db: sqlite_utils.Database) -> None:
    db.create_table("customers", {
        "pan": str, "name": str, "phone": str, "birth_date": str, "enrolled_at": str,
    }, pk="pan")
    db.create_table("card_club", {
        "pan": str, "tier": str, "tier_day": str, "earned_day": str, "earned": int,
        "birthday_year": int,
    }, pk="pan", not_null={"earned", "birthday_year"})
    db.create_table("card_spend", {
        "pan": str, "business_day": str, "amount": int,
    }, pk=("pan", "business_day"), not_null={"amount"})
    db.create_table("card_stamps", {
        "pan": str, "store_id": str, "stamps": int, "rewards": int,
    }, pk=("pan", "store_id"), not_null={"stamps", "rewards"})


def migrate_v5(db: sqlite_utils.Database) -> None:
    # Numbers issued to the printer but not enrolled yet must never be issued again.
    db.create_table("issued_cards", {
        "pan": str, "file": str, "issued_at": str,
    }, pk="pan", not_null={"file", "issued_at"})


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def write_club_rows(conn: sqlite3.Connection, rows: Sequence[ClubRows]) -> None:
    """Upsert the rows (inside the caller's transaction, in journal order)."""
    conn.executemany(
        "INSERT INTO card_club (pan, tier, tier_day, earned_day, earned, birthday_year) "
        "VALUES (?,?,?,?,?,?) ON CONFLICT(pan) DO UPDATE SET tier=excluded.tier, "
        "tier_day=excluded.tier_day, earned_day=excluded.earned_day, earned=excluded.earned, "
        "birthday_year=excluded.birthday_year",
        [(r.pan, r.tier, _iso(r.tier_day), _iso(r.earned_day), r.earned, r.birthday_year)
         for r in rows])
    conn.executemany(
        "INSERT INTO card_spend (pan, business_day, amount) VALUES (?,?,?) "
        "ON CONFLICT(pan, business_day) DO UPDATE SET amount=excluded.amount",
        [(r.pan, d.isoformat(), amount) for r in rows for d, amount in r.spend])
    conn.executemany(
        "INSERT INTO card_stamps (pan, store_id, stamps, rewards) VALUES (?,?,?,?) "
        "ON CONFLICT(pan, store_id) DO UPDATE SET stamps=excluded.stamps, "
        "rewards=excluded.rewards",
        [(r.pan, store, stamps, rewards) for r in rows for store, stamps, rewards in r.stamps])


def put_profile(conn: sqlite3.Connection, pan: str, profile: Profile) -> None:
    conn.execute(
        "INSERT INTO customers (pan, name, phone, birth_date, enrolled_at) VALUES (?,?,?,?,?) "
        "ON CONFLICT(pan) DO UPDATE SET name=excluded.name, phone=excluded.phone, "
        "birth_date=excluded.birth_date",
        (pan, profile.name, profile.phone, _iso(profile.birth_date),
         profile.enrolled_at.isoformat() if profile.enrolled_at else None))


def read_profile(row: Sequence[Any]) -> Profile:
    name, phone, birth, enrolled = row
    return Profile(name or "", phone or "", dt.date.fromisoformat(birth) if birth else None,
                   dt.datetime.fromisoformat(enrolled) if enrolled else None)


def load_clubs(q: Callable[..., sqlite3.Cursor], cards: dict[str, Card], today: dt.date) -> None:
    """Recovery: the program state of every card (spend of the last 13 months only)."""

    def club(pan: str) -> Club | None:
        card = cards.get(pan)
        if card is None:
            return None
        if card.club is None:
            card.club = Club()
        return card.club

    for pan, tier, tier_day, earned_day, earned, year in q(
        "SELECT pan, tier, tier_day, earned_day, earned, birthday_year FROM card_club"
    ):
        c = club(pan)
        if c is not None:
            c.tier = tier or ""
            c.tier_day = dt.date.fromisoformat(tier_day) if tier_day else None
            c.earned_day = dt.date.fromisoformat(earned_day) if earned_day else None
            c.earned, c.birthday_year = earned, year
    since = (year_before(today) - dt.timedelta(days=31)).isoformat()
    for pan, day, amount in q(
        "SELECT pan, business_day, amount FROM card_spend WHERE business_day > ? AND amount != 0",
        (since,)
    ):
        c = club(pan)
        if c is not None:
            c.spend[dt.date.fromisoformat(day)] = amount
    for pan, store, stamps, rewards in q(
        "SELECT pan, store_id, stamps, rewards FROM card_stamps"
    ):
        c = club(pan)
        if c is not None:
            c.stamps[store], c.rewards[store] = stamps, rewards
    for pan, *rest in q("SELECT pan, name, phone, birth_date, enrolled_at FROM customers"):
        c = club(pan)
        if c is not None:
            c.profile = read_profile(rest)
