"""The outbox table: rows written on the caller's transaction, checked before any is written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from switch.journal.sql.outbox import parse_stamp
from switch.messaging import NewMessage, OutboxError, enqueue
from switch.messaging import outbox as ob
from switch.messaging.settings import RetryPolicy
from tests.messaging.conftest import DAYTIME, open_db, row, write_config


def _message(**kw: object) -> NewMessage:
    base: dict[str, object] = dict(channel="sms", recipient="۰۹۱۲ ۱۲۳ ۴۵۶۷", template="receipt",
                                   customer_ref="cust-1", store_id="STORE0000000001",
                                   params={"amount": 1_250_000, "points": 125, "balance": 900})
    base.update(kw)
    return NewMessage(**base)  # type: ignore[arg-type]


def test_a_message_commits_and_rolls_back_with_its_event(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert config.messaging is not None
    box = open_db(config)
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [_message()], DAYTIME, config.messaging.templates)
    box.conn.execute("ROLLBACK")           # the event failed: its message is gone too
    assert box.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [_message()], DAYTIME, config.messaging.templates)
    box.conn.execute("COMMIT")
    assert oid is not None
    r = row(box, oid)
    assert (r["recipient"], r["state"], r["kind"], r["attempts"]) == (
        "989121234567", "queued", "transactional", 0)
    assert r["due_at"] == "2026-11-23T06:30:00.000000Z"


def test_enqueue_needs_an_open_transaction(tmp_path: Path) -> None:
    box = open_db(write_config(tmp_path))
    with pytest.raises(OutboxError, match="BEGIN first"):
        enqueue(box, [_message()], DAYTIME)


@pytest.mark.parametrize("change, reason", [
    ({"recipient": "0212345678"}, "09121234567"),
    ({"channel": "email"}, "email address"),
    ({"channel": "fax"}, "sms or email"),
    ({"template": "nosuch"}, "no template 'nosuch'"),
    ({"params": {"amount": 10}}, "needs balance, points"),
    ({"params": {"amount": "10", "points": 1, "balance": 1}}, "must be an integer"),
    ({"customer_ref": "6280001234567890"}, "not a card or phone number"),
    ({"customer_ref": "a\u202eb"}, "invisible"),
    ({"customer_ref": ""}, "empty"),
])
def test_one_bad_message_queues_none(tmp_path: Path, change: dict[str, object],
                                     reason: str) -> None:
    config = write_config(tmp_path)
    assert config.messaging is not None
    box = open_db(config)
    box.conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(OutboxError) as err:
        enqueue(box, [_message(), _message(**change)], DAYTIME, config.messaging.templates)
    box.conn.execute("COMMIT")
    assert reason in str(err.value)
    assert box.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_a_dedupe_key_queues_a_nightly_message_once(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    box = open_db(config)
    for _ in range(2):
        box.conn.execute("BEGIN IMMEDIATE")
        ids = enqueue(box, [_message(dedupe_key="birthday:cust-1:2026",
                                        kind="promotional")], DAYTIME)
        box.conn.execute("COMMIT")
    assert ids == [None]
    assert box.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1


def test_backoff_doubles_then_the_message_is_dead(tmp_path: Path) -> None:
    box = open_db(write_config(tmp_path))
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [_message(kind="transactional")], DAYTIME)
    box.conn.execute("COMMIT")
    assert oid is not None
    policy = RetryPolicy(max_attempts=3, first_seconds=30, max_seconds=45)
    now = DAYTIME
    expected = [30, 45]            # 30, then 60 capped at 45
    for delay in expected:
        ob.claim(box, [oid], now)
        assert ob.retry_later(box, oid, "SMSC busy", now, policy) == "queued"
        due = parse_stamp(row(box, oid)["due_at"])
        assert due - now == dt.timedelta(seconds=delay)
        assert ob.due(box, "sms", due - dt.timedelta(seconds=1), 10) == []
        now = due
    ob.claim(box, [oid], now)
    assert ob.retry_later(box, oid, "SMSC busy", now, policy) == "dead"
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("dead", 3)
    assert r["last_error"] == "SMSC busy (attempt 3 of 3)"
    assert ob.requeue(box, [oid], now) == 1
    assert (row(box, oid)["state"], row(box, oid)["attempts"]) == ("queued", 0)


def test_the_schema_refuses_states_outside_the_machine(tmp_path: Path) -> None:
    import sqlite3

    box = open_db(write_config(tmp_path))
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [_message(kind="transactional")], DAYTIME)
    box.conn.execute("COMMIT")
    with pytest.raises(sqlite3.IntegrityError):
        box.conn.execute("UPDATE outbox SET state = 'lost' WHERE id = ?", (oid,))
