"""Bad input on every form: 400, a message that says what is wrong, and nothing changed."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.console import cards
from switch.console.db import open_db
from switch.core.luhn import luhn_complete
from tests.console.support import Client, Console, Env, add_staff, make_env

Site = tuple[Env, Console, dict[str, Client], dict[str, str]]


def _snapshot(db: Path) -> tuple[object, ...]:
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(q).fetchall() for q in (
            "SELECT * FROM journal ORDER BY id", "SELECT * FROM lots ORDER BY id",
            "SELECT * FROM cards ORDER BY pan", "SELECT * FROM console_staff ORDER BY username",
            "SELECT * FROM console_adjustments ORDER BY id",
            "SELECT * FROM console_audit ORDER BY id",
            "SELECT COUNT(*) FROM console_login_failures",
        ))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[Env, Console, dict[str, Client], dict[str, str]]]:
    env = make_env(tmp_path_factory.mktemp("forms"), n_cards=2)
    for user, role in (("sue", "support"), ("ann", "admin"), ("sam", "settlement")):
        add_staff(env, user, role)
    conn = open_db(env.config.switch.database)
    try:
        mine = cards.request_adjustment(conn, env.config, "sue", env.cards[0], 4000,
                                        "STORE0000000001", "forms", 1000, env.now)
        done = cards.request_adjustment(conn, env.config, "ann", env.cards[0], 10,
                                        "STORE0000000001", "forms", 1000, env.now)
    finally:
        conn.close()
    with Console(env) as console:
        clients = {u: Client(console.url) for u in ("sue", "ann", "sam")}
        for user, client in clients.items():
            assert client.login(user).status == 303
        assert clients["sam"].post("/settlement/run", date=str(env.yesterday)).status == 200
        ids = {"mine": str(mine.id), "done": str(done.id),
               "ref": clients["sue"].card_ref(env.cards[0]), "day": str(env.yesterday)}
        yield env, console, clients, ids


UNENROLLED = luhn_complete("628000999999999")
S1 = "STORE0000000001"

CASES = [
    ("sue", "POST", "/cards", {"pan": ""}, "Luhn"),
    ("sue", "POST", "/cards", {"pan": "6280000000001007"}, "Luhn"),
    ("sue", "POST", "/cards", {"pan": "12ab"}, "Luhn"),
    ("sue", "POST", "/cards", {"pan": UNENROLLED}, "is not enrolled"),
    ("sue", "POST", "/cards/reveal", {"card": "bogus"}, "look the card up again"),
    ("sue", "POST", "/cards/block", {"card": ""}, "look the card up again"),
    ("sue", "POST", "/cards/unblock", {"card": "{ref}"}, "already active"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "abc", "store": S1,
                                      "reason": "x"}, "whole number"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "1.5", "store": S1,
                                      "reason": "x"}, "whole number"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "0", "store": S1,
                                      "reason": "x"}, "must not be zero"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "99999999999", "store": S1,
                                      "reason": "x"}, "at most"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "-5000", "store": S1,
                                      "reason": "x"}, "points available"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "5", "store": "NOPE",
                                      "reason": "x"}, "unknown store"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "5", "store": S1,
                                      "reason": "  "}, "reason"),
    ("sue", "POST", "/cards/adjust", {"card": "{ref}", "points": "5", "store": S1,
                                      "reason": "x" * 201}, "reason"),
    ("sue", "POST", "/cards/adjust", {"card": "nope", "points": "5", "store": S1,
                                      "reason": "x"}, "look the card up again"),
    ("sue", "POST", "/adjustments/approve", {"id": "abc"}, "must be a number"),
    ("sue", "POST", "/adjustments/approve", {"id": "999"}, "no adjustment #999"),
    ("sue", "POST", "/adjustments/approve", {"id": "{mine}"}, "you made this request"),
    ("sue", "POST", "/adjustments/reject", {"id": "{mine}"}, "you made this request"),
    ("ann", "POST", "/adjustments/approve", {"id": "{done}"}, "applied already"),
    ("ann", "POST", "/staff/add", {"username": "Bad Name", "role": "auditor",
                                   "password": "long enough pw"}, "username"),
    ("ann", "POST", "/staff/add", {"username": "newbie", "role": "king",
                                   "password": "long enough pw"}, "role must be one of"),
    ("ann", "POST", "/staff/add", {"username": "newbie", "role": "auditor",
                                   "password": "short"}, "password"),
    ("ann", "POST", "/staff/add", {"username": "sue", "role": "auditor",
                                   "password": "long enough pw"}, "exists already"),
    ("ann", "POST", "/staff/disable", {"username": "ghost"}, "no staff member"),
    ("ann", "POST", "/staff/disable", {"username": "ann"}, "your own account"),
    ("ann", "POST", "/staff/reset-password", {"username": "ghost",
                                              "password": "long enough pw"}, "no staff member"),
    ("ann", "POST", "/staff/reset-password", {"username": "sue", "password": "short"},
     "password"),
    ("sam", "POST", "/settlement/run", {"date": "yesterday"}, "YYYY-MM-DD"),
    ("sam", "POST", "/settlement/run", {"date": ""}, "YYYY-MM-DD"),
    ("sam", "GET", "/settlement/day", {"date": "2026-13-01"}, "YYYY-MM-DD"),
    ("sam", "GET", "/settlement/day", {"date": "2001-01-01"}, "has not been settled"),
    ("sam", "GET", "/settlement/file", {"date": "{day}", "name": "../lps.db"}, "has no file"),
    ("sam", "GET", "/settlement/file", {"date": "{day}", "name": ""}, "has no file"),
]


@pytest.mark.parametrize(("user", "method", "path", "form", "message"), CASES,
                         ids=[f"{c[2]}:{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_refused_with_a_message_and_changes_nothing(
        site: Site, user: str, method: str,
        path: str, form: dict[str, str], message: str) -> None:
    env, _, clients, ids = site
    client = clients[user]
    data = {k: v.format(**ids) for k, v in form.items()}
    before = _snapshot(env.config.switch.database)
    reply = client.get(path, **data) if method == "GET" else client.post(path, **data)
    assert reply.status == 400, reply.text()
    assert 'class="error"' in reply.body
    assert message in reply.text(), reply.text()
    assert _snapshot(env.config.switch.database) == before


def test_blank_login_is_refused_and_not_counted(
        site: Site) -> None:
    env, console, _, _ = site
    client = Client(console.url)
    before = _snapshot(env.config.switch.database)
    for form in ({"username": "", "password": "x"}, {"username": "sue", "password": ""}):
        client.get("/login")
        reply = client.post("/login", **form)
        assert reply.status == 400 and "Enter a username and a password" in reply.text()
    assert _snapshot(env.config.switch.database) == before


def test_settling_a_day_not_over_is_refused_and_writes_no_files(
        site: Site) -> None:
    env, console, clients, _ = site
    later = env.now.date() + dt.timedelta(days=2)
    reply = clients["sam"].post("/settlement/run", date=str(later))
    assert reply.status == 400
    assert "failed (exit 3)" in reply.text() and "is not over yet" in reply.text()
    assert not any(p.name != env.yesterday.isoformat()
                   for p in console.app.settlement_out.iterdir())
