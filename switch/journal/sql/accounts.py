"""The accounts' SQL on the switch's side (docs/customers.md): a mobile number's account for a
decision (`Needs.account`), the virtual cards the group commit links, what recovery loads
(virtual cards, the next virtual serials, the profiles cards carry) and the profile `lps cards
enroll --name ...` writes for one card. The desk's side is `customers.py`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from switch.core.catalog import Catalog
from switch.core.entries import mobile_key
from switch.core.facts import AccountCards, AccountFact
from switch.core.mobile import MobileError, mask_mobile, normalize_mobile
from switch.core.programs.club import Profile
from switch.core.state import State
from switch.core.text import search_key
from switch.journal.customers import CustomerConflict
from switch.journal.sql.db import Db, tables

#: The profile a card carries: its account's, unless the account was erased.
_PROFILES = (
    "SELECT pan, a.name, a.mobile, a.birth_date, a.created_at FROM account_cards "
    "JOIN accounts a ON a.id = account_id WHERE a.erased_at IS NULL")
#: Before the accounts' migration (a database a reader opens before any journal migrated it).
_LEGACY_PROFILES = "SELECT pan, name, phone, birth_date, enrolled_at FROM customers"


def profile_rows(conn: Db, pan: str | None = None) -> Iterator[tuple[str, Profile]]:
    """(card, profile) of every card with one, or of `pan` alone."""
    names = tables(conn)
    if "accounts" in names:
        sql = _PROFILES
    elif "customers" in names:
        sql = _LEGACY_PROFILES + " WHERE 1"
    else:
        return
    rows = conn.execute(sql + " AND pan = ?", (pan,)) if pan is not None else conn.execute(sql)
    for card, name, phone, birth, created in rows:
        yield card, Profile(name or "", phone or "",
                            dt.date.fromisoformat(birth) if birth else None,
                            dt.datetime.fromisoformat(created) if created else None)


def read_profile(conn: Db, pan: str) -> Profile | None:
    return next((p for _, p in profile_rows(conn, pan)), None)


# -- what a decision reads, what the group commit writes -------------------------------------


def account_fact(conn: Db, key: str) -> AccountFact | None:
    """The account of a mobile number (`entries.mobile_key`) with its virtual card, the
    oldest when a race with the desk gave it two (docs/customers.md)."""
    coalition, _, mobile = key.rpartition("|")
    row = conn.execute(
        "SELECT a.id, a.name, a.birth_date, a.created_at, (SELECT c.pan FROM account_cards c "
        "WHERE c.account_id = a.id AND c.virtual = TRUE ORDER BY c.linked_at, c.pan LIMIT 1), "
        "(SELECT s.segment FROM customer_segments s WHERE s.account_id = a.id) "
        "FROM accounts a WHERE a.coalition_id = ? AND a.mobile = ?",
        (coalition, mobile)).fetchone()
    if row is None:
        return None
    aid, name, birth, created, pan, segment = row
    return AccountFact(aid, pan or "", Profile(
        name, mobile, dt.date.fromisoformat(birth) if birth else None,
        dt.datetime.fromisoformat(created)), None if segment is None else str(segment),
        _cards(conn, aid))


def _cards(conn: Db, account_id: int) -> tuple[str, ...]:
    return tuple(str(r[0]) for r in conn.execute(
        "SELECT pan FROM account_cards WHERE account_id = ? ORDER BY pan", (account_id,)))


def account_cards(conn: Db, key: str) -> AccountCards | None:
    """The cards of the account holding card `key`, or of the mobile number `key` names
    (`entries.mobile_key`), with its number's key (None: no such account)."""
    if "|" in key:
        coalition, _, mobile = key.rpartition("|")
        row = conn.execute("SELECT id, coalition_id, mobile FROM accounts "
                           "WHERE coalition_id = ? AND mobile = ?", (coalition, mobile)).fetchone()
    else:
        row = conn.execute("SELECT a.id, a.coalition_id, a.mobile FROM account_cards l "
                           "JOIN accounts a ON a.id = l.account_id WHERE l.pan = ?",
                           (key,)).fetchone()
    if row is None:
        return None
    aid, coalition, mobile = row
    return AccountCards(_cards(conn, aid), mobile_key(coalition, mobile) if mobile else "")


def write_links(conn: Db, rows: Sequence[tuple[Any, ...]]) -> None:
    """Link each new virtual card to the account holding its mobile number at commit time,
    making the account when none does (inside the group commit's transaction). Never
    refused: a desk that gave the number to an account meanwhile gets the card linked there."""
    for coalition, mobile, pan, at in rows:
        conn.execute(
            "INSERT INTO accounts (coalition_id, mobile, source, created_at, updated_at) "
            "VALUES (?,?,'pos',?,?) ON CONFLICT (coalition_id, mobile) "
            "WHERE mobile IS NOT NULL DO NOTHING", (coalition, mobile, at, at))
        conn.execute(
            "INSERT INTO account_cards (pan, account_id, virtual, linked_at) SELECT ?, id, TRUE, ? "
            "FROM accounts WHERE coalition_id = ? AND mobile = ?", (pan, at, coalition, mobile))


def load_virtual(conn: Db, state: State, config: Catalog) -> None:
    """Recovery: which cards are virtual, and each coalition's next virtual serial."""
    if "account_cards" not in tables(conn):
        return
    for (pan,) in conn.execute("SELECT pan FROM account_cards WHERE virtual = TRUE"):
        card = state.cards.get(pan)
        if card is not None:
            card.virtual = True
    for coalition in config.coalitions.values():
        rng = coalition.mobile
        if rng is None:
            continue
        # By prefix, not by a text range: PostgreSQL's collation may not sort ':' after '9'.
        # Numbers of one length and prefix, all digits, sort as numbers in any collation.
        top = conn.execute("SELECT MAX(pan) FROM cards WHERE substr(pan, 1, ?) = ? AND "
                           "length(pan) = ?",
                           (len(rng.virtual_bin), rng.virtual_bin, rng.length)).fetchone()[0]
        if top is not None:
            state.virtual_next[coalition.id] = int(top[len(rng.virtual_bin):-1]) + 1


# -- `lps cards enroll PAN --name --phone --birth-date` ---------------------------------------


def put_card_profile(conn: Db, pan: str, profile: Profile, now: dt.datetime) -> int:
    """The profile of an enrolled card (inside the caller's transaction): the fields given go
    to the card's account, made (and linked) when the card has none. A mobile number another
    account of the coalition holds is refused (`CustomerConflict`). Returns the account."""
    try:
        mobile = normalize_mobile(profile.phone) if profile.phone else None
    except MobileError as exc:
        raise CustomerConflict(str(exc)) from None
    card = conn.execute("SELECT coalition_id FROM cards WHERE pan = ?", (pan,)).fetchone()
    if card is None:
        raise CustomerConflict("the card is not enrolled")
    owner = conn.execute("SELECT account_id FROM account_cards WHERE pan = ?", (pan,)).fetchone()
    holder = conn.execute("SELECT id FROM accounts WHERE coalition_id = ? AND mobile = ?",
                          (card[0], mobile)).fetchone() if mobile else None
    if holder is not None and (owner is None or holder[0] != owner[0]):
        assert mobile is not None
        raise CustomerConflict(
            f"mobile {mask_mobile(mobile)} belongs to account {holder[0]}: link the card "
            f"to it (lps customers link {holder[0]} CARD) or give another number")
    stamp = now.isoformat()
    birth = profile.birth_date.isoformat() if profile.birth_date else None
    if owner is not None:
        account = int(owner[0])
        conn.execute(
            "UPDATE accounts SET name = CASE WHEN :name != '' THEN :name ELSE name END, "
            "name_key = CASE WHEN :name != '' THEN :key ELSE name_key END, "
            "mobile = COALESCE(:mobile, mobile), birth_date = COALESCE(:birth, birth_date), "
            "updated_at = :at WHERE id = :id",
            {"name": profile.name, "key": search_key(profile.name), "mobile": mobile,
             "birth": birth, "at": stamp, "id": account})
        return account
    account = int(conn.execute(
        "INSERT INTO accounts (coalition_id, name, name_key, mobile, birth_date, source, "
        "created_at, updated_at) VALUES (?,?,?,?,?,'card',?,?) RETURNING id",
        (card[0], profile.name, search_key(profile.name), mobile, birth,
         (profile.enrolled_at or now).isoformat(), stamp)).fetchone()[0])
    conn.execute("INSERT INTO account_cards (pan, account_id, virtual, linked_at) "
                 "VALUES (?,?,FALSE,?)", (pan, account, stamp))
    return account
