"""Bad input on every form: 400, a message that says what is wrong, and nothing changed."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from lps.console import cards
from lps.console.db import open_console as open_db
from switch.config import load_config
from switch.core.luhn import luhn_complete
from tests.console.support import (
    Client,
    Console,
    Env,
    add_staff,
    make_env,
    running_switch,
    snapshot,
)

Site = tuple[Env, Console, dict[str, Client], dict[str, str]]
#: How the switch's loader names a field of the new campaign (lps/console/campaigns.py).
CAMPAIGN = "of campaign #0 of coalition tehran-mall: "


def _snapshot(db: Path) -> tuple[object, ...]:
    """The databases' rows and the switch's configuration file (beside them in these tests)."""
    return snapshot(SITE_ENV[0])


SITE_ENV: list[Env] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[Env, Console, dict[str, Client], dict[str, str]]]:
    env = make_env(tmp_path_factory.mktemp("forms"), n_cards=2)
    SITE_ENV[:] = [env]
    switch = running_switch(env)
    switch.__enter__()
    for user, role in (("sue", "support"), ("ann", "admin"), ("sam", "settlement"),
                       ("mia", "marketing")):
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
        clients = {u: Client(console.url) for u in ("sue", "ann", "sam", "mia")}
        for user, client in clients.items():
            assert client.login(user).status == 303
        assert clients["sam"].post("/settlement/run", date=str(env.yesterday)).status == 200
        ids = {"mine": str(mine.id), "done": str(done.id),
               "ref": clients["sue"].card_ref(env.cards[0]), "day": str(env.yesterday),
               "version": hashlib.sha256(env.config_path.read_bytes()).hexdigest()}
        yield env, console, clients, ids
    switch.__exit__(None, None, None)


UNENROLLED = luhn_complete("628000999999999")
S1 = "STORE0000000001"
S2 = "STORE0000000002"
#: A valid new coalition campaign; each bad case below spoils one field.
NEW = {"version": "{version}", "owner": "coalition:tehran-mall", "name": "Winter",
       "from": "2027-01-01", "to": "2027-01-31", "multiplier": "1.5", "bonus": "",
       "weekdays": "", "hour_from": "", "hour_to": "", "expire_after_days": ""}

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
    ("sam", "POST", "/settlement/run", {"date": "yesterday"}, "YYYY/MM/DD"),
    ("sam", "POST", "/settlement/run", {"date": ""}, "YYYY/MM/DD"),
    ("sam", "GET", "/settlement/day", {"date": "2026-13-01"}, "a month is 1 to 12"),
    ("sam", "GET", "/settlement/day", {"date": "۱۴۰۵/۱۲/۳۰"}, "that month has only 29 days"),
    ("sam", "GET", "/settlement/day", {"date": "2001-01-01"}, "has not been settled"),
    ("sam", "GET", "/settlement/file", {"date": "{day}", "name": "../lps.db"}, "has no file"),
    ("sam", "GET", "/settlement/file", {"date": "{day}", "name": ""}, "has no file"),
    *[("mia", "POST", "/programs/campaigns/add", {**NEW, **change}, message)
      for change, message in (
          ({"name": " "}, "name: must not be empty"),
          ({"name": "x" * 61}, "name: must be 1-60 printable characters"),
          ({"from": "2027-13-01"}, "from: must be a date YYYY/MM/DD"),
          ({"to": ""}, "to: must be a date YYYY/MM/DD"),
          ({"from": "2027-02-01"}, f"refuses field to {CAMPAIGN}ends (1405/11/11) before it "
                                   "starts (1405/11/12)"),
          ({"multiplier": "abc"}, "multiplier: must be a number such as 1.5"),
          ({"multiplier": "nan"}, "multiplier: must be a number such as 1.5"),
          ({"multiplier": "1.2345"}, f"multiplier {CAMPAIGN}must have at most 3 decimals"),
          ({"bonus": "ten"}, "bonus: must be a whole number"),
          ({"bonus": "-5"}, f"bonus {CAMPAIGN}must be at least 0, got -5"),
          ({"weekdays": "mon"}, "weekdays: must be numbers 0 (Monday) to 6 (Sunday)"),
          ({"weekdays": "1,7"}, f"weekdays {CAMPAIGN}must be 0 (Monday) to 6"),
          ({"hour_from": "20", "hour_to": "8"}, f"hours {CAMPAIGN}must be [from, to)"),
          ({"hour_from": "20"}, "hours: give both"),
          ({"expire_after_days": "0"}, f"expire_after_days {CAMPAIGN}must be at least 1"),
          ({"owner": "store:NOPE"}, "owner: no store or coalition 'store:NOPE'"),
          ({"version": "0" * 64}, "has changed since this page was loaded"),
      )],
    ("mia", "POST", "/programs/campaigns/change", {**NEW, "owner": f"store:{S2}",
                                                  "index": "abc"}, "index: must be a campaign"),
    ("mia", "POST", "/programs/campaigns/change", {**NEW, "owner": f"store:{S2}", "index": "5"},
     f"store {S2} has no campaign #5"),
    ("mia", "POST", "/programs/campaigns/change", {**NEW, "owner": f"store:{S2}", "index": "0",
                                                  "to": "2026-01-01"}, "before it starts"),
    ("mia", "POST", "/programs/campaigns/remove", {"version": "{version}", "owner": f"store:{S2}",
                                                  "index": "1"}, "has no campaign #1"),
    ("mia", "POST", "/programs/campaigns/remove", {"version": "{version}", "owner": "",
                                                  "index": "0"}, "owner: no store"),
    ("mia", "POST", "/programs/campaigns/remove", {"version": "", "owner": f"store:{S2}",
                                                  "index": "0"}, "has changed since"),
    ("mia", "GET", "/programs/campaign", {"owner": "coalition:nope", "index": "0"},
     "owner: no store or coalition"),
    ("mia", "GET", "/programs/campaign", {"owner": f"store:{S2}", "index": "3"},
     "has no campaign #3"),
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
        assert reply.status == 400 and "نام کاربری و گذرواژه را وارد کنید" in reply.text()
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


def test_the_campaign_the_bad_cases_spoil_is_itself_accepted(site: Site) -> None:
    """So each refusal above is for its one spoilt field (runs last: it changes the file)."""
    env, _, clients, ids = site
    reply = clients["mia"].post("/programs/campaigns/add",
                                **{k: v.format(**ids) for k, v in NEW.items()})
    assert reply.status == 200, reply.text()
    assert "Campaign Winter added" in reply.text()
    assert [k.name for k in load_config(env.config_path).coalitions["tehran-mall"].campaigns] == [
        "Winter"]
