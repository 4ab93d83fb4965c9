"""Discounts at the till and paid memberships through `handle` on a real SQLite journal
(docs/protocol.md §4 "Discounts at the till" and "Paid memberships", docs/programs.md): the
discount in DE48 `CD` in the documented order, points converted and burned, a membership's tier
for its term, every hostile request declined with no effect, exactly once across
retransmissions, reversals, a late original and a restart."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from settlement.day import DayBook, stores_from_config
from settlement.journal import Journal, settle_journal
from switch.config import ConfigError, parse_config
from switch.core.facts import Checks
from switch.core.programs.club import Club
from switch.core.programs.rules import program_rules
from switch.core.till_discount import plan
from switch.core.till_terms import CoalitionDiscounts, StoreDiscounts
from tests.rewards.support import BOOKS, CAFE, signed_on, tag
from tests.switch.journaled import Journaled
from tests.switch.support import (
    EXAMPLE,
    NOW,
    T1,
    T2,
    T3,
    card,
    earn,
    example_config,
    request,
    reversal,
)


@pytest.fixture
def sw(tmp_path: Path) -> Iterator[Journaled]:
    cfg = example_config(tmp_path / "lps.db")
    j = signed_on(Journaled(tmp_path, cfg, program_rules(cfg)))
    yield j
    j.close()


def discount(tid: str, stan: int, pan: str, amount: int | None, now: dt.datetime = NOW, /,
             **tags: str) -> Message:
    return request("0200", tid, stan, pan=pan, pc="940000", amount=amount, tags=tags or None,
                   now=now)


def membership(tid: str, stan: int, pan: str, level: str, amount: int | None,
               now: dt.datetime = NOW) -> Message:
    return request("0200", tid, stan, pan=pan, pc="950000", amount=amount, tags={"ML": level},
                   now=now)


def club_of(sw: Journaled, pan: str) -> Club:
    club = sw.state.cards[pan].club
    assert club is not None
    return club


def journal_rows(sw: Journaled) -> int:
    return int(sw.sqlite.conn.execute("SELECT count(*) FROM journal").fetchone()[0])


# -- the order of the rewards, as a pure function -----------------------------------------------

def test_the_documented_order_buy_get_then_one_percent_then_points() -> None:
    cfg = example_config()
    co = dataclasses.replace(cfg.coalitions["tehran-mall"], discounts=CoalitionDiscounts(
        tier_perks={"GOLD": 10}, points_step=100, percent_step=10, max_points_percent=50))
    store = dataclasses.replace(cfg.stores[CAFE], discounts=StoreDiscounts(
        tier_perk=True, min_spend_amount=1_000_000, min_spend_percent=20, buy=2, get=1))
    # 3 items of 100,000: one free; then 20 % (min spend beats GOLD's 10 %) of 900,000; then
    # 200 points = 20 % of what is left (720,000).
    p = plan(store, co, "GOLD", 1_000_000, {"BQ": "3", "BP": "100000", "DP": "200"}, 500)
    assert p.refusal is None
    assert p.parts == (("BG", 100_000), ("MN", 180_000), ("PT", 144_000))
    assert p.total == 424_000 and p.points == 200
    assert p.tags() == {"CD": "424000", "DB": "BG=100000,MN=180000,PT=144000", "RD": "200"}
    # Under the minimum spend the tier perk is the one percent.
    small = plan(store, co, "GOLD", 500_000, {}, 0)
    assert small.parts == (("TP", 50_000),)
    # Points are not burned for a discount that rounds down to nothing.
    tiny = plan(store, co, "", 5, {"DP": "100"}, 500)
    assert tiny.refusal == "13" and tiny.reason.startswith("nothing is left")
    whole = plan(dataclasses.replace(store, discounts=StoreDiscounts(buy=1, get=1)), co, "", 200,
                 {"BQ": "2", "BP": "100"}, 0)
    assert whole.total == 100
    # Never more than the purchase, the percent on what the free items left only.
    most = plan(dataclasses.replace(store, discounts=StoreDiscounts(
        tier_perk=True, buy=1, get=100)), co, "GOLD", 10_100, {"BQ": "101", "BP": "100"}, 0)
    assert most.parts == (("BG", 10_000), ("TP", 10)) and most.total <= 10_100


# -- discounts at the till -----------------------------------------------------------------------


def test_a_tier_perk_is_given_at_a_store_that_opts_in_only(sw: Journaled) -> None:
    pan = card(1)
    assert sw.rc(membership(T1, 1, pan, "gold", 10_000_000)) == "00"
    d = sw.send(discount(T1, 2, pan, 1_000_000))
    assert d.response is not None and d.response.text(39) == "00"
    assert tag(d.response, "CD") == "100000" and tag(d.response, "DB") == "TP=100000"
    assert tag(d.response, "TR") == "GOLD"
    # Store 3 has no [discounts]: nothing applies, declined 13 with no effect.
    assert sw.rc(discount(T3, 3, pan, 1_000_000)) == "13"
    # A BLUE card has no perk at the cafe.
    assert sw.rc(discount(T1, 4, card(2), 1_000_000)) == "13"


def test_points_converted_are_burned_and_a_reversal_gives_them_back(sw: Journaled) -> None:
    pan = card(3)
    assert sw.rc(earn(T2, 1, pan, 2_000_000)) == "00"  # 400 points at Book City
    before = sw.points(pan)
    assert before == 400
    msg = discount(T1, 2, pan, 1_000_000, DP="300")
    d = sw.send(msg)
    assert d.response is not None and d.response.text(39) == "00", d.reason
    assert tag(d.response, "CD") == "300000" and tag(d.response, "RD") == "300"
    assert sw.points(pan) == 100
    again = sw.send(msg)
    assert again.response is not None and again.response.fields == d.response.fields
    assert sw.points(pan) == 100
    # The burned points are Book City's lot's: a move of the discount's row.
    moved = sw.sqlite.conn.execute(
        "SELECT m.store_id, sum(m.delta) FROM lot_moves m JOIN journal j ON j.id = m.journal_id "
        "WHERE j.kind = 'discount' GROUP BY m.store_id").fetchall()
    assert moved == [(BOOKS, -300)]
    assert sw.rc(reversal(msg, 3)) == "00"
    assert sw.points(pan) == 400
    assert sw.rc(reversal(msg, 4)) == "00" and sw.points(pan) == 400  # a repeat: no effect


def test_hostile_discounts_are_declined_with_no_effect(sw: Journaled) -> None:
    pan = card(4)
    assert sw.rc(earn(T2, 1, pan, 1_000_000)) == "00"  # 200 points
    rows = journal_rows(sw)
    cases = [
        (discount(T1, 10, pan, 1_000_000, DP="150"), "13"),   # not a multiple of 100
        (discount(T1, 11, pan, 1_000_000, DP="600"), "13"),   # over 50 %
        (discount(T1, 12, pan, 1_000_000, DP="300"), "51"),   # more than held
        (discount(T1, 13, pan, 0, DP="100"), "13"),           # no purchase
        (discount(T1, 14, pan, 100_000, BQ="3", BP="100000"), "13"),  # items over DE4
        (discount(T2, 15, pan, 1_000_000, BQ="3", BP="1000"), "12"),  # no offer there
    ]
    for msg, rc in cases:
        d = sw.send(msg)
        assert d.response is not None and d.response.text(39) == rc, (msg.fields[48], d.reason)
    assert sw.points(pan) == 200
    assert journal_rows(sw) == rows + len(cases)
    # Malformed DE48: 30, not remembered, no journal effect on the card.
    for bad in ({"DP": "۱۰۰"}, {"DP": "-100"}, {"BQ": "3"}, {"BP": "1" * 13, "BQ": "1"},
                {"SU": "one"}):
        assert sw.rc(discount(T1, 20, pan, 1_000_000, **bad)) == "30"
    assert sw.points(pan) == 200


def test_a_stamp_reward_is_taken_off_a_purchase_once(sw: Journaled) -> None:
    pan = card(15)
    for stan in range(1, 11):  # the cafe's tenth visit completes a reward
        assert sw.rc(earn(T1, stan, pan, 40_000)) == "00"
    assert club_of(sw, pan).rewards[CAFE] == 1
    msg = discount(T1, 20, pan, 200_000, SU="1", BQ="2", BP="50000")
    d = sw.send(msg)
    assert d.response is not None and d.response.text(39) == "00", d.reason
    # The coffee first (60,000), then of the two offer items neither is free (buy 2 get 1).
    assert tag(d.response, "DB") == "ST=60000" and tag(d.response, "SR") == "0"
    assert sw.rc(discount(T1, 21, pan, 200_000, SU="1")) == "51"
    assert sw.rc(discount(T2, 22, pan, 200_000, SU="1")) == "12"  # Book City: no stamps
    assert sw.rc(reversal(msg, 23)) == "00"
    assert club_of(sw, pan).rewards[CAFE] == 1
    sw.restart()
    assert club_of(sw, pan).rewards[CAFE] == 1


def test_a_late_discount_after_its_reversal_is_declined(sw: Journaled) -> None:
    pan = card(5)
    assert sw.rc(earn(T2, 1, pan, 1_000_000)) == "00"
    msg = discount(T1, 2, pan, 1_000_000, DP="100")
    assert sw.rc(reversal(msg, 3)) == "25"
    assert sw.rc(msg) == "05"
    assert sw.points(pan) == 200


# -- paid memberships ----------------------------------------------------------------------------


def test_a_membership_holds_its_tier_for_its_term_then_lapses(sw: Journaled) -> None:
    pan = card(6)
    d = sw.send(membership(T1, 1, pan, " Gold-Quarter ", 3_000_000))
    assert d.response is not None and d.response.text(39) == "00", d.reason
    assert tag(d.response, "TR") == "GOLD" and tag(d.response, "MU") == "20270222"
    assert tag(d.response, "ML") == "gold-quarter"
    later = NOW + dt.timedelta(days=60)
    info = sw.send(request("0200", T1, 2, pan=pan, pc="310000", now=later), later)
    assert tag(info.response, "TR") == "GOLD"
    # Renewed before it lapses: from its last day on.
    renew = sw.send(membership(T1, 3, pan, "gold-quarter", 3_000_000, now=later), later)
    assert tag(renew.response, "MU") == "20270522"
    lapsed = NOW + dt.timedelta(days=200)
    after = sw.send(request("0200", T1, 4, pan=pan, pc="310000", now=lapsed), lapsed)
    assert tag(after.response, "TR") == "BLUE"


def test_hostile_memberships_are_declined_with_no_effect(sw: Journaled) -> None:
    pan = card(7)
    assert sw.rc(membership(T1, 1, pan, "platinum", 10_000_000)) == "12"
    assert sw.rc(membership(T1, 2, pan, "gold", 9_999_999)) == "13"
    assert sw.rc(membership(T1, 3, pan, "gold", 10_000_001)) == "13"
    assert sw.rc(membership(T1, 4, pan, "gold;drop", 10_000_000)) == "30"
    assert sw.rc(membership(T1, 5, pan, "", 10_000_000)) == "30"
    # Only ASCII spaces around it and ASCII letters in any case (docs/programs.md "Paid
    # memberships"): no other space, and no letter that lower-cases into ASCII (KELVIN SIGN).
    assert sw.rc(membership(T1, 10, pan, "\u00a0gold\u00a0", 10_000_000)) == "30"
    assert sw.rc(membership(T1, 11, pan, "\u3000gold", 10_000_000)) == "30"
    assert sw.rc(membership(T1, 12, pan, "\u212a", 10_000_000)) == "30"
    assert sw.state.cards[pan].club is None  # enrolled by the first, nothing more
    assert sw.rc(membership(T1, 6, pan, "gold", 10_000_000)) == "00"
    # A lower level while a higher one runs would take it away.
    assert sw.rc(membership(T1, 7, pan, "silver", 4_000_000)) == "12"
    assert club_of(sw, pan).member_tier == "GOLD"
    # A gift card buys no membership.
    from tests.rewards.support import gift_card

    g = gift_card(1)
    assert sw.rc(request("0200", T1, 8, pan=g, pc="210060", amount=100_000)) == "00"
    assert sw.rc(membership(T1, 9, g, "gold", 10_000_000)) == "57"


def test_a_membership_reversed_gives_the_tier_back_and_survives_a_restart(
        sw: Journaled) -> None:
    pan, other = card(8), card(9)
    assert sw.rc(earn(T1, 1, pan, 10_000)) == "00"
    msg = membership(T1, 2, pan, "silver", 4_000_000)
    d = sw.send(msg)
    assert d.response is not None and d.response.text(39) == "00"
    assert sw.send(msg).response.fields == d.response.fields  # type: ignore[union-attr]
    assert sw.rc(reversal(msg, 3)) == "00"
    club = club_of(sw, pan)
    assert (club.member_tier, club.member_until, club.tier) == ("", None, "BLUE")
    assert sw.rc(membership(T1, 4, other, "gold", 10_000_000)) == "00"
    sw.restart()
    kept = club_of(sw, other)
    assert (kept.member_tier, kept.member_until) == ("GOLD", dt.date(2027, 11, 22))
    assert club_of(sw, pan).member_tier == ""
    then = NOW + dt.timedelta(days=100)
    info = sw.send(request("0200", T1, 5, pan=other, pc="310000", now=then), then)
    assert tag(info.response, "TR") == "GOLD"


def test_the_nightly_tier_step_keeps_a_membership_and_lists_its_lapse(sw: Journaled) -> None:
    pan = card(10)
    d = sw.send(membership(T1, 1, pan, "gold-quarter", 3_000_000))
    assert tag(d.response, "MU") == "20270222"

    def downgrades(day: dt.date) -> list[tuple[str, str, str]]:
        with Journal(sw.cfg.switch.database) as j:
            settled = settle_journal(j, DayBook(day, stores_from_config(sw.cfg)), workers=1,
                                     coalitions=sw.cfg.coalitions)
        return [(x.pan, x.before, x.after) for x in settled.downgrades]

    assert downgrades(NOW.date()) == []                      # bought today: GOLD held
    assert downgrades(dt.date(2027, 2, 21)) == []            # its last day is tomorrow
    assert downgrades(dt.date(2027, 2, 22)) == [(pan, "GOLD", "BLUE")]  # the night it lapses


def test_the_example_of_docs_programs_md_as_examples_lps_toml_configures_it() -> None:
    cfg = example_config()
    p = plan(cfg.stores[CAFE], cfg.coalitions["tehran-mall"], "GOLD", 1_000_000,
             {"BQ": "3", "BP": "100000", "DP": "200"}, 1_000)
    assert p.tags() == {"CD": "352000", "DB": "BG=100000,TP=90000,PT=162000", "RD": "200"}
    books = plan(cfg.stores[BOOKS], cfg.coalitions["tehran-mall"], "GOLD", 5_000_000, {}, 0)
    assert books.parts == (("MN", 1_000_000),)  # 20 % beats GOLD's 10 %: never both


def test_a_sale_reversed_after_a_renewal_takes_back_the_term_it_added(sw: Journaled) -> None:
    pan = card(14)
    first = membership(T1, 1, pan, "gold-quarter", 3_000_000)
    assert tag(sw.send(first).response, "MU") == "20270222"
    renew = sw.send(membership(T1, 2, pan, "gold-quarter", 3_000_000))
    assert tag(renew.response, "MU") == "20270522"
    assert sw.rc(reversal(first, 3)) == "00"
    club = club_of(sw, pan)
    # What the renewal paid for (23 Feb - 22 May: 89 days) is kept, from the first sale's day.
    assert (club.member_tier, club.member_until) == ("GOLD", dt.date(2027, 2, 19))
    assert club.member_until is not None
    assert (club.member_until - NOW.date()).days + 1 == 89
    sw.restart()
    assert club_of(sw, pan).member_until == dt.date(2027, 2, 19)


def _example() -> dict[str, Any]:
    with open(EXAMPLE, "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize(("where", "key", "value", "match"), [
    ("discounts", "tier_perks", {"PLATINUM": 5}, "names no tier"),
    ("discounts", "tier_perks", {"GOLD": 101}, "percent 0-100"),
    ("discounts", "percent_step", 0, "go together"),
    ("discounts", "max_points_percent", 150, "percent 0-100"),
    ("memberships", "Gold", {"tier": "GOLD", "price": 1, "months": 1}, "lower-case"),
    ("memberships", "gold", {"tier": "gold", "price": 1, "months": 1}, "names no tier"),
    ("memberships", "gold", {"tier": "GOLD", "price": 0, "months": 1}, "at least 1"),
    ("memberships", "gold", {"tier": "GOLD", "price": 1, "months": 121}, "at most 120"),
    ("memberships", "gold", {"tier": "GOLD", "price": 1, "months": 1, "cost": 2},
     "unknown key"),
])
def test_bad_till_reward_keys_are_refused_naming_the_key(where: str, key: str, value: object,
                                                         match: str) -> None:
    doc = _example()
    doc["coalition"]["tehran-mall"][where][key] = value
    with pytest.raises(ConfigError, match=match) as err:
        parse_config(doc)
    assert f"coalition.tehran-mall.{where}" in str(err.value)


def test_a_store_offer_comes_in_pairs_and_memberships_need_an_operator() -> None:
    doc = _example()
    doc["store"][CAFE]["discounts"]["get"] = 0
    with pytest.raises(ConfigError, match="buy and get go together"):
        parse_config(doc)
    doc = _example()
    del doc["coalition"]["tehran-mall"]["operator"], doc["coalition"]["tehran-mall"]["fee"]
    with pytest.raises(ConfigError, match="memberships: needs an \\[operator\\]"):
        parse_config(doc)


def test_points_converted_need_the_pin_of_a_card_that_has_one_other_discounts_do_not(
        sw: Journaled) -> None:
    pan = card(16)
    assert sw.rc(earn(T2, 1, pan, 2_000_000)) == "00"
    sw.state.cards[pan].pin_ref = "0" * 16
    block = {52: b"\x00" * 8}

    def converted(stan: int, extra: dict[int, Any] | None = None) -> Message:
        return request("0200", T1, stan, pan=pan, pc="940000", amount=1_000_000,
                       tags={"DP": "100"}, extra=extra)

    assert sw.rc(converted(2)) == "55"                                    # no DE52
    wrong = sw.send(converted(3, block), checks=Checks(pin_ok=False)).response
    assert wrong is not None and wrong.text(39) == "55"
    assert sw.state.cards[pan].pin_tries == 1 and sw.points(pan) == 400
    right = sw.send(converted(4, block), checks=Checks(pin_ok=True)).response
    assert right is not None and right.text(39) == "00"
    assert sw.points(pan) == 300 and sw.state.cards[pan].pin_tries == 0
    # Book City's own 20 % above 5,000,000 burns nothing: no PIN asked.
    assert sw.rc(discount(T2, 5, pan, 5_000_000)) == "00"
