"""What the read-only pages show: the dashboard's figures, programs, settlement files, audit;
on both journal engines (tests/engines.py)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from lps.console import audit
from lps.console.db import open_console as open_db
from switch.core.authorizer import handle
from switch.core.programs.rules import program_rules
from switch.journal import open_journal
from tests.console.support import PASSWORD, Client, Console, Env, add_staff, make_env
from tests.switch.support import T2, burn, card
from tests.waits import EVENT


@pytest.fixture
def env(tmp_path: Path, journal_settings: dict[str, Any]) -> Env:
    """The seeded environment on each journal engine: the pages read the money journal."""
    return make_env(tmp_path, journal=journal_settings)


def _cells(body: str, table_after: str) -> list[list[str]]:
    part = body.split(table_after, 1)[1].split("</table>", 1)[0]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", part)[1:]]


def test_dashboard_counts_today_by_store_and_response_code(env: Env) -> None:
    store = open_journal(env.journal)
    try:
        state = store.load(env.config, program_rules(env.config), env.now)
        for stan, msg in enumerate((burn(T2, 0, env.cards[0], 999_000_000, now=env.now),
                                    burn(T2, 0, card(1, bin_="411111"), 1000, now=env.now)), 7000):
            msg.fields[11] = f"{stan:06d}"
            store.append(handle(state, msg, env.now, fetch=store.fetch).entries)
    finally:
        store.close()
    add_staff(env, "mia", "marketing")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mia")
        page = client.get("/")
    assert page.status == 200
    assert _cells(page.body, "Approvals and declines by store") == [
        ["STORE0000000001", "Cafe Naderi", "8", "0"],
        ["STORE0000000002", "Book City", "0", "2"]]
    assert _cells(page.body, "By response code") == [["00", "8"], ["14", "1"], ["51", "1"]]
    text = page.text()
    assert "Points issued 800" in " ".join(text.split())
    assert "Points redeemed 0" in " ".join(text.split())


def test_programs_page_shows_the_configuration(env: Env, console: Console) -> None:
    add_staff(env, "mia", "marketing")
    client = Client(console.url)
    client.login("mia")
    text = " ".join(client.get("/programs").text().split())
    assert "A change takes effect when the switch restarts" in text  # marketing edits campaigns
    for expected in ("Tehran Mall Club", "GOLD", "1.5", "Yalda night", "1405/09/29",
                     "1405/10/01", "free coffee", "2 per 10,000 rials from 100,000 rials",
                     "+15% top-up bonus"):
        assert expected in text, expected


def test_settlement_files_download_and_are_audited(env: Env, console: Console) -> None:
    add_staff(env, "sam", "settlement")
    client = Client(console.url)
    client.login("sam")
    assert client.post("/settlement/run", date=str(env.yesterday)).status == 200
    listing = client.get("/settlement")
    assert f"/settlement/day?date={env.yesterday}" in listing.body
    reply = client.get("/settlement/file", date=str(env.yesterday), name="positions.csv")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    assert reply.body.startswith("store_id,store_name,points_payable")
    again = client.post("/settlement/run", date=str(env.yesterday))  # identical re-run
    assert again.status == 200 and "identical" in again.text()
    conn = open_db(env.config.switch.database)
    try:
        actions = [(r.action, r.target) for r in audit.rows(conn)][:5]
    finally:
        conn.close()
    day = env.yesterday
    # Each run: the settlement command's own row (its seal), then the console's (who asked).
    assert actions == [("settlement.run", f"settlement:{day}"),
                       ("settle.run", f"settlement:{day}"),
                       ("settlement.download", f"settlement:{day}/positions.csv"),
                       ("settlement.run", f"settlement:{day}"),
                       ("settle.run", f"settlement:{day}")]


def test_pages_send_no_script_and_a_strict_policy(env: Env, console: Console) -> None:
    add_staff(env, "ann", "admin")
    client = Client(console.url)
    client.login("ann")
    for path in ("/", "/cards", "/adjustments", "/programs", "/settlement", "/audit", "/staff",
                 "/programs/campaign?owner=store:STORE0000000002&index=0"):
        reply = client.get(path)
        assert reply.status == 200, path
        assert "<script" not in reply.body.lower()
        assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
        assert reply.headers["Cache-Control"] == "no-store"


def test_a_sealed_day_whose_inputs_changed_is_settled_again_only_when_reopened(
        env: Env, console: Console) -> None:
    add_staff(env, "sam", "settlement")
    client = Client(console.url)
    client.login("sam")
    day = str(env.yesterday)
    assert client.post("/settlement/run", date=day).status == 200
    # A late change to that day (an adjustment journaled on it) changes its inputs.
    _late_entry(env, env.now - dt.timedelta(days=1))
    refused = client.post("/settlement/run", date=day)
    assert refused.status == 400 and "failed (exit 4)" in refused.text()
    assert "--reopen" in refused.text()
    reopened = client.post("/settlement/run", date=day, reopen="1")
    assert reopened.status == 200 and "REOPENED" in reopened.text()
    listing = client.get("/settlement").body
    assert re.search(rf"date={day}\">[^<]*</a></td><td>[^<]*</td><td class=\"n\">2</td>"
                     r"<td class=\"n\">1</td>", listing)
    conn = open_db(env.config.switch.database)
    try:
        actions = [r.action for r in audit.rows(conn)][:4]
    finally:
        conn.close()
    # The refused run has no settle.* row of its own: the command changed nothing.
    assert actions == ["settlement.reopen", "settle.reopen", "settlement.run", "settlement.run"]


def _late_entry(env: Env, at: dt.datetime) -> None:
    """A late change to a settled day, as the switch journals an adjustment on it (the
    switch stopped: this is the switch's own store writing, not the console)."""
    from switch.core.admin import adjust_command

    store = open_journal(env.journal)
    try:
        state = store.load(env.config, program_rules(env.config), at)
        store.append([adjust_command(state, env.cards[0], 25, "STORE0000000003", "late",
                                     "test", at)])
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # no journal read
def test_cookies_can_be_marked_secure_and_oversized_bodies_are_refused(env: Env) -> None:
    import http.client

    add_staff(env, "ann", "admin")
    with Console(env, secure_cookies=True) as console:
        client = Client(console.url)
        page = client.get("/login")
        assert "Secure" in page.headers["Set-Cookie"]
        # Over plain HTTP a client does not send a Secure cookie back: the login form's check
        # fails, as it must (the console then belongs behind TLS).
        assert client.post("/login", username="ann", password=PASSWORD).status == 403
        host, port = "127.0.0.1", console.port
        # Too large: 413 from the console; not a length at all: 400 from uvicorn's parser.
        for length, status in (("99999999", 413), ("65537", 413), ("-1", 400), ("abc", 400)):
            conn = http.client.HTTPConnection(str(host), int(port), timeout=EVENT)
            try:
                conn.putrequest("POST", "/login")
                conn.putheader("Content-Length", length)
                conn.endheaders()
                assert conn.getresponse().status == status, length
            finally:
                conn.close()
