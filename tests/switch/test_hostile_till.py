"""The till rewards of the hostile simulation's reference switch
(tests/switch/test_hostile_model.py): a discount at the till (`940000`) and a paid membership
(`950000`), decided as docs/programs.md ("Discounts at the till", "Paid memberships") and
docs/protocol.md §4 write them, from the configuration of tests/switch/test_hostile_docs.py,
what the card holds and the request's DE48. Pure functions, written from the docs, not from the
code; the tests at the end hold them to the docs' own examples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from tests.switch.test_hostile_docs import (
    MAX_POINTS_PERCENT,
    MEMBERSHIPS,
    PERCENT_STEP,
    POINTS_STEP,
    TIER_PERKS,
    TILL,
    TILL_DIGITS,
    TillOffers,
    digits,
    last_day,
    level,
    tier_rank,
)


class Declined(Exception):
    """A till reward refused with `rc`, with no effect."""

    def __init__(self, rc: str, why: str) -> None:
        super().__init__(rc, why)
        self.rc, self.why = rc, why


def format_problem(pc: str, tags: Mapping[str, str]) -> str:
    """Why a till reward's DE48 breaks its format ("" when it does not): `30`, not remembered
    (docs/protocol.md §4; decided after the processing code, docs/switch.md "Why a request was
    declined")."""
    if pc == "940000":
        for tag in TILL_DIGITS:
            value = tags.get(tag)
            if value is not None and not (digits(value) and len(value) <= 12):
                return f"{tag} is not 1-12 digits"
        if ("BQ" in tags) != ("BP" in tags):
            return "BQ and BP go together"
    if pc == "950000" and level(tags.get("ML", "")) is None:
        return "ML cannot be a level"
    return ""


# -- discounts at the till (`940000`) ------------------------------------------------------------


@dataclass(frozen=True)
class Discount:
    """A discount given: its parts in IRR in their order, the points converted, the stamp
    rewards used."""

    parts: tuple[tuple[str, int], ...]
    points: int
    stamps: int

    def tags(self) -> dict[str, str]:
        """DE48 `CD`, `DB` and, when points were converted, `RD`."""
        out = {"CD": str(sum(off for _, off in self.parts)),
               "DB": ",".join(f"{name}={off}" for name, off in self.parts)}
        if self.points:
            out["RD"] = str(self.points)
        return out


def discount(store: str, tier: str, amount: int, tags: Mapping[str, str], points: int,
             rewards: int) -> Discount:
    """What a purchase of `amount` at `store` gets off for a card of `tier` holding `points`
    available points and `rewards` stamp rewards there: free items (the `SU` stamp rewards,
    then buy-get), one percent (tier perk or minimum spend, the larger; equal: the tier perk),
    then points converted, each on what the earlier left; the checks in the order of
    docs/protocol.md §4, the first that fails declining."""
    offers = TILL[store]
    if amount <= 0:
        raise Declined("13", "a discount of no purchase")
    parts: list[tuple[str, int]] = []
    rest = amount
    if "SU" in tags:
        rest = _stamp_rewards(offers, int(tags["SU"]), rewards, rest, parts)
    if "BQ" in tags:
        rest = _buy_get(offers, int(tags["BQ"]), int(tags["BP"]), rest, parts)
    perk = TIER_PERKS.get(tier, 0) if offers.tier_perk else 0
    spend = offers.min_spend_percent \
        if offers.min_spend_amount and amount >= offers.min_spend_amount else 0
    name, percent = ("TP", perk) if perk >= spend else ("MN", spend)
    rest -= _part(parts, name, rest * percent // 100)
    converted = int(tags["DP"]) if "DP" in tags else 0
    if "DP" in tags:
        _points_off(converted, points, rest, parts)
    if not parts:
        raise Declined("13", "no reward applies")
    return Discount(tuple(parts), converted, int(tags.get("SU", "0")))


def _part(parts: list[tuple[str, int]], name: str, off: int) -> int:
    """A part of the discount, shown in `DB` when it takes something off."""
    if off:
        parts.append((name, off))
    return off


def _stamp_rewards(offers: TillOffers, used: int, held: int, rest: int,
                   parts: list[tuple[str, int]]) -> int:
    """`SU` rewards, each the rewarded item's price off; the sum never more than DE4."""
    if not offers.stamp_value:
        raise Declined("12", "SU at a store that values no stamp rewards")
    if used > held:
        raise Declined("51", "more stamp rewards than the card holds here")
    return rest - _part(parts, "ST", min(used * offers.stamp_value, rest))


def _buy_get(offers: TillOffers, count: int, price: int, rest: int,
             parts: list[tuple[str, int]]) -> int:
    """Of every `buy + get` of the `BQ` items priced `BP`, `get` are free."""
    if not offers.buy:
        raise Declined("12", "BQ at a store without the offer")
    if count * price > rest:
        raise Declined("13", "the items cost more than is left of DE4")
    free = count // (offers.buy + offers.get) * offers.get
    return rest - _part(parts, "BG", free * price)


def _points_off(converted: int, held: int, rest: int, parts: list[tuple[str, int]]) -> None:
    """`DP` points: `DP / points_step * percent_step` percent off what is left."""
    if converted <= 0 or converted % POINTS_STEP:
        raise Declined("13", "DP not a positive multiple of the step")
    percent = converted // POINTS_STEP * PERCENT_STEP
    if percent > MAX_POINTS_PERCENT:
        raise Declined("13", "DP converts into more than max_points_percent")
    if converted > held:
        raise Declined("51", "more points than the card holds")
    if not _part(parts, "PT", rest * percent // 100):
        raise Declined("13", "the points take nothing off")


# -- paid memberships (`950000`) -----------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """The membership a card holds: its tier through its last day ("": none)."""

    tier: str = ""
    until: dt.date | None = None

    def runs(self, day: dt.date) -> bool:
        return bool(self.tier) and self.until is not None and self.until >= day

    def floor(self, tier: str, day: dt.date) -> str:
        """`tier`, raised to this membership's while it runs: the card holds at least the
        level's tier through the last day."""
        return max(tier, self.tier, key=tier_rank) if self.runs(day) else tier


@dataclass(frozen=True)
class Sale:
    """A membership sold: the one held before it, the one after, and the days it added."""

    before: Member
    after: Member
    days: int
    level: str


def sell(held: Member, name: str, amount: int, day: dt.date) -> Sale:
    """A sale of level `name` (already read by `level`) on business day `day`: an unknown level
    `12`, DE4 other than its price `13`, a lower tier's level while a higher one runs `12`;
    the same tier's renews from the last day on, a higher one replaces it from today."""
    if name not in MEMBERSHIPS:
        raise Declined("12", "no such level")
    tier, price, months = MEMBERSHIPS[name]
    if amount != price:
        raise Declined("13", "DE4 is not the level's price")
    start = day
    if held.runs(day):
        assert held.until is not None
        if tier_rank(tier) < tier_rank(held.tier):
            raise Declined("12", "a lower level while a higher one runs")
        if tier == held.tier:
            start = held.until + dt.timedelta(days=1)
    until = last_day(start, months)
    return Sale(held, Member(tier, until), (until - start).days + 1, name)


def unsell(held: Member, sale: Sale) -> Member:
    """The membership after `sale` is reversed: the one held before it; when it was renewed
    since, the days it added taken off, so that only what was paid for is held; when a higher
    one replaced it since, nothing of it is left to take."""
    if held == sale.after:
        return sale.before
    if held.tier == sale.after.tier and held.until is not None:
        return Member(held.tier, held.until - dt.timedelta(days=sale.days))
    return held


# -- held to the docs ---------------------------------------------------------------------------


def test_the_example_of_docs_programs_md() -> None:
    """Store 1, a GOLD card, DE4 1,000,000, `BQ=3`, `BP=100000`, `DP=200`: `CD` 352000, `DB`
    `BG=100000,TP=90000,PT=162000`, `RD` 200."""
    got = discount("STORE0000000001", "GOLD", 1_000_000,
                   {"BQ": "3", "BP": "100000", "DP": "200"}, 1_000, 0)
    assert got.tags() == {"CD": "352000", "DB": "BG=100000,TP=90000,PT=162000", "RD": "200"}
    books = discount("STORE0000000002", "GOLD", 5_000_000, {}, 0, 0)
    assert books.parts == (("MN", 1_000_000),)                 # 20 % beats GOLD's 10 %


def test_each_refusal_in_the_order_of_docs_protocol_md() -> None:
    def rc(store: str, amount: int, points: int = 1_000, rewards: int = 0,
           **tags: str) -> str:
        try:
            discount(store, "BLUE", amount, tags, points, rewards)
        except Declined as declined:
            return declined.rc
        return "00"

    cafe, books, club = "STORE0000000001", "STORE0000000002", "STORE0000000003"
    assert rc(cafe, 0, DP="100") == "13"
    assert (rc(books, 1_000, SU="1"), rc(cafe, 1_000, SU="1")) == ("12", "51")
    assert rc(books, 1_000, BQ="1", BP="1") == "12" and rc(cafe, 1_000, BQ="2", BP="501") == "13"
    assert [rc(club, 1_000, DP=dp) for dp in ("0", "150", "600", "200")] == ["13"] * 3 + ["00"]
    assert rc(club, 1_000, points=99, DP="100") == "51" and rc(club, 9, DP="100") == "13"
    assert rc(club, 1_000) == "13" and rc(cafe, 1_000, BQ="2", BP="100") == "13"
    assert rc(cafe, 50_000, rewards=1, SU="1") == "00"         # capped at DE4


def test_a_term_renewed_replaced_and_reversed() -> None:
    """23 November + 3 months: through 22 February; renewed from its last day; a sale
    reversed after a renewal takes back the days it added."""
    day = dt.date(2026, 11, 23)
    first = sell(Member(), "gold-quarter", 3_000_000, day)
    assert first.after == Member("GOLD", dt.date(2027, 2, 22)) and first.days == 92
    renewal = sell(first.after, "gold-quarter", 3_000_000, day)
    assert renewal.after.until == dt.date(2027, 5, 22)
    assert unsell(renewal.after, first) == Member("GOLD", dt.date(2027, 2, 19))
    assert unsell(unsell(renewal.after, first), renewal).runs(day) is False
    try:
        sell(first.after, "silver", 4_000_000, day)
    except Declined as declined:
        assert declined.rc == "12"
    else:
        raise AssertionError("a lower level sold while a higher one runs")
    gold = sell(sell(Member(), "silver", 4_000_000, day).after, "gold", 10_000_000, day)
    assert gold.after == Member("GOLD", dt.date(2027, 11, 22))
    assert unsell(gold.after, gold) == gold.before
