"""The club's nightly SQL (docs/customers.md, "Segments" and "Triggers"), both engines: each
account of a coalition with its RFM figures and its points about to expire, in one ordered
read; the segments the job stores and their counts; the card a bonus goes to; the bonuses'
record (`club_bonuses`), which makes each happen once.

Purchases are the approved requests with an amount that a customer's visit leaves (earn,
advice, redeem, stored-value purchase, coupon), an approved reversal's original left out.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from switch.journal.sql.db import Db

#: Journal kinds that are a purchase at a till (docs/protocol.md §4).
PURCHASES = ("earn", "advice", "redeem", "sv_purchase", "coupon")
_KINDS = ",".join(f"'{k}'" for k in PURCHASES)
#: Accounts (by id range) one read of `SqlClub.rows` covers: each page is its own statement,
#: fetched whole, so the job may write between pages and no engine holds more than a page.
PAGE_IDS = 5000


@dataclass(frozen=True, slots=True)
class ClubRow:
    """An account as the nightly job sees it on one day."""

    id: int
    name: str
    mobile: str | None
    email: str | None
    birth_date: dt.date | None
    joined: dt.date
    last_purchase: dt.date | None
    #: Purchases and their amounts (IRR) in the segments' window.
    purchases: int
    spend: int
    #: Points of live lots that lapse after `day` and at most on the trigger's last day, and
    #: the first day one of them lapses (None: none).
    expiring: int
    expires_on: dt.date | None
    #: The tier the last run stored (None: the account had no row yet).
    tier_before: str | None = None
    #: The store of most purchases in the window, the latest breaking a tie (None: no
    #: purchase, or not asked for).
    home_store: str | None = None


def _date(value: object) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if value else None


_PURCHASED = f"""j.kind IN ({_KINDS}) AND j.response_code = '00' AND j.amount > 0
      AND NOT EXISTS (SELECT 1 FROM journal r WHERE r.original_id = j.id
                      AND r.kind = 'reversal' AND r.response_code = '00')"""

#: Each account's home store: the store of most purchases in the window (docs/customers.md
#: "Per store"), the one of the latest purchase among equals.
_HOME = f"""
LEFT JOIN (
    SELECT account_id, store_id FROM (
        SELECT l.account_id AS account_id, j.store_id AS store_id,
               ROW_NUMBER() OVER (PARTITION BY l.account_id
                                  ORDER BY COUNT(*) DESC, MAX(j.id) DESC) AS k
        FROM account_cards l JOIN journal j ON j.pan = l.pan
        WHERE {_PURCHASED} AND j.business_day >= ? AND j.business_day <= ?
          AND l.account_id > ? AND l.account_id <= ?
        GROUP BY l.account_id, j.store_id) ranked
    WHERE k = 1) h ON h.account_id = a.id"""

#: Each live account's row for the nightly job. The lapsing points' `remaining != 0` is the
#: condition of the live lots' index (`lots_live`), which SQLite does not derive from `> 0`:
#: without it each page of accounts scans every lot (docs/switch.md, "The journal").
_ROWS = f"""
SELECT a.id, a.name, a.mobile, a.email, a.birth_date, a.created_at,
       p.last_day, COALESCE(p.n, 0), COALESCE(p.spend, 0), COALESCE(e.points, 0), e.first,
       s.tier{{home_column}}
FROM accounts a
LEFT JOIN (
    SELECT l.account_id AS account_id, MAX(j.business_day) AS last_day,
           SUM(CASE WHEN j.business_day >= ? THEN 1 ELSE 0 END) AS n,
           SUM(CASE WHEN j.business_day >= ? THEN j.amount ELSE 0 END) AS spend
    FROM account_cards l JOIN journal j ON j.pan = l.pan
    WHERE {_PURCHASED} AND j.business_day <= ? AND l.account_id > ? AND l.account_id <= ?
    GROUP BY l.account_id) p ON p.account_id = a.id
LEFT JOIN (
    SELECT l.account_id AS account_id, SUM(o.remaining) AS points, MIN(o.expires_on) AS first
    FROM account_cards l JOIN lots o ON o.pan = l.pan
    WHERE o.kind = 'points' AND o.remaining != 0 AND o.remaining > 0
      AND o.expires_on > ? AND o.expires_on <= ?
      AND l.account_id > ? AND l.account_id <= ?
    GROUP BY l.account_id) e ON e.account_id = a.id
LEFT JOIN customer_segments s ON s.account_id = a.id{{home_join}}
WHERE a.coalition_id = ? AND a.erased_at IS NULL AND a.id > ? AND a.id <= ?
ORDER BY a.id
"""


class SqlClub:
    """The nightly job's reads and writes on one connection (the desk's, `SqlCustomers`)."""

    def __init__(self, conn: Db) -> None:
        self.conn = conn

    def rows(self, coalition: str, day: dt.date, since: dt.date, expiring_until: dt.date,
             *, home: bool = False) -> Iterator[ClubRow]:
        """Every live account of `coalition`, by id: purchases up to `day` (frequency and
        monetary from `since` on), points lapsing in (`day`, `expiring_until`]; with `home`
        its home store too."""
        sql = _ROWS.format(home_column=", h.store_id" if home else ", NULL",
                           home_join=_HOME if home else "")
        top = self.conn.execute("SELECT MAX(id) FROM accounts WHERE coalition_id = ?",
                                (coalition,)).fetchone()
        last = int(top[0]) if top is not None and top[0] is not None else 0
        s, d, until = since.isoformat(), day.isoformat(), expiring_until.isoformat()
        for lo in range(0, last, PAGE_IDS):
            hi = lo + PAGE_IDS
            params = [s, s, d, lo, hi, d, until, lo, hi]
            if home:
                params += [s, d, lo, hi]
            chunk = self.conn.execute(sql, (*params, coalition, lo, hi)).fetchall()
            for r in chunk:
                joined = _date(r[5])
                assert joined is not None
                yield ClubRow(int(r[0]), str(r[1] or ""), r[2] or None, r[3] or None,
                              _date(r[4]), joined, _date(r[6]), int(r[7]), int(r[8]),
                              int(r[9]), _date(r[10]), None if r[11] is None else str(r[11]),
                              None if r[12] is None else str(r[12]))

    def upsert_segments(self, coalition: str, day: dt.date,
                        rows: Iterable[tuple[int, str, dt.date | None, int, int, str]]) -> None:
        """Each (account, segment, last purchase, purchases, spend, tier) computed for `day`,
        inside the caller's transaction."""
        self.conn.executemany(
            "INSERT INTO customer_segments (account_id, coalition_id, segment, day, "
            "last_purchase, purchases, spend, tier) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account_id) DO UPDATE SET coalition_id = excluded.coalition_id, "
            "segment = excluded.segment, day = excluded.day, "
            "last_purchase = excluded.last_purchase, purchases = excluded.purchases, "
            "spend = excluded.spend, tier = excluded.tier",
            [(a, coalition, s, day.isoformat(), last.isoformat() if last else None, n, m, t)
             for a, s, last, n, m, t in rows])

    def owners(self, pans: Sequence[str]) -> dict[str, int]:
        """The account each of `pans` is linked to (cards of no account left out)."""
        found: dict[str, int] = {}
        for start in range(0, len(pans), 500):
            chunk = pans[start:start + 500]
            found.update((str(p), int(a)) for p, a in self.conn.execute(
                f"SELECT pan, account_id FROM account_cards WHERE pan IN "
                f"({','.join('?' * len(chunk))})", chunk))
        return found

    def drop_other_days(self, coalition: str, day: dt.date) -> int:
        """Rows of the coalition a run for `day` did not write (accounts erased since)."""
        return int(self.conn.execute(
            "DELETE FROM customer_segments WHERE coalition_id = ? AND day <> ?",
            (coalition, day.isoformat())).rowcount)

    def counts(self, coalition: str | None = None) -> list[tuple[str, str, dt.date, int]]:
        """(coalition, segment, day computed, customers), by coalition and segment."""
        where, params = ("", ()) if coalition is None else ("WHERE coalition_id = ? ",
                                                            (coalition,))
        return [(str(c), str(s), _date(d) or dt.date.min, int(n)) for c, s, d, n in
                self.conn.execute(
                    "SELECT coalition_id, segment, MAX(day), COUNT(*) FROM customer_segments "
                    f"{where}GROUP BY coalition_id, segment ORDER BY coalition_id, segment",
                    params)]

    def segment_of(self, account_id: int) -> str | None:
        row = self.conn.execute("SELECT segment FROM customer_segments WHERE account_id = ?",
                                (account_id,)).fetchone()
        return None if row is None else str(row[0])

    def queued_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` the outbox holds already (a run for a day again skips them without
        trying to insert each)."""
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            found.update(str(r[0]) for r in self.conn.execute(
                f"SELECT dedupe_key FROM outbox WHERE dedupe_key IN ({','.join('?' * len(chunk))})",
                chunk))
        return found

    @property
    def referrals(self) -> SqlReferrals:
        return SqlReferrals(self.conn)

    def bonus_card(self, account_id: int) -> str | None:
        """The card an account's bonus is credited to: its first printed card still active,
        else its mobile number's virtual card (None: no active card)."""
        row = self.conn.execute(
            "SELECT l.pan FROM account_cards l JOIN cards c ON c.pan = l.pan "
            "WHERE l.account_id = ? AND c.status = 'active' ORDER BY l.virtual, l.linked_at, "
            "l.pan LIMIT 1", (account_id,)).fetchone()
        return None if row is None else str(row[0])

    # -- bonuses ------------------------------------------------------------------------------

    def bonus(self, key: str) -> tuple[str, int | None, str] | None:
        """A bonus's (state, journal id, card) by its key (None: never started)."""
        row = self.conn.execute("SELECT state, journal_id, pan FROM club_bonuses WHERE key = ?",
                                (key,)).fetchone()
        return None if row is None else (str(row[0]), row[1], str(row[2]))

    def start_bonus(self, key: str, account_id: int, pan: str, store: str, points: int,
                    now: dt.datetime, unit: str = "points") -> None:
        """Record a grant before it goes to the switch: `points` bonus points, or with `unit`
        "rials" that much gift credit to the purse."""
        self.conn.execute(
            "INSERT INTO club_bonuses (key, account_id, pan, store_id, points, state, "
            "created_at, unit) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (key, account_id, pan, store, points, now.isoformat(), unit))

    def grant_bonus(self, key: str, journal_id: int) -> None:
        self.conn.execute("UPDATE club_bonuses SET state = 'granted', journal_id = ? "
                          "WHERE key = ?", (journal_id, key))

    def adjustment_for(self, pan: str, reason: str) -> int | None:
        """The journal row of an approved adjustment or purse credit of `pan` with exactly
        `reason` (the bonus's key is in it), newest first; None: none."""
        for jid, detail in self.conn.execute(
                "SELECT id, detail FROM journal WHERE pan = ? AND kind = 'card_admin' "
                "AND response_code = '00' ORDER BY id DESC", (pan,)):
            found = json.loads(detail) if isinstance(detail, str) else detail
            if isinstance(found, dict) and found.get("reason") == reason:
                return int(jid)
        return None


@dataclass(frozen=True, slots=True)
class Contact:
    """Who a message goes to: an account's id, name, mobile and email."""

    id: int
    name: str
    mobile: str | None
    email: str | None


_CONTACT = "a.id, a.name, a.mobile, a.email"


def _contact(r: Sequence[object]) -> Contact:
    return Contact(int(str(r[0])), str(r[1] or ""), str(r[2]) if r[2] else None,
                   str(r[3]) if r[3] else None)


class SqlReferrals:
    """Referral codes and who came by whose code (docs/customers.md "Referrals")."""

    def __init__(self, conn: Db) -> None:
        self.conn = conn

    def code_of(self, account_id: int) -> str | None:
        row = self.conn.execute("SELECT code FROM referral_codes WHERE account_id = ?",
                                (account_id,)).fetchone()
        return None if row is None else str(row[0])

    def add_code(self, account_id: int, code: str, now: dt.datetime) -> bool:
        """Give the account `code` (False: the code is taken, draw another)."""
        return self.conn.execute(
            "INSERT INTO referral_codes (account_id, code, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING account_id",
            (account_id, code, now.isoformat())).fetchone() is not None

    def owner(self, code: str) -> tuple[int, str] | None:
        """The account holding `code` and its coalition (None: nobody's, or erased)."""
        row = self.conn.execute(
            "SELECT a.id, a.coalition_id FROM referral_codes r JOIN accounts a "
            "ON a.id = r.account_id WHERE r.code = ? AND a.erased_at IS NULL",
            (code,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def referrer_of(self, friend_id: int) -> int | None:
        row = self.conn.execute("SELECT referrer_id FROM referrals WHERE friend_id = ?",
                                (friend_id,)).fetchone()
        return None if row is None else int(row[0])

    def record(self, friend_id: int, referrer_id: int, now: dt.datetime) -> None:
        self.conn.execute("INSERT INTO referrals (friend_id, referrer_id, at) VALUES (?, ?, ?)",
                          (friend_id, referrer_id, now.isoformat()))

    def due(self, coalition: str, day: dt.date) -> list[tuple[Contact, Contact, str]]:
        """(friend, referrer, referrer's code) of the coalition's referrals whose friend has
        bought by `day`, both accounts live."""
        return [(_contact(r[:4]), _contact(r[4:8]), str(r[8])) for r in self.conn.execute(
            f"SELECT {_CONTACT}, p.id, p.name, p.mobile, p.email, c.code FROM referrals x "
            "JOIN accounts a ON a.id = x.friend_id JOIN accounts p ON p.id = x.referrer_id "
            "JOIN referral_codes c ON c.account_id = p.id "
            "WHERE a.coalition_id = ? AND a.erased_at IS NULL AND p.erased_at IS NULL "
            "AND EXISTS (SELECT 1 FROM account_cards l JOIN journal j ON j.pan = l.pan "
            f"WHERE l.account_id = a.id AND j.kind IN ({_KINDS}) AND j.response_code = '00' "
            "AND j.amount > 0 AND j.business_day <= ? AND NOT EXISTS (SELECT 1 FROM journal r "
            "WHERE r.original_id = j.id AND r.kind = 'reversal' AND r.response_code = '00')) "
            "ORDER BY a.id",
            (coalition, day.isoformat()))]


def segment_of_card(conn: Db, pan: str) -> str | None:
    """The segment of the account a card is linked to (None: no account, or not computed)."""
    row = conn.execute(
        "SELECT s.segment FROM account_cards l JOIN customer_segments s "
        "ON s.account_id = l.account_id WHERE l.pan = ?", (pan,)).fetchone()
    return None if row is None else str(row[0])


def accounts_in(conn: Db, coalition: str, segment: str) -> Sequence[int]:
    """The live accounts of a segment, by id."""
    return [int(r[0]) for r in conn.execute(
        "SELECT s.account_id FROM customer_segments s JOIN accounts a ON a.id = s.account_id "
        "WHERE s.coalition_id = ? AND s.segment = ? AND a.erased_at IS NULL ORDER BY 1",
        (coalition, segment))]
