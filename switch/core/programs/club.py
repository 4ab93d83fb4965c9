"""Per-card program state (`Club`) and the effects an approved message has on it.

An effect is data: applying it and undoing it (a reversal) are exact inverses for every counter,
so a reversal takes back exactly what its original gave (stamps and rewards may go below zero
then: a debt repaid by the next visits, like a spent earn's lot). Tiers are not counters: see
`undo`. Each change is persisted as a snapshot of the rows it touched (`ClubRows`).
"""

from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from switch.core.catalog import Tier


@dataclass(frozen=True, slots=True)
class Profile:
    """The customer behind a card (`lps cards enroll --name ... --birth-date ...`)."""

    name: str = ""
    phone: str = ""
    birth_date: dt.date | None = None
    enrolled_at: dt.datetime | None = None


class Spend:
    """Spend by business day, compact: two arrays sorted by day (~16 bytes a day, where a dict
    of dates to ints takes ~120: the cache holds one per active card)."""

    __slots__ = ("_amounts", "_days")

    def __init__(self, items: Mapping[dt.date, int] | None = None) -> None:
        self._days: array[int] = array("l")
        self._amounts: array[int] = array("q")
        if items:
            for day, amount in sorted(items.items()):
                self[day] = amount

    def get(self, day: dt.date, default: int = 0) -> int:
        o = day.toordinal()
        i = bisect_left(self._days, o)
        return self._amounts[i] if i < len(self._days) and self._days[i] == o else default

    def __setitem__(self, day: dt.date, amount: int) -> None:
        o = day.toordinal()
        i = bisect_left(self._days, o)
        if i < len(self._days) and self._days[i] == o:
            if amount:
                self._amounts[i] = amount
            else:
                del self._days[i]
                del self._amounts[i]
        elif amount:
            self._days.insert(i, o)
            self._amounts.insert(i, amount)

    def total(self, after: dt.date, until: dt.date) -> int:
        """The spend on days `d` with `after < d <= until`."""
        i = bisect_right(self._days, after.toordinal())
        j = bisect_right(self._days, until.toordinal())
        return sum(self._amounts[i:j])

    def forget_until(self, day: dt.date) -> None:
        i = bisect_right(self._days, day.toordinal())
        del self._days[:i]
        del self._amounts[:i]

    def items(self) -> Iterator[tuple[dt.date, int]]:
        for o, amount in zip(self._days, self._amounts, strict=True):
            yield dt.date.fromordinal(o), amount

    def clear(self) -> None:
        self.forget_until(dt.date.max)

    def copied(self) -> Spend:
        other = Spend.__new__(Spend)  # the arrays are copied: none to make first
        other._days = self._days[:]
        other._amounts = self._amounts[:]
        return other

    def __len__(self) -> int:
        return len(self._days)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spend):
            return self._days == other._days and self._amounts == other._amounts
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other)
        return NotImplemented

    # Unhashable, as every mutable mapping; typeshed types object.__hash__ as a method.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Spend({dict(self.items())!r})"


@dataclass(slots=True)
class Club:
    """What the programs remember about one card."""

    #: The tier held, and the business day up to which the nightly downgrade was applied.
    tier: str = ""
    tier_day: dt.date | None = None
    #: Qualifying spend (DE4 of approved earns net of returns) by business day, last 12 months.
    spend: Spend = field(default_factory=Spend)
    #: Points counted against the daily cap on `earned_day`.
    earned_day: dt.date | None = None
    earned: int = 0
    #: The last year (of the birthday itself) a birthday bonus was granted; 0: never.
    birthday_year: int = 0
    stamps: dict[str, int] = field(default_factory=dict)
    rewards: dict[str, int] = field(default_factory=dict)
    profile: Profile | None = None
    #: Memo of `rolling_spend`: (day, total), kept up to date by `_add_spend`.
    roll: tuple[dt.date, int] | None = None
    #: A paid membership (docs/programs.md "Paid memberships"): the tier it holds through
    #: `member_until` (inclusive), whatever the spend.
    member_tier: str = ""
    member_until: dt.date | None = None

    def earned_on(self, day: dt.date) -> int:
        return self.earned if self.earned_day == day else 0

    def copied(self) -> Club:
        """A copy a decision may change: its spend and stamp counts are its own."""
        return Club(self.tier, self.tier_day, self.spend.copied(), self.earned_day, self.earned,
                    self.birthday_year, dict(self.stamps), dict(self.rewards), self.profile,
                    self.roll, self.member_tier, self.member_until)


@dataclass(slots=True)
class ClubEffect:
    """What one approved earn, return or stamp redemption did to a card's `Club`. Never
    changed once made (a slots dataclass: `switch.core.request.Request` says why)."""

    day: dt.date
    spend_day: dt.date | None = None
    spend: int = 0
    earned: int = 0
    #: None: the tier was not touched. Else the tier before the message (after the nightly
    #: downgrade was applied) and after it (an upgrade by this earn's spend).
    tier_before: str | None = None
    tier_after: str = ""
    birthday_year: int = 0
    birthday_before: int = 0
    stamp_store: str = ""
    stamps: int = 0
    rewards: int = 0
    #: A membership bought (tier, last day) and the one it replaced (None: not touched).
    member: tuple[str, dt.date] | None = None
    member_before: tuple[str, dt.date | None] = ("", None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"day": self.day.isoformat()}
        if self.spend_day is not None:
            out["spend_day"] = self.spend_day.isoformat()
        # The counters that are not 0, in this order (read as slots, not by `getattr`).
        for name, value in (("spend", self.spend), ("earned", self.earned),
                            ("birthday_year", self.birthday_year),
                            ("birthday_before", self.birthday_before),
                            ("stamps", self.stamps), ("rewards", self.rewards)):
            if value:
                out[name] = value
        if self.tier_before is not None:
            out["tier_before"] = self.tier_before
            out["tier_after"] = self.tier_after
        if self.stamp_store:
            out["stamp_store"] = self.stamp_store
        if self.member is not None:
            before_tier, before_until = self.member_before
            out["member"] = [self.member[0], self.member[1].isoformat()]
            out["member_before"] = [before_tier,
                                    before_until.isoformat() if before_until else None]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClubEffect:
        spend_day = data.get("spend_day")
        return cls(
            day=dt.date.fromisoformat(data["day"]),
            spend_day=dt.date.fromisoformat(spend_day) if spend_day else None,
            spend=int(data.get("spend", 0)), earned=int(data.get("earned", 0)),
            tier_before=data.get("tier_before"), tier_after=str(data.get("tier_after", "")),
            birthday_year=int(data.get("birthday_year", 0)),
            birthday_before=int(data.get("birthday_before", 0)),
            stamp_store=str(data.get("stamp_store", "")), stamps=int(data.get("stamps", 0)),
            rewards=int(data.get("rewards", 0)),
            member=_member(data.get("member")),
            member_before=_member(data.get("member_before")) or ("", None),
        )


def _member(value: Any) -> tuple[str, dt.date] | None:
    """A membership as `to_json` writes it ([tier, ISO day]); None for none."""
    if not value or not value[1]:
        return None
    return str(value[0]), dt.date.fromisoformat(value[1])


class ClubRows(NamedTuple):
    """The rows of the program tables one journal entry rewrites (absolute values)."""

    pan: str
    tier: str
    tier_day: dt.date | None
    earned_day: dt.date | None
    earned: int
    birthday_year: int
    spend: tuple[tuple[dt.date, int], ...] = ()
    stamps: tuple[tuple[str, int, int], ...] = ()
    member_tier: str = ""
    member_until: dt.date | None = None


# -- tiers ------------------------------------------------------------------------------------


def year_before(day: dt.date) -> dt.date:
    """The same date a year earlier (29 February -> 28 February)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def rolling_spend(club: Club, day: dt.date) -> int:
    """Spend on business days within the 12 months ending on `day` (`year_before(day)` < d)."""
    roll = club.roll
    if roll is not None and roll[0] == day:
        return roll[1]
    total = club.spend.total(year_before(day), day)
    club.roll = (day, total)
    return total


def qualified(tiers: Sequence[Tier], spend: int) -> str:
    """The highest tier whose `min_spend_12m` the spend reaches ("" without tiers)."""
    name = ""
    for t in tiers:  # sorted by min_spend_12m (config)
        if spend >= t.min_spend_12m:
            name = t.name
    return name


def rank(tiers: Sequence[Tier], name: str) -> int:
    for i, t in enumerate(tiers):
        if t.name == name:
            return i
    return -1


def higher(tiers: Sequence[Tier], a: str, b: str) -> str:
    return a if rank(tiers, a) >= rank(tiers, b) else b


def lower(tiers: Sequence[Tier], a: str, b: str) -> str:
    return a if rank(tiers, a) <= rank(tiers, b) else b


def nightly_tier(club: Club, tiers: Sequence[Tier], day: dt.date) -> str:
    """The tier after the nightly job of `day` (run before `day`'s first message): down only.

    The job's result depends only on the spend, so applying it lazily at a card's first message
    of a day is the same as running it for every card at the cut-over.
    """
    if not tiers:
        return ""
    if club.tier_day is not None and club.tier_day >= day:
        return club.tier or tiers[0].name
    earned = qualified(tiers, rolling_spend(club, day - dt.timedelta(days=1)))
    return member_floor(club, tiers, day, lower(tiers, club.tier, earned) if club.tier
                        else earned)


def member_floor(club: Club, tiers: Sequence[Tier], day: dt.date, tier: str) -> str:
    """`tier`, raised to the tier of a membership still running on `day` (docs/programs.md
    "Paid memberships"): the night after its last day the spend alone decides again."""
    until = club.member_until
    if club.member_tier and until is not None and day <= until:
        return higher(tiers, tier, club.member_tier)
    return tier


# -- applying and undoing -------------------------------------------------------------------


def apply(club: Club, effect: ClubEffect) -> None:
    if effect.spend_day is not None and effect.spend:
        _change_spend(club, effect.spend_day, effect.spend, effect.day)
        if len(club.spend) > 400:
            prune_spend(club, effect.day)
    if effect.earned:
        if club.earned_day == effect.day:
            club.earned += effect.earned
        elif club.earned_day is None or club.earned_day < effect.day:
            club.earned_day, club.earned = effect.day, effect.earned
    if effect.tier_before is not None:
        club.tier = effect.tier_after
        if club.tier_day is None or club.tier_day < effect.day:
            club.tier_day = effect.day
    if effect.birthday_year:
        club.birthday_year = effect.birthday_year
    if effect.stamp_store:
        _add_stamps(club, effect.stamp_store, effect.stamps, effect.rewards)
    if effect.member is not None:
        club.member_tier, club.member_until = effect.member


def settle(club: Club, tiers: Sequence[Tier], day: dt.date) -> None:
    """Apply the nightly downgrade of `day` now, before anything changes the card's spend.

    The downgrade reads the spend up to `day - 1`; a return or a reversal on `day` of an
    earlier earn changes that spend, so the tier `day`'s cut-over gave is fixed first and the
    change counts from the next night (docs/programs.md, "Tiers").
    """
    if tiers and (club.tier_day is None or club.tier_day < day):
        club.tier = nightly_tier(club, tiers, day)
        club.tier_day = day


def undo(club: Club, effect: ClubEffect, tiers: Sequence[Tier], day: dt.date) -> None:
    """Take an effect back (a reversal on business day `day`), after `day`'s nightly
    downgrade (`settle`).

    Counters are subtracted exactly. A tier this effect upgraded falls back to the higher of
    the tier before it and the one the remaining spend still qualifies for, never below a
    membership still running; a later nightly job does the rest.
    """
    settle(club, tiers, day)
    if effect.spend_day is not None and effect.spend:
        _change_spend(club, effect.spend_day, -effect.spend, day)
    if effect.earned and club.earned_day == effect.day:
        club.earned -= effect.earned
    if (effect.tier_before is not None and effect.tier_after != effect.tier_before
            and club.tier == effect.tier_after):
        club.tier = higher(tiers, effect.tier_before, qualified(tiers, rolling_spend(club, day)))
    if effect.birthday_year and club.birthday_year == effect.birthday_year:
        club.birthday_year = effect.birthday_before
    if effect.stamp_store:
        _add_stamps(club, effect.stamp_store, -effect.stamps, -effect.rewards)
    if effect.member is not None:
        _undo_membership(club, effect)
    if tiers:  # a membership still running holds its tier (docs/programs.md "Paid memberships")
        club.tier = member_floor(club, tiers, day, club.tier)


def _undo_membership(club: Club, effect: ClubEffect) -> None:
    """Take back a membership sale: the one held before it, or, when it was renewed since, the
    days this sale added, whatever was taken back since (a replaced one is gone already:
    nothing to take)."""
    assert effect.member is not None
    tier, until = effect.member
    if (club.member_tier, club.member_until) == effect.member:
        club.member_tier, club.member_until = effect.member_before
        return
    held = club.member_until
    if club.member_tier != tier or held is None:
        return
    before_tier, before_until = effect.member_before
    renewed = before_tier == tier and before_until is not None and before_until >= effect.day
    start = before_until if renewed and before_until is not None \
        else effect.day - dt.timedelta(days=1)
    club.member_until = held - (until - start)


def _change_spend(club: Club, spend_day: dt.date, amount: int, day: dt.date) -> None:
    """Add `amount` to the spend of `spend_day`, decided on business day `day`.

    A day at or before `spend_horizon(day)` (an old earn returned or reversed) is forgotten
    instead: no window reads it, recovery does not load it, and the day's row must say the
    same (nothing) whether this card was recovered since or kept that day's spend in memory
    (docs/switch.md "Comparing states").
    """
    if spend_day != day and spend_day <= spend_horizon(day):
        prune_spend(club, day)
    else:
        _add_spend(club, spend_day, amount)


def _add_spend(club: Club, day: dt.date, amount: int) -> None:
    roll = club.roll
    if roll is not None and year_before(roll[0]) < day <= roll[0]:
        club.roll = (roll[0], roll[1] + amount)
    club.spend[day] = club.spend.get(day, 0) + amount


def _add_stamps(club: Club, store: str, stamps: int, rewards: int) -> None:
    club.stamps[store] = club.stamps.get(store, 0) + stamps
    club.rewards[store] = club.rewards.get(store, 0) + rewards


def spend_horizon(day: dt.date) -> dt.date:
    """The newest day whose spend no window can ask for on `day` or later (13 months back):
    `prune_spend` forgets it and recovery does not load it."""
    return year_before(day) - dt.timedelta(days=31)


def prune_spend(club: Club, day: dt.date) -> None:
    """Forget spend older than any window that can still ask for it (`spend_horizon`)."""
    club.spend.forget_until(spend_horizon(day))
    club.roll = None


def rows(pan: str, club: Club, effects: Sequence[ClubEffect]) -> ClubRows:
    """The snapshot rows to persist after `effects` were applied or undone."""
    days = sorted({e.spend_day for e in effects if e.spend_day is not None and e.spend})
    stores = sorted({e.stamp_store for e in effects if e.stamp_store})
    return ClubRows(
        pan=pan, tier=club.tier, tier_day=club.tier_day, earned_day=club.earned_day,
        earned=club.earned, birthday_year=club.birthday_year,
        spend=tuple((d, club.spend.get(d, 0)) for d in days),
        stamps=tuple((s, club.stamps.get(s, 0), club.rewards.get(s, 0)) for s in stores),
        member_tier=club.member_tier, member_until=club.member_until,
    )
