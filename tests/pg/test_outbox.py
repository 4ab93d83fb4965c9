"""The messaging outbox on the PostgreSQL journal (`PgOutbox`): queued on the caller's
transaction, a dedupe key honoured, the retry backoff, dead and requeued, as on SQLite
(tests/messaging/test_outbox.py); a number's receipt SMS turned off and on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from switch.journal import open_journal, open_outbox
from switch.journal.postgres.outbox import PgOutbox
from switch.journal.sql.outbox import parse_stamp
from switch.messaging import NewMessage, enqueue
from switch.messaging import outbox as ob
from switch.messaging.consent import set_receipts
from switch.messaging.settings import RetryPolicy
from tests.messaging.conftest import DAYTIME, row, write_config


def _message(**kw: object) -> NewMessage:
    base: dict[str, object] = dict(channel="sms", recipient="۰۹۱۲ ۱۲۳ ۴۵۶۷", template="receipt",
                                   customer_ref="cust-1", store_id="STORE0000000001",
                                   params={"amount": 1_250_000, "points": 125, "balance": 900})
    base.update(kw)
    return NewMessage(**base)  # type: ignore[arg-type]


def test_the_outbox_queues_dedupes_backs_off_and_requeues_on_postgresql(
        pg_journal_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert config.messaging is not None
    open_journal(pg_journal_url).close()
    box = open_outbox(pg_journal_url)
    assert isinstance(box, PgOutbox)
    try:
        with box.transaction():
            [oid] = enqueue(box, [_message()], DAYTIME, config.messaging.templates)
        assert oid is not None
        r = row(box, oid)
        assert (r["recipient"], r["state"], r["kind"], r["attempts"]) == (
            "989121234567", "queued", "transactional", 0)
        assert parse_stamp(r["due_at"]) == DAYTIME
        for _ in range(2):
            with box.transaction():
                again = enqueue(box, [_message(dedupe_key="birthday:cust-1:2026",
                                               kind="promotional")], DAYTIME)
        assert again == [None]

        policy = RetryPolicy(max_attempts=3, first_seconds=30, max_seconds=45)
        now = DAYTIME
        for delay in (30, 45):
            ob.claim(box, [oid], now)
            assert ob.retry_later(box, oid, "SMSC busy", now, policy) == "queued"
            due = parse_stamp(row(box, oid)["due_at"])
            assert due - now == dt.timedelta(seconds=delay)
            waiting = [m.id for m in ob.due(box, "sms", due - dt.timedelta(seconds=1), 10)]
            assert oid not in waiting and len(waiting) == 1  # the other message only
            assert oid in [m.id for m in ob.due(box, "sms", due, 10)]
            now = due
        ob.claim(box, [oid], now)
        assert ob.retry_later(box, oid, "SMSC busy", now, policy) == "dead"
        assert ob.requeue(box, [oid], now) == 1
        r = row(box, oid)
        assert (r["state"], r["attempts"]) == ("queued", 0)

        # A number's receipt SMS off and on again (docs/messaging.md, "Receipts").
        for on in (False, False, True):
            set_receipts(box, "989121234567", on, "operator", now)
            assert box.receipts("989121234567") is on
        assert box.consent("989121234567") is None  # promotions: still never asked
    finally:
        box.close()
