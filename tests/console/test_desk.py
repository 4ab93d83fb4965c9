"""The service desk over real HTTP against a real `lps serve`: search by any form of a mobile
(Persian digits), a Persian name (ی/ي, ک/ك, ZWNJ) or a card; the customer's page; enrolment;
a lost card replaced (at once, and maker then checker above the threshold), adjustments back on
the customer's page, the menu's badge; every refusal changes nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sqlite3
from collections.abc import Iterator

import pytest

from lps.console import audit
from lps.console.db import open_console
from switch.core.luhn import mask_pan
from switch.customers.desk import open_desk
from switch.customers.inputs import EnrolForm
from tests.console.support import Client, Console, Env, add_staff, running_switch, snapshot
from tests.switch.support import card

MOBILE = "09121234567"
PERSIAN_MOBILE = "۰۹۱۲ ۱۲۳ ۴۵۶۷"
NAME = "نگار\u200cسادات كريمي"   # Arabic ك and ي, a ZWNJ: stored as Persian ک and ی


@pytest.fixture
def desk(env: Env) -> Iterator[tuple[Env, Console]]:
    add_staff(env, "ann", "support")
    add_staff(env, "bob", "support")
    add_staff(env, "aud", "auditor")
    add_staff(env, "mkt", "marketing")
    with running_switch(env), Console(env) as console:
        yield env, console


def _client(console: Console, who: str) -> Client:
    c = Client(console.url)
    assert c.login(who).status == 303
    return c


def _account(env: Env, pan: str, name: str = NAME, mobile: str = MOBILE) -> int:
    with open_desk(env.config) as d:
        return d.enroll(EnrolForm(name, mobile, cards=(pan,)), env.now).id


def _cards(env: Env, *pans: str) -> dict[str, tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(env.config.switch.database)) as conn:
        return {pan: (str(row[0]), int(row[1])) for pan in pans for row in conn.execute(
            "SELECT c.status, COALESCE((SELECT SUM(remaining) FROM lots l WHERE l.pan = c.pan "
            "AND l.kind = 'points'), 0) FROM cards c WHERE c.pan = ?", (pan,))}


def _audit(env: Env, prefix: str) -> list[audit.AuditRow]:
    conn = open_console(env.config.switch.database)
    try:
        return [r for r in audit.rows(conn, limit=10_000) if r.action.startswith(prefix)]
    finally:
        conn.close()


def _ref(page: str, form: str) -> str:
    m = re.search(rf'action="{form}"[^>]*>.*?name="card" value="([^"]+)"', page, re.S)
    assert m, form
    return m.group(1)


def test_search_by_every_form_of_a_mobile_a_name_and_a_card(desk: tuple[Env, Console]
                                                             ) -> None:
    env, console = desk
    account = _account(env, env.cards[0])
    ann = _client(console, "ann")
    for typed in (MOBILE, PERSIAN_MOBILE, "+989121234567", "989121234567", "۹۱۲۱۲۳۴۵۶۷",
                  "نگار\u200cسادات", "کریمی", "كريمي", env.cards[0]):
        reply = ann.post("/search", q=typed)
        assert reply.status == 200, (typed, reply.text())
        assert f'href="/customer?id={account}"' in reply.body, typed
        assert env.cards[0] not in reply.body and MOBILE not in reply.body
    reply = ann.post("/search", q="09351111111")
    assert reply.status == 200 and "No customer matches" in reply.text()


def test_a_customer_enrolled_without_a_card_is_found(desk: tuple[Env, Console]) -> None:
    """A customer enrolled at the desk without a card (the card is optional) was found by
    nobody: the search kept only accounts with a card the reader sees, so the whole coalition
    lost them too, by name and by mobile. Only a store-scoped member's search asks for a card
    with activity at their stores (docs/console.md, "Store-scoped staff at the desk")."""
    env, console = desk
    ann = _client(console, "ann")
    reply = ann.post("/customers/enrol", name="زهرا حسین‌زاده", mobile="۰۹۳۵ ۱۱۱ ۰۰۰۰")
    assert reply.status == 303, reply.text()
    account = reply.location.split("id=")[1]
    for typed in ("حسین‌زاده", "حسين‌زاده", "زهرا حسین زاده", "۰۹۳۵۱۱۱۰۰۰۰",
                  "09351110000"):
        reply = ann.post("/search", q=typed)
        assert f'href="/customer?id={account}"' in reply.body, (typed, reply.text()[-400:])
    add_staff(env, "sid", "support", stores=("STORE0000000001",))
    reply = _client(console, "sid").post("/search", q="09351110000")
    assert reply.status == 200 and f"/customer?id={account}" not in reply.body


AMBIGUOUS = (
    ("0912", "4 digits are too few to find one customer"),
    ("۱۲۳۴۵", "5 digits are too few"),
    ("6280000000000000", "16 digits are not a card number"),
    ("", "type a mobile number, a name or a card number"),
    ("ن", "type at least two letters of the name"),
    ("\u202eabc", "invisible formatting character"),
)


def test_an_ambiguous_or_bad_search_asks_for_more(desk: tuple[Env, Console]) -> None:
    _, console = desk
    ann = _client(console, "ann")
    for typed, said in AMBIGUOUS:
        reply = ann.post("/search", q=typed)
        assert reply.status == 400 and said in reply.text(), (typed, reply.text())


def test_the_customers_page(desk: tuple[Env, Console]) -> None:
    env, console = desk
    account = _account(env, env.cards[0])
    aud = _client(console, "aud")
    page = aud.get("/customer", id=str(account))
    assert page.status == 200, page.text()
    text = page.text()
    assert "نگار\u200cسادات کریمی" in text          # the stored, normalised name
    assert mask_pan(env.cards[0]) in text and env.cards[0] not in page.body
    assert "98912***4567" in text and MOBILE not in page.body
    assert "Cafe Naderi" in text and "Book City" in text  # lots and history by store name
    assert "a purchase: points earned" in text and "paid with points" in text
    assert "/customer/replace" not in page.body and "/cards/adjust" not in page.body
    assert aud.get("/customer", id="999").status == 400
    assert aud.get("/customer", id="x").status == 400


def test_enrol_from_the_console(desk: tuple[Env, Console]) -> None:
    env, console = desk
    ann = _client(console, "ann")
    new = card(760)
    before = len(_audit(env, "customer.enroll"))
    reply = ann.post("/customers/enrol", name="سارا  احمدي", mobile="۰۹۳۵ ۱۱۱ ۲۲۳۳",
                     birth_date="۱۳۷۰/۰۱/۰۱", card=new, sms="yes")
    assert reply.status == 303, reply.text()
    page = ann.get(reply.location)
    assert "سارا احمدی" in page.text() and mask_pan(new) in page.text()
    assert _cards(env, new) == {new: ("active", 0)}
    (row,) = _audit(env, "customer.enroll")[: len(_audit(env, "customer.enroll")) - before]
    assert row.actor == "staff:ann" and new not in f"{row.before}{row.after}"
    # Refused, nothing written: a bad mobile, a mobile another customer holds, a bad date.
    for form, said in (({"mobile": "12345"}, "is not a mobile number"),
                       ({"mobile": "09351112233"}, "belongs to customer account"),
                       ({"birth_date": "۱۴۰۳/۱۲/۳۱", "mobile": "09351119999"},
                        "that month has only"),
                       ({"name": "", "mobile": "09351119999"}, "the name"),
                       ({"card": "6280000000000000", "mobile": "09351119999"}, "Luhn")):
        was = snapshot(env)
        reply = ann.post("/customers/enrol", **{"name": "کاوه", "mobile": "09351119999",
                                                 "birth_date": "", "card": "", **form})
        assert reply.status == 400 and said in reply.text(), (form, reply.text())
        assert snapshot(env) == was
    mkt = _client(console, "mkt")
    assert mkt.post("/customers/enrol", name="x", mobile="09351119999").status == 403


def test_replace_at_once_and_by_maker_then_checker(desk: tuple[Env, Console]) -> None:
    env, console = desk
    small, big = env.cards[0], env.cards[1]
    acc_small = _account(env, small)
    acc_big = _account(env, big, "پرویز", "09121112222")
    ann, bob = _client(console, "ann"), _client(console, "bob")
    # At once: a threshold above the card's points.
    console.app.settings = dataclasses.replace(console.app.settings,
                                               approval_threshold=100_000)
    page = ann.get("/customer", id=str(acc_small))
    points = _cards(env, small)[small][1]
    new = card(761)
    reply = ann.post("/customer/replace", account=str(acc_small),
                     card=_ref(page.body, "/customer/replace"), new=new, reason="گم شد")
    assert reply.status == 303, reply.text()
    shown = ann.get(reply.location)
    assert "was blocked and its points moved" in shown.text()
    assert _cards(env, small, new) == {small: ("blocked", 0), new: ("active", points)}
    assert mask_pan(new) in shown.text()  # the new card is on the customer's page
    # Above the threshold: pending; the maker cannot approve; the checker can.
    console.app.settings = dataclasses.replace(console.app.settings, approval_threshold=10)
    page = ann.get("/customer", id=str(acc_big))
    points = _cards(env, big)[big][1]
    new2 = card(762)
    reply = ann.post("/customer/replace", account=str(acc_big),
                     card=_ref(page.body, "/customer/replace"), new=new2, reason="lost")
    assert reply.status == 303
    assert "waits for another staff member's approval" in ann.get(reply.location).text()
    assert _cards(env, big) == {big: ("active", points)}
    assert new2 not in _cards(env, new2)
    rid = re.search(r"request #(\d+)", ann.get(reply.location).text())
    assert rid
    assert 'class="badge"' not in ann.get("/").body         # the maker's own: no badge
    assert re.search(r'class="badge"[^>]*>1<', bob.get("/").body)
    assert ann.post("/replacements/approve", id=rid.group(1)).status == 400
    assert bob.post("/replacements/approve", id=rid.group(1)).status == 303
    assert _cards(env, big, new2) == {big: ("blocked", 0), new2: ("active", points)}
    assert 'class="badge"' not in bob.get("/").body
    assert bob.post("/replacements/approve", id=rid.group(1)).status == 400  # decided
    actions = [r.action for r in _audit(env, "")]
    assert {"card.replace", "replacement.applied", "replacement.pending"} <= set(actions)
    assert not any(p in f"{r.target}{r.before}{r.after}" for r in _audit(env, "")
                   for p in (small, big, new, new2))


def test_replacement_refusals_change_nothing(desk: tuple[Env, Console]) -> None:
    env, console = desk
    old = env.cards[2]
    account = _account(env, old)
    ann = _client(console, "ann")
    page = ann.get("/customer", id=str(account))
    ref = _ref(page.body, "/customer/replace")
    for new, reason, said in ((old, "lost", "is the card being replaced"),
                              (env.cards[3], "lost", "already in use"),
                              ("6280000000000000", "lost", "Luhn"),
                              ("4111111111111111", "lost", "outside coalition"),
                              (card(763), "", "the reason"),
                              (card(763), "a\u202eb", "invisible formatting character")):
        was = snapshot(env)
        reply = ann.post("/customer/replace", account=str(account), card=ref, new=new,
                         reason=reason)
        assert reply.status == 400 and said in reply.text(), (new, reply.text())
        assert snapshot(env) == was
    # A card handle of another session, or none: refused.
    bob = _client(console, "bob")
    reply = bob.post("/customer/replace", account=str(account), card=ref, new=card(763),
                     reason="lost")
    assert reply.status == 400 and "look the card up again" in reply.text()
    aud = _client(console, "aud")
    assert aud.post("/customer/replace", account=str(account), card=ref, new=card(763),
                    reason="lost").status == 403


def test_an_adjustment_comes_back_to_the_customers_page(desk: tuple[Env, Console]) -> None:
    env, console = desk
    account = _account(env, env.cards[4])
    ann = _client(console, "ann")
    page = ann.get("/customer", id=str(account))
    reply = ann.post("/cards/adjust", card=_ref(page.body, "/cards/adjust"),
                     account=str(account), points="25", store="STORE0000000001",
                     reason="goodwill")
    assert reply.status == 303 and reply.location.startswith(f"/customer?id={account}&done=")
    assert "points: applied" in ann.get(reply.location).text()
    reply = ann.post("/cards/adjust", card=_ref(page.body, "/cards/adjust"),
                     account=str(account), points="abc", store="STORE0000000001",
                     reason="goodwill")
    assert reply.status == 400 and 'id="profile"' in reply.body


def test_a_store_scoped_member_has_a_scoped_desk_without_enrolment(desk: tuple[Env, Console]
                                                                     ) -> None:
    # What of other stores they never see: tests/console/test_desk_scope.py.
    env, console = desk
    account = _account(env, env.cards[0])
    add_staff(env, "cafe", "support", stores=("STORE0000000001",))
    cafe = _client(console, "cafe")
    assert 'href="/search"' in cafe.get("/").body
    assert f'href="/customer?id={account}"' in cafe.post("/search", q=MOBILE).body
    assert cafe.get("/customer", id=str(account)).status == 200
    assert cafe.post("/customers/enrol", name="کاوه", mobile="09351119999").status == 403


def test_an_approval_the_switch_refuses_stays_pending_with_the_reason(
        desk: tuple[Env, Console]) -> None:
    from lps.console import gateway

    env, console = desk
    old, new = env.cards[5], card(764)
    account = _account(env, old)
    console.app.settings = dataclasses.replace(console.app.settings, approval_threshold=10)
    ann, bob = _client(console, "ann"), _client(console, "bob")
    page = ann.get("/customer", id=str(account))
    reply = ann.post("/customer/replace", account=str(account),
                     card=_ref(page.body, "/customer/replace"), new=new, reason="lost")
    assert reply.status == 303
    gateway.card_status(env.config, "enroll", new)  # the new card is used meanwhile
    was = _cards(env, old, new)
    reply = bob.post("/replacements/approve", id="1")
    assert reply.status == 400 and "already in use" in reply.text()
    assert _cards(env, old, new) == was
    listing = bob.get("/adjustments").text()
    assert "already in use" in listing and "pending" in listing
    assert re.search(r'class="badge"[^>]*>1<', bob.get("/").body)
    assert bob.post("/replacements/reject", id="1").status == 303
    assert 'class="badge"' not in bob.get("/").body
