"""The `RuleBook`: how many points an earn gives and what a redemption costs.

The authorizer asks a RuleBook and never computes points itself, so the programs of a coalition
(tiers, campaigns, stamps, bonuses, expiry; docs/programs.md) plug in here by implementing the same
protocol. `BaseRules` is what the example configuration needs: `earn.points_per`/`points`,
`min_amount`, `point_value`, expiry `points_expire_after_days` after the business day, FIFO burn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from switch.core.catalog import Coalition, Store
from switch.core.codes import RC
from switch.core.model import Card, Lot
from switch.core.programs.club import ClubEffect


@dataclass(slots=True)
class EarnContext:
    """What a `RuleBook` reads to price an earn; never changed (a slots dataclass:
    `switch.core.request.Request` says why)."""

    store: Store
    coalition: Coalition
    card: Card
    amount: int
    now: dt.datetime
    business_day: dt.date
    advice: bool = False
    #: For an advice (0220): when the purchase happened, from DE13 + DE12 in the switch's time
    #: zone (None: not sent, or not plausible); campaign windows are judged on it.
    local_time: dt.datetime | None = None
    #: The segment the club's nightly job last put the card's customer in (None: no account,
    #: or not read because no campaign of the store names a segment; switch/core/segment.py).
    segment: str | None = None
    #: The latest year a birthday bonus was given on another card of the customer's account
    #: (0: none; switch/core/birthday.py): the bonus is once per customer.
    account_birthday_year: int = 0


@dataclass(slots=True)
class EarnResult:
    """Points to credit as one lot expiring on `expires_on`, plus DE48 tags for the reply.

    Not frozen: a rule book's answer, read once by the decision that asked (a frozen
    dataclass's `__init__` costs four times a plain one's; benches/README.md, "The core alone").
    """

    points: int
    expires_on: dt.date | None
    tags: dict[str, str] = field(default_factory=dict)
    #: Further lots of this earn with their own expiry (campaign bonuses): (points, expires_on).
    extra_lots: tuple[tuple[int, dt.date | None], ...] = ()
    #: Its effect on the card's program state, applied by the authorizer, undone by a reversal.
    effect: ClubEffect | None = None


@dataclass(frozen=True, slots=True)
class StampResult:
    """`response_code` 00 when a reward was redeemed; `tags` for DE48 (`SC`, `SR`)."""

    response_code: str
    tags: dict[str, str] = field(default_factory=dict)
    effect: ClubEffect | None = None


class RuleBook(Protocol):
    def earn(self, ctx: EarnContext) -> EarnResult:
        """Points for an approved purchase (never negative)."""
        ...

    def redeem_points(self, coalition: Coalition, amount: int) -> int:
        """Points needed to pay `amount` at the coalition's point value (rounded up)."""
        ...

    def burn_order(self, lots: Sequence[Lot], business_day: dt.date) -> list[Lot]:
        """The usable lots in the order a burn consumes them."""
        ...

    def topup_credit(self, store: Store, amount: int) -> int:
        """Stored value credited for a top-up of `amount` paid."""
        ...

    def redeem_stamp(self, store: Store, card: Card, business_day: dt.date) -> StampResult:
        """Redeem one stamp reward (`930000`)."""
        ...

    def reply_tags(self, store: Store, coalition: Coalition, card: Card, business_day: dt.date,
                   kind: str, tags: dict[str, str]) -> dict[str, str]:
        """DE48 of an approval of journal `kind`: `tags` plus what the programs add (`TR`,
        `SC`/`SR`, `XP`, `MS`), given the card after the change."""
        ...


class BaseRules:
    """The rules of the example configuration; a starting point programs can subclass."""

    def earn(self, ctx: EarnContext) -> EarnResult:
        rule = ctx.store.earn
        points = 0 if ctx.amount < rule.min_amount else ctx.amount // rule.points_per * rule.points
        expires = ctx.business_day + dt.timedelta(days=ctx.coalition.points_expire_after_days)
        return EarnResult(points=points, expires_on=expires)

    def redeem_points(self, coalition: Coalition, amount: int) -> int:
        return -(-amount // coalition.point_value)

    def burn_order(self, lots: Sequence[Lot], business_day: dt.date) -> list[Lot]:
        usable = [
            lot for lot in lots
            if lot.remaining > 0 and (lot.expires_on is None or lot.expires_on > business_day)
        ]
        usable.sort(key=Lot.burn_key)
        return usable

    def topup_credit(self, store: Store, amount: int) -> int:
        bonus = store.stored_value.topup_bonus_percent if store.stored_value else 0
        return amount + amount * bonus // 100

    def redeem_stamp(self, store: Store, card: Card, business_day: dt.date) -> StampResult:
        # Stamp cards are a program (docs/programs.md); the base rules have none to redeem.
        return StampResult(response_code=RC.INVALID_TRANSACTION)

    def reply_tags(self, store: Store, coalition: Coalition, card: Card, business_day: dt.date,
                   kind: str, tags: dict[str, str]) -> dict[str, str]:
        return tags
