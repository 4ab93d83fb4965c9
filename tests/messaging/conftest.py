"""Real servers on loopback for the messaging tests, each started by the test and stopped after:
an SMSC on smpp34's SMPP 3.4 server, an SMSC on Net::SMPP (credential checks), and aiosmtpd
with STARTTLS. Under CI=true a server that cannot be had is a failure, never a skip."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.config import Config, load_config
from switch.journal.sql.outbox import SqlOutbox
from switch.journal.sqlite.outbox import SqliteOutbox
from tests.ports import free_port
from tests.waits import EVENT, START

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required service missing under CI: {why}")
    pytest.skip(why)


@pytest.fixture
def smsc() -> Iterator[Any]:
    try:
        from tests.messaging.smsc import TestSmsc
    except ImportError as exc:
        unavailable(f"smpp34 (the test SMSC) is not installed: {exc}")
    server = TestSmsc(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Any, int, Path]]:
    try:
        from tests.messaging.smtp_server import start_smtp
    except ImportError as exc:
        unavailable(f"aiosmtpd (the test SMTP server) is not installed: {exc}")
    port = free_port()
    controller, handler, cert = start_smtp(tmp_path, port)
    try:
        yield handler, port, cert
    finally:
        controller.stop()


@pytest.fixture
def net_smpp_smsc() -> Iterator[int]:
    """Net::SMPP's SMSC (tests/messaging/net_smpp_smsc.pl) with system_id lps, password pw."""
    perl = shutil.which("perl")
    if perl is None or subprocess.run([perl, "-MNet::SMPP", "-e", "1"],
                                      capture_output=True).returncode != 0:
        unavailable("perl with Net::SMPP (Debian libnet-smpp-perl)")
    assert perl is not None
    port = free_port()
    proc = subprocess.Popen([perl, str(HERE / "net_smpp_smsc.pl"), str(port), "lps", "pw"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"ready {port}", f"Net::SMPP SMSC did not start: {line!r}"
        yield port
    finally:
        proc.kill()
        proc.wait(EVENT)


NEWS = ("حراج زمستانه کتاب‌شهر از شنبه آغاز می‌شود: تا پنجاه درصد تخفیف روی همه کتاب‌ها، "
        "امتیاز سه‌برابر برای اعضای باشگاه و هدیه ویژه برای خریدهای بالای یک میلیون ریال. "
        "منتظر دیدار شما هستیم؛ برای لغو عضویت، لغو را بفرستید.")

TEMPLATES = """
[messaging.templates.birthday]
kind = "promotional"
sms = "{name} عزیز، تولدتان مبارک! {bonus} امتیاز هدیه در {store} گرفتید. {date}"
email_subject = "تولدتان مبارک، {name}"
email_body = "{name} عزیز،\\nتولدتان مبارک! {bonus} امتیاز هدیه گرفتید.\\nباشگاه {coalition}"

[messaging.templates.receipt]
kind = "transactional"
sms = "خرید {amount} در {store}؛ {points} امتیاز گرفتید. مانده: {balance}"

[messaging.templates.receipt.store.STORE0000000002]
sms = "کتاب‌شهر: خرید {amount}، {points} امتیاز."
money = "toman"

[messaging.templates.news]
kind = "promotional"
sms = "{name} عزیز، __NEWS__"

[messaging.templates.notice]
kind = "transactional"
sms = "{name} عزیز، __NEWS__"

[messaging.templates.plain]
kind = "transactional"
sms = "Your code is {code}"
""".replace("__NEWS__", NEWS)


def write_config(tmp_path: Path, *, sms_port: int | None = None, smtp_port: int | None = None,
                 cafile: Path | None = None, messaging: str = "", sms: str = "",
                 system_id: str = "lps", password: str = "pw",
                 sms_timeout: float = EVENT) -> Config:
    base = (ROOT / "examples" / "lps.toml").read_text(encoding="utf-8")
    base = base.replace('database = "var/lps.db"', f'database = "{tmp_path / "lps.db"}"')
    base = base.replace('"127.0.0.1:8583"', f'"127.0.0.1:{free_port()}"')
    base = base.replace('"127.0.0.1:8584"', f'"127.0.0.1:{free_port()}"')
    base = base.replace('metrics = "127.0.0.1:9583"', "")
    section = "\n[messaging]\nretry_first_seconds = 30\nretry_max_seconds = 600\n"
    section += "max_attempts = 3\npoll_seconds = 0.2\n" + messaging
    if sms_port is not None:
        section += textwrap.dedent(f"""
            [messaging.sms]
            smpp = "127.0.0.1:{sms_port}"
            system_id = "{system_id}"
            password = "{password}"
            source_addr = "LPS"
            window = 4
            rate = 500
            timeout = {sms_timeout}
            """) + sms
    if smtp_port is not None:
        section += textwrap.dedent(f"""
            [messaging.email]
            smtp = "127.0.0.1:{smtp_port}"
            from = "باشگاه تهران‌مال <club@tehran-mall.example>"
            cafile = "{cafile}"
            rate = 500
            timeout = {EVENT}
            """)
    path = tmp_path / "lps.toml"
    path.write_text(base + section + TEMPLATES, encoding="utf-8")
    return load_config(path)


def open_db(config: Config) -> SqliteOutbox:
    """The outbox of the switch's database as the journal makes it (migration 8); tests read
    its rows with their own SQL on `box.conn`."""
    from switch.journal.sqlite.journal import SqliteJournal

    SqliteJournal(config.switch.database).close()
    return SqliteOutbox.open(config.switch.database)


class Clock:
    """A settable clock for the sender: tests move time, never wait for it."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


#: 10:00 in Tehran on 2026-11-23 (outside the default quiet hours 21:00-08:00).
DAYTIME = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)


def lps(*args: str, timeout: float = START) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lps.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def row(box: SqlOutbox, oid: int) -> dict[str, Any]:
    cur = box.conn.execute("SELECT * FROM outbox WHERE id = ?", (oid,))
    names = [d[0] for d in cur.description]
    found = cur.fetchone()
    assert found is not None, f"no outbox row {oid}"
    return dict(zip(names, found, strict=True))


Poll = Callable[[Callable[[], bool], float, str], None]
