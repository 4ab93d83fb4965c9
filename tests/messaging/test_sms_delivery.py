"""SMS through a real SMSC on loopback: coding, concatenation, receipts, opt-out, quiet hours,
retries and the dead letter (docs/messaging.md)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from switch.config import Config
from switch.journal.sqlite.outbox import SqliteOutbox
from switch.messaging import NewMessage, enqueue
from switch.messaging import outbox as ob
from switch.messaging.sender import Sender
from terminal_agent.testing.services import wait_until
from tests.messaging.conftest import DAYTIME, Clock, open_db, row, write_config
from tests.ports import free_port
from tests.waits import EVENT

BIRTHDAY = {"name": "علی‌رضا حسین‌زاده", "bonus": 50, "date": "2026-11-23"}
RECEIPT = {"amount": 1_250_000, "points": 125, "balance": 900}


def queue(box: SqliteOutbox, config: Config, template: str, params: dict[str, Any],
          recipient: str = "09121234567", now: dt.datetime = DAYTIME,
          store: str = "STORE0000000001") -> int:
    assert config.messaging is not None
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [NewMessage("sms", recipient, template, "cust-7", params,
                                      store_id=store)], now, config.messaging.templates)
    box.conn.execute("COMMIT")
    assert oid is not None
    return oid


def sender(box: SqliteOutbox, config: Config, clock: Clock) -> Sender:
    return Sender(box, config, clock=clock)


def pumped(s: Sender, done: Callable[[], bool]) -> Callable[[], bool]:
    """`done`, asked after answering the SMSC for up to 0.1 s (a `wait_until` predicate)."""
    def pred() -> bool:
        s.pump(0.1)
        return done()
    return pred


def deliver(s: Sender, receipts: int) -> None:
    """Send what is due, then answer the SMSC until `receipts` receipts were recorded."""
    while s.round():
        pass
    wait_until(pumped(s, lambda: s.report.receipts >= receipts), EVENT,
               f"{receipts} delivery receipts")
    s.close()


def test_persian_arrives_ucs2_and_intact_and_its_receipt_is_recorded(
        tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    oid = queue(box, config, "birthday", BIRTHDAY)
    s = sender(box, config, Clock(DAYTIME))
    deliver(s, 2)
    subs = sorted(smsc.submitted, key=lambda p: p.udh()[5])
    assert [(sub.data_coding, sub.esm_class) for sub in subs] == [(8, 0x40), (8, 0x40)]
    for sub in subs:
        assert (sub.destination_addr, sub.dest_addr_ton, sub.dest_addr_npi) == (
            "989121234567", 1, 1)
        assert (sub.source_addr, sub.registered_delivery) == ("LPS", 1)
    assert "".join(sub.text() for sub in subs) == (
        "علی‌رضا حسین‌زاده عزیز، تولدتان مبارک! ۵۰ امتیاز هدیه در Cafe Naderi گرفتید. "
        "۲ آذر ۱۴۰۵")
    r = row(box, oid)
    assert (r["state"], r["smsc_message_id"], r["parts"]) == (
        "delivered", subs[0].message_id, 2)
    assert s.report.sent == 1 and s.report.receipts == 2
    wait_until(lambda: smsc.sessions() == 0, EVENT, "the sender's unbind")


def test_a_long_message_is_concatenated_and_delivered_when_every_part_is(
        tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    oid = queue(box, config, "news", {"name": "مریم"})
    deliver(sender(box, config, Clock(DAYTIME)), 4)
    # the SMSC handles a window of submit_sm concurrently: order them by their UDH part number
    parts = sorted(smsc.submitted, key=lambda p: p.udh()[5])
    assert len(parts) == 4
    refs = {p.udh()[3] for p in parts}
    assert len(refs) == 1
    assert [p.udh() for p in parts] == [bytes((5, 0, 3, oid % 256, 4, n)) for n in range(1, 5)]
    assert all(p.esm_class == 0x40 and p.data_coding == 8 for p in parts)
    text = "".join(p.text() for p in parts)
    assert text.startswith("مریم عزیز، حراج زمستانه کتاب‌شهر") and text.endswith("بفرستید.")
    assert row(box, oid)["state"] == "delivered"
    ids = [r[0] for r in box.conn.execute("SELECT smsc_message_id FROM outbox_parts WHERE "
                                      "outbox_id = ? ORDER BY part", (oid,))]
    assert ids == [p.message_id for p in parts]


def test_a_failed_receipt_fails_the_message_and_a_requeue_sends_it_whole(
        tmp_path: Path, smsc: Any) -> None:
    smsc.receipts = "UNDELIV"
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    oid = queue(box, config, "receipt", RECEIPT)
    deliver(sender(box, config, Clock(DAYTIME)), 1)
    r = row(box, oid)
    assert (r["state"], r["last_error"]) == ("failed", "delivery receipt UNDELIV err:000")
    smsc.receipts = "DELIVRD"
    assert ob.requeue(box, [oid], DAYTIME) == 1
    deliver(sender(box, config, Clock(DAYTIME)), 1)
    r = row(box, oid)
    assert (r["state"], r["attempts"], r["smsc_message_id"]) == (
        "delivered", 1, smsc.submitted[-1].message_id)
    assert len(smsc.submitted) == 2


def test_opt_out_by_a_persian_reply_stops_promotional_but_not_transactional(
        tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    clock = Clock(DAYTIME)
    s = sender(box, config, clock)
    queue(box, config, "receipt", RECEIPT)
    s.round()                                   # binds, sends, keeps the session
    smsc.reply("+98 912 123 4567", " لغو ۱۱ ")  # Persian digits and spaces around the word
    wait_until(pumped(s, lambda: s.report.opt_outs == 1), EVENT, "the opt-out")
    consent = box.conn.execute("SELECT promotional, source FROM message_consent WHERE address = ?",
                           ("989121234567",)).fetchone()
    assert consent == (0, "sms-reply")
    promo = queue(box, config, "birthday", BIRTHDAY, recipient="۰۹۱۲۱۲۳۴۵۶۷")
    receipt = queue(box, config, "receipt", RECEIPT)
    deliver(s, 1)
    assert (row(box, promo)["state"], row(box, promo)["last_error"]) == (
        "failed", "the customer opted out of promotional messages")
    assert row(box, receipt)["state"] == "delivered"
    assert len(smsc.submitted) == 2              # the two receipts, never the greeting


def test_a_reply_that_is_not_an_opt_out_changes_nothing(tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    s = sender(box, config, Clock(DAYTIME))
    queue(box, config, "receipt", RECEIPT)
    s.round()
    smsc.reply("09121234567", "لغوش کن؟ نه، ممنون")
    smsc.reply("09121234567", "لغو")
    wait_until(pumped(s, lambda: s.report.opt_outs == 1), EVENT, "the second reply")
    assert box.conn.execute("SELECT COUNT(*) FROM message_consent").fetchone()[0] == 1
    s.close()


def test_quiet_hours_hold_promotional_sms_until_morning_in_tehran(
        tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    night = dt.datetime(2026, 11, 23, 19, 0, tzinfo=dt.UTC)        # 22:30 in Tehran
    clock = Clock(night)
    promo = queue(box, config, "birthday", BIRTHDAY, now=night)
    receipt = queue(box, config, "receipt", RECEIPT, now=night)
    s = sender(box, config, clock)
    deliver(s, 1)
    assert s.report.deferred == 1
    promo_parts = 2
    assert [s.text().startswith("خرید") for s in smsc.submitted] == [True]
    r = row(box, promo)
    assert (r["state"], r["attempts"]) == ("queued", 0)
    assert r["due_at"] == "2026-11-24T04:30:00.000000Z"                # 08:00 in Tehran
    assert row(box, receipt)["state"] == "delivered"
    clock.now = dt.datetime(2026, 11, 24, 4, 29, 59, tzinfo=dt.UTC)
    sender(box, config, clock).run(once=True)
    assert len(smsc.submitted) == 1
    clock.now = dt.datetime(2026, 11, 24, 4, 30, tzinfo=dt.UTC)
    deliver(sender(box, config, clock), promo_parts)
    assert row(box, promo)["state"] == "delivered"


def test_a_refusing_smsc_means_backoff_then_the_dead_letter(
        tmp_path: Path, smsc: Any, caplog: pytest.LogCaptureFixture) -> None:
    smsc.answer = 0x58                     # ESME_RTHROTTLED: worth trying again later
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    oid = queue(box, config, "receipt", RECEIPT)
    clock = Clock(DAYTIME)
    caplog.set_level(logging.INFO, logger="lps.messaging")
    for attempt, delay in ((1, 30), (2, 60)):
        sender(box, config, clock).run(once=True)
        r = row(box, oid)
        assert (r["state"], r["attempts"]) == ("queued", attempt)
        assert ob_due(r) - clock.now == dt.timedelta(seconds=delay)
        clock.advance(delay - 1)
        sender(box, config, clock).run(once=True)         # not due yet: nothing submitted
        assert len(smsc.submitted) == attempt
        clock.advance(1)
    sender(box, config, clock).run(once=True)
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("dead", 3)
    assert "ESME_RTHROTTLED" in r["last_error"] and "attempt 3 of 3" in r["last_error"]
    assert len(smsc.submitted) == 3
    logged = caplog.text
    assert "98912***4567" in logged and "989121234567" not in logged
    assert "cust-7" not in logged


def run_until_dead(box: SqliteOutbox, config: Config, oid: int) -> dict[str, Any]:
    """Three runs an hour apart (past every backoff): the message must end in the dead letter."""
    clock = Clock(DAYTIME)
    for _ in range(3):
        sender(box, config, clock).run(once=True)
        clock.advance(3600)
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("dead", 3)
    return r


def ob_due(r: dict[str, Any]) -> dt.datetime:
    from switch.journal.sql.outbox import parse_stamp

    return parse_stamp(r["due_at"])


def test_a_refused_destination_is_dead_at_once(tmp_path: Path, smsc: Any) -> None:
    smsc.answer = 0x0B                     # ESME_RINVDSTADR: no retry will help
    config = write_config(tmp_path, sms_port=smsc.port)
    box = open_db(config)
    oid = queue(box, config, "receipt", RECEIPT)
    report = sender(box, config, Clock(DAYTIME)).run(once=True)
    r = row(box, oid)
    assert (r["state"], r["attempts"], report.dead) == ("dead", 1, 1)
    assert "ESME_RINVDSTADR" in r["last_error"]


def test_an_unreachable_smsc_is_retried_then_dead_never_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path, sms_port=free_port())   # nobody listens there
    box = open_db(config)
    oid = queue(box, config, "receipt", RECEIPT)
    caplog.set_level(logging.INFO, logger="lps.messaging")
    r = run_until_dead(box, config, oid)
    assert "unreachable" in r["last_error"]
    assert "989121234567" not in caplog.text


def test_a_wrong_password_is_a_refused_bind_retried_then_dead(
        tmp_path: Path, net_smpp_smsc: int) -> None:
    config = write_config(tmp_path, sms_port=net_smpp_smsc, password="wrong")
    box = open_db(config)
    oid = queue(box, config, "receipt", RECEIPT)
    r = run_until_dead(box, config, oid)
    assert "refused the bind" in r["last_error"]
    assert "0x0000000E" in r["last_error"]
    assert "wrong" not in r["last_error"]


def test_the_net_smpp_smsc_accepts_the_right_password(tmp_path: Path,
                                                      net_smpp_smsc: int) -> None:
    """The refusal above is the credential check, not a server that refuses everything."""
    config = write_config(tmp_path, sms_port=net_smpp_smsc, password="pw")
    box = open_db(config)
    oid = queue(box, config, "plain", {"code": "4711"})
    report = sender(box, config, Clock(DAYTIME)).run(once=True)
    r = row(box, oid)
    assert (r["state"], r["smsc_message_id"], report.sent) == ("sent", "np1", 1)


def test_parts_the_smsc_acknowledged_are_not_sent_again(tmp_path: Path, smsc: Any) -> None:
    """Parts 1, 3 and 4 are accepted, part 2 never answered: the message's fate is unknown.
    Being transactional it is sent again, but only part 2, under the same UDH reference, so the
    handset joins one message and no part arrives twice."""
    first_round = {"held": False}

    def answer(sub: Any) -> str:
        if sub.udh()[5] == 2 and not first_round["held"]:
            first_round["held"] = True
            return "hold"
        return "accept"

    smsc.answer = answer
    # The SMSC timeout must fire for part 2, and bounds the wait for each other answer too:
    # long enough for a loaded machine to answer parts 1, 3 and 4, short enough to wait out.
    config = write_config(tmp_path, sms_port=smsc.port, sms_timeout=5)
    box = open_db(config)
    oid = queue(box, config, "notice", {"name": "مریم"})
    clock = Clock(DAYTIME)
    s = sender(box, config, clock)
    s.round()
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("queued", 1)
    assert "no answer from SMSC" in r["last_error"] and "sending again" in r["last_error"]
    acknowledged = [p for (p,) in box.conn.execute(
        "SELECT part FROM outbox_parts WHERE outbox_id = ?", (oid,))]
    assert sorted(acknowledged) == [1, 3, 4]
    deliver(sender(box, config, clock), 1)
    assert sorted(sub.udh()[5] for sub in smsc.submitted) == [1, 2, 2, 3, 4]
    assert {sub.udh()[3] for sub in smsc.submitted} == {oid % 256}
    r = row(box, oid)
    assert (r["state"] in ("sent", "delivered"), r["parts"], r["attempts"]) == (True, 4, 2)


def test_debug_logging_shows_no_pdu_with_password_or_number(
        tmp_path: Path, smsc: Any, caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path, sms_port=smsc.port, password="s3cret")
    box = open_db(config)
    queue(box, config, "plain", {"code": "4711"})
    caplog.set_level(logging.DEBUG)
    deliver(sender(box, config, Clock(DAYTIME)), 1)
    logged = caplog.text
    assert "s3cret" not in logged and b"s3cret".hex() not in logged
    assert "989121234567" not in logged and b"989121234567".hex() not in logged
    assert "4711" not in logged
