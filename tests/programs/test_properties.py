"""Property tests: the earn formula, balances, and which lots burns and expiry consume."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switch.core.model import Lot
from switch.core.programs.club import Profile
from switch.core.programs.nightly import expire_due
from tests.programs.support import C1, NOW, T1, T2, Harness, card, config_with, tags
from tests.switch.support import burn, earn, request

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
DAY = dt.date(2026, 11, 23)


@st.composite
def programs(draw: Any) -> dict[str, Any]:
    return {
        "points_per": draw(st.integers(1, 50_000)),
        "points": draw(st.integers(0, 5)),
        "min_amount": draw(st.integers(0, 200_000)),
        "tier_milli": draw(st.sampled_from([1000, 1250, 1500, 1333, 2001])),
        "campaigns": draw(st.lists(st.tuples(st.integers(1000, 4000), st.integers(0, 300)),
                                   max_size=4)),
        "cap": draw(st.integers(0, 2000)),
        "earned_today": draw(st.integers(0, 1000)),
        "birthday": draw(st.integers(0, 100)),
        "in_window": draw(st.booleans()),
        "amount": draw(st.integers(1, 10**9)),
    }


def expected(p: dict[str, Any]) -> int:
    """docs/programs.md, step by step, in exact fractions (an independent reading)."""
    if p["amount"] < p["min_amount"]:
        return 0
    base = (p["amount"] // p["points_per"]) * p["points"]
    best = max([m for m, _ in p["campaigns"]] + [1000])
    main = int(Fraction(base) * Fraction(p["tier_milli"], 1000) * Fraction(best, 1000))
    total: int = main + sum(b for _, b in p["campaigns"])
    if p["cap"]:
        total = min(total, max(p["cap"] - min(p["earned_today"], p["cap"]), 0))
    if p["birthday"] and p["in_window"]:
        total += p["birthday"]
    return total


@FAST
@given(programs())
def test_points_earned_equal_the_documented_formula(p: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        co = d["coalition"]["tehran-mall"]
        co["tiers"] = [{"name": "ONLY", "min_spend_12m": 0,
                        "earn_multiplier": p["tier_milli"] / 1000}]
        del co["discounts"], co["memberships"]  # they name the example's tiers
        co["daily_earn_cap"] = p["cap"]
        s = d["store"][C1]
        s["earn"] = {"points_per": p["points_per"], "points": p["points"],
                     "min_amount": p["min_amount"]}
        s["birthday_bonus"] = p["birthday"]
        s["campaigns"] = [{"name": f"c{i}", "from": "2026-11-01", "to": "2026-11-30",
                           "multiplier": m / 1000, "bonus": b}
                          for i, (m, b) in enumerate(p["campaigns"])]
    h = Harness(config_with(change))
    pan = card(1)
    h.earn(T2, pan, 100_000)   # creates the club; Book City has no campaigns here
    club = h.state.cards[pan].club
    assert club is not None
    club.earned_day, club.earned = DAY, p["earned_today"]
    birth = dt.date(1990, 11, 20) if p["in_window"] else dt.date(1990, 5, 1)
    club.profile = Profile("x", "", birth)
    club.spend.clear()
    r = h.earn(T1, pan, p["amount"])
    assert r.fields[39] == "00"
    assert int(tags(r)["EP"]) == expected(p)


OPS = st.lists(st.tuples(st.sampled_from(["earn", "burn", "return", "rp", "day"]),
                         st.integers(1, 3_000_000)), min_size=1, max_size=40)


@FAST
@given(OPS)
def test_balance_never_below_zero_except_by_a_return(ops: list[tuple[str, int]]) -> None:
    h = Harness()
    pan = card(2)
    now = NOW - dt.timedelta(days=400)
    earns: list[tuple[str, int]] = []
    returned = False
    for op, n in ops:
        h.stan += 1
        if op == "day":
            now += dt.timedelta(days=n % 200)
            continue
        if op == "earn":
            r = h.send(earn(T1, h.stan, pan, n, now=now), now)
            earns.append((r.text(37), n))
        elif op == "burn":
            r = h.send(burn(T1, h.stan, pan, n // 100, now=now), now)
        elif op == "rp":
            r = h.send(request("0200", T1, h.stan, pan=pan, pc="900000", amount=1, now=now,
                               tags={"RP": str(n % 500 + 1)}), now)
        elif earns:
            rrn, amount = earns[n % len(earns)]
            r = h.send(request("0200", T1, h.stan, pan=pan, pc="200000",
                               amount=max(amount // 3, 1), now=now, tags={"OR": rrn}), now)
            returned = returned or r.fields[39] == "00"
        card_ = h.state.cards.get(pan)
        if card_ is not None and not returned:
            assert all(lot.remaining >= 0 for lot in card_.lots)


def _burn_key(lot: Lot) -> tuple[dt.date, dt.date, int]:
    return lot.burn_key()


@FAST
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(10_000, 2_000_000)), min_size=1,
                max_size=12), st.integers(1, 3000))
def test_burns_consume_exactly_the_soonest_expiring_lots(
    earns: list[tuple[int, int]], points: int
) -> None:
    h = Harness()
    pan = card(3)
    for ago, amount in earns:
        when = NOW - dt.timedelta(days=ago)
        h.send(earn(T1, h.next_stan(), pan, amount, now=when), when)
    card_ = h.state.cards[pan]
    usable = sorted((lot for lot in card_.lots if lot.expires_on is None
                     or lot.expires_on > DAY), key=_burn_key)
    before = {lot.id: lot.remaining for lot in usable}
    h.entries = []
    r = h.pc(T1, pan, "900000", 1, tags={"RP": str(points)})
    if sum(before.values()) < points:
        assert r.fields[39] == "51"
        return
    assert r.fields[39] == "00"
    taken = {d.lot_id: -d.delta for e in h.entries for d in e.lot_deltas}
    # Greedy in burn order: every lot before the last one touched is emptied, none after.
    need = points
    for lot in usable:
        want = min(need, before[lot.id])
        assert taken.get(lot.id, 0) == want
        need -= want
    assert need == 0


@FAST
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(-50, 500)), max_size=30),
       st.integers(0, 60))
def test_expiry_lapses_exactly_the_lots_due(lots: list[tuple[int, int]], offset: int) -> None:
    day = DAY + dt.timedelta(days=offset)
    made = [Lot(i, "p", "points", f"S{i % 3}", "c", DAY, DAY + dt.timedelta(days=d), 100, rem)
            for i, (d, rem) in enumerate(lots)]
    result = expire_due(made, day)
    due = [lot for lot in made if lot.expires_on == day and lot.remaining > 0]
    assert [x.lot_id for x in result.lapses] == [lot.id for lot in due]
    assert result.points == sum(lot.remaining for lot in due)
    for s, pts in result.breakage.items():
        assert pts == sum(lot.remaining for lot in due if lot.store == s)


@FAST
@given(st.lists(st.tuples(st.integers(-5, 60), st.integers(-50, 500), st.booleans()),
                max_size=30))
def test_receipt_balance_pass_agrees_with_the_authorizer(lots: list[tuple[int, int, bool]]
                                                         ) -> None:
    from switch.core.authorizer import available_points
    from switch.core.model import Card
    from switch.core.programs.rules import balance_and_expiring

    c = Card("p", "c", lots=[
        Lot(i, "p", "points", "S", "c", DAY, None if never else DAY + dt.timedelta(days=d), 1, r)
        for i, (d, r, never) in enumerate(lots)])
    available, xp, first = balance_and_expiring(c.lots, DAY)
    assert available == available_points(c, DAY)
    soon = [lot for lot in c.lots if lot.remaining > 0 and lot.expires_on is not None
            and DAY < lot.expires_on <= DAY + dt.timedelta(days=30)]
    assert xp == sum(lot.remaining for lot in soon)
    assert first == min((lot.expires_on for lot in soon if lot.expires_on is not None),
                        default=None)


@FAST
@given(st.lists(st.tuples(st.integers(0, 800), st.integers(-10**6, 10**6)), max_size=60),
       st.integers(0, 800), st.integers(0, 800))
def test_spend_behaves_like_a_dict_of_days(ops: list[tuple[int, int]], a: int, b: int) -> None:
    from switch.core.programs.club import Spend

    spend = Spend()
    ref: dict[dt.date, int] = {}
    start = dt.date(2025, 1, 1)
    for offset, amount in ops:
        day = start + dt.timedelta(days=offset)
        value = ref.get(day, 0) + amount
        if value:
            ref[day] = value
        else:
            ref.pop(day, None)
        spend[day] = spend.get(day) + amount
    assert spend == ref and len(spend) == len(ref)
    lo, hi = start + dt.timedelta(days=min(a, b)), start + dt.timedelta(days=max(a, b))
    assert spend.total(lo, hi) == sum(v for d, v in ref.items() if lo < d <= hi)
    spend.forget_until(lo)
    assert spend == {d: v for d, v in ref.items() if d > lo}
