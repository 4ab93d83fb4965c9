"""The messaging tables' SQL (migration 8; docs/messaging.md §Tables, §States): the outbox
the sender works through, the parts the SMSC acknowledged, and customers' consent.

`SqlOutbox` wraps one read-write connection of either engine (`SqliteOutbox`, `PgOutbox` open
it). Each sender step is one short transaction;
`insert` writes on the caller's open transaction, so a message exists exactly when the event
that causes it commits. What a step decides (retry or give up, which receipt ends a message)
is `switch.messaging.outbox`'s; only the rows are here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from switch.journal.receipts import Receipt, receipt_key
from switch.journal.rows import OutboxRow
from switch.journal.sql.common import marks
from switch.journal.sql.db import Db, dialect_of

#: The columns `insert` takes, in order.
NEW_MESSAGE_COLUMNS = ("channel", "recipient", "customer_ref", "template", "params", "kind",
                       "coalition_id", "store_id", "dedupe_key", "due_at")
_ROW = ("SELECT id, channel, recipient, customer_ref, template, params, kind, coalition_id, "
        "store_id, attempts, state, last_error FROM outbox")


_INSERT = (f"INSERT INTO outbox ({', '.join(NEW_MESSAGE_COLUMNS)}, created_at, updated_at) "
           f"VALUES ({marks(NEW_MESSAGE_COLUMNS)},?,?) ON CONFLICT (dedupe_key) DO NOTHING")
#: The account a card belongs to, when it has a mobile that takes receipts and was not erased.
_RECIPIENTS = ("SELECT c.pan, a.id, a.mobile, a.name FROM account_cards c "
               "JOIN accounts a ON a.id = c.account_id "
               "WHERE a.mobile IS NOT NULL AND a.erased_at IS NULL AND NOT EXISTS "
               "(SELECT 1 FROM receipt_optout o WHERE o.address = a.mobile) AND c.pan IN ")


def stamp(moment: dt.datetime) -> str:
    """A fixed-width UTC timestamp, so that text order is time order in SQL."""
    if moment.tzinfo is None:
        raise ValueError("outbox times are aware datetimes")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> dt.datetime:
    """A stored time back: `stamp`'s text, or ISO 8601 with an offset (PostgreSQL's
    `timestamptz` as the journal reads it), in UTC."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


class SqlOutbox:
    """The outbox on one connection to the switch's database. One thread at a time."""

    def __init__(self, conn: Db) -> None:
        self.conn = conn

    def close(self) -> None:
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction ... `COMMIT` (or `ROLLBACK` on any error)."""
        self.conn.execute(dialect_of(self.conn).begin_write)
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- queuing --------------------------------------------------------------------------------

    def insert(self, rows: Sequence[Sequence[Any]], now: dt.datetime) -> list[int | None]:
        """New messages (`NEW_MESSAGE_COLUMNS` values, `due_at` a datetime) on the caller's
        open transaction; their ids (None: a duplicate `dedupe_key`, not queued again)."""
        assert self.conn.in_transaction
        ids: list[int | None] = []
        at = stamp(now)
        for row in rows:
            found = self.conn.execute(f"{_INSERT} RETURNING id",
                                      (*row[:-1], stamp(row[-1]), at, at)).fetchone()
            ids.append(None if found is None else int(found[0]))
        return ids

    # -- reading --------------------------------------------------------------------------------

    def _rows(self, where: str, args: Sequence[Any]) -> list[OutboxRow]:
        found = self.conn.execute(f"{_ROW} WHERE {where}", args).fetchall()
        parts: dict[int, dict[int, str]] = {}
        ids = [r[0] for r in found]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for oid, part, smsc_id in self.conn.execute(
                    "SELECT outbox_id, part, smsc_message_id FROM outbox_parts WHERE outbox_id "
                    f"IN ({marks(chunk)})", chunk):
                parts.setdefault(oid, {})[part] = smsc_id
        return [OutboxRow(id=r[0], channel=r[1], recipient=r[2], customer_ref=r[3],
                          template=r[4], params=json.loads(r[5]), kind=r[6], coalition_id=r[7],
                          store_id=r[8], attempts=r[9], state=r[10], last_error=r[11],
                          acknowledged=parts.get(r[0], {})) for r in found]

    def due(self, channel: str, now: dt.datetime, limit: int) -> list[OutboxRow]:
        """Queued messages of `channel` whose time has come, oldest first."""
        return self._rows("state = 'queued' AND channel = ? AND due_at <= ? "
                          "ORDER BY due_at, id LIMIT ?", (channel, stamp(now), limit))

    def next_due(self, channel: str) -> dt.datetime | None:
        row = self.conn.execute(
            "SELECT MIN(due_at) FROM outbox WHERE state = 'queued' AND channel = ?",
            (channel,)).fetchone()
        return parse_stamp(row[0]) if row[0] else None

    def in_state(self, state: str, *, newest_first: bool = False,
                 limit: int = -1) -> list[OutboxRow]:
        """Messages in `state` by id (`limit` < 0: all of them)."""
        order = f"state = ? ORDER BY id {'DESC' if newest_first else ''}"
        if limit < 0:
            return self._rows(order, (state,))
        return self._rows(f"{order} LIMIT ?", (state, limit))

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.conn.execute(
            "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")}

    def attempts(self, oid: int) -> int:
        return int(self.conn.execute("SELECT attempts FROM outbox WHERE id = ?",
                                     (oid,)).fetchone()[0])

    def state_of(self, oid: int) -> str:
        return str(self.conn.execute("SELECT state FROM outbox WHERE id = ?",
                                     (oid,)).fetchone()[0])

    # -- the sender's steps (each in the caller's transaction unless it says so) ----------------

    def claim(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Queued messages to `sending`, the attempt counted."""
        self.conn.executemany(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? "
            "WHERE id = ? AND state = 'queued'", [(stamp(now), i) for i in ids])

    def defer(self, ids: Sequence[int], until: dt.datetime, reason: str,
              now: dt.datetime) -> None:
        """Queued messages moved to a later time, no attempt counted."""
        self.conn.executemany(
            "UPDATE outbox SET due_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ? AND state = 'queued'",
            [(stamp(until), reason, stamp(now), i) for i in ids])

    def release(self, ids: Sequence[int], now: dt.datetime) -> None:
        """Claimed messages queued again, their attempt uncounted."""
        self.conn.executemany(
            "UPDATE outbox SET state = 'queued', updated_at = ?, "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END "
            "WHERE id = ? AND state = 'sending'", [(stamp(now), i) for i in ids])

    def add_parts(self, acks: Sequence[tuple[int, int, str]], totals: Mapping[int, int],
                  now: dt.datetime) -> list[int]:
        """Acknowledged parts (message, part, server's message id); a message whose parts are
        all in becomes `sent`. Returns the ids of those."""
        sent: list[int] = []
        at = stamp(now)
        self.conn.executemany(
            "INSERT INTO outbox_parts (outbox_id, part, smsc_message_id, submitted_at) "
            "VALUES (?,?,?,?) ON CONFLICT DO NOTHING", [(*a, at) for a in acks])
        for oid in dict.fromkeys(a[0] for a in acks):
            have = self.conn.execute("SELECT COUNT(*) FROM outbox_parts WHERE outbox_id = ?",
                                     (oid,)).fetchone()[0]
            first = self.conn.execute(
                "SELECT smsc_message_id FROM outbox_parts WHERE outbox_id = ? ORDER BY part "
                "LIMIT 1", (oid,)).fetchone()[0]
            if have >= totals[oid]:
                self.conn.execute(
                    "UPDATE outbox SET state = 'sent', parts = ?, smsc_message_id = ?, "
                    "last_error = NULL, sent_at = ?, updated_at = ? WHERE id = ? "
                    "AND state = 'sending'", (totals[oid], first, at, at, oid))
                sent.append(oid)
            else:
                self.conn.execute("UPDATE outbox SET parts = ? WHERE id = ?", (totals[oid], oid))
        return sent

    def reschedule(self, oid: int, due: dt.datetime, error: str, now: dt.datetime) -> None:
        """Back to `queued`, due at `due`, with the reason of the failed attempt."""
        self.conn.execute(
            "UPDATE outbox SET state = 'queued', due_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ?", (stamp(due), error, stamp(now), oid))

    def set_state(self, oid: int, state: str, error: str, now: dt.datetime) -> None:
        self.conn.execute("UPDATE outbox SET state = ?, last_error = ?, updated_at = ? "
                          "WHERE id = ?", (state, error, stamp(now), oid))

    def part_owner(self, smsc_id: str) -> int | None:
        """The message a part with this server message id belongs to (the newest)."""
        row = self.conn.execute("SELECT outbox_id FROM outbox_parts WHERE smsc_message_id = ? "
                                "ORDER BY outbox_id DESC LIMIT 1", (smsc_id,)).fetchone()
        return None if row is None else int(row[0])

    def set_receipt(self, oid: int, smsc_id: str, stat: str, now: dt.datetime) -> None:
        self.conn.execute("UPDATE outbox_parts SET receipt = ?, receipt_at = ? "
                          "WHERE outbox_id = ? AND smsc_message_id = ?",
                          (stat, stamp(now), oid, smsc_id))

    def undelivered_parts(self, oid: int) -> int:
        """Parts of a sent message without a DELIVRD receipt."""
        return int(self.conn.execute(
            "SELECT (SELECT parts FROM outbox WHERE id = ?) - COUNT(*) FROM outbox_parts "
            "WHERE outbox_id = ? AND receipt = 'DELIVRD'", (oid, oid)).fetchone()[0])

    def mark_delivered(self, oid: int, now: dt.datetime) -> None:
        self.conn.execute("UPDATE outbox SET state = 'delivered', delivered_at = ?, "
                          "updated_at = ? WHERE id = ?", (stamp(now), stamp(now), oid))

    def requeue(self, ids: Collection[int], now: dt.datetime) -> int:
        """Dead or failed messages queued now, attempts from zero, their earlier parts and
        receipts forgotten; how many were."""
        done = 0
        for oid in ids:
            changed: int = self.conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = 0, due_at = ?, updated_at = ?, "
                "parts = NULL, smsc_message_id = NULL, sent_at = NULL, delivered_at = NULL "
                "WHERE id = ? AND state IN ('dead', 'failed')",
                (stamp(now), stamp(now), oid)).rowcount
            if changed:
                self.conn.execute("DELETE FROM outbox_parts WHERE outbox_id = ?", (oid,))
            done += changed
        return done

    # -- consent ----------------------------------------------------------------------------

    def set_consent(self, address: str, promotional: bool, source: str,
                    now: dt.datetime) -> None:
        self.conn.execute(
            "INSERT INTO message_consent (address, promotional, source, updated_at) "
            "VALUES (?,?,?,?) ON CONFLICT (address) DO UPDATE SET "
            "promotional = excluded.promotional, source = excluded.source, "
            "updated_at = excluded.updated_at", (address, promotional, source, stamp(now)))

    def set_receipts(self, address: str, on: bool, source: str, now: dt.datetime) -> None:
        """Receipt SMS to `address` on (no `receipt_optout` row) or off (docs/messaging.md,
        "Receipts")."""
        if on:
            self.conn.execute("DELETE FROM receipt_optout WHERE address = ?", (address,))
            return
        self.conn.execute(
            "INSERT INTO receipt_optout (address, source, updated_at) VALUES (?,?,?) "
            "ON CONFLICT (address) DO UPDATE SET source = excluded.source, "
            "updated_at = excluded.updated_at", (address, source, stamp(now)))

    def receipts(self, address: str) -> bool:
        """Whether receipt SMS go to `address` (where its store sends them)."""
        return self.conn.execute("SELECT 1 FROM receipt_optout WHERE address = ?",
                                 (address,)).fetchone() is None

    def consent(self, address: str) -> bool | None:
        """Whether promotional messages to `address` are allowed (None: never asked)."""
        row = self.conn.execute("SELECT promotional FROM message_consent WHERE address = ?",
                                (address,)).fetchone()
        return None if row is None else bool(row[0])


def write_receipts(conn: Db, receipts: Sequence[Receipt]) -> int:
    """The group commit's receipt SMS, on its open transaction (docs/messaging.md,
    "Receipts"): one `transactional` outbox row per receipt whose card belongs to an account
    with a mobile that did not turn receipts off, in one `executemany`; a journal row's
    receipt already there is not written again. Returns how many rows it offered."""
    assert conn.in_transaction
    pans = sorted({r.pan for r in receipts})
    who: dict[str, tuple[int, str, str]] = {}
    for start in range(0, len(pans), 500):
        chunk = pans[start:start + 500]
        for pan, account, mobile, name in conn.execute(f"{_RECIPIENTS}({marks(chunk)})", chunk):
            who[pan] = (int(account), str(mobile), str(name or ""))
    rows = []
    for r in receipts:
        found = who.get(r.pan)
        if found is None:
            continue
        account, mobile, name = found
        params = dict(r.params)
        if name:
            params["name"] = name
        at = stamp(r.at)
        rows.append(("sms", mobile, f"cust-{account}", r.template,
                     json.dumps(params, ensure_ascii=False, sort_keys=True), "transactional",
                     r.coalition_id, r.store_id, receipt_key(r.journal_id), at, at, at))
    if rows:
        conn.executemany(_INSERT, rows)
    return len(rows)
