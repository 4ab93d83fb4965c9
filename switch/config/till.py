"""`[coalition.X.discounts]`, `[coalition.X.memberships.<level>]` and `[store.X.discounts]`:
the rewards a till asks the switch for (docs/programs.md "Discounts at the till" and "Paid
memberships")."""

from __future__ import annotations

import re

from switch.config.reader import Reader
from switch.core.catalog import Tier
from switch.core.limits import DEFAULT_LIMITS
from switch.core.till_terms import CoalitionDiscounts, MembershipLevel, StoreDiscounts

__all__ = ["LEVEL_PATTERN", "coalition_discounts", "memberships", "store_discounts"]

#: A level as the till types it in DE48 `ML`: lower-case ASCII letters, digits, `-`, `_`.
LEVEL_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
#: Ten years: a longer term is most likely a typo (days for months).
MAX_TERM_MONTHS = 120


def _percent(r: Reader, name: str, default: int | None = None) -> int:
    value = r.integer(name, default)
    if value > 100:
        raise r.fail(name, f"must be a percent 0-100, got {value}")
    return value


def coalition_discounts(r: Reader, tiers: tuple[Tier, ...]) -> CoalitionDiscounts:
    """The tier perks (percent by tier name) and the points-to-discount rule."""
    dr = r.section("discounts")
    if dr is None:
        return CoalitionDiscounts()
    names = {t.name for t in tiers}
    perks: dict[str, int] = {}
    pr = dr.section("tier_perks")
    if pr is not None:
        for name in pr.table:
            if name not in names:
                raise pr.fail(name, f"names no tier of the coalition ({', '.join(sorted(names))})")
            perks[name] = _percent(pr, name)
            if perks[name] < 1:
                raise pr.fail(name, "must be a percent 1-100")
        pr.done()
    result = CoalitionDiscounts(
        tier_perks=perks,
        points_step=dr.integer("points_step", 0),
        percent_step=_percent(dr, "percent_step", 0),
        max_points_percent=_percent(dr, "max_points_percent", 100),
    )
    if (result.points_step == 0) != (result.percent_step == 0):
        raise dr.fail("points_step", "points_step and percent_step go together (each "
                      "points_step points = percent_step % off), or neither")
    dr.done()
    return result


def memberships(r: Reader, tiers: tuple[Tier, ...]) -> dict[str, MembershipLevel]:
    """The club cards the coalition sells, by level."""
    mr = r.section("memberships")
    if mr is None:
        return {}
    names = {t.name for t in tiers}
    levels: dict[str, MembershipLevel] = {}
    for level, table in mr.table.items():
        if not LEVEL_PATTERN.fullmatch(level):
            raise mr.fail(level, "a level is 1-20 lower-case ASCII letters, digits, - or _ "
                          "(DE48 ML)")
        lr = mr.section(level)
        if lr is None or not isinstance(table, dict):
            raise mr.fail(level, "must be a table")
        tier = lr.string("tier")
        if tier not in names:
            raise lr.fail("tier", f"names no tier of the coalition, got {tier!r}")
        price = lr.integer("price", minimum=1)
        if price > DEFAULT_LIMITS.max_amount:
            raise lr.fail("price", f"must be at most {DEFAULT_LIMITS.max_amount:_} (DE4)")
        months = lr.integer("months", minimum=1)
        if months > MAX_TERM_MONTHS:
            raise lr.fail("months", f"must be at most {MAX_TERM_MONTHS}, got {months}")
        lr.done()
        levels[level] = MembershipLevel(level, tier, price, months)
    mr.done()
    return levels


def store_discounts(r: Reader) -> StoreDiscounts | None:
    """What the store gives at its till; None without the table. `tier_perk` in a coalition
    with no perks gives nothing (a reload may take the perks away and give them back)."""
    dr = r.section("discounts")
    if dr is None:
        return None
    result = StoreDiscounts(
        tier_perk=dr.boolean("tier_perk", False),
        min_spend_amount=dr.integer("min_spend_amount", 0),
        min_spend_percent=_percent(dr, "min_spend_percent", 0),
        buy=dr.integer("buy", 0),
        get=dr.integer("get", 0),
        stamp_value=dr.integer("stamp_value", 0),
    )
    if (result.min_spend_amount == 0) != (result.min_spend_percent == 0):
        raise dr.fail("min_spend_percent", "min_spend_amount and min_spend_percent go "
                      "together, or neither")
    if result.min_spend_amount > DEFAULT_LIMITS.max_amount:
        raise dr.fail("min_spend_amount", f"must be at most {DEFAULT_LIMITS.max_amount:_}")
    if (result.buy == 0) != (result.get == 0):
        raise dr.fail("get", "buy and get go together (buy 2 get 1), or neither")
    if result.stamp_value and r.table.get("stamps") is None:
        raise dr.fail("stamp_value", "the store has no [stamps] whose rewards it would value")
    if result.stamp_value > DEFAULT_LIMITS.max_amount:
        raise dr.fail("stamp_value", f"must be at most {DEFAULT_LIMITS.max_amount:_}")
    if result.buy > 1000 or result.get > 1000:
        raise dr.fail("buy", "buy and get are at most 1000")
    dr.done()
    return result

