"""Email through a real SMTP server on loopback (aiosmtpd), STARTTLS required."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from switch.config import Config
from switch.journal.sqlite.outbox import SqliteOutbox
from switch.messaging import NewMessage, enqueue
from switch.messaging.sender import Sender
from tests.messaging.conftest import DAYTIME, Clock, open_db, row, write_config
from tests.ports import free_port


def queue(box: SqliteOutbox, config: Config, recipient: str) -> int:
    assert config.messaging is not None
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [NewMessage(
        "email", recipient, "birthday", "cust-9",
        {"name": "<b>سارا</b> کریمی", "bonus": 1500, "date": "2026-11-23"},
        coalition_id="tehran-mall")], DAYTIME, config.messaging.templates)
    box.conn.execute("COMMIT")
    assert oid is not None
    return oid


def test_persian_email_with_text_and_rtl_html_over_starttls(
        tmp_path: Path, smtp: tuple[Any, int, Path]) -> None:
    handler, port, cert = smtp
    config = write_config(tmp_path, smtp_port=port, cafile=cert)
    box = open_db(config)
    oid = queue(box, config, "sara@example.ir")
    report = Sender(box, config, clock=Clock(DAYTIME)).run(once=True)
    [(mail_from, rcpts, msg, over_tls)] = handler.received
    assert over_tls, "the message crossed the network before STARTTLS"
    assert (mail_from, rcpts) == ("club@tehran-mall.example", ["sara@example.ir"])
    assert str(msg["Subject"]) == "تولدتان مبارک، <b>سارا</b> کریمی"
    assert msg["Message-ID"] == f"<lps-outbox-{oid}@tehran-mall.example>"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == (
        "<b>سارا</b> کریمی عزیز،\nتولدتان مبارک! ۱٬۵۰۰ امتیاز هدیه گرفتید.\n"
        "باشگاه Tehran Mall Club\n")
    page = html.get_content()
    assert '<html lang="fa" dir="rtl">' in page
    assert "<p>&lt;b&gt;سارا&lt;/b&gt; کریمی عزیز،</p>" in page   # the name is text, not markup
    r = row(box, oid)
    assert (r["state"], r["smsc_message_id"], report.sent) == (
        "sent", f"<lps-outbox-{oid}@tehran-mall.example>", 1)


def test_a_5xx_refusal_is_a_dead_letter(tmp_path: Path, smtp: tuple[Any, int, Path]) -> None:
    handler, port, cert = smtp
    handler.refuse.add("nobody@example.ir")
    config = write_config(tmp_path, smtp_port=port, cafile=cert)
    box = open_db(config)
    bad = queue(box, config, "nobody@example.ir")
    good = queue(box, config, "sara@example.ir")
    report = Sender(box, config, clock=Clock(DAYTIME)).run(once=True)
    r = row(box, bad)
    assert (r["state"], r["attempts"]) == ("dead", 1)
    assert r["last_error"] == "the server refused the recipient: 550"
    assert row(box, good)["state"] == "sent"       # the session went on after the refusal
    assert (report.dead, report.sent) == (1, 1)


def test_an_untrusted_certificate_is_not_talked_to(tmp_path: Path,
                                                   smtp: tuple[Any, int, Path]) -> None:
    handler, port, _cert = smtp
    other = tmp_path / "other"
    other.mkdir()
    from tests.messaging.smtp_server import make_certificate

    stranger, _ = make_certificate(other)
    config = write_config(tmp_path, smtp_port=port, cafile=stranger)
    box = open_db(config)
    oid = queue(box, config, "sara@example.ir")
    Sender(box, config, clock=Clock(DAYTIME)).run(once=True)
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("queued", 1)
    assert "STARTTLS or login failed" in r["last_error"]
    assert handler.received == []


def test_an_unreachable_smtp_server_is_retried(tmp_path: Path) -> None:
    config = write_config(tmp_path, smtp_port=free_port(), cafile=tmp_path / "none.pem")
    box = open_db(config)
    oid = queue(box, config, "sara@example.ir")
    Sender(box, config, clock=Clock(DAYTIME)).run(once=True)
    r = row(box, oid)
    assert (r["state"], r["attempts"]) == ("queued", 1)
    assert "unreachable" in r["last_error"] and "sara" not in r["last_error"]
