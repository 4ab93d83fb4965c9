"""The desk's tasks in headless Chromium, in Persian, at 1280 px and at the desk's 420 px
tablet: sign in, today's Jalali date, the language switched and remembered, a card looked up
with Persian digits, an adjustment a second member approves, a settlement day run, read and a
file downloaded, and marketing's campaign edits. Every page on the way is checked for English
left and for a layout that fits (tests/console/pagecheck.py); a screenshot of each step goes to
the folder the test prints."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import unicodedata
from pathlib import Path
from zoneinfo import ZoneInfo

import jdatetime
import pytest

from lps.console import audit
from lps.console.db import open_console
from switch.config import load_config
from switch.core.luhn import mask_pan
from tests.console import pagecheck
from tests.console.support import Console, Env, add_staff, running_switch
from tests.console.webdriver import Browser
from tests.waits import EVENT

ROOT = Path(__file__).resolve().parents[2]
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
STAFF = {"sue": "support", "bob": "support", "sam": "settlement", "mia": "marketing"}
S2 = "STORE0000000002"


def _available(env: Env, pan: str) -> int:
    conn = sqlite3.connect(env.config.switch.database)
    try:
        return int(conn.execute(
            "SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ? AND kind = 'points'",
            (pan,)).fetchone()[0])
    finally:
        conn.close()


def _jalali(day: dt.date) -> str:
    """The Jalali date by jdatetime itself (not the console's code), in Persian digits."""
    text: str = jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")
    return text.translate(PERSIAN)


class Desk:
    """The browser at one width, checking each page it stops on and keeping its screenshot."""

    def __init__(self, b: Browser, env: Env, console: Console, folder: Path) -> None:
        self.b, self.url, self.folder, self.n = b, console.url, folder, 0
        self.allowed = pagecheck.proper_names(env.config, STAFF)
        self.chunks = pagecheck.english_chunks(str(ROOT / "lps" / "console"))

    def step(self, name: str, persian: bool = True) -> None:
        b = self.b
        if persian:
            assert b.run("return [document.documentElement.lang, "
                         "document.documentElement.dir]") == ["fa", "rtl"], name
            assert pagecheck.english_left(b, self.allowed, self.chunks) == [], name
        assert pagecheck.layout_problems(b) == [], name
        self.n += 1
        b.screenshot(self.folder / f"{self.n:02d}-{name}.png")

    def login(self, user: str) -> None:
        pagecheck.sign_in(self.b, self.url, user)


def _downloaded(folder: Path, name: str) -> bytes:
    """The file once Chromium has finished writing it (no `.crdownload` left)."""
    deadline = time.monotonic() + EVENT  # waits for the download, not a measured duration
    while time.monotonic() < deadline:
        done = folder / name
        if done.exists() and not any(p.suffix == ".crdownload" for p in folder.iterdir()):
            return done.read_bytes()
        time.sleep(0.05)
    raise AssertionError(f"{name} was not downloaded: {sorted(folder.iterdir())}")


@pytest.mark.parametrize("width", [1280, 420])
def test_the_desks_tasks_in_persian(env: Env, console: Console, browser: Browser,
                                    screenshots: Path, tmp_path: Path, width: int) -> None:
    for user, role in STAFF.items():
        add_staff(env, user, role, language="fa")
    browser.resize(width)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.allow_downloads(downloads)
    with running_switch(env):
        _desk(env, console, Desk(browser, env, console, screenshots), downloads)


def _desk(env: Env, console: Console, desk: Desk, downloads: Path) -> None:
    b, url, pan = desk.b, console.url, env.cards[0]

    # Sign in: the login page is Persian; the dashboard shows today in the Jalali calendar.
    b.go(url + "/")
    assert b.url().endswith("/login")
    desk.step("login")
    desk.login("sue")
    local = console.clock_now.astimezone(ZoneInfo("Asia/Tehran"))
    today = f"{_jalali(local.date())} {local.strftime('%H:%M').translate(PERSIAN)}"
    assert b.text("#today") == f"امروز: {today}"
    desk.step("dashboard")

    # The language: English by the button, still English at the next sign-in, Persian again.
    b.click("#lang-en")
    assert b.text("h1") == "Dashboard" and b.run("return document.documentElement.dir") == "ltr"
    desk.step("dashboard-en", persian=False)
    desk.login("sue")
    assert b.text("h1") == "Dashboard"
    b.click("#lang-fa")
    assert b.text("h1") == "پیشخوان"

    # A card typed in Persian digits: shown masked, its points in Persian digits.
    b.go(url + "/cards")
    b.type("#pan", pan.translate(PERSIAN))
    b.click("#find")
    before = _available(env, pan)
    page = b.text("main")
    assert mask_pan(pan) in page and pan not in page
    assert b.text("#available") == f"{before:,}".translate(PERSIAN).replace(",", "٬")
    desk.step("card")

    # 5,000 points typed the Persian way, a reason with a ZWNJ: above the threshold, it waits.
    reason = "رسیدهای گم‌شده، تأیید مدیر فروشگاه"
    b.type("#points", "۵٬۰۰۰")
    b.type("#reason", reason)
    b.click("#adjust")
    assert "در انتظار تأیید" in b.content("#adjustments")
    assert b.count("#approve-1") == 0  # the maker is offered no approve button
    assert _available(env, pan) == before
    desk.step("adjustment-pending")

    # A second support member approves it, in Persian; the menu's badge counted it first.
    desk.login("bob")
    assert b.text("nav .badge") == "۱"
    b.go(url + "/adjustments")
    desk.step("adjustment-to-approve")
    b.click("#approve-1")
    row = b.content("#adjustments")
    assert "اعمال‌شده" in row and unicodedata.normalize("NFC", reason) in row
    assert _available(env, pan) == before + 5000
    desk.step("adjustment-approved")

    # Settlement: yesterday typed as a Jalali date in Persian digits, settled, then read.
    desk.login("sam")
    b.go(url + "/settlement")
    b.type("#date", _jalali(env.yesterday))
    b.click("#settle")
    assert b.text(".notice") == f"روز کاری {_jalali(env.yesterday)} تسویه شد."
    desk.step("settled")
    day = env.yesterday.isoformat()
    b.click(f'a[href="/settlement/day?date={day}"]')
    assert _jalali(env.yesterday) in b.text("h1")
    assert b.count(".chart svg rect") >= 2
    assert "STORE0000000001" in b.content("#positions")
    desk.step("settlement-day")

    # A file downloaded from the day's page: the settlement's own file, and audited.
    b.press(f'a[href="/settlement/file?date={day}&name=positions.csv"]')
    got = _downloaded(downloads, f"{day}-positions.csv")
    assert got == (console.app.settlement_out / day / "positions.csv").read_bytes()
    conn = open_console(env.config.switch.database)
    try:
        assert [r.actor for r in audit.find(conn, "settlement.download",
                                            f"settlement:{day}/positions.csv")] == ["staff:sam"]
    finally:
        conn.close()

    # Marketing adds a campaign in Persian and ends another early; both land in the TOML.
    desk.login("mia")
    b.go(url + "/programs")
    for field, value in (("#name", "شب‌های زمستان"), ("#from", "۱۴۰۵/۱۰/۱۱"),
                         ("#to", "۱۴۰۵/۱۱/۱۱"), ("#multiplier", "۱٫۵"), ("#hour_from", "۱۸"),
                         ("#hour_to", "۲۲")):
        b.type(field, value)
    b.click("#add-campaign")
    assert "شب‌های زمستان" in b.text(".notice")
    desk.step("campaign-added")
    b.click(f"#edit-store-{S2}-0")
    desk.step("campaign-form")
    b.type("#to", "۱۴۰۵/۰۹/۳۰")
    b.click("#change-campaign")
    assert S2 in b.text(".notice")
    config = load_config(env.config_path)
    winter = config.coalitions["tehran-mall"].campaigns[0]
    assert (winter.name, winter.multiplier, winter.hours, winter.start, winter.end) == (
        "شب‌های زمستان", 1.5, (18, 22), dt.date(2027, 1, 1), dt.date(2027, 1, 31))
    assert config.stores[S2].campaigns[0].end == dt.date(2026, 12, 21)
    desk.step("campaign-changed")

    for png in sorted(desk.folder.iterdir()):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 3000, png
