"""Table-driven tests of each program rule and of their order of combination, through `handle`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from switch.config import ConfigError
from switch.core.programs.club import Profile
from switch.core.programs.receipt import MAX_BYTES
from switch.core.programs.rules import active, birthday_occurrence
from tests.programs.support import (
    C1,
    C2,
    C3,
    NOW,
    T1,
    T2,
    T3,
    Harness,
    card,
    config_with,
    points_balance,
    tags,
)
from tests.switch.support import earn, request, reversal

TEHRAN = dt.timezone(dt.timedelta(hours=3, minutes=30))


def at(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> dt.datetime:
    """A Tehran local time as UTC (the example's time zone)."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=TEHRAN).astimezone(dt.UTC)


def store(data: dict[str, Any], sid: str) -> dict[str, Any]:
    s: dict[str, Any] = data["store"][sid]
    return s


# -- the formula, rule by rule ---------------------------------------------------------------

@pytest.mark.parametrize(("tid", "amount", "points"), [
    (T1, 200_000, 20),          # 1 per 10,000
    (T1, 19_999, 1),            # rounding down
    (T1, 9_999, 0),
    (T2, 100_000, 20),          # 2 per 10,000 at the minimum amount
    (T2, 99_999, 0),            # below min_amount: nothing
    (T3, 59_999, 2),            # 1 per 20,000
])
def test_base_earn(tid: str, amount: int, points: int) -> None:
    h = Harness()
    r = h.earn(tid, card(1), amount)
    assert r.fields[39] == "00"
    assert tags(r)["EP"] == str(points)
    assert points_balance(r) == points


@pytest.mark.parametrize(("spend_before", "amount", "tier", "points"), [
    (0, 1_000_000, "BLUE", 100),
    (49_000_000, 999_999, "BLUE", 99),            # 49,999,999: not yet
    (49_000_000, 1_000_000, "SILVER", 125),       # the crossing earn earns at the new tier
    (49_000_000, 1_040_000, "SILVER", 130),       # 104 * 1.25
    (49_000_000, 1_010_000, "SILVER", 126),       # 101 * 1.25 = 126.25 -> 126
    (199_000_000, 1_000_000, "GOLD", 150),
])
def test_tier_upgrade_on_the_crossing_earn(spend_before: int, amount: int, tier: str,
                                           points: int) -> None:
    h = Harness()
    pan = card(2)
    if spend_before:
        h.earn(T1, pan, spend_before, now=NOW - dt.timedelta(days=30))
    r = h.earn(T1, pan, amount)
    assert tags(r)["TR"] == tier
    assert tags(r)["EP"] == str(points)


def test_tier_downgrade_only_at_night() -> None:
    h = Harness()
    pan = card(3)
    old = at(2025, 11, 20)
    h.earn(T1, pan, 60_000_000, now=old)              # SILVER from then on
    assert tags(h.earn(T1, pan, 10_000, now=at(2026, 11, 19)))["TR"] == "SILVER"
    # 2026-11-21: the 2025-11-20 spend left the 12-month window at the night before.
    r = h.earn(T1, pan, 10_000, now=at(2026, 11, 21))
    assert tags(r)["TR"] == "BLUE"
    assert tags(r)["EP"] == "1"


def test_return_lowers_spend_but_tier_waits_for_the_night() -> None:
    h = Harness()
    pan = card(4)
    r = h.earn(T1, pan, 60_000_000, now=at(2026, 11, 1))
    assert tags(r)["TR"] == "SILVER"
    rrn = r.text(37)
    back = h.pc(T1, pan, "200000", 30_000_000, now=at(2026, 11, 1, 13), tags={"OR": rrn})
    assert back.fields[39] == "00" and tags(back)["RD"] == "3750"  # 7500 * 1/2
    assert tags(back)["TR"] == "SILVER"                # same day: no downgrade
    assert tags(h.earn(T1, pan, 10_000, now=at(2026, 11, 2)))["TR"] == "BLUE"


CAMPAIGNS = [
    # (campaigns, when, points) for 1,000,000 IRR at Book City (base 200)
    ([], at(2026, 12, 21), 200),
    ([{"name": "x3", "from": "2026-12-20", "to": "2026-12-22", "multiplier": 3.0}],
     at(2026, 12, 21), 600),
    ([{"name": "x3", "from": "2026-12-20", "to": "2026-12-22", "multiplier": 3.0}],
     at(2026, 12, 23), 200),
    ([{"name": "x3", "from": "2026-12-20", "to": "2026-12-22", "multiplier": 3.0},
      {"name": "x2", "from": "2026-12-01", "to": "2026-12-31", "multiplier": 2.0}],
     at(2026, 12, 21), 600),                          # the best multiplier, not 3 x 2
    ([{"name": "b", "from": "2026-12-01", "to": "2026-12-31", "bonus": 30},
      {"name": "c", "from": "2026-12-01", "to": "2026-12-31", "bonus": 20, "multiplier": 1.5}],
     at(2026, 12, 21), 350),                          # 200 * 1.5 + 30 + 20
    ([{"name": "fri", "from": "2026-01-01", "to": "2026-12-31", "weekdays": [4],
       "multiplier": 2.0}], at(2026, 12, 18), 400),    # a Friday
    ([{"name": "fri", "from": "2026-01-01", "to": "2026-12-31", "weekdays": [4],
       "multiplier": 2.0}], at(2026, 12, 17), 200),
    ([{"name": "happy", "from": "2026-01-01", "to": "2026-12-31", "hours": [16, 18],
       "multiplier": 2.0}], at(2026, 12, 17, 17, 59), 400),
    ([{"name": "happy", "from": "2026-01-01", "to": "2026-12-31", "hours": [16, 18],
       "multiplier": 2.0}], at(2026, 12, 17, 18, 0), 200),
]


@pytest.mark.parametrize(("campaigns", "when", "points"), CAMPAIGNS)
def test_store_campaigns(campaigns: list[dict[str, Any]], when: dt.datetime,
                         points: int) -> None:
    cfg = config_with(lambda d: store(d, C2).__setitem__("campaigns", campaigns))
    h = Harness(cfg, now=when)
    assert tags(h.earn(T2, card(5), 1_000_000, now=when))["EP"] == str(points)


def test_coalition_campaign_applies_at_every_store_store_campaign_only_at_its_own() -> None:
    def change(d: dict[str, Any]) -> None:
        d["coalition"]["tehran-mall"]["campaigns"] = [
            {"name": "all", "from": "2026-11-01", "to": "2026-11-30", "bonus": 7}]
        store(d, C1)["campaigns"] = [
            {"name": "cafe", "from": "2026-11-01", "to": "2026-11-30", "bonus": 5}]
    h = Harness(config_with(change))
    assert tags(h.earn(T1, card(6), 100_000))["EP"] == str(10 + 7 + 5)
    assert tags(h.earn(T3, card(6), 100_000))["EP"] == str(5 + 7)


@pytest.mark.parametrize(("cap", "amounts", "expected"), [
    (0, [1_000_000, 1_000_000], [100, 100]),
    (150, [1_000_000, 1_000_000, 1_000_000], [100, 50, 0]),
    (150, [2_000_000], [150]),
])
def test_daily_cap(cap: int, amounts: list[int], expected: list[int]) -> None:
    h = Harness(config_with(lambda d: d["coalition"]["tehran-mall"].__setitem__(
        "daily_earn_cap", cap)))
    got = [int(tags(h.earn(T1, card(7), a))["EP"]) for a in amounts]
    assert got == expected
    # The next business day the cap is fresh.
    assert tags(h.earn(T1, card(7), 1_000_000, now=NOW + dt.timedelta(days=1)))["EP"] == "100"


def test_order_tier_then_campaign_then_bonus_then_cap_then_birthday() -> None:
    """SILVER 1.25 x campaign 2.0 on base 100, + bonus 40 = 290, capped at 260, + 50 birthday."""
    def change(d: dict[str, Any]) -> None:
        d["coalition"]["tehran-mall"]["daily_earn_cap"] = 260 + 10
        store(d, C1)["campaigns"] = [
            {"name": "c", "from": "2026-11-01", "to": "2026-11-30", "multiplier": 2.0,
             "bonus": 40}]
    h = Harness(config_with(change))
    pan = card(8)
    h.earn(T3, pan, 60_000_000, now=NOW - dt.timedelta(days=3))  # SILVER, no campaign there
    h.earn(T3, pan, 160_000)                             # 8 x 1.25 = 10 points counted today
    _profile(h, pan, Profile("Sara", "", dt.date(1990, 11, 20)))
    r = h.earn(T1, pan, 1_000_000)
    assert tags(r)["TR"] == "SILVER"
    assert tags(r)["EP"] == str(260 + 50)


def _profile(h: Harness, pan: str, profile: Profile) -> None:
    """The card's customer profile, as enrolment would have set it (its club state exists:
    the card has earned)."""
    club = h.state.cards[pan].club
    assert club is not None
    club.profile = profile


@pytest.mark.parametrize(("birth", "day", "year"), [
    (dt.date(1990, 11, 20), dt.date(2026, 11, 20), 2026),
    (dt.date(1990, 11, 20), dt.date(2026, 11, 26), 2026),
    (dt.date(1990, 11, 20), dt.date(2026, 11, 27), 0),
    (dt.date(1990, 11, 20), dt.date(2026, 11, 19), 0),
    (dt.date(1990, 12, 30), dt.date(2027, 1, 3), 2026),    # across New Year
    (dt.date(2000, 2, 29), dt.date(2027, 2, 28), 2027),    # leap day in a common year
])
def test_birthday_window(birth: dt.date, day: dt.date, year: int) -> None:
    assert birthday_occurrence(birth, day, 7) == year


def test_birthday_bonus_once_a_year_on_first_earn_in_window() -> None:
    h = Harness()
    pan = card(9)
    h.earn(T1, pan, 10_000, now=at(2026, 11, 10))
    _profile(h, pan, Profile("Ali", "09120000000", dt.date(1985, 11, 21)))
    assert tags(h.earn(T1, pan, 100_000, now=at(2026, 11, 20)))["EP"] == "10"
    assert tags(h.earn(T2, pan, 100_000, now=at(2026, 11, 21)))["EP"] == "20"   # no bonus there
    assert tags(h.earn(T1, pan, 100_000, now=at(2026, 11, 22)))["EP"] == "60"
    assert tags(h.earn(T1, pan, 100_000, now=at(2026, 11, 23)))["EP"] == "10"
    assert tags(h.earn(T1, pan, 100_000, now=at(2027, 11, 21)))["EP"] == "60"


def test_birthday_given_back_by_reversal() -> None:
    h = Harness()
    pan = card(10)
    h.earn(T1, pan, 10_000, now=at(2026, 11, 10))
    _profile(h, pan, Profile("", "", dt.date(1985, 11, 21)))
    when = at(2026, 11, 22)
    msg = earn(T1, 500, pan, 100_000, now=when)
    assert tags(h.send(msg, when))["EP"] == "60"
    assert h.send(reversal(msg, 501, now=when), when).fields[39] == "00"
    assert tags(h.earn(T1, pan, 100_000, now=when))["EP"] == "60"


def test_stamps_every_nth_visit_and_930000() -> None:
    h = Harness()
    pan = card(11)
    assert h.pc(T1, pan, "930000").fields[39] == "51"           # nothing to redeem yet
    for i in range(1, 10):
        t = tags(h.earn(T1, pan, 10_000))
        assert (t["SC"], t["SR"]) == (str(i), "0")
    t = tags(h.earn(T1, pan, 10_000))
    assert (t["SC"], t["SR"]) == ("0", "1")
    r = h.pc(T1, pan, "930000")
    assert r.fields[39] == "00" and (tags(r)["SC"], tags(r)["SR"]) == ("0", "0")
    assert tags(r)["MS"].startswith("جایزه: free coffee | ")
    assert h.pc(T1, pan, "930000").fields[39] == "51"
    assert h.pc(T2, pan, "930000").fields[39] == "12"           # Book City runs no stamps
    assert "SC" not in tags(h.earn(T2, pan, 200_000))


def test_stamp_redemption_reversed_gives_the_reward_back() -> None:
    h = Harness()
    pan = card(12)
    for _ in range(10):
        h.earn(T1, pan, 10_000)
    msg = request("0200", T1, 700, pan=pan, pc="930000")
    assert h.send(msg).fields[39] == "00"
    assert h.send(reversal(msg, 701)).fields[39] == "00"
    assert h.state.cards[pan].club.rewards[C1] == 1              # type: ignore[union-attr]


def test_redemption_by_point_value_or_rp_and_xp() -> None:
    h = Harness()
    pan = card(13)
    h.earn(T1, pan, 5_000_000, now=NOW - dt.timedelta(days=350))   # 500, expires in ~15 days
    h.earn(T1, pan, 1_000_000)                                       # 100, a year away
    r = h.pc(T1, pan, "900000", 10_500)                              # 10.5 points -> 11
    assert r.fields[39] == "00" and tags(r)["RD"] == "11"
    assert tags(r)["XP"].startswith("489@")
    r = h.pc(T1, pan, "900000", 1, tags={"RP": "489"})
    assert tags(r)["RD"] == "489" and "XP" not in tags(r)
    assert h.pc(T1, pan, "900000", 101_000).fields[39] == "51"


def test_receipt_fits_120_bytes_in_the_store_language() -> None:
    cfg = config_with(lambda d: store(d, C2).__setitem__("language", "en"))
    h = Harness(cfg)
    pan = card(14)
    h.earn(T1, pan, 5_000_000, now=NOW - dt.timedelta(days=350))
    for tid in (T1, T2):
        ms = tags(h.earn(tid, pan, 123_456_789))["MS"]
        assert len(ms.encode()) <= MAX_BYTES
        assert ("امتیاز" in ms) == (tid == T1)
    assert tags(h.earn(T2, pan, 100_000))["MS"].startswith("Earned 30 pts | Balance ")  # GOLD 1.5


def test_stored_value_store_bonus_and_scope() -> None:
    h = Harness()
    pan = card(15)
    assert h.pc(T1, pan, "210060", 100_000).fields[39] == "58"     # the cafe sells none
    r = h.pc(T3, pan, "210060", 100_000)
    assert r.fields[39] == "00"
    assert h.pc(T3, pan, "006000", 115_001).fields[39] == "51"
    assert h.pc(T1, pan, "006000", 1_000).fields[39] == "51"       # store-only purse
    assert h.pc(T3, pan, "006000", 115_000).fields[39] == "00"


def test_campaign_with_own_expiry_makes_its_own_lot() -> None:
    cfg = config_with(lambda d: store(d, C1).__setitem__("campaigns", [
        {"name": "c", "from": "2026-11-01", "to": "2026-11-30", "multiplier": 2.0,
         "bonus": 5, "expire_after_days": 30}]))
    h = Harness(cfg)
    pan = card(16)
    r = h.earn(T1, pan, 1_000_000)
    assert tags(r)["EP"] == "205"
    lots = sorted((lot.initial, lot.expires_on) for lot in h.state.cards[pan].lots)
    day = dt.date(2026, 11, 23)
    assert lots == [(100, day + dt.timedelta(days=365)), (105, day + dt.timedelta(days=30))]
    assert tags(r)["XP"] == f"105@{day + dt.timedelta(days=30):%Y%m%d}"


def test_reversal_undoes_spend_tier_stamps_and_cap() -> None:
    h = Harness(config_with(lambda d: d["coalition"]["tehran-mall"].__setitem__(
        "daily_earn_cap", 1000)))
    pan = card(17)
    msg = earn(T1, 800, pan, 60_000_000)
    assert tags(h.send(msg))["TR"] == "SILVER"
    assert h.send(reversal(msg, 801)).fields[39] == "00"
    club = h.state.cards[pan].club
    assert club is not None
    # Spend equals the dict of its days (its __eq__); mypy's strict equality looks only at the
    # items' types in a tuple, so the expected one is typed as objects.
    expected: tuple[object, ...] = ("BLUE", {}, 0, 0)
    assert (club.tier, club.spend, club.earned, club.stamps[C1]) == expected


@pytest.mark.parametrize(("change", "key"), [
    (lambda d: d["coalition"]["tehran-mall"]["tiers"][1].__setitem__("earn_multiplier", 1.2345),
     "coalition.tehran-mall.tiers[1].earn_multiplier"),
    (lambda d: d["coalition"]["tehran-mall"].__setitem__("daily_earn_cap", -1),
     "coalition.tehran-mall.daily_earn_cap"),
    (lambda d: d["store"]["STORE0000000001"].__setitem__("language", "de"),
     "store.STORE0000000001.language"),
    (lambda d: d["store"]["STORE0000000001"].__setitem__("birthday_window_days", 0),
     "store.STORE0000000001.birthday_window_days"),
    (lambda d: d["store"]["STORE0000000002"]["campaigns"][0].__setitem__(
        "expire_after_days", 0), "store.STORE0000000002.campaigns[0].expire_after_days"),
    (lambda d: d["coalition"]["tehran-mall"].__setitem__("campaigns", [{"name": "x"}]),
     "coalition.tehran-mall.campaigns[0].from"),
    (lambda d: d["store"]["STORE0000000001"].pop("earn"), "store.STORE0000000001.earn"),
])
def test_config_errors_name_the_key(change: Any, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_with(change)
    assert info.value.key == key and info.value.file == "test.toml"


def test_coalition_default_earn_rule() -> None:
    def change(d: dict[str, Any]) -> None:
        d["coalition"]["tehran-mall"]["earn"] = {"points_per": 1_000, "points": 1}
        store(d, C1).pop("earn")
    cfg = config_with(change)
    assert cfg.stores[C1].earn.points_per == 1_000
    assert cfg.stores[C2].earn.points_per == 10_000


def test_campaign_window_edges() -> None:
    cfg = config_with()
    yalda = cfg.stores[C2].campaigns[0]
    tz = cfg.switch.zone
    assert active(yalda, dt.datetime(2026, 12, 20, 0, 0, tzinfo=tz))
    assert active(yalda, dt.datetime(2026, 12, 22, 23, 59, tzinfo=tz))
    assert not active(yalda, dt.datetime(2026, 12, 23, 0, 0, tzinfo=tz))
    assert C3 in cfg.stores


@pytest.mark.parametrize(("mti", "local", "points"), [
    ("0220", ("1217", "170500"), 400),     # bought in the happy hour, forwarded at 20:00
    ("0220", ("1217", "190000"), 200),     # bought after it
    ("0220", ("1218", "170000"), 200),     # a time in the future: the switch's clock
    ("0220", ("0230", "170000"), 200),     # not a date: the switch's clock
    ("0200", ("1217", "170500"), 200),     # online: always the switch's clock
])
def test_advice_campaign_window_by_purchase_time(mti: str, local: tuple[str, str],
                                                 points: int) -> None:
    cfg = config_with(lambda d: store(d, C2).__setitem__("campaigns", [
        {"name": "happy", "from": "2026-01-01", "to": "2026-12-31", "hours": [16, 18],
         "multiplier": 2.0}]))
    when = at(2026, 12, 17, 20, 0)
    h = Harness(cfg, now=when)
    msg = request(mti, T2, 900, pan=card(18), pc="000000", amount=1_000_000, now=when,
                  extra={13: local[0], 12: local[1]})
    assert tags(h.send(msg, when))["EP"] == str(points)


def test_coalition_wide_purse_is_spent_at_other_stores() -> None:
    cfg = config_with(lambda d: store(d, C3).__setitem__(
        "stored_value", {"topup_bonus_percent": 10, "coalition_wide": True}))
    h = Harness(cfg)
    pan = card(19)
    assert h.pc(T3, pan, "210060", 100_000).fields[39] == "00"    # 110,000 in the purse
    assert h.pc(T1, pan, "006000", 60_000).fields[39] == "00"
    assert h.pc(T2, pan, "006000", 50_001).fields[39] == "51"
    assert h.pc(T2, pan, "006000", 50_000).fields[39] == "00"
