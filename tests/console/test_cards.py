"""Card changes from the console: maker-checker, the switch's own paths, the journal it writes;
on both journal engines (tests/engines.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lps.console import cards
from lps.console.db import open_console as open_db
from lps.console.i18n import Translator
from lps.console.messages import Refusal
from lps.console.queries import EVERYTHING
from switch.core.calendar import business_day
from switch.i18n import format_number
from switch.journal import open_reader
from tests.console.support import (
    Client,
    Console,
    Env,
    add_staff,
    journal_rows,
    make_env,
    running_switch,
    snapshot,
    start_switch,
)
from tests.switch.support import T1, PatientClient, earn
from tests.waits import EVENT

S1, S2 = "STORE0000000001", "STORE0000000002"


@pytest.fixture
def conn(env: Env) -> Iterator[sqlite3.Connection]:
    """The console's database, with the real switch running (card changes go through it)."""
    with running_switch(env):
        c = open_db(env.config.switch.database)
        yield c
        c.close()


@pytest.fixture
def env(tmp_path: Path, journal_settings: dict[str, Any]) -> Env:
    """The seeded environment on each journal engine: card pages read the money journal."""
    return make_env(tmp_path, journal=journal_settings)


def _available(env: Env, conn: sqlite3.Connection, pan: str) -> int:
    return cards.lookup(env.config, pan, EVERYTHING, env.now).available


def _sound(env: Env) -> None:
    reader = open_reader(env.journal)
    try:
        assert reader.check(full=True).problems == []
    finally:
        reader.close()


def test_small_adjustment_applies_at_once_large_one_waits_for_a_checker(
        env: Env, conn: sqlite3.Connection) -> None:
    pan = env.cards[0]
    start = _available(env, conn, pan)
    small = cards.request_adjustment(conn, env.config, "sue", pan, 1000, S1, "goodwill", 1000,
                                     env.now)
    assert small.status == "applied" and _available(env, conn, pan) == start + 1000
    big = cards.request_adjustment(conn, env.config, "sue", pan, 1001, S2, "complaint", 1000,
                                   env.now)
    assert big.status == "pending" and _available(env, conn, pan) == start + 1000
    with pytest.raises(cards.CardError, match="another staff member"):
        cards.decide(conn, env.config, "sue", big.id, True, env.now)
    done = cards.decide(conn, env.config, "bob", big.id, True, env.now)
    assert (done.status, done.checker) == ("applied", "bob")
    assert _available(env, conn, pan) == start + 2001
    row = journal_rows(env, "SELECT kind, store_id, points, response_code, detail FROM "
                            "journal ORDER BY id DESC LIMIT 1")[0]
    assert row[:4] == ("card_admin", S2, 1001, "00")
    assert json.loads(row[4]) == {"action": "adjust", "reason": "complaint", "by": "bob"}
    lot = journal_rows(env, "SELECT store_id, initial, remaining FROM lots ORDER BY id DESC "
                            "LIMIT 1")[0]
    assert lot == (S2, 1001, 1001)  # the store that grants the points carries them
    _sound(env)


def test_a_debit_draws_lots_in_burn_order_and_a_rejection_changes_nothing(
        env: Env, conn: sqlite3.Connection) -> None:
    pan = env.cards[1]
    journal = journal_rows(env, "SELECT COUNT(*) FROM journal")[0][0]
    rejected = cards.request_adjustment(conn, env.config, "sue", pan, -600, S1, "fraud", 100,
                                        env.now)
    cards.decide(conn, env.config, "bob", rejected.id, False, env.now)
    assert cards.get_adjustment(conn, rejected.id).status == "rejected"
    assert journal_rows(env, "SELECT COUNT(*) FROM journal")[0][0] == journal
    query = "SELECT store_id, earned_on, remaining FROM lots WHERE pan = ? ORDER BY id"
    before = journal_rows(env, query, (pan,))
    cards.request_adjustment(conn, env.config, "sue", pan, -650, S1, "fraud", 1000, env.now)
    after = journal_rows(env, query, (pan,))
    sw = env.config.switch
    y, t = str(env.yesterday), str(business_day(env.now, sw.zone, sw.business_day_cutover))
    # Seeded: yesterday 500 at S1 (burnt) and 600 at S2, today 100 at S1. The soonest expiry
    # goes first: all of yesterday's S2 lot, then 50 of today's.
    assert before == [(S1, y, 0), (S2, y, 600), (S1, t, 100)]
    assert after == [(S1, y, 0), (S2, y, 0), (S1, t, 50)]
    assert _available(env, conn, pan) == 50
    _sound(env)


def test_an_approval_the_card_can_no_longer_bear_stays_pending_with_the_reason(
        env: Env, conn: sqlite3.Connection) -> None:
    pan = env.cards[2]
    have = _available(env, conn, pan)
    pending = cards.request_adjustment(conn, env.config, "sue", pan, -have, S1, "fraud", 10,
                                       env.now)
    cards.request_adjustment(conn, env.config, "bob", pan, -5, S1, "typo", 10, env.now)
    with pytest.raises(Refusal, match="points available"):
        cards.decide(conn, env.config, "bob", pending.id, True, env.now)
    again = cards.get_adjustment(conn, pending.id)
    assert again.status == "pending" and again.last_error is not None
    assert "points available" in str(again.last_error)
    assert _available(env, conn, pan) == have - 5
    # Stored as a message, so each reader reads the switch's refusal in their language.
    persian = again.last_error.render(Translator("fa", env.config.switch.zone))
    assert persian == (f"سوئیچ نپذیرفت: کارت {format_number(have - 5)} امتیاز قابل استفاده "
                       f"دارد، کمتر از {format_number(have)}")


def _earn_rc(env: Env, pan: str, stan: int) -> str:
    listen = env.config.switch.listen_ascii
    assert listen is not None
    host, port = listen.host, listen.port

    async def go() -> str:
        client = await PatientClient("ascii", host, int(port)).connect()
        try:
            reply = await client.send(earn(T1, stan, pan, 100_000, now=env.now))
            return reply.text(39)
        finally:
            await client.close()

    return asyncio.run(go())


def test_while_the_switch_runs_changes_go_through_its_admin_socket(env: Env) -> None:
    add_staff(env, "sue", "support")
    pan = env.cards[3]
    proc = start_switch(env)
    try:
        with Console(env) as console:
            client = Client(console.url)
            client.login("sue")
            ref = client.card_ref(pan)
            assert client.post("/cards/block", card=ref).status == 200
            assert _earn_rc(env, pan, 900001) == "62"  # the running switch's cache knows
            assert client.post("/cards/unblock", card=ref).status == 200
            assert _earn_rc(env, pan, 900002) == "00"
            # A small adjustment applies at once through the switch's admin socket; one beyond
            # the card's points is refused, said plainly, nothing applied.
            reply = client.post("/cards/adjust", card=ref, points="5", store=S1,
                                reason="goodwill")
            assert reply.status == 303
            assert reply.headers["Location"] == "/adjustments?done=1"
            reply = client.post("/cards/adjust", card=ref, points="-999", store=S1,
                                reason="too much")
            assert reply.status == 400
            assert "fewer than 999" in reply.text()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(EVENT)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    actions = [(json.loads(detail)["action"], points) for detail, points in journal_rows(
        env, "SELECT detail, points FROM journal WHERE pan = ? AND kind = 'card_admin' "
             "ORDER BY id", (pan,))]
    assert actions == [("block", 0), ("unblock", 0), ("adjust", 5)]
    _sound(env)


def test_persian_reason_and_digits_are_read_as_people_type_them(
        env: Env, conn: sqlite3.Connection) -> None:
    """docs/console.md: Persian text with ZWNJ is accepted and stored normalised; Persian and
    Arabic-Indic digits are read as ASCII on input, never kept as typed."""
    pan = env.cards[3]
    persian = pan.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert cards.check_pan(f"{persian[:4]} {persian[4:8]} {persian[8:]}") == pan
    assert cards.check_pan(pan.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))) == pan
    with pytest.raises(cards.CardError):
        cards.check_pan(pan[:-1] + "²")  # a superscript two is not a digit
    typed = "جبران خسارت مشتري زهرا حسین‌زاده"  # Arabic yeh in "مشتري", a ZWNJ in the name
    points, store, reason = cards.parse_adjustment(env.config, EVERYTHING, "۱٬۲۰۰", S1, typed)
    assert (points, store) == (1200, S1)
    assert reason == "جبران خسارت مشتری زهرا حسین\u200cزاده"  # Persian yeh, ZWNJ kept
    assert cards.parse_adjustment(env.config, EVERYTHING, "-۲۰۰", S1, " ok ")[::2] == (
        -200, "ok")
    for bad_reason in ("line one\nline two", "evil \u202e txt", "", "\x07bell"):
        with pytest.raises(Refusal, match="reason"):
            cards.parse_adjustment(env.config, EVERYTHING, "10", S1, bad_reason)
    for bad_points in ("١٠x", "²", "1e3", "0x10"):
        with pytest.raises(cards.CardError, match="whole number"):
            cards.parse_adjustment(env.config, EVERYTHING, bad_points, S1, "goodwill")
    start = _available(env, conn, pan)
    done = cards.request_adjustment(conn, env.config, "sue", pan, points, store, reason, 5000,
                                    env.now)
    assert done.reason == reason and _available(env, conn, pan) == start + 1200
    row = journal_rows(env, "SELECT detail FROM journal ORDER BY id DESC LIMIT 1")[0]
    assert json.loads(row[0])["reason"] == reason


def test_with_the_switch_stopped_a_card_change_is_refused_and_nothing_written(
        env: Env, console: Console) -> None:
    """The console never writes the money database itself (docs/console.md)."""
    add_staff(env, "sue", "support")
    client = Client(console.url)
    client.login("sue")
    ref = client.card_ref(env.cards[0])
    before = snapshot(env)
    for path, form in (("/cards/block", {}), ("/cards/adjust", {"points": "5", "store": S1,
                                                                "reason": "goodwill"})):
        reply = client.post(path, card=ref, **form)
        assert reply.status == 400 and "the switch is not running" in reply.text(), path
    assert snapshot(env) == before


def test_console_forms_take_persian_digits(env: Env, console: Console) -> None:
    add_staff(env, "sue", "support")
    client = Client(console.url)
    assert client.login("sue").status == 303
    pan = env.cards[4]
    reply = client.post("/cards", pan=pan.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    assert reply.status == 200 and f"{pan[:6]}******{pan[-4:]}" in reply.text()
    assert client.get("/adjustments", done="²").status == 200  # not a number: no notice, no 500
    assert client.post("/adjustments/approve", id="²").status == 400
