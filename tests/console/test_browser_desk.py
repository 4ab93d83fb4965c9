"""The service desk in headless Chromium, in Persian, at 1280 px and at the desk's 420 px
tablet: a customer found by a mobile typed in Persian digits, their page, a lost card replaced
by one member and approved by another (the menu's badge counting it), the customer's page after.
Every page on the way is checked for English left and for a layout that fits
(tests/console/pagecheck.py); a screenshot of each step goes to the folder the test prints."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from switch.core.luhn import mask_pan
from switch.customers.desk import open_desk
from switch.customers.inputs import EnrolForm
from tests.console import pagecheck
from tests.console.support import Console, Env, add_staff, running_switch
from tests.console.test_browser import PERSIAN, STAFF, Desk
from tests.console.webdriver import Browser
from tests.switch.support import card


def _card(env: Env, pan: str) -> tuple[str, int] | None:
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        row = conn.execute(
            "SELECT c.status, COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.pan = c.pan "
            "AND l.kind = 'points'), 0) FROM cards c WHERE c.pan = ?", (pan,)).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


@pytest.mark.parametrize("width", [1280, 420])
def test_find_by_a_persian_mobile_and_replace_a_lost_card(env: Env, browser: Browser,
                                                          screenshots: Path, width: int
                                                          ) -> None:
    for user in ("sue", "bob"):
        add_staff(env, user, STAFF[user], language="fa")
    old, new = env.cards[0], card(790)
    with open_desk(env.config) as d:
        account = d.enroll(EnrolForm("مریم کاظمی", "09123334455", cards=(old,)), env.now).id
    points = _card(env, old)
    assert points is not None and points[1] > 100
    browser.resize(width)
    with running_switch(env), Console(env, approval_threshold=100) as console:
        steps, b, url = Desk(browser, env, console, screenshots), browser, console.url

        # Found by the mobile typed with Persian digits and spaces.
        pagecheck.sign_in(b, url, "sue")
        b.go(url + "/search")
        steps.step("desk")
        b.type("#q", "۰۹۱۲ ۳۳۳ ۴۴۵۵")
        b.click("#find")
        assert "مریم کاظمی" in b.text("#found")
        steps.step("found")
        b.click(f"#customer-{account}")
        page = b.text("main")
        assert mask_pan(old) in page and old not in b.run(
            "return document.documentElement.outerHTML")
        assert "کافه نادری" in page or "Cafe Naderi" in page
        steps.step("customer")

        # The maker asks for the replacement: above the threshold it waits.
        b.click("#replace-open-1")
        b.type("#new-card-1", new.translate(PERSIAN))
        b.type("#replace-reason-1", "کارت گم‌شده در پارکینگ")
        b.click("#replace-1")
        assert "منتظر تأیید" in b.text(".notice")
        assert _card(env, new) is None and _card(env, old) == points
        steps.step("replace-pending")

        # The checker sees the badge, approves on the adjustments page.
        pagecheck.sign_in(b, url, "bob")
        assert b.text("nav .badge") == "۱"
        b.go(url + "/adjustments")
        steps.step("replacement-to-approve")
        b.click("#approve-replacement-1")
        assert "اعمال‌شده" in b.content("#replacements")
        assert _card(env, old) == ("blocked", 0) and _card(env, new) == ("active", points[1])
        assert b.count("nav .badge") == 0
        steps.step("replacement-approved")

        # The customer's page: the new card active with the points, the old one blocked.
        b.go(url + f"/customer?id={account}")
        page = b.text("main")
        assert mask_pan(new) in page and "مسدود" in page
        steps.step("customer-after")

    for png in sorted(screenshots.iterdir()):
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 3000, png
