"""Discounts at the till: a `0200` `940000` on the purchase DE4 (docs/protocol.md §4
"Discounts at the till", docs/programs.md "Discounts at the till").

The approval carries the discount in IRR in DE48 `CD` (as a coupon's), its parts in `DB`, and,
when points were converted, the points in `RD` and the balance in DE54 (as a redemption's).
`plan` decides the discount from the configuration, the card's tier and the request, with no
side effect; `decide` then burns the converted points on the card's edit and answers.

The one order of the rewards (each works on what the earlier left to pay, so no item gets two
discounts unless a step below says so):

1. free items, which get nothing else: the `SU` stamp rewards used (each the item the store's
   stamps reward, at `stamp_value`), then buy `buy` get `get` (`[store.X.discounts]`): of the
   `BQ` items priced `BP` each, every `buy + get`th group's `get` items are free;
2. one percent off the rest: the store's tier perk (the card's tier, at a store with
   `tier_perk`) or its minimum-spend percent (DE4 at least `min_spend_amount`), the larger
   (equal: the tier perk); they never stack;
3. points converted (`DP`, "each `points_step` points = `percent_step` % off", at most
   `max_points_percent`) off what is left after 1-2: the customer pays that part with points,
   the one discount the rules let fall on items step 2 discounted.

Each percent rounds down; the sum never passes DE4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from switch.core.catalog import Coalition, Store
from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.ledger import CardEdit, available_points
from switch.core.outcome import Context, Decision, approve, decline
from switch.core.programs.club import Club, ClubEffect, nightly_tier
from switch.core.redeem import check_pin
from switch.core.request import Request
from switch.core.text import is_digits

#: DE48 tags of the request: points to convert, items of the buy-get offer and one's price.
POINTS_TAG = "DP"
STAMPS_TAG = "SU"
COUNT_TAG = "BQ"
PRICE_TAG = "BP"
#: DE48 tags of the approval: the discount in IRR (as a coupon's), its parts.
DISCOUNT_TAG = "CD"
PARTS_TAG = "DB"
#: `Entry.detail` key: the parts of a discount given.
DETAIL = "discount"
#: The parts' names, in the order above (DE48 `DB`: `name=IRR`, comma-separated).
STAMP_REWARD, BUY_GET, TIER_PERK, MIN_SPEND, POINTS = "ST", "BG", "TP", "MN", "PT"


def format_error(req: Request) -> str:
    """Why the request's DE48 breaks the format ("" when it does not): `30`, not remembered."""
    for tag in (POINTS_TAG, COUNT_TAG, PRICE_TAG, STAMPS_TAG):
        value = req.tags.get(tag)
        if value is not None and not (is_digits(value) and len(value) <= 12):
            return f"DE48 {tag} must be 1-12 digits (0-9)"
    if (COUNT_TAG in req.tags) != (PRICE_TAG in req.tags):
        return f"DE48 {COUNT_TAG} and {PRICE_TAG} go together"
    return ""


@dataclass(frozen=True, slots=True)
class Plan:
    """A discount decided: its parts in IRR (in the order of the module's docstring), the
    points converted and the stamp rewards used; or why there is none (`refusal`)."""

    parts: tuple[tuple[str, int], ...] = ()
    points: int = 0
    stamps: int = 0
    refusal: RC | None = None
    reason: str = ""

    @property
    def total(self) -> int:
        return sum(off for _, off in self.parts)

    def tags(self) -> dict[str, str]:
        out = {DISCOUNT_TAG: str(self.total),
               PARTS_TAG: ",".join(f"{name}={off}" for name, off in self.parts)}
        if self.points:
            out["RD"] = str(self.points)
        return out


def _refused(rc: RC, reason: str) -> Plan:
    return Plan(refusal=rc, reason=reason)


def plan(store: Store, coalition: Coalition, tier: str, amount: int, tags: Mapping[str, str],
         points_held: int, rewards_held: int = 0) -> Plan:
    """The discount on a purchase of `amount` IRR at `store` for a card of `tier` holding
    `points_held` usable points and `rewards_held` stamp rewards of the store; `tags` are the
    request's DE48 (checked by `format_error`)."""
    if amount <= 0:
        return _refused(RC.INVALID_AMOUNT, "a discount needs the purchase in DE4")
    mine = store.discounts
    rules = coalition.discounts
    parts: list[tuple[str, int]] = []
    rest = amount
    stamps = int(tags.get(STAMPS_TAG, "0"))
    if STAMPS_TAG in tags:  # `SU`, even of 0, at a store that values none is `12` (as `BQ`)
        if mine is None or not mine.stamp_value:
            return _refused(RC.INVALID_TRANSACTION, "the store takes no stamp rewards off")
        if stamps > rewards_held:
            return _refused(RC.INSUFFICIENT, "not enough stamp rewards")
        off = min(stamps * mine.stamp_value, rest)
        if off:
            parts.append((STAMP_REWARD, off))
            rest -= off
    if COUNT_TAG in tags:
        count, price = int(tags[COUNT_TAG]), int(tags[PRICE_TAG])
        if mine is None or not mine.buy:
            return _refused(RC.INVALID_TRANSACTION, "the store has no buy-get offer")
        if count * price > rest:
            return _refused(RC.INVALID_AMOUNT, "the offer's items cost more than is left of DE4")
        off = count // (mine.buy + mine.get) * mine.get * price
        if off:  # free items priced 0 (`BP` 0) take nothing off: no part, as a percent of 0
            parts.append((BUY_GET, off))
            rest -= off
    perk = rules.tier_perks.get(tier, 0) if mine is not None and mine.tier_perk else 0
    spend = mine.min_spend_percent if mine is not None and mine.min_spend_amount \
        and amount >= mine.min_spend_amount else 0
    if perk or spend:
        name, percent = (TIER_PERK, perk) if perk >= spend else (MIN_SPEND, spend)
        off = rest * percent // 100
        if off:
            parts.append((name, off))
            rest -= off
    points = 0
    if POINTS_TAG in tags:
        points = int(tags[POINTS_TAG])
        step = rules.points_step
        if not step:
            return _refused(RC.INVALID_TRANSACTION, "the coalition converts no points")
        if points <= 0 or points % step:
            return _refused(RC.INVALID_AMOUNT, f"DP must be a positive multiple of {step}")
        percent = points // step * rules.percent_step
        if percent > rules.max_points_percent:
            return _refused(RC.INVALID_AMOUNT, f"points convert into at most "
                            f"{rules.max_points_percent} % off")
        if points > points_held:
            return _refused(RC.INSUFFICIENT, "not enough points")
        off = rest * percent // 100
        if not off:
            return _refused(RC.INVALID_AMOUNT, "nothing is left for the points to take off")
        parts.append((POINTS, off))
        rest -= off
    result = Plan(tuple(parts), points, stamps)
    if result.total <= 0:
        return _refused(RC.INVALID_AMOUNT, "no discount applies to this purchase")
    if result.total > amount:  # each step took from the rest: a bug, never an answer
        raise AssertionError(f"a discount of {result.total} on a purchase of {amount}")
    return result


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req, state = ctx.req, ctx.state
    card = edit.card
    club = card.club or Club()
    tier = nightly_tier(club, ctx.coalition.tiers, ctx.day)  # a paid membership's included
    decided = plan(ctx.store, ctx.coalition, tier, req.amount, req.tags,
                   available_points(card, ctx.day), club.rewards.get(ctx.store.id, 0))
    if decided.refusal is not None:
        return decline(ctx, entry, decided.refusal, edit, decided.reason)
    if decided.points:
        refused = check_pin(ctx, entry, edit)
        if refused is not None:
            return decline(ctx, entry, refused, edit)
        if edit.consume(state.rules.burn_order(card.lots, ctx.day), decided.points):
            raise AssertionError("consumed more than was available")
    if decided.stamps:  # the rewards used, as a stamp redemption uses one (a reversal undoes it)
        effect = ClubEffect(day=ctx.day, stamp_store=ctx.store.id, rewards=-decided.stamps)
        edit.effect(effect)
        entry.detail["program"] = effect.to_json()
    entry.detail[DETAIL] = {"parts": dict(decided.parts), "total": decided.total,
                            "points": decided.points, "stamps": decided.stamps}
    tags = decided.tags()
    if tier:
        tags["TR"] = tier  # the tier its perk was judged by
    return approve(ctx, entry, edit, tags)

