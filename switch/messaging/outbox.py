"""The durable outbox: messages as rows, written with the event that causes them.

`enqueue` inserts rows on the caller's open transaction, so a message exists exactly when the
event that causes it was committed (an earn's receipt SMS commits or rolls back with the
earn). Everything else here is the sender's bookkeeping: each state change is one short
transaction, made before the next step that depends on it (docs/messaging.md §States). The
rows themselves are the journal's (`switch.journal.Outbox`); what each step decides is here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from switch.core.text import TextError, is_digits, normalize_text
from switch.journal import Outbox, OutboxRow
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
]

Channel = Literal["sms", "email"]
CHANNELS: tuple[Channel, ...] = ("sms", "email")
#: Delivery receipt states that end a message as failed (SMPP 3.4 Appendix B, §5.2.28).
FINAL_FAILURES = frozenset({"EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"})


class OutboxError(ValueError):
    """A message that cannot be queued; nothing was written."""


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
    return (m.channel, recipient, _customer_ref(m.customer_ref), m.template,
            json.dumps(params, ensure_ascii=False, sort_keys=True), kind, m.coalition_id,
            m.store_id, m.dedupe_key, m.due_at or now)


def enqueue(box: Outbox, messages: Sequence[NewMessage], now: dt.datetime,
            templates: Mapping[str, TemplateSet] | None = None) -> list[int | None]:
    """Queue `messages` on the caller's open transaction; their ids (None: a duplicate key).

    Every message is checked before any row is written, so one bad message queues none.
    """
    if not box.in_transaction:
        raise OutboxError("enqueue writes inside the caller's transaction: BEGIN first")
    rows = [_checked(m, now, templates) for m in messages]
    return box.insert(rows, now)


# -- the sender's side -------------------------------------------------------------------------


def due(box: Outbox, channel: Channel, now: dt.datetime, limit: int) -> list[OutboxRow]:
    """Queued messages of `channel` whose time has come, oldest first."""
    return box.due(channel, now, limit)


def next_due(box: Outbox, channel: Channel) -> dt.datetime | None:
    return box.next_due(channel)


def in_state(box: Outbox, state: str) -> list[OutboxRow]:
    return box.in_state(state)


def claim(box: Outbox, ids: Sequence[int], now: dt.datetime) -> None:
    """Mark messages `sending` and count the attempt, before any byte goes to the server."""
    with box.transaction():
        box.claim(ids, now)


def defer(box: Outbox, ids: Sequence[int], until: dt.datetime, reason: str,
          now: dt.datetime) -> None:
    """Move queued messages to a later time without counting an attempt (quiet hours)."""
    with box.transaction():
        box.defer(ids, until, reason, now)


def release(box: Outbox, ids: Sequence[int], now: dt.datetime) -> None:
    """Claimed messages the sender stopped before submitting: queued again, attempt uncounted."""
    with box.transaction():
        box.release(ids, now)


@dataclass(frozen=True, slots=True)
class PartAck:
    """An SMSC's acceptance of one part (or a whole email: part 1, the Message-ID)."""

    outbox_id: int
    part: int
    message_id: str


def record_parts(box: Outbox, acks: Sequence[PartAck], totals: Mapping[int, int],
                 now: dt.datetime) -> list[int]:
    """Keep each acknowledged part's message id; a message whose parts are all in is `sent`.

    Returns the ids of messages that became `sent`.
    """
    with box.transaction():
        return box.add_parts([(a.outbox_id, a.part, a.message_id) for a in acks], totals, now)


def retry_later(box: Outbox, oid: int, error: str, now: dt.datetime,
                policy: RetryPolicy) -> str:
    """After a failed attempt: back to `queued` with backoff, or `dead` after the last one."""
    with box.transaction():
        attempts = box.attempts(oid)
        why = f"{error} (attempt {attempts} of {policy.max_attempts})"
        if attempts >= policy.max_attempts:
            box.set_state(oid, "dead", why, now)
            return "dead"
        box.reschedule(oid, now + dt.timedelta(seconds=policy.delay(attempts)), why, now)
    return "queued"


def mark_dead(box: Outbox, oid: int, error: str, now: dt.datetime) -> None:
    """A message no retry will help (refused destination, bad template): the dead letter."""
    with box.transaction():
        box.set_state(oid, "dead", error, now)


def mark_failed(box: Outbox, oid: int, error: str, now: dt.datetime) -> None:
    """A message deliberately not sent (opted out) or whose fate cannot be known."""
    with box.transaction():
        box.set_state(oid, "failed", error, now)


def settle_unknown(box: Outbox, row: OutboxRow, now: dt.datetime,
                   policy: RetryPolicy, why: str) -> str:
    """A message handed to the server whose answer was never recorded (docs/messaging.md
    §Delivery guarantees): transactional ones are sent again (parts the SMSC acknowledged are
    not), promotional ones are not (at most once). Returns the new state."""
    if row.kind == "promotional":
        mark_failed(box, row.id, f"{why}; the server may or may not have it, and promotional "
                                 f"messages are not sent twice", now)
        return "failed"
    return retry_later(box, row.id, f"{why}; sending again", now,
                       RetryPolicy(policy.max_attempts, 0.0, 0.0))


def record_receipt(box: Outbox, smsc_id: str, stat: str, error: str | None,
                   now: dt.datetime) -> tuple[int, str] | None:
    """A delivery receipt against the part it is for: (message id, message state), or None
    when no part carries that SMSC message id."""
    with box.transaction():
        oid = box.part_owner(smsc_id)
        if oid is None:
            return None
        box.set_receipt(oid, smsc_id, stat, now)
        state = box.state_of(oid)
        if stat in FINAL_FAILURES and state in ("sent", "delivered"):
            detail = f"delivery receipt {stat}" + (f" err:{error}" if error else "")
            box.set_state(oid, "failed", detail, now)
            return oid, "failed"
        if stat == "DELIVRD" and state == "sent" and box.undelivered_parts(oid) <= 0:
            box.mark_delivered(oid, now)
            return oid, "delivered"
        return oid, state


def requeue(box: Outbox, ids: Sequence[int], now: dt.datetime) -> int:
    """An operator's retry of dead or failed messages: queued now, attempts from zero, sent
    whole again (the parts and receipts of the earlier attempts are forgotten)."""
    with box.transaction():
        return box.requeue(ids, now)


def counts(box: Outbox) -> dict[str, int]:
    return box.counts()
