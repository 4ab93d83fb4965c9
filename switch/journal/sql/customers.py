"""The desk's side of the accounts' tables (docs/customers.md, "Tables"): reads by id, mobile,
name and card, and the profile writes (`switch.journal.customers.Customers`), in SQL both
engines run; `SqliteCustomers` and `PgCustomers` open the connection.

Nothing here touches the money tables: a card's lots and journal rows are the switch's. Consent
is the messaging package's `message_consent`, keyed by address.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Collection, Iterator, Sequence

from switch.core.luhn import mask_pan
from switch.core.mobile import mask_mobile
from switch.core.text import search_key
from switch.journal.customers import (
    AccountChanges,
    AccountRow,
    CustomerConflict,
    Erased,
    HistoryRow,
    LinkedCard,
    NewAccount,
)
from switch.journal.rows import JournalRow
from switch.journal.sql.club import SqlClub
from switch.journal.sql.db import Db, dialect_of
from switch.journal.sql.outbox import SqlOutbox

_COLUMNS = ("id, coalition_id, name, mobile, email, birth_date, anniversary, source, "
            "created_at, updated_at, erased_at, pseudonym")
#: The kinds a customer's visit leaves (last seen): not an operator's command, not a reject.
_VISITS = ("earn", "advice", "redeem", "inquiry", "return", "topup", "sv_purchase", "stamp")


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _row(r: Sequence[object]) -> AccountRow:
    return AccountRow(
        id=int(str(r[0])), coalition=str(r[1]), name=str(r[2] or ""),
        mobile=str(r[3]) if r[3] else None, email=str(r[4]) if r[4] else None,
        birth_date=_day(str(r[5]) if r[5] else None),
        anniversary=_day(str(r[6]) if r[6] else None), source=str(r[7]),
        created_at=dt.datetime.fromisoformat(str(r[8])),
        updated_at=dt.datetime.fromisoformat(str(r[9])),
        erased_at=dt.datetime.fromisoformat(str(r[10])) if r[10] else None,
        pseudonym=str(r[11]) if r[11] else None)


def _in(values: Collection[str]) -> str:
    return ",".join("?" * len(values))


class SqlCustomers:
    """The accounts' tables of one switch database, on a read-write connection of its own
    (migrated by the engine's `open`)."""

    def __init__(self, conn: Db, location: str) -> None:
        self.conn = conn
        self._location = location
        self._depth = 0

    @property
    def location(self) -> str:
        return self._location

    @property
    def club(self) -> SqlClub:
        """The nightly job's tables on this connection (segments, bonuses)."""
        return SqlClub(self.conn)

    @property
    def outbox(self) -> SqlOutbox:
        """The outbox on this connection: messages queued inside `transaction` commit with
        the writes beside them."""
        return SqlOutbox(self.conn)

    def close(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction ... `COMMIT`, `ROLLBACK` on any error; writes inside it join
        it."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute(dialect_of(self.conn).begin_write)
        self._depth = 1
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0

    # -- reads ------------------------------------------------------------------------------

    def _select(self, where: str, params: Sequence[object]) -> list[AccountRow]:
        return [_row(r) for r in self.conn.execute(
            f"SELECT {_COLUMNS} FROM accounts WHERE {where}", tuple(params))]

    def account(self, account_id: int) -> AccountRow | None:
        found = self._select("id = ?", (account_id,))
        return found[0] if found else None

    def by_mobile(self, mobile: str, coalition: str | None = None) -> list[AccountRow]:
        if coalition is None:
            return self._select("mobile = ? ORDER BY coalition_id", (mobile,))
        return self._select("mobile = ? AND coalition_id = ?", (mobile, coalition))

    def by_name(self, key: str, coalition: str | None = None, limit: int = 50
                ) -> list[AccountRow]:
        if not key:
            return []
        pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        scope, params = ("", ()) if coalition is None else (" AND coalition_id = ?", (coalition,))
        return self._select(
            f"name_key LIKE ? ESCAPE '\\' AND erased_at IS NULL{scope} ORDER BY name_key, id "
            "LIMIT ?", (pattern, *params, limit))

    def by_card(self, pan: str) -> AccountRow | None:
        found = self._select("id = (SELECT account_id FROM account_cards WHERE pan = ?)", (pan,))
        return found[0] if found else None

    def cards(self, account_id: int) -> list[LinkedCard]:
        return [LinkedCard(pan, bool(virtual), dt.datetime.fromisoformat(linked),
                           coalition or "", status or "", _day(enrolled))
                for pan, virtual, linked, coalition, status, enrolled in self.conn.execute(
                    "SELECT l.pan, l.virtual, l.linked_at, c.coalition_id, c.status, "
                    "c.enrolled_on FROM account_cards l LEFT JOIN cards c ON c.pan = l.pan "
                    "WHERE l.account_id = ? ORDER BY l.linked_at, l.pan", (account_id,))]

    def card_row(self, pan: str) -> tuple[str, str] | None:
        row = self.conn.execute("SELECT coalition_id, status FROM cards WHERE pan = ?",
                                (pan,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def owner(self, pan: str) -> int | None:
        row = self.conn.execute("SELECT account_id FROM account_cards WHERE pan = ?",
                                (pan,)).fetchone()
        return None if row is None else int(row[0])

    def consent(self, address: str) -> bool | None:
        row = self.conn.execute("SELECT promotional FROM message_consent WHERE address = ?",
                                (address,)).fetchone()
        return None if row is None else bool(row[0])

    def history(self, pans: Collection[str], limit: int) -> list[HistoryRow]:
        if not pans:
            return []
        out = []
        for r in self.conn.execute(
            "SELECT j.id, j.at, j.business_day, j.kind, j.pc, j.terminal_id, j.store_id, j.pan, "
            "j.response_code, j.amount, j.points, j.sv, j.detail, o.kind FROM journal j "
            "LEFT JOIN journal o ON o.id = j.original_id "
            f"WHERE j.pan IN ({_in(pans)}) AND j.kind NOT IN ('reject', 'network') "
            "ORDER BY j.id DESC LIMIT ?", (*pans, limit)):
            detail = json.loads(r[12]) if r[12] else {}
            if not isinstance(detail, dict):
                detail = {}
            out.append(HistoryRow(JournalRow(
                id=r[0], at=dt.datetime.fromisoformat(r[1]),
                business_day=dt.date.fromisoformat(r[2]), kind=r[3], pc=r[4] or "",
                terminal_id=r[5] or "", store_id=r[6] or "", pan=r[7],
                response_code=r[8] or "", amount=r[9] or 0, points=r[10] or 0, sv=r[11] or 0,
                original_kind=r[13] or ""), str(detail.get("action", "")),
                str(detail.get("reason", ""))))
        return out

    def last_seen(self, pans: Collection[str]) -> dt.datetime | None:
        if not pans:
            return None
        row = self.conn.execute(
            f"SELECT MAX(at) FROM journal WHERE pan IN ({_in(pans)}) AND response_code = '00' "
            f"AND kind IN ({_in(_VISITS)})", (*pans, *_VISITS)).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row and row[0] else None

    def migration_notes(self, account_id: int) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT note FROM account_migration WHERE account_id = ? ORDER BY rowid",
            (account_id,))]

    # -- profile writes ---------------------------------------------------------------------

    def _holder(self, coalition: str, mobile: str, other_than: int | None) -> None:
        row = self.conn.execute("SELECT id FROM accounts WHERE coalition_id = ? AND mobile = ?",
                                (coalition, mobile)).fetchone()
        if row is not None and row[0] != other_than:
            raise CustomerConflict(f"mobile {mask_mobile(mobile)} belongs to account {row[0]}")

    def _consent(self, consent: Sequence[tuple[str, bool]], stamp: str) -> None:
        self.conn.executemany(
            "INSERT INTO message_consent (address, promotional, source, updated_at) "
            "VALUES (?,?,'desk',?) ON CONFLICT (address) DO UPDATE SET "
            "promotional = excluded.promotional, source = excluded.source, "
            "updated_at = excluded.updated_at",
            [(address, bool(allowed), stamp) for address, allowed in consent])

    def create(self, new: NewAccount, now: dt.datetime) -> int:
        stamp = now.isoformat()
        with self.transaction():
            self._holder(new.coalition, new.mobile, None)
            account = int(self.conn.execute(
                "INSERT INTO accounts (coalition_id, name, name_key, mobile, email, birth_date, "
                "anniversary, source, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "RETURNING id",
                (new.coalition, new.name, search_key(new.name), new.mobile, new.email,
                 _iso(new.birth_date), _iso(new.anniversary), new.source, stamp, stamp),
            ).fetchone()[0])
            self.link(account, new.cards, now)
            self._consent(new.consent, stamp)
        return account

    def update(self, account_id: int, changes: AccountChanges, now: dt.datetime) -> None:
        with self.transaction():
            row = self.account(account_id)
            if row is None or row.erased:
                raise CustomerConflict(f"no account {account_id}")
            if changes.mobile is not None:
                self._holder(row.coalition, changes.mobile, account_id)
            values = {
                "name": changes.name, "mobile": changes.mobile, "email": changes.email,
                "birth_date": _iso(changes.birth_date), "anniversary": _iso(changes.anniversary)}
            sets: dict[str, str | None] = {k: v for k, v in values.items() if v is not None}
            sets.update({k: None for k in changes.clear if k in values and k != "name"})
            if changes.name is not None:
                sets["name_key"] = search_key(changes.name)
            sets["updated_at"] = now.isoformat()
            self.conn.execute(
                "UPDATE accounts SET " + ", ".join(f"{k} = ?" for k in sets) + " WHERE id = ?",
                (*sets.values(), account_id))
            self._consent(changes.consent, now.isoformat())

    def link(self, account_id: int, pans: Sequence[str], now: dt.datetime) -> None:
        with self.transaction():
            row = self.account(account_id)
            if row is None or row.erased:
                raise CustomerConflict(f"no account {account_id}")
            for pan in pans:
                card = self.card_row(pan)
                if card is None or card[0] != row.coalition:
                    raise CustomerConflict(f"card {mask_pan(pan)} is not enrolled in coalition "
                                           f"{row.coalition}")
                owner = self.owner(pan)
                if owner == account_id:
                    continue
                if owner is not None:
                    raise CustomerConflict(f"card {mask_pan(pan)} belongs to account {owner}: "
                                           "unlink it there first")
                self.conn.execute("INSERT INTO account_cards (pan, account_id, virtual, "
                                  "linked_at) VALUES (?,?,FALSE,?)",
                                  (pan, account_id, now.isoformat()))

    def unlink(self, account_id: int, pan: str) -> None:
        with self.transaction():
            row = self.conn.execute("SELECT virtual FROM account_cards WHERE pan = ? AND "
                                    "account_id = ?", (pan, account_id)).fetchone()
            if row is None:
                raise CustomerConflict(f"card {mask_pan(pan)} is not linked to account "
                                       f"{account_id}")
            if row[0]:
                raise CustomerConflict("a mobile number's virtual card stays with its account")
            self.conn.execute("DELETE FROM account_cards WHERE pan = ?", (pan,))

    def erase(self, account_id: int, pseudonym: str, now: dt.datetime) -> Erased:
        """Personal data gone (name, mobile, email, dates, consent, message addresses); the
        cards stay linked and their journal rows stay as they are, under `pseudonym`."""
        with self.transaction():
            row = self.account(account_id)
            if row is None or row.erased:
                raise CustomerConflict(f"no account {account_id}")
            addresses = [a for a in (row.mobile, row.email) if a]
            consents = self.conn.execute(
                f"DELETE FROM message_consent WHERE address IN ({_in(addresses)})",
                addresses).rowcount if addresses else 0
            if addresses:  # a receipts opt-out holds the number too (docs/messaging.md)
                self.conn.execute(f"DELETE FROM receipt_optout WHERE address IN "
                                  f"({_in(addresses)})", addresses)
            messages = self.conn.execute(
                "UPDATE outbox SET recipient = ?, params = '{}', state = CASE WHEN state IN "
                "('queued', 'failed') THEN 'dead' ELSE state END, last_error = CASE WHEN state "
                "IN ('queued', 'failed') THEN 'the customer was erased' ELSE last_error END "
                f"WHERE recipient IN ({_in(addresses)})", (pseudonym, *addresses)
            ).rowcount if addresses else 0
            self.conn.execute(
                "UPDATE accounts SET name = '', name_key = '', mobile = NULL, email = NULL, "
                "birth_date = NULL, anniversary = NULL, erased_at = ?, pseudonym = ?, "
                "updated_at = ? WHERE id = ?",
                (now.isoformat(), pseudonym, now.isoformat(), account_id))
        return Erased(pseudonym, consents, messages)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None
