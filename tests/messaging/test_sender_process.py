"""`lps messages send` as the operator runs it: --once, SIGTERM, and a sender killed between
submit_sm and its answer (docs/messaging.md §Delivery guarantees)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from switch.config import Config
from switch.journal.sqlite.outbox import SqliteOutbox
from switch.messaging import NewMessage, enqueue
from terminal_agent.testing.services import wait_until
from tests.messaging.conftest import ROOT, lps, open_db, row, write_config
from tests.waits import EVENT, START

#: No quiet hours: these tests run on the real clock, at whatever hour CI runs them.
AWAKE = '[messaging.quiet_hours]\nfrom = "00:00"\nto = "00:00"\n'


def queue(box: SqliteOutbox, config: Config, template: str,
          params: dict[str, Any]) -> int:
    assert config.messaging is not None
    box.conn.execute("BEGIN IMMEDIATE")
    [oid] = enqueue(box, [NewMessage("sms", "۰۹۱۲۱۲۳۴۵۶۷", template, "cust-1", params,
                                      store_id="STORE0000000001")],
                    dt.datetime.now(dt.UTC), config.messaging.templates)
    box.conn.execute("COMMIT")
    assert oid is not None
    return oid


def start_sender(config: Config) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lps.cli", "messages", "send", "--config",
                             config.path], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def running_sender(config: Config) -> Iterator[subprocess.Popen[str]]:
    """`lps messages send` running; killed at the end if the test did not stop it."""
    proc = start_sender(config)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def terminate(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then the sender's output; it must exit 0."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=EVENT)
    assert proc.returncode == 0, err
    return out, err


def test_a_birthday_greeting_goes_out_with_send_once(tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port, messaging=AWAKE)
    box = open_db(config)
    oid = queue(box, config, "birthday", {"name": "نگار", "bonus": 50,
                                           "date": dt.date.today().isoformat()})
    done = lps("messages", "send", "--once", "--config", config.path)
    assert done.returncode == 0, done.stderr
    assert "sent 1," in done.stdout
    text = "".join(s.text() for s in sorted(smsc.submitted, key=lambda p: p.udh()[5:6]))
    assert text.startswith("نگار عزیز، تولدتان مبارک! ۵۰ امتیاز هدیه در Cafe Naderi گرفتید.")
    assert row(box, oid)["state"] in ("sent", "delivered")
    assert "989121234567" not in done.stderr and "cust-1" not in done.stderr
    status = lps("messages", "status", "--config", config.path)
    assert status.returncode == 0 and "queued     0" in status.stdout


def test_operator_opt_out_with_persian_digits(tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port, messaging=AWAKE)
    box = open_db(config)
    out = lps("messages", "optout", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "--config", config.path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "promotional messages to 98912***4567: off"
    oid = queue(box, config, "birthday", {"name": "نگار", "bonus": 50, "date": "2026-11-23"})
    assert lps("messages", "send", "--once", "--config", config.path).returncode == 0
    assert row(box, oid)["state"] == "failed" and smsc.submitted == []
    bad = lps("messages", "optout", "021-8877-6655", "--config", config.path)
    assert bad.returncode == 3 and "09121234567" in bad.stderr  # bad input: docs/cli.md


def test_sigterm_stops_the_running_sender_cleanly(tmp_path: Path, smsc: Any) -> None:
    config = write_config(tmp_path, sms_port=smsc.port, messaging=AWAKE)
    box = open_db(config)
    with running_sender(config) as proc:
        oid = queue(box, config, "plain", {"code": "4711"})
        wait_until(lambda: row(box, oid)["state"] == "delivered", START, "the receipt")
        assert smsc.sessions() == 1
        out, _err = terminate(proc)
    assert "sent 1," in out
    wait_until(lambda: smsc.sessions() == 0, EVENT, "the unbind")


def test_a_sender_killed_between_submit_and_answer(tmp_path: Path, smsc: Any) -> None:
    """The SMSC holds every submit_sm unanswered; the sender is killed (SIGKILL) while both
    messages are `sending`. The next sender sends the transactional one again (at least once)
    and fails the promotional one (at most once), with the reason in last_error."""
    config = write_config(tmp_path, sms_port=smsc.port, messaging=AWAKE)
    box = open_db(config)
    smsc.answer = "hold"
    transactional = queue(box, config, "plain", {"code": "4711"})
    promotional = queue(box, config, "birthday", {"name": "نگار", "bonus": 50,
                                                   "date": "2026-11-23"})
    with running_sender(config) as proc:
        wait_until(lambda: smsc.held == 3, START, "three parts submitted and held")
        assert {row(box, transactional)["state"], row(box, promotional)["state"]} == {
            "sending"}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(EVENT)
    smsc.answer = "accept"
    again = lps("messages", "send", "--once", "--config", config.path)
    assert again.returncode == 0, again.stderr
    assert "interrupted before: 1 failed, 1 queued" in again.stdout
    t, p = row(box, transactional), row(box, promotional)
    assert t["state"] in ("sent", "delivered") and t["attempts"] == 2
    assert p["state"] == "failed" and p["attempts"] == 1
    assert "promotional messages are not sent twice" in p["last_error"]
    assert smsc.texts().count("Your code is 4711") == 2          # the duplicate we accept
    assert sum(1 for s in smsc.submitted if s.data_coding == 8) == 2   # greeting: once


def test_the_running_sender_stays_bound_for_replies(tmp_path: Path, smsc: Any) -> None:
    """With nothing to send, the running sender is still bound, so a customer's STOP reaches
    it; under SIGTERM it unbinds."""
    config = write_config(tmp_path, sms_port=smsc.port, messaging=AWAKE)
    box = open_db(config)
    with running_sender(config) as proc:
        wait_until(lambda: smsc.sessions() == 1, START, "the sender's bind")
        smsc.reply("+989121234567", "Stop")
        wait_until(lambda: box.conn.execute(
            "SELECT promotional FROM message_consent WHERE address = '989121234567'"
        ).fetchone() == (0,), EVENT, "the opt-out recorded")
        out, err = terminate(proc)
    assert "opt-outs 1" in out
    assert "989121234567" not in err and "98912***4567" in err
