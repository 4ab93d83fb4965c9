"""Every page a member of each role can reach, in Persian, in headless Chromium at the desk's
widths (1280 px, and the 420 px tablet): no English left outside codes, IDs and the
configuration's names (tests/console/pagecheck.py), and a layout that fits; a screenshot of
each page goes to the folder the test prints.

The pages are found the way a member finds them: the menu's links, then every link inside
the console on the pages reached (downloads aside), plus what forms show: a card looked up, a
campaign the switch's loader refuses, a settlement run refused with lps settle's output, and
an adjustment whose approval the switch refused.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lps.console import cards
from lps.console.db import open_console
from lps.console.messages import Refusal
from lps.console.queries import EVERYTHING
from tests.console.pagecheck import (
    english_chunks,
    english_left,
    layout_problems,
    proper_names,
    sign_in,
)
from tests.console.support import Client, Console, Env, add_staff, make_env, running_switch
from tests.console.webdriver import Browser

ROOT = Path(__file__).resolve().parents[2]
STAFF = {"ann": "admin", "mia": "marketing", "sue": "support", "sam": "settlement",
         "aud": "auditor", "bob": "support"}
S1 = "STORE0000000001"
#: Links that are not pages: downloads, the stylesheet and fonts.
NOT_PAGES = ("/settlement/file", "/reports/download", "/static/")


@dataclass
class World:
    env: Env
    console: Console
    allowed: frozenset[str]
    chunks: list[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A settled day, adjustments pending (one whose approval the switch refused), every role
    in Persian; the switch runs, since card changes go through it."""
    env = make_env(tmp_path_factory.mktemp("walk"), n_cards=3)
    for user, role in STAFF.items():
        add_staff(env, user, role, language="fa")
    with running_switch(env), Console(env) as console:
        sam = Client(console.url)
        sam.login("sam")
        assert sam.post("/settlement/run", date=str(env.yesterday)).status == 200
        conn = open_console(env.config.switch.database)
        try:
            pan = env.cards[2]
            have = cards.lookup(env.config, pan, EVERYTHING, env.now).available
            refused = cards.request_adjustment(conn, env.config, "sue", pan, -have, S1,
                                               "کارت دزدیده شده", 10, env.now)
            cards.request_adjustment(conn, env.config, "bob", pan, -5, S1, "اشتباه صندوق", 10,
                                     env.now)
            with pytest.raises(Refusal):
                cards.decide(conn, env.config, "bob", refused.id, True, env.now)
            cards.request_adjustment(conn, env.config, "sue", env.cards[0], 4000, S1,
                                     "رسیدهای گم‌شده", 1000, env.now)
        finally:
            conn.close()
        yield World(env, console, proper_names(env.config, STAFF),
                    english_chunks(str(ROOT / "lps" / "console")))


class Walk:
    """Checks each page it is shown and keeps what was wrong, by page."""

    def __init__(self, b: Browser, world: World, folder: Path) -> None:
        self.b, self.world, self.folder = b, world, folder
        self.problems: list[str] = []
        self.shots = 0

    def check(self, label: str) -> None:
        b = self.b
        assert b.run("return document.documentElement.dir") == "rtl", label
        self.problems += [f"{label}: {p}" for p in english_left(b, self.world.allowed,
                                                                   self.world.chunks)]
        self.problems += [f"{label}: {p}" for p in layout_problems(b)]
        self.shots += 1
        name = "".join(c if c.isalnum() else "-" for c in label).strip("-")
        b.screenshot(self.folder / f"{self.shots:02d}-{name}.png")

    def links(self) -> list[str]:
        hrefs = self.b.run("return [...document.querySelectorAll('a[href^=\"/\"]')]"
                           ".map(a => a.getAttribute('href'))")
        return [h for h in hrefs if not h.startswith(NOT_PAGES)]


def _crawl(walk: Walk, url: str, user: str) -> set[str]:
    """Every page reachable by links from the dashboard; returns the paths seen."""
    seen: set[str] = set()
    todo = ["/"]
    while todo:
        path = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        walk.b.go(url + path)
        walk.check(f"{user} {urllib.parse.unquote(path)}")
        todo += [h for h in walk.links() if h not in seen]
        assert len(seen) < 60, "more pages than a member can have: a link loop?"
    return seen


@pytest.mark.parametrize("width", [1280, 420])
def test_no_page_a_member_reaches_has_english_left_in_persian(
        world: World, browser: Browser, screenshots: Path, width: int) -> None:
    b, url, env = browser, world.console.url, world.env
    b.resize(width)
    walk = Walk(b, world, screenshots)
    b.delete_cookies()
    b.go(url + "/login")
    walk.check("login")
    reached: dict[str, set[str]] = {}
    for user, role in STAFF.items():
        if user == "bob":
            continue
        sign_in(b, url, user)
        reached[role] = _crawl(walk, url, user)
        if b.count("a[href='/cards']"):
            b.go(url + "/cards")
            b.type("#pan", env.cards[2])
            b.click("#find")
            walk.check(f"{user} card")
        if role == "marketing":  # the switch's loader refuses a campaign that ends too soon
            b.go(url + "/programs")
            for field, value in (("#name", "شب یلدا"), ("#from", "1405/10/01"),
                                 ("#to", "1405/09/30")):
                b.type(field, value)
            b.click("#add-campaign")
            assert "بارگذار سوئیچ فیلد تا از کمپین شماره‌ی ۰" in b.text(".error")
            walk.check(f"{user} campaign refused")
        if role == "settlement":  # a day not over: refused, with lps settle's own output
            b.go(url + "/settlement")
            b.type("#date", "1499/01/01")
            b.click("#settle")
            assert b.count("#output") == 1
            walk.check(f"{user} settle refused")
    assert not walk.problems, "\n".join(walk.problems)
    # The check finds English where there is some: the same dashboard, in English.
    sign_in(b, url, "ann")
    b.click("#lang-en")
    assert len(english_left(b, world.allowed, world.chunks)) > 10
    b.click("#lang-fa")
    # Each role reached what its menu promises, and the pages behind it.
    assert {"/", "/cards", "/adjustments", "/programs", "/settlement", "/audit",
            "/staff"} <= reached["admin"]
    assert any(p.startswith("/settlement/day?") for p in reached["auditor"])
    assert any(p.startswith("/programs/campaign?") for p in reached["marketing"])
    assert "/staff" not in reached["support"] and "/audit" not in reached["settlement"]
