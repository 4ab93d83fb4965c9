"""Coupons, gift cards and a program reload through the real `lps serve` and the real `lps`
commands (docs/programs.md): codes issued to a CSV while the switch runs, redeemed over TCP,
shown and voided; programs reloaded by `lps programs reload` and by SIGHUP, and refused when
the file changes more than programs."""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from switch.client import TerminalClient
from tests.engines import query
from tests.rewards.support import gift_card, redeem_coupon, stop, tag
from tests.switch.support import T1, T2, card, earn, request
from tests.switch.test_crash import ROOT, start, write_config

DEADLINE = 60.0


def lps(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lps.cli", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def running(tmp_path: Path, journal_settings: dict[str, Any]
            ) -> Iterator[tuple[Path, int, subprocess.Popen[bytes]]]:
    """`lps serve` on the example, its journal on the engine of `journal_settings`."""
    config, port = write_config(tmp_path, journal_settings)
    proc = start(config, port)
    try:
        yield config, port, proc
    finally:
        stop(proc)


async def exchange(port: int, *msgs: Message) -> list[Message]:
    c = await TerminalClient("ascii", "127.0.0.1", port).connect()
    try:
        return [await c.send(m) for m in msgs]
    finally:
        await c.close()


@pytest.fixture
def db(journal_settings: dict[str, Any]) -> str | Path:
    """Where the test reads the journal: the SQLite file or the PostgreSQL URL."""
    url: str | None = journal_settings.get("journal_url")
    database: Path = journal_settings["database"]
    return url or database


def rows(db: str | Path, sql: str) -> list[tuple[object, ...]]:
    return query(db, sql)


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def sign_ons() -> list[Message]:
    return [request("0800", tid, 900000 + i, extra={70: "001"}) for i, tid in enumerate((T1, T2))]


def test_coupons_issued_redeemed_shown_and_voided_on_a_running_switch(
        running: tuple[Path, int, subprocess.Popen[bytes]], tmp_path: Path,
        db: str | Path) -> None:
    config, port, _ = running
    out = tmp_path / "codes.csv"
    r = lps(config, "coupons", "issue", "--coalition", "tehran-mall", "--count", "3",
            "--amount", "25000", "--min-amount", "100000", "--expires", "2099-12-31",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    codes = [row["code"] for row in csv.DictReader(out.open())]
    assert len(set(codes)) == 3 and (out.stat().st_mode & 0o777) == 0o600
    stored = " ".join(str(d) for d, in rows(db, "SELECT digest FROM coupons"))
    assert not any(c.replace("-", "") in stored for c in codes)

    first = redeem_coupon(T1, 1, card(1), codes[0].lower(), 150_000)
    replies = asyncio.run(exchange(port, *sign_ons(), first, first,
                                   redeem_coupon(T2, 2, card(2), codes[0], 150_000),
                                   redeem_coupon(T2, 3, card(2), codes[1], 99_000)))
    approval, again, used, small = replies[2:]
    assert approval.text(39) == "00" and tag(approval, "CD") == "25000"
    assert again.fields == approval.fields
    assert used.text(39) == "05" and small.text(39) == "13"

    shown = lps(config, "coupons", "show", codes[0])
    assert shown.returncode == 0 and "used by #" in shown.stdout
    assert "628000******" in shown.stdout.replace(card(1)[6:12], "******")
    assert card(1) not in shown.stdout
    assert lps(config, "coupons", "void", codes[2], "--by", "مدیر\u200cفروش").returncode == 0
    assert lps(config, "coupons", "void", codes[2]).returncode != 0  # void already
    [declined] = asyncio.run(exchange(port, redeem_coupon(T1, 4, card(3), codes[2], 150_000)))
    assert declined.text(39) == "62"
    bad = lps(config, "coupons", "show", "AAAA-BBBB")
    assert bad.returncode != 0 and "16 symbols" in bad.stderr


def test_a_gift_card_sold_at_one_store_is_spent_at_another(
        running: tuple[Path, int, subprocess.Popen[bytes]]) -> None:
    _, port, _ = running
    g = gift_card(7)
    replies = asyncio.run(exchange(
        port, *sign_ons(),
        request("0200", T1, 1, pan=g, pc="210060", amount=300_000),
        request("0200", T2, 2, pan=g, pc="006000", amount=120_000),
        request("0200", T2, 3, pan=g, pc="310000")))
    assert [m.text(39) for m in replies[2:]] == ["00", "00", "00"]


def test_programs_reload_takes_effect_between_decisions_and_refuses_more_than_programs(
        running: tuple[Path, int, subprocess.Popen[bytes]], db: str | Path) -> None:
    config, port, proc = running
    assert rows(db, "SELECT version FROM program_versions") == [(1,)]
    asyncio.run(exchange(port, *sign_ons(), earn(T1, 1, card(1), 100_000)))
    text = config.read_text()
    config.write_text(text.replace("points_per = 10_000, points = 1 }",
                                   "points_per = 10_000, points = 5 }"))
    r = lps(config, "programs", "reload")
    assert r.returncode == 0, r.stderr
    assert "version 2" in r.stdout
    asyncio.run(exchange(port, earn(T1, 2, card(1), 100_000)))
    earns = rows(db, "SELECT points, program_version FROM journal WHERE kind = 'earn' "
                     "ORDER BY id")
    assert earns == [(10, 1), (50, 2)]

    again = lps(config, "programs", "reload")
    assert again.returncode != 0 and "in force already" in again.stderr
    good = config.read_text()
    config.write_text(good.replace('name = "Cafe Naderi"', 'name = "کافه نادری"'))
    refused = lps(config, "programs", "reload")
    assert refused.returncode != 0
    assert "store.STORE0000000001.name is not a program" in refused.stderr
    config.write_text(good + "\n[terminal.T0000009]\nstore = \"STORE0000000001\"\n")
    assert "terminal.T0000009" in lps(config, "programs", "reload").stderr
    config.write_text(good.replace("points = 5 }", "points = -5 }"))
    assert lps(config, "programs", "reload").returncode != 0
    assert rows(db, "SELECT max(version) FROM program_versions") == [(2,)]

    config.write_text(good.replace("points = 5 }", "points = 3 }"))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: rows(db, "SELECT max(version) FROM program_versions") == [(3,)],
             "SIGHUP to load version 3")
    asyncio.run(exchange(port, earn(T1, 3, card(1), 100_000)))
    assert rows(db, "SELECT points, program_version FROM journal WHERE kind = 'earn' "
                    "ORDER BY id DESC LIMIT 1") == [(30, 3)]
