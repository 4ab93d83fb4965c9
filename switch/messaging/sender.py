"""`lps messages send`: deliver what the outbox holds, by SMPP and SMTP.

One sender per database (`sender_lock`). It starts by settling the messages a previous sender
left in `sending` (`recover`), then, round by round, takes the due messages of each channel,
checks consent and quiet hours, renders them and hands them to the channel, recording each
answer before it goes on (docs/messaging.md §States, §Delivery guarantees). `once` stops when
nothing is due any more; otherwise it waits for the next due message while it answers the SMSC
(receipts, replies, enquire_link), until `stop` is set (SIGTERM).

One module, past 400 lines, on purpose: the round's order (recover, take, consent, quiet
hours, render, submit, record) is the delivery guarantee, and it reads as one loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from switch.config import Config
from switch.journal import Outbox
from switch.messaging import outbox as ob
from switch.messaging.address import mask_address, pseudonym
from switch.messaging.consent import is_opt_out, promotional_allowed, set_consent
from switch.messaging.mobile import MobileError, mask_mobile, normalize_mobile
from switch.messaging.ratelimit import RateLimiter
from switch.messaging.settings import MessagingSettings
from switch.messaging.smpp import (
    Accepted,
    ChannelError,
    Outcome,
    Receipt,
    Refused,
    Reply,
    SmppChannel,
    SmsPart,
    Unknown,
)
from switch.messaging.sms_encoding import SmsTooLong, encode_sms
from switch.messaging.smtp import EmailError, SmtpChannel, build_email, message_id_for
from switch.messaging.templates import Template, TemplateError, render

__all__ = ["SendReport", "Sender", "SenderBusy", "sender_lock"]

log = logging.getLogger("lps.messaging")


class SenderBusy(RuntimeError):
    """Another sender holds the database's sender lock."""


@contextlib.contextmanager
def sender_lock(database: Path) -> Iterator[None]:
    """One sender per database: two would submit the same due messages."""
    path = database.with_name(database.name + ".messages.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SenderBusy(f"another `lps messages send` is running on {database}") from None
        yield
    finally:
        os.close(fd)


@dataclass
class SendReport:
    """What one run did, for the CLI's summary line and the tests."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    failed: int = 0
    deferred: int = 0
    receipts: int = 0
    opt_outs: int = 0
    recovered: dict[str, int] = field(default_factory=dict)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Sender:
    def __init__(self, box: Outbox, config: Config, *,
                 clock: Callable[[], dt.datetime] = _utcnow,
                 stop: threading.Event | None = None) -> None:
        if config.messaging is None:
            raise ValueError(f"{config.path}: no [messaging] section")
        self.box = box
        self.config = config
        self.settings: MessagingSettings = config.messaging
        self.clock = clock
        self.stop = stop or threading.Event()
        self.report = SendReport()
        self.sms = (SmppChannel(self.settings.sms, self._on_receipt, self._on_reply)
                    if self.settings.sms else None)
        self.email = SmtpChannel(self.settings.email) if self.settings.email else None
        self._email_rate = RateLimiter(self.settings.email.rate) if self.settings.email else None
        self._receipts: list[Receipt] = []
        #: Why the SMSC could not be reached in this round: later chunks are charged the same
        #: attempt without a connection of their own (a blackholed SMSC costs one timeout).
        self._sms_down: str | None = None
        self._email_down: str | None = None
        self._next_bind = 0.0
        self._acks: list[ob.PartAck] = []
        self._totals: dict[int, int] = {}

    # -- the loop ---------------------------------------------------------------------------

    def run(self, once: bool) -> SendReport:
        try:
            self.recover()
            while not self.stop.is_set():
                worked = self.round()
                if once and not worked:
                    break
                if not once and not worked:
                    self._idle()
        finally:
            self.close()
        return self.report

    def close(self) -> None:
        if self.sms is not None:
            self.sms.close()
            self._settle_receipts()
        if self.email is not None:
            self.email.close()

    def _idle(self) -> None:
        """Wait for the next due message (at most poll_seconds), answering the SMSC meanwhile.

        The running sender stays bound even with nothing to send, so that receipts and
        customers' replies (opt-outs) reach it; a failed bind is tried again after
        retry_first_seconds (at least poll_seconds).
        """
        self._bind_for_inbound()
        now = self.clock()
        wait = self.settings.poll_seconds
        for channel in ("sms", "email"):
            nxt = ob.next_due(self.box, channel)
            if nxt is not None:
                wait = min(wait, max(0.0, (nxt - now).total_seconds()))
        self.pump(wait)

    def _bind_for_inbound(self) -> None:
        if self.sms is None or self.sms.is_open or time.monotonic() < self._next_bind:
            return
        try:
            self.sms.open()
        except ChannelError as exc:
            wait = max(self.settings.poll_seconds, self.settings.retry.first_seconds)
            self._next_bind = time.monotonic() + wait
            log.warning("event=smsc_unavailable reason=%s retry_in=%.0fs", exc, wait)

    def pump(self, seconds: float) -> None:
        """Answer the SMSC (receipts, replies, enquire_link) for up to `seconds`."""
        if self.sms is not None and self.sms.is_open:
            try:
                self.sms.poll(seconds, self.stop)
            except ChannelError as exc:
                log.warning("event=smsc_session_lost reason=%s", exc)
            self._settle_receipts()
        else:
            self.stop.wait(seconds)

    def recover(self) -> None:
        """Settle what a previous sender left in `sending` (docs/messaging.md §Delivery
        guarantees): parts it recorded are kept, the rest is sent again or failed by kind."""
        now = self.clock()
        for row in ob.in_state(self.box, "sending"):
            state = ob.settle_unknown(self.box, row, now, self.settings.retry,
                                      "interrupted: the sender stopped after handing it over, "
                                      "before the answer was recorded")
            self.report.recovered[state] = self.report.recovered.get(state, 0) + 1
            self._log(row, state, "interrupted")

    def round(self) -> int:
        """Deliver what is due now on each channel; the number of messages handled."""
        self._sms_down = self._email_down = None
        handled = 0
        if self.sms is not None:
            handled += self._sms_round()
        if self.email is not None and not self.stop.is_set():
            handled += self._email_round()
        return handled

    # -- shared steps -----------------------------------------------------------------------

    def _log(self, row: ob.OutboxRow, state: str, why: str = "") -> None:
        level = logging.INFO if state in ("sent", "queued") and not why else logging.WARNING
        log.log(level, "event=message id=%d channel=%s to=%s customer=%s kind=%s state=%s%s",
                row.id, row.channel, mask_address(row.recipient), pseudonym(row.customer_ref),
                row.kind, state, f" reason={why!r}" if why else "")

    def _template(self, row: ob.OutboxRow) -> Template:
        ts = self.settings.templates.get(row.template)
        if ts is None:
            raise TemplateError(f"no template {row.template!r} in [messaging.templates]")
        return ts.resolve(row.coalition_id, row.store_id)

    def _params(self, row: ob.OutboxRow) -> dict[str, object]:
        params = dict(row.params)
        store = self.config.stores.get(row.store_id or "")
        coalition_id = row.coalition_id or (store.coalition if store else None)
        coalition = self.config.coalitions.get(coalition_id or "")
        if store is not None:
            params.setdefault("store", store.name)
        if coalition is not None:
            params.setdefault("coalition", coalition.name)
        return params

    def _screen(self, row: ob.OutboxRow, now: dt.datetime) -> bool:
        """Consent and quiet hours for a promotional message; False: not now (handled)."""
        if row.kind != "promotional":
            return True
        if not promotional_allowed(self.box, row.recipient):
            ob.mark_failed(self.box, row.id, "the customer opted out of promotional messages",
                           now)
            self.report.failed += 1
            self._log(row, "failed", "opted out")
            return False
        quiet = self.settings.quiet_hours
        if row.channel == "sms" and quiet.is_quiet(now):
            ob.defer(self.box, [row.id], quiet.ends_after(now),
                     "quiet hours: promotional SMS wait for the morning", now)
            self.report.deferred += 1
            return False
        return True

    def _dead(self, row: ob.OutboxRow, error: str, now: dt.datetime) -> None:
        ob.mark_dead(self.box, row.id, error, now)
        self.report.dead += 1
        self._log(row, "dead", error)

    def _retry(self, row: ob.OutboxRow, error: str, now: dt.datetime) -> None:
        state = ob.retry_later(self.box, row.id, error, now, self.settings.retry)
        if state == "dead":
            self.report.dead += 1
        else:
            self.report.retried += 1
        self._log(row, state, error)

    # -- SMS --------------------------------------------------------------------------------

    def _parts(self, row: ob.OutboxRow) -> list[SmsPart]:
        template = self._template(row)
        if template.sms is None:
            raise TemplateError(f"template {row.template!r} has no sms text")
        text = render(template.sms, self._params(row), money=template.money)
        assert self.settings.sms is not None
        encoded = encode_sms(text, row.id, self.settings.sms.max_parts)
        self._totals[row.id] = len(encoded.parts)
        return [SmsPart(row.id, number, row.recipient, data, encoded.data_coding,
                        encoded.esm_class)
                for number, data in enumerate(encoded.parts, start=1)
                if number not in row.acknowledged]

    def _sms_round(self) -> int:
        assert self.sms is not None and self.settings.sms is not None
        now = self.clock()
        rows = ob.due(self.box, "sms", now, self.settings.batch)
        ready: list[tuple[ob.OutboxRow, list[SmsPart]]] = []
        for row in rows:
            if not self._screen(row, now):
                continue
            try:
                parts = self._parts(row)
            except (TemplateError, SmsTooLong, ValueError) as exc:
                self._dead(row, f"cannot render: {exc}", now)
                continue
            if not parts:  # every part was acknowledged before: it is sent
                ob.claim(self.box, [row.id], now)
                ob.record_parts(self.box, [ob.PartAck(row.id, n, mid)
                                            for n, mid in row.acknowledged.items()],
                                {row.id: len(row.acknowledged)}, now)
                continue
            ready.append((row, parts))
        window = self.settings.sms.window
        for start in range(0, len(ready), window):
            if self.stop.is_set():
                break
            self._sms_chunk(ready[start:start + window])
        return len(rows)

    def _sms_chunk(self, chunk: list[tuple[ob.OutboxRow, list[SmsPart]]]) -> None:
        assert self.sms is not None
        now = self.clock()
        ob.claim(self.box, [row.id for row, _ in chunk], now)
        if self._sms_down is None:
            try:
                self.sms.open()
            except ChannelError as exc:
                self._sms_down = str(exc)
        if self._sms_down is not None:
            for row, _ in chunk:
                self._retry(row, self._sms_down, now)
            return
        errors: dict[int, Outcome] = {}

        def sink(outcome: Outcome) -> None:
            if isinstance(outcome, Accepted):
                self._acks.append(ob.PartAck(outcome.item.outbox_id, outcome.item.part,
                                             outcome.message_id))
            else:
                errors.setdefault(outcome.item.outbox_id, outcome)

        parts = [part for _, row_parts in chunk for part in row_parts]
        unsent = self.sms.submit(parts, sink, self.stop)
        self._flush_acks()
        now = self.clock()
        unsent_ids = {p.outbox_id for p in unsent}
        for row, _ in chunk:
            outcome = errors.get(row.id)
            if isinstance(outcome, Refused):
                if outcome.permanent:
                    self._dead(row, f"the SMSC refused it: {outcome.reason}", now)
                else:
                    self._retry(row, f"the SMSC refused it: {outcome.reason}", now)
            elif isinstance(outcome, Unknown):
                state = ob.settle_unknown(self.box, row, now, self.settings.retry,
                                          outcome.reason)
                self.report.failed += state == "failed"
                self.report.retried += state == "queued"
                self._log(row, state, outcome.reason)
            elif row.id in unsent_ids:
                if self.stop.is_set() and self.sms.is_open:
                    ob.release(self.box, [row.id], now)
                else:
                    self._retry(row, "not submitted: the SMSC session was lost", now)
        self._settle_receipts()

    def _flush_acks(self) -> None:
        if not self._acks:
            return
        acks, self._acks = self._acks, []
        for oid in ob.record_parts(self.box, acks, self._totals, self.clock()):
            self.report.sent += 1
            log.info("event=message id=%d channel=sms state=sent", oid)

    def _on_receipt(self, receipt: Receipt) -> None:
        self._receipts.append(receipt)

    def _settle_receipts(self) -> None:
        """Receipts after the acks they refer to are recorded (they can overtake them)."""
        self._flush_acks()
        receipts, self._receipts = self._receipts, []
        for r in receipts:
            found = ob.record_receipt(self.box, r.message_id, r.stat, r.error, self.clock())
            if found is None:
                log.warning("event=receipt_unmatched smsc_message_id=%s stat=%s",
                            r.message_id, r.stat)
                continue
            self.report.receipts += 1
            log.info("event=receipt id=%d stat=%s state=%s", found[0], r.stat, found[1])

    def _on_reply(self, reply: Reply) -> None:
        try:
            number = normalize_mobile(reply.source)
        except MobileError:
            log.warning("event=reply_unknown_sender")
            return
        if not is_opt_out(reply.text):
            log.info("event=reply_ignored from=%s", mask_mobile(number))
            return
        set_consent(self.box, number, False, "sms-reply", self.clock())
        self.report.opt_outs += 1
        log.info("event=opt_out from=%s source=sms-reply", mask_mobile(number))

    # -- email ------------------------------------------------------------------------------

    def _email_round(self) -> int:
        assert self.email is not None and self.settings.email is not None
        assert self._email_rate is not None
        now = self.clock()
        rows = ob.due(self.box, "email", now, self.settings.batch)
        sender = self.settings.email.sender
        for row in rows:
            if self.stop.is_set() or not self._email_rate.take(self.stop):
                break
            now = self.clock()
            if not self._screen(row, now):
                continue
            try:
                template = self._template(row)
                if template.email_body is None:
                    raise TemplateError(f"template {row.template!r} has no email_body")
                params = self._params(row)
                body = render(template.email_body, params, money=template.money)
                subject = render(template.email_subject or "", params, money=template.money)
            except TemplateError as exc:
                self._dead(row, f"cannot render: {exc}", now)
                continue
            msg = build_email(row.id, sender, row.recipient, subject, body)
            ob.claim(self.box, [row.id], now)
            try:
                if self._email_down is not None:
                    raise EmailError(self._email_down, permanent=False)
                self.email.send(msg)
            except EmailError as exc:
                if exc.session:
                    self._email_down = str(exc)
                if exc.permanent:
                    self._dead(row, str(exc), self.clock())
                else:
                    self._retry(row, str(exc), self.clock())
                continue
            ob.record_parts(self.box, [ob.PartAck(row.id, 1,
                                                   message_id_for(row.id, sender))],
                            {row.id: 1}, self.clock())
            self.report.sent += 1
            self._log(row, "sent")
        return len(rows)

