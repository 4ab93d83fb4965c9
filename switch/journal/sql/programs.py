"""The programs' tables (migrations 4 and 5, docs/programs.md): their SQL.

`card_club` (tier, daily earned, birthday year, paid membership: migration 13), `card_spend`
(qualifying spend per business day, for the rolling 12 months), `card_stamps` (per store) and
`issued_cards`; the profile a card carries is its account's (`accounts.py`, docs/customers.md).
A journal entry rewrites the rows its effect touched (absolute values, `ClubRows`) in the same
transaction as the journal row, and the earn's effect itself is kept in the row's
`detail.program`, so the tables can be rebuilt from the journal and a reversal after a restart
undoes it exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from switch.core.model import Card
from switch.core.programs.club import Club, ClubRows, spend_horizon
from switch.journal.batch import Params
from switch.journal.sql.accounts import profile_rows
from switch.journal.sql.db import Cursor, Db


def with_members(conn: Db) -> bool:
    """Whether `card_club` has the paid membership's columns (migration 13; an older schema
    has not: the columns of an empty result, on either engine)."""
    cur = conn.execute("SELECT * FROM card_club WHERE 1 = 0")
    cur.fetchall()  # in a PostgreSQL pipeline, the description comes with the result
    return any(d[0] == "member_tier" for d in cur.description)


_CLUB_COLUMNS = ("pan", "tier", "tier_day", "earned_day", "earned", "birthday_year")
_MEMBER_COLUMNS = ("member_tier", "member_until")


def _club_upsert(columns: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c}=excluded.{c}" for c in columns[1:])
    return (f"INSERT INTO card_club ({', '.join(columns)}) VALUES "
            f"({','.join('?' * len(columns))}) ON CONFLICT(pan) DO UPDATE SET {updates}")


def club_values(rows: Sequence[ClubRows]) -> tuple[list[Params], list[Params], list[Params]]:
    """The `card_club`, `card_spend` and `card_stamps` rows of `rows`, in journal order (every
    column of `card_club`, the membership's included)."""
    # each day's ISO text inline: the writer thread writes a row per earn
    clubs = [(r.pan, r.tier, r.tier_day.isoformat() if r.tier_day is not None else None,
              r.earned_day.isoformat() if r.earned_day is not None else None, r.earned,
              r.birthday_year, r.member_tier,
              r.member_until.isoformat() if r.member_until is not None else None)
             for r in rows]
    spend = [(r.pan, d.isoformat(), amount) for r in rows for d, amount in r.spend]
    stamps = [(r.pan, store, stamps, rewards) for r in rows for store, stamps, rewards in r.stamps]
    return clubs, spend, stamps


def write_club_rows(conn: Db, rows: Sequence[ClubRows], members: bool) -> None:
    """Upsert the rows (inside the caller's transaction, in journal order); `members`: the
    schema has the paid membership's columns (`with_members`)."""
    clubs, spend, stamps = club_values(rows)
    if members:
        conn.executemany(_club_upsert(_CLUB_COLUMNS + _MEMBER_COLUMNS), clubs)
    else:
        conn.executemany(_club_upsert(_CLUB_COLUMNS), [v[:len(_CLUB_COLUMNS)] for v in clubs])
    conn.executemany(
        "INSERT INTO card_spend (pan, business_day, amount) VALUES (?,?,?) "
        "ON CONFLICT(pan, business_day) DO UPDATE SET amount=excluded.amount", spend)
    conn.executemany(
        "INSERT INTO card_stamps (pan, store_id, stamps, rewards) VALUES (?,?,?,?) "
        "ON CONFLICT(pan, store_id) DO UPDATE SET stamps=excluded.stamps, "
        "rewards=excluded.rewards", stamps)


def load_clubs(conn: Db, cards: Mapping[str, Card], today: dt.date,
               pan: str | None = None) -> None:
    """The program state of every card in `cards` (or of `pan` alone), spend of the last 13
    months only: what recovery loads, and what `lps club` shows of one card."""

    def q(sql: str, params: tuple[object, ...] = ()) -> Cursor:
        if pan is None:
            return conn.execute(sql, params)  # type: ignore[no-any-return]
        where = " WHERE pan = ?" if "WHERE" not in sql else " AND pan = ?"
        return conn.execute(sql + where, (*params, pan))  # type: ignore[no-any-return]

    club = _club_of(cards)
    members = "member_tier, member_until" if with_members(conn) else "'', NULL"
    for card_pan, tier, tier_day, earned_day, earned, year, member, until in q(
        f"SELECT pan, tier, tier_day, earned_day, earned, birthday_year, {members} "
        "FROM card_club"
    ):
        c = club(card_pan)
        if c is not None:
            c.tier = tier or ""
            c.tier_day = dt.date.fromisoformat(tier_day) if tier_day else None
            c.earned_day = dt.date.fromisoformat(earned_day) if earned_day else None
            c.earned, c.birthday_year = earned, year
            c.member_tier = member or ""
            c.member_until = dt.date.fromisoformat(until) if until else None
    since = spend_horizon(today).isoformat()
    for card_pan, day, amount in q(
        "SELECT pan, business_day, amount FROM card_spend WHERE business_day > ? AND amount != 0",
        (since,)
    ):
        c = club(card_pan)
        if c is not None:
            c.spend[dt.date.fromisoformat(day)] = amount
    for card_pan, store, stamps, rewards in q(
        "SELECT pan, store_id, stamps, rewards FROM card_stamps"
    ):
        c = club(card_pan)
        if c is not None:
            c.stamps[store], c.rewards[store] = stamps, rewards
    for card_pan, profile in profile_rows(conn, pan):
        c = club(card_pan)
        if c is not None:
            c.profile = profile


def _club_of(cards: Mapping[str, Card]) -> Callable[[str], Club | None]:
    def club(pan: str) -> Club | None:
        card = cards.get(pan)
        if card is None:
            return None
        if card.club is None:
            card.club = Club()
        return card.club

    return club


def reserve_numbers(conn: Db, prefix: str, length: int,
                    choose: Callable[[set[str]], Sequence[str]], file: str,
                    at: dt.datetime) -> list[str]:
    """Inside the caller's write transaction: the numbers of `length` under `prefix` already
    enrolled or issued, the new ones `choose` picks from them (it may write the printer file;
    an exception from it leaves nothing recorded), recorded in `issued_cards`. Two issues at
    once cannot hand out the same numbers (the engine serialises the transactions)."""
    taken = {r[0] for r in conn.execute(
        "SELECT pan FROM cards WHERE pan LIKE :prefix AND length(pan) = :length UNION "
        "SELECT pan FROM issued_cards WHERE pan LIKE :prefix AND length(pan) = :length",
        {"prefix": prefix + "%", "length": length})}
    numbers = list(choose(taken))
    conn.executemany("INSERT INTO issued_cards (pan, file, issued_at) VALUES (?,?,?)",
                     [(pan, file, at.isoformat()) for pan in numbers])
    return numbers
