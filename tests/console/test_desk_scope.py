"""The service desk for store-scoped staff (docs/console.md "The service desk", "Store-scoped
staff"), over real HTTP against the console's app: a member limited to Cafe Naderi finds
only customers with activity there (by mobile, by name, by card), sees on a shared customer's
page only Cafe Naderi's cards, lots, history and figures, and is refused enrolment and card
replacement with a sentence that says why; a whole-coalition member sees everything."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lps.console.db import open_console
from switch.core.authorizer import handle
from switch.core.programs.rules import program_rules
from switch.customers.desk import open_desk
from switch.customers.inputs import EnrolForm
from switch.journal import open_journal
from tests.console.support import Client, Console, Env, add_staff, snapshot
from tests.switch.support import T1, T2, card, earn

CAFE, BOOKS = "STORE0000000001", "STORE0000000002"
#: What of Book City (and Enghelab) a Cafe Naderi member must never read.
OTHER_STORES = ("Book City", "Enghelab", BOOKS, "STORE0000000003", "T0000002", "T0000003")


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    mobile: str
    pan: str


@dataclass(frozen=True)
class Desk:
    env: Env
    console: Console
    cafe_only: Customer
    books_only: Customer
    shared: Customer


def _purchases(env: Env, *at: tuple[str, str, int]) -> None:
    """Approved purchases (terminal, card, amount) through the switch's own authorizer and
    journal (a card is enrolled by its first purchase)."""
    store = open_journal(env.config.switch.journal)
    try:
        state = store.load(env.config, program_rules(env.config), env.now)
        for stan, (terminal, pan, amount) in enumerate(at, start=901):
            msg = earn(terminal, stan, pan, amount, now=env.now)
            decision = handle(state, msg, env.now, fetch=store.fetch)
            assert decision.response is not None and decision.response.text(39) == "00"
            store.append(decision.entries)
    finally:
        store.close()


def _enrol(env: Env, name: str, mobile: str, pan: str) -> Customer:
    with open_desk(env.config) as d:
        account = d.enroll(EnrolForm(name, mobile, cards=(pan,)), env.now).id
    return Customer(account, name, mobile, pan)


@pytest.fixture
def scoped_desk(env: Env) -> Iterator[Desk]:
    books_pan, cafe_pan = card(300), card(301)
    _purchases(env, (T2, books_pan, 2_000_000), (T1, cafe_pan, 1_000_000))
    # env.cards[0] earned at Cafe Naderi and at Book City, and paid with points at Book City.
    books_only = _enrol(env, "کتاب\u200cخوان بهرامی", "09121110002", books_pan)
    cafe_only = _enrol(env, "نگار فنجانی", "09121110001", cafe_pan)
    shared = _enrol(env, "سارا مشترکی", "09121110003", env.cards[0])
    add_staff(env, "ann", "support")
    add_staff(env, "cafe", "support", stores=(CAFE,))
    add_staff(env, "cafe-admin", "admin", stores=(CAFE,))
    with Console(env) as console:
        yield Desk(env, console, cafe_only, books_only, shared)


def _client(console: Console, who: str) -> Client:
    c = Client(console.url)
    assert c.login(who).status == 303
    return c


def _searches(c: Customer) -> tuple[str, ...]:
    """Every way the desk finds a customer: mobile (two forms, Persian digits), name (whole and
    a part), card."""
    persian = c.mobile.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    return (c.mobile, "+98" + c.mobile[1:], persian, c.name, c.name.split()[-1], c.pan)


def _link(c: Customer) -> str:
    return f'href="/customer?id={c.id}"'


@pytest.mark.parametrize("who", ["cafe", "cafe-admin"])
def test_a_scoped_member_never_finds_another_stores_customer(scoped_desk: Desk, who: str
                                                             ) -> None:
    d = scoped_desk
    member = _client(d.console, who)
    for typed in _searches(d.books_only):
        reply = member.post("/search", q=typed)
        assert reply.status == 200, (typed, reply.text())
        assert _link(d.books_only) not in reply.body, typed
        # The search box shows back a name typed; the results follow it.
        results = reply.body.split('id="find"', 1)[1].split("</form>", 1)[1]
        assert d.books_only.name not in results and "بهرامی" not in results, typed
        assert "No customer with activity at your stores matches" in reply.text(), typed
    for customer in (d.cafe_only, d.shared):
        for typed in _searches(customer):
            reply = member.post("/search", q=typed)
            assert reply.status == 200, (typed, reply.text())
            assert _link(customer) in reply.body, typed
            for other in OTHER_STORES:
                assert other not in reply.body, (typed, other)


def test_a_whole_coalition_member_finds_every_stores_customer(scoped_desk: Desk) -> None:
    d = scoped_desk
    ann = _client(d.console, "ann")
    for customer in (d.cafe_only, d.books_only, d.shared):
        for typed in _searches(customer):
            reply = ann.post("/search", q=typed)
            assert reply.status == 200, (typed, reply.text())
            assert _link(customer) in reply.body, typed
    assert 'id="scoped"' not in ann.get("/search").body


def _available(page: str) -> int:
    m = re.search(r'id="available">([^<]+)<', page)
    assert m, page
    return int(m.group(1).replace(",", ""))


def _points_at(env: Env, pan: str, stores: tuple[str, ...]) -> int:
    marks = ",".join("?" * len(stores))
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        return int(conn.execute(
            f"SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ? AND kind = 'points' "
            f"AND store_id IN ({marks})", (pan, *stores)).fetchone()[0])


def test_a_shared_customers_page_shows_a_scoped_member_their_stores_rows_only(
        scoped_desk: Desk) -> None:
    d = scoped_desk
    whole = _client(d.console, "ann").get("/customer", id=str(d.shared.id))
    assert whole.status == 200, whole.text()
    assert "Book City" in whole.body and "Cafe Naderi" in whole.body
    assert _available(whole.body) == _points_at(d.env, d.shared.pan, (CAFE, BOOKS))
    for who in ("cafe", "cafe-admin"):
        page = _client(d.console, who).get("/customer", id=str(d.shared.id))
        assert page.status == 200, page.text()
        assert d.shared.name in page.body and "Cafe Naderi" in page.body
        for other in OTHER_STORES:
            assert other not in page.body, (who, other)
        cafe_points = _points_at(d.env, d.shared.pan, (CAFE,))
        assert 0 < cafe_points < _points_at(d.env, d.shared.pan, (CAFE, BOOKS))
        assert _available(page.body) == cafe_points, who
        assert 'id="scoped"' in page.body
        # History rows of Cafe Naderi alone: both of its purchases, no payment at Book City.
        history = page.body.split('id="history"', 1)[1]
        assert history.count("a purchase: points earned") == 2, page.text()
        assert "paid with points" not in history
        # An adjustment offers Cafe Naderi alone as the store bearing the points.
        assert f'value="{CAFE}"' in page.body


@pytest.mark.parametrize("account", ["books_only", "missing"])
def test_a_customer_of_other_stores_is_refused_as_one_that_does_not_exist(
        scoped_desk: Desk, account: str) -> None:
    d = scoped_desk
    number = d.books_only.id if account == "books_only" else 998
    reply = _client(d.console, "cafe").get("/customer", id=str(number))
    assert reply.status == 400
    assert f"customer account #{number} has no activity at your stores" in reply.text()
    assert d.books_only.name not in reply.body
    for other in OTHER_STORES:
        assert other not in reply.body
    ann = _client(d.console, "ann").get("/customer", id=str(number))
    assert ann.status == (200 if account == "books_only" else 400)


def test_another_stores_adjustment_is_not_told_on_a_customers_page(scoped_desk: Desk) -> None:
    d = scoped_desk
    conn = open_console(d.env.config.switch.database)
    try:
        aid = conn.execute(
            "INSERT INTO adjustments (pan, points, store_id, reason, maker, made_at, status) "
            "VALUES (?, 4321, ?, 'planted', 'x', ?, 'pending')",
            (d.shared.pan, BOOKS, d.env.now.isoformat())).lastrowid
    finally:
        conn.close()
    cafe = _client(d.console, "cafe").get("/customer", id=str(d.shared.id), done=str(aid))
    assert cafe.status == 200 and "4,321" not in cafe.body and f"#{aid}" not in cafe.text()
    ann = _client(d.console, "ann").get("/customer", id=str(d.shared.id), done=str(aid))
    assert f"Adjustment #{aid} of 4,321 points" in ann.text()


def _accounts(env: Env) -> int:
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])


def test_enrolment_and_replacement_are_refused_to_a_scoped_member(scoped_desk: Desk) -> None:
    d = scoped_desk
    member = _client(d.console, "cafe-admin")
    desk_page = member.get("/search")
    assert 'action="/customers/enrol"' not in desk_page.body
    assert "Enrolling a customer and replacing a lost card are for the whole coalition" in (
        desk_page.text())
    page = member.get("/customer", id=str(d.cafe_only.id))
    assert 'action="/customer/replace"' not in page.body
    m = re.search(r'action="/cards/adjust"[^>]*>.*?name="card" value="([^"]+)"', page.body,
                  re.S)
    assert m, page.text()
    before, accounts = snapshot(d.env), _accounts(d.env)
    refused = [
        member.post("/customers/enrol", name="مریم تازه", mobile="09121110009",
                    birth_date="", card=card(302)),
        member.post("/customer/replace", account=str(d.cafe_only.id), card=m.group(1),
                    new=card(303), reason="lost"),
        member.post("/replacements/approve", id="1"),
    ]
    for reply in refused:
        assert reply.status == 403
        assert "This page acts on the whole coalition; your account is limited to some " \
               "stores." in reply.text()
    assert snapshot(d.env) == before and _accounts(d.env) == accounts
