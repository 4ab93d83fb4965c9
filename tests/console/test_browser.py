"""In headless Chromium: log in, look a card up, an adjustment that needs a second staff member,
a settlement page with its chart, and marketing editing campaigns; screenshots of each step go
to the test's tmp dir."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.config import load_config
from switch.core.luhn import mask_pan
from tests.console.support import PASSWORD, Console, Env, add_staff, running_switch
from tests.console.webdriver import Browser, find_browser, required


@pytest.fixture
def browser() -> Iterator[Browser]:
    found = find_browser()
    if found is None:
        if required():
            pytest.fail("chromium and chromedriver are required under CI=true "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("chromium/chromedriver not installed")
    b = Browser(*found)
    try:
        yield b
    finally:
        b.close()


def _login(b: Browser, url: str, user: str) -> None:
    b.delete_cookies()
    b.go(url + "/login")
    b.type("#username", user)
    b.type("#password", PASSWORD)
    b.click("#login")


def _available(env: Env, pan: str) -> int:
    conn = sqlite3.connect(env.config.switch.database)
    try:
        return int(conn.execute(
            "SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ? AND kind = 'points'",
            (pan,)).fetchone()[0])
    finally:
        conn.close()


def test_operator_session_in_chromium(env: Env, console: Console, browser: Browser,
                                      tmp_path: Path) -> None:
    with running_switch(env):
        _session(env, console, browser, tmp_path)


def _session(env: Env, console: Console, browser: Browser, tmp_path: Path) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    b, url, pan = browser, console.url, env.cards[0]
    for user, role in (("sue", "support"), ("bob", "support"), ("sam", "settlement")):
        add_staff(env, user, role)

    b.go(url + "/")  # not logged in: the login page
    assert "/login" in b.url()
    b.screenshot(shots / "01-login.png")
    _login(b, url, "sue")
    assert "Business day" in b.text("main")
    b.click("#lang-fa")  # Persian, right to left, today's Jalali date
    assert b.text("#today").startswith("امروز") and "۱۴۰" in b.text("#today")
    b.screenshot(shots / "02-dashboard-fa.png")
    b.click("#lang-en")

    b.go(url + "/cards")
    b.type("#pan", pan.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    b.click("#find")
    page = b.text("main")
    assert mask_pan(pan) in page and pan not in page
    b.screenshot(shots / "03-card.png")

    before = _available(env, pan)
    b.type("#points", "5000")
    b.type("#reason", "lost receipts, store manager confirmed")
    b.click("#adjust")
    assert "pending" in b.text("#adjustments")
    assert b.count("#approve-1") == 0  # the maker is offered no approve button
    assert _available(env, pan) == before
    b.screenshot(shots / "04-pending.png")

    _login(b, url, "bob")
    b.go(url + "/adjustments")
    b.click("#approve-1")
    assert "applied" in b.text("#adjustments")
    assert _available(env, pan) == before + 5000
    b.screenshot(shots / "05-approved.png")

    _login(b, url, "sam")
    b.go(url + "/settlement")
    b.type("#date", str(env.yesterday))
    b.click("#settle")
    assert "settled." in b.text(".notice")
    b.click(f'a[href="/settlement/day?date={env.yesterday}"]')
    assert b.count(".chart svg rect") >= 2
    assert "positions.csv" in b.text("main")
    b.screenshot(shots / "06-settlement.png")

    # Marketing adds a campaign and ends another early; both land in the switch's TOML.
    add_staff(env, "mia", "marketing")
    _login(b, url, "mia")
    b.go(url + "/programs")
    assert "takes effect when the switch restarts" in b.text("main")
    b.type("#name", "Winter evenings")
    b.type("#from", "2027-01-01")
    b.type("#to", "2027-01-31")
    b.type("#multiplier", "1.5")
    b.type("#hour_from", "18")
    b.type("#hour_to", "22")
    b.click("#add-campaign")
    assert "Campaign Winter evenings added" in b.text("main")
    b.click("#edit-store-STORE0000000002-0")
    b.type("#to", "2026-12-21")
    b.click("#change-campaign")
    assert "changed in store:STORE0000000002" in b.text("main")
    assert "takes effect when the switch restarts" in b.text(".notice")
    config = load_config(env.config_path)
    winter = config.coalitions["tehran-mall"].campaigns[0]
    assert (winter.name, winter.multiplier, winter.hours) == ("Winter evenings", 1.5, (18, 22))
    assert config.stores["STORE0000000002"].campaigns[0].end == dt.date(2026, 12, 21)
    b.screenshot(shots / "07-campaigns.png")

    for png in sorted(shots.iterdir()):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, png
    print(f"screenshots in {shots}")
