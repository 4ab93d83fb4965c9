"""An earn (`000000`, docs/protocol.md §4): what a decline keeps, the lot it makes, and what
the rule book is told (an advice's purchase time, the customer's segment, the birthday years
of the customer's other cards).

Each expected value is worked from docs/, never from the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.core import MoneyLimits
from tests.customers.support import (
    customer_with_cards,
    lps,
    mobile_config,
    run_through_switch,
    three_customers,
)
from tests.money.support import Shell, rc, scratch_dir, tags, tehran
from tests.money.test_advice_time import HAPPY_2026, advice_points
from tests.switch.support import NOW, T1, T2, card, earn, reversal


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def test_a_first_use_earn_of_nothing_is_13_and_keeps_the_enrolment(db: Path) -> None:
    """docs/switch.md "Decisions": an earn of DE4 = 0 is `13`; a first-use card is enrolled
    whatever the answer (Card), in memory as in the journal (the restart compares them)."""
    sh = Shell(db)
    newcomer = card(731)
    assert rc(sh.send(earn(T1, sh.next_stan(), newcomer, 0))) == "13"
    assert sh.sql("SELECT pan, coalition_id, status FROM cards") == [
        (newcomer, "tehran-mall", "active")]
    assert sh.sql("SELECT COUNT(*) FROM lots") == [(0,)]
    sh.restart(NOW)
    assert sh.sql("SELECT pan FROM cards") == [(newcomer,)]
    sh.close()


def test_a_first_use_earn_past_the_batchs_amount_is_61_and_keeps_the_enrolment(db: Path) -> None:
    """docs/protocol.md §10: an earn that would take its batch past the batch's amount is `61`
    and credits nothing; the card it used first is enrolled all the same (docs/switch.md,
    Card), in memory as in the journal."""
    sh = Shell(db, limits=MoneyLimits(max_batch_amount=150_000))
    assert rc(sh.send(earn(T1, sh.next_stan(), card(734), 100_000))) == "00"
    newcomer = card(735)
    assert rc(sh.send(earn(T1, sh.next_stan(), newcomer, 60_000))) == "61"
    assert sh.sql("SELECT status FROM cards WHERE pan = ?", (newcomer,)) == [("active",)]
    assert sh.sql("SELECT COUNT(*) FROM lots WHERE pan = ?", (newcomer,)) == [(0,)]
    sh.restart(NOW)
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (newcomer,)) == [(newcomer,)]
    sh.close()


def test_an_earns_lot_is_of_the_stores_coalition(db: Path) -> None:
    """docs/switch.md "The journal": a lot's `store_id` is the issuing store and its
    `coalition_id` that store's coalition (the example's one coalition, `tehran-mall`)."""
    sh = Shell(db)
    pan = card(732)
    assert rc(sh.send(earn(T2, sh.next_stan(), pan, 1_000_000))) == "00"
    assert sh.sql("SELECT store_id, coalition_id, kind FROM lots WHERE pan = ?", (pan,)) == [
        ("STORE0000000002", "tehran-mall", "points")]
    sh.restart(NOW)
    sh.close()


# -- an advice's purchase time (docs/programs.md "Campaign windows") ---------------------------

#: Leap day 2028 only, all day.
LEAP_DAY_2028 = {"name": "leap day", "from": "2028-02-29", "to": "2028-02-29",
                 "multiplier": 2.0}


def test_an_advice_bought_at_this_very_second_is_of_this_year(db: Path) -> None:
    """docs/programs.md "Campaign windows": DE13 + DE12 are the local time *no later than* now:
    the purchase time equal to now, to the second, is this year's (inside the 2026 happy hour),
    not a year back."""
    now = tehran(2026, 12, 17, 17, 30, 0)
    assert advice_points(db, HAPPY_2026, now, {13: "1217", 12: "173000"}) == 400


def test_an_advice_of_29_february_forwarded_the_next_year_is_of_the_leap_year(db: Path) -> None:
    """docs/programs.md "Campaign windows": the year is the one that puts the purchase at most a
    year back; 29 February is no date of 2029, so a 0229 advice forwarded in January 2029 was
    bought on 29 February 2028, inside that day's campaign."""
    now = tehran(2029, 1, 10, 12, 0)
    assert advice_points(db, LEAP_DAY_2028, now, {13: "0229", 12: "120000"}) == 400


# -- what the customer's account tells the rule book (in-process, the switch's own path) ------

TODAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
FOR_NEW = ('campaigns = [{ name = "welcome x2", from = "2026-01-01", to = "2027-12-31", '
           'multiplier = 2.0, bonus = 7, segment = "new" }]\n')


def test_a_segments_campaign_reaches_its_segments_card(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/programs.md "Campaigns for a segment": after the nightly job put the newcomer in
    segment `new`, its earn gets the campaign (twice the base plus 7); the old-timer's does
    not."""
    path, _port = mobile_config(tmp_path)
    head = "[coalition.tehran-mall]\n"
    path.write_text(path.read_text().replace(head, head + FOR_NEW, 1))
    cfg = str(path)
    newcomer, old_timer, _stranger = three_customers(capsys, cfg, 741, "0935200000", TODAY)
    assert lps(capsys, "customers", "segments", "--day", "2026-11-23", "-c", cfg)[0] == 0
    replies = run_through_switch(path, [earn(T1, 1, old_timer, 1_000_000, now=TODAY),
                                        earn(T1, 2, newcomer, 1_000_000, now=TODAY)], TODAY)
    assert [rc(r) for r in replies] == ["00", "00"]
    base, welcomed = (int(tags(r)["EP"]) for r in replies)
    assert base > 0
    assert welcomed == 2 * base + 7


def test_the_birthday_bonus_is_once_per_customer_across_cards(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/programs.md "Birthday bonus": a customer born on 22 November with two cards gets
    the bonus (50 at STORE0000000001) on the first earn in the window, on either card, and not
    again on the other; once that earn is reversed, the other card gets it."""
    path, _port = mobile_config(tmp_path)
    cfg = str(path)
    first, second = card(751), card(752)
    customer_with_cards(capsys, cfg, (first, second), "09352229900", "سارا\u200cبانو",
                        "1991-11-22")
    bought = earn(T1, 1, first, 100_000, now=TODAY)
    replies = run_through_switch(path, [
        bought,
        earn(T1, 2, second, 100_000, now=TODAY),
        reversal(bought, 3, now=TODAY),
        earn(T1, 4, second, 100_000, now=TODAY),
    ], TODAY)
    assert [rc(r) for r in replies] == ["00"] * 4
    given, refused, _undone, regiven = (int(tags(r).get("EP", "0")) for r in
                                        (replies[0], replies[1], replies[2], replies[3]))
    assert given == refused + 50
    assert regiven == given
