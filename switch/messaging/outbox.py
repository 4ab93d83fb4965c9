"""The durable outbox: messages as rows, written with the event that causes them.

`enqueue` inserts rows on the caller's open transaction, so a message exists exactly when the
event that causes it was committed (an earn's receipt SMS commits or rolls back with the
earn). Everything else here is the sender's bookkeeping: each state change is one short
transaction, made before the next step that depends on it (docs/messaging.md §States).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from switch.core.text import TextError, is_digits, normalize_text
from switch.messaging.address import AddressError, normalize_address
from switch.messaging.settings import KINDS, Kind, RetryPolicy, TemplateSet
from switch.messaging.templates import SCOPE_FIELDS, TemplateError, check_params

__all__ = [
    "CHANNELS",
    "FINAL_FAILURES",
    "NewMessage",
    "OutboxError",
    "OutboxRow",
    "claim",
    "counts",
    "due",
    "enqueue",
    "mark_dead",
    "mark_failed",
    "record_parts",
    "record_receipt",
    "release",
    "requeue",
    "retry_later",
    "settle_unknown",
    "stamp",
    "transaction",
]

Channel = Literal["sms", "email"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")
#: Delivery receipt states that end a message as failed (SMPP 3.4 Appendix B, §5.2.28).
FINAL_FAILURES = frozenset({"EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"})


class OutboxError(ValueError):
    """A message that cannot be queued; nothing was written."""


def stamp(moment: dt.datetime) -> str:
    """A fixed-width UTC timestamp, so that text order is time order in SQL."""
    if moment.tzinfo is None:
        raise ValueError("outbox times are aware datetimes")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on any error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue. `params` hold the template's fields (docs/messaging.md)."""

    channel: Channel
    recipient: str
    template: str
    customer_ref: str
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: Kind | None = None
    coalition_id: str | None = None
    store_id: str | None = None
    due_at: dt.datetime | None = None
    #: A message with a key already in the outbox is not queued again (a nightly job re-run).
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    channel: Channel
    recipient: str
    customer_ref: str
    template: str
    params: dict[str, Any]
    kind: Kind
    coalition_id: str | None
    store_id: str | None
    attempts: int
    state: str
    last_error: str | None
    #: Parts the SMSC already acknowledged: part number -> its message id.
    acknowledged: dict[int, str]


def _customer_ref(text: str) -> str:
    try:
        ref = normalize_text(text, "customer_ref", max_length=64)
    except TextError as exc:
        raise OutboxError(str(exc)) from None
    if is_digits(ref.replace(" ", "")) and len(ref) >= 10:
        raise OutboxError("customer_ref must be a customer's id, not a card or phone number")
    return ref


def _checked(m: NewMessage, now: dt.datetime,
             templates: Mapping[str, TemplateSet] | None) -> tuple[Any, ...]:
    if m.channel not in CHANNELS:
        raise OutboxError(f"channel must be sms or email, got {m.channel!r}")
    try:
        recipient = normalize_address(m.channel, m.recipient)
        params = check_params(m.params)
    except (AddressError, TemplateError) as exc:
        raise OutboxError(str(exc)) from None
    kind = m.kind
    if templates is not None:
        ts = templates.get(m.template)
        if ts is None:
            raise OutboxError(f"no template {m.template!r} in [messaging.templates]")
        missing = sorted(ts.fields() - SCOPE_FIELDS - set(params))
        if missing:
            raise OutboxError(f"template {m.template!r} needs {', '.join(missing)}")
        kind = kind or ts.kind
    if kind not in KINDS:
        raise OutboxError("kind must be transactional or promotional")
    due_at = m.due_at or now
    return (m.channel, recipient, _customer_ref(m.customer_ref), m.template,
            json.dumps(params, ensure_ascii=False, sort_keys=True), kind, m.coalition_id,
            m.store_id, m.dedupe_key, stamp(due_at), stamp(now), stamp(now))


def enqueue(conn: sqlite3.Connection, messages: Sequence[NewMessage], now: dt.datetime,
            templates: Mapping[str, TemplateSet] | None = None) -> list[int | None]:
    """Queue `messages` on the caller's open transaction; their ids (None: a duplicate key).

    Every message is checked before any row is written, so one bad message queues none.
    """
    if not conn.in_transaction:
        raise OutboxError("enqueue writes inside the caller's transaction: BEGIN first")
    rows = [_checked(m, now, templates) for m in messages]
    ids: list[int | None] = []
    for row in rows:
        cur = conn.execute(
            "INSERT INTO outbox (channel, recipient, customer_ref, template, params, kind, "
            "coalition_id, store_id, dedupe_key, due_at, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (dedupe_key) DO NOTHING", row)
        ids.append(cur.lastrowid if cur.rowcount else None)
    return ids


# -- the sender's side -------------------------------------------------------------------------


def _rows(conn: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[OutboxRow]:
    found = conn.execute(
        "SELECT id, channel, recipient, customer_ref, template, params, kind, coalition_id, "
        f"store_id, attempts, state, last_error FROM outbox WHERE {where}", args).fetchall()
    parts: dict[int, dict[int, str]] = {}
    ids = [r[0] for r in found]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for oid, part, smsc_id in conn.execute(
                "SELECT outbox_id, part, smsc_message_id FROM outbox_parts WHERE outbox_id IN "
                f"({','.join('?' * len(chunk))})", chunk):
            parts.setdefault(oid, {})[part] = smsc_id
    return [OutboxRow(id=r[0], channel=r[1], recipient=r[2], customer_ref=r[3], template=r[4],
                      params=json.loads(r[5]), kind=r[6], coalition_id=r[7], store_id=r[8],
                      attempts=r[9], state=r[10], last_error=r[11],
                      acknowledged=parts.get(r[0], {})) for r in found]


def due(conn: sqlite3.Connection, channel: Channel, now: dt.datetime,
        limit: int) -> list[OutboxRow]:
    """Queued messages of `channel` whose time has come, oldest first."""
    return _rows(conn, "state = 'queued' AND channel = ? AND due_at <= ? "
                       "ORDER BY due_at, id LIMIT ?", (channel, stamp(now), limit))


def next_due(conn: sqlite3.Connection, channel: Channel) -> dt.datetime | None:
    row = conn.execute("SELECT MIN(due_at) FROM outbox WHERE state = 'queued' AND channel = ?",
                       (channel,)).fetchone()
    return parse_stamp(row[0]) if row[0] else None


def in_state(conn: sqlite3.Connection, state: str) -> list[OutboxRow]:
    return _rows(conn, "state = ? ORDER BY id", (state,))


def claim(conn: sqlite3.Connection, ids: Sequence[int], now: dt.datetime) -> None:
    """Mark messages `sending` and count the attempt, before any byte goes to the server."""
    with transaction(conn):
        conn.executemany(
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? "
            "WHERE id = ? AND state = 'queued'", [(stamp(now), i) for i in ids])


def defer(conn: sqlite3.Connection, ids: Sequence[int], until: dt.datetime, reason: str,
          now: dt.datetime) -> None:
    """Move queued messages to a later time without counting an attempt (quiet hours)."""
    with transaction(conn):
        conn.executemany(
            "UPDATE outbox SET due_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ? AND state = 'queued'",
            [(stamp(until), reason, stamp(now), i) for i in ids])


def release(conn: sqlite3.Connection, ids: Sequence[int], now: dt.datetime) -> None:
    """Claimed messages the sender stopped before submitting: queued again, attempt uncounted."""
    with transaction(conn):
        conn.executemany(
            "UPDATE outbox SET state = 'queued', attempts = MAX(0, attempts - 1), updated_at = ? "
            "WHERE id = ? AND state = 'sending'", [(stamp(now), i) for i in ids])


@dataclass(frozen=True, slots=True)
class PartAck:
    """An SMSC's acceptance of one part (or a whole email: part 1, the Message-ID)."""

    outbox_id: int
    part: int
    message_id: str


def record_parts(conn: sqlite3.Connection, acks: Sequence[PartAck], totals: Mapping[int, int],
                 now: dt.datetime) -> list[int]:
    """Keep each acknowledged part's message id; a message whose parts are all in is `sent`.

    Returns the ids of messages that became `sent`.
    """
    sent: list[int] = []
    with transaction(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO outbox_parts (outbox_id, part, smsc_message_id, "
            "submitted_at) VALUES (?,?,?,?)",
            [(a.outbox_id, a.part, a.message_id, stamp(now)) for a in acks])
        for oid in dict.fromkeys(a.outbox_id for a in acks):
            have = conn.execute("SELECT COUNT(*) FROM outbox_parts WHERE outbox_id = ?",
                                (oid,)).fetchone()
            first = conn.execute("SELECT smsc_message_id FROM outbox_parts WHERE outbox_id = ? "
                                 "ORDER BY part LIMIT 1", (oid,)).fetchone()[0]
            if have[0] >= totals[oid]:
                conn.execute(
                    "UPDATE outbox SET state = 'sent', parts = ?, smsc_message_id = ?, "
                    "last_error = NULL, sent_at = ?, updated_at = ? WHERE id = ? "
                    "AND state = 'sending'", (totals[oid], first, stamp(now), stamp(now), oid))
                sent.append(oid)
            else:
                conn.execute("UPDATE outbox SET parts = ? WHERE id = ?", (totals[oid], oid))
    return sent


def retry_later(conn: sqlite3.Connection, oid: int, error: str, now: dt.datetime,
                policy: RetryPolicy) -> str:
    """After a failed attempt: back to `queued` with backoff, or `dead` after the last one."""
    with transaction(conn):
        row = conn.execute("SELECT attempts FROM outbox WHERE id = ?", (oid,)).fetchone()
        attempts = int(row[0])
        if attempts >= policy.max_attempts:
            _set(conn, oid, "dead", f"{error} (attempt {attempts} of {policy.max_attempts})",
                 now)
            return "dead"
        later = now + dt.timedelta(seconds=policy.delay(attempts))
        conn.execute(
            "UPDATE outbox SET state = 'queued', due_at = ?, last_error = ?, updated_at = ? "
            "WHERE id = ?", (stamp(later), f"{error} (attempt {attempts} of "
                             f"{policy.max_attempts})", stamp(now), oid))
    return "queued"


def _set(conn: sqlite3.Connection, oid: int, state: str, error: str, now: dt.datetime) -> None:
    conn.execute("UPDATE outbox SET state = ?, last_error = ?, updated_at = ? WHERE id = ?",
                 (state, error, stamp(now), oid))


def mark_dead(conn: sqlite3.Connection, oid: int, error: str, now: dt.datetime) -> None:
    """A message no retry will help (refused destination, bad template): the dead letter."""
    with transaction(conn):
        _set(conn, oid, "dead", error, now)


def mark_failed(conn: sqlite3.Connection, oid: int, error: str, now: dt.datetime) -> None:
    """A message deliberately not sent (opted out) or whose fate cannot be known."""
    with transaction(conn):
        _set(conn, oid, "failed", error, now)


def settle_unknown(conn: sqlite3.Connection, row: OutboxRow, now: dt.datetime,
                   policy: RetryPolicy, why: str) -> str:
    """A message handed to the server whose answer was never recorded (docs/messaging.md
    §Delivery guarantees): transactional ones are sent again (parts the SMSC acknowledged are
    not), promotional ones are not (at most once). Returns the new state."""
    if row.kind == "promotional":
        mark_failed(conn, row.id, f"{why}; the server may or may not have it, and promotional "
                                  f"messages are not sent twice", now)
        return "failed"
    return retry_later(conn, row.id, f"{why}; sending again", now,
                       RetryPolicy(policy.max_attempts, 0.0, 0.0))


def record_receipt(conn: sqlite3.Connection, smsc_id: str, stat: str, error: str | None,
                   now: dt.datetime) -> tuple[int, str] | None:
    """A delivery receipt against the part it is for: (message id, message state), or None
    when no part carries that SMSC message id."""
    with transaction(conn):
        row = conn.execute("SELECT outbox_id FROM outbox_parts WHERE smsc_message_id = ? "
                           "ORDER BY outbox_id DESC LIMIT 1", (smsc_id,)).fetchone()
        if row is None:
            return None
        oid = int(row[0])
        conn.execute("UPDATE outbox_parts SET receipt = ?, receipt_at = ? "
                     "WHERE outbox_id = ? AND smsc_message_id = ?",
                     (stat, stamp(now), oid, smsc_id))
        state = conn.execute("SELECT state FROM outbox WHERE id = ?", (oid,)).fetchone()[0]
        if stat in FINAL_FAILURES and state in ("sent", "delivered"):
            detail = f"delivery receipt {stat}" + (f" err:{error}" if error else "")
            _set(conn, oid, "failed", detail, now)
            return oid, "failed"
        if stat == "DELIVRD" and state == "sent":
            undelivered = conn.execute(
                "SELECT (SELECT parts FROM outbox WHERE id = ?) - COUNT(*) FROM outbox_parts "
                "WHERE outbox_id = ? AND receipt = 'DELIVRD'", (oid, oid)).fetchone()[0]
            if undelivered <= 0:
                conn.execute("UPDATE outbox SET state = 'delivered', delivered_at = ?, "
                             "updated_at = ? WHERE id = ?", (stamp(now), stamp(now), oid))
                return oid, "delivered"
        return oid, state


def requeue(conn: sqlite3.Connection, ids: Sequence[int], now: dt.datetime) -> int:
    """An operator's retry of dead or failed messages: queued now, attempts from zero, sent
    whole again (the parts and receipts of the earlier attempts are forgotten)."""
    with transaction(conn):
        done = 0
        for oid in ids:
            changed = conn.execute(
                "UPDATE outbox SET state = 'queued', attempts = 0, due_at = ?, updated_at = ?, "
                "parts = NULL, smsc_message_id = NULL, sent_at = NULL, delivered_at = NULL "
                "WHERE id = ? AND state IN ('dead', 'failed')",
                (stamp(now), stamp(now), oid)).rowcount
            if changed:
                conn.execute("DELETE FROM outbox_parts WHERE outbox_id = ?", (oid,))
            done += changed
    return done


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {state: n for state, n in conn.execute(
        "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")}
