"""`ProgramRules`: the `RuleBook` of a coalition's programs (docs/programs.md has the formula).

Earn, in this order (all integers, rounding down once):

1. `base = floor(amount / points_per) * points`; an amount below `min_amount` earns nothing
   (no base, no campaign, no birthday bonus; it still counts as spend and as a stamp).
2. The tier: the nightly downgrade for today is applied first (lazily, `club.nightly_tier`),
   then this amount joins the rolling 12-month spend and an upgrade takes effect at once, so
   the crossing earn already earns at the new tier.
3. `main = floor(base * tier_milli * campaign_milli / 1_000_000)`, where `campaign_milli` is
   the highest multiplier among the active campaigns (they do not stack; 1000 when none).
4. `+ sum(bonus)` of every active campaign (fixed bonuses do stack).
5. The daily cap clips steps 3-4 to what is left of the card's cap today: the main lot first,
   then a multiplier campaign's own-expiry lot, then the bonuses (summed per expiry, in the
   order their campaigns are configured).
6. `+ birthday_bonus` (not capped), once a year on the first earn in the birthday window.

Points of a campaign with its own `expire_after_days` (its multiplier's extra over the tier's
points, or its bonus) go into a lot of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from switch.core.catalog import Campaign, Catalog, Coalition, Store, Tier
from switch.core.codes import KIND_REDEEM, KIND_REVERSAL, KIND_STAMP, RC, Kind
from switch.core.model import Card, Lot
from switch.core.programs.club import Club, ClubEffect, higher, nightly_tier, qualified
from switch.core.programs.club import rolling_spend as _rolling
from switch.core.programs.receipt import ReceiptFacts, receipt_text
from switch.core.rules import BaseRules, EarnContext, EarnResult, StampResult

_NO_CLUB = Club()
XP_DAYS = 30


def active(campaign: Campaign, local: dt.datetime) -> bool:
    """Whether `campaign` runs at local time `local`: date, weekday and [from, to) hours."""
    day = local.date()
    if not campaign.start <= day <= campaign.end:
        return False
    if campaign.weekdays and day.weekday() not in campaign.weekdays:
        return False
    return campaign.hours is None or campaign.hours[0] <= local.hour < campaign.hours[1]


def birthday_occurrence(birth: dt.date, day: dt.date, window_days: int) -> int:
    """The year of the birthday whose window [birthday, birthday + window) holds `day`; 0: none.

    29 February is celebrated on 28 February in other years. A window may cross New Year.
    """
    for year in (day.year, day.year - 1):
        try:
            start = birth.replace(year=year)
        except ValueError:
            start = dt.date(year, 2, 28)
        if start <= day < start + dt.timedelta(days=window_days):
            return year
    return 0


def tier_milli(tiers: Sequence[Tier], name: str) -> int:
    for t in tiers:
        if t.name == name:
            return t.multiplier_milli
    return 1000


def balance_and_expiring(lots: Sequence[Lot], day: dt.date, days: int = XP_DAYS
                         ) -> tuple[int, int, dt.date | None]:
    """In one pass over the lots: the available points (as `available_points`), the points
    usable today that expire within `days`, and the first such expiry date."""
    horizon = day + dt.timedelta(days=days)
    available = total = 0
    first = None
    for lot in lots:
        e = lot.expires_on
        r = lot.remaining
        if r < 0 or e is None or e > day:
            available += r
            if r > 0 and e is not None and e <= horizon:
                total += r
                if first is None or e < first:
                    first = e
    return available, total, first


def expiring(lots: Sequence[Lot], day: dt.date, days: int = XP_DAYS) -> tuple[int, dt.date | None]:
    """Points (positive remaining) usable today that expire within `days`, and the first date."""
    _, total, first = balance_and_expiring(lots, day, days)
    return total, first


@dataclass(frozen=True, slots=True)
class Plan:
    """What the campaigns running at one store in one local hour do to an earn."""

    multiplier_milli: int = 1000
    multiplier_expires: int | None = None
    #: Bonuses summed per `expire_after_days`, in the order campaigns are configured.
    bonuses: tuple[tuple[int, int | None], ...] = ()


def plan(campaigns: Sequence[Campaign], local: dt.datetime, segment: str | None = None) -> Plan:
    """The campaigns running at `local` for a card whose customer is in `segment` (a campaign
    for a segment leaves out every other card)."""
    running = [c for c in campaigns if active(c, local)
               and (not c.segment or c.segment == segment)]
    best = max(running, key=lambda c: c.multiplier_milli, default=None)
    milli = best.multiplier_milli if best is not None and best.multiplier_milli > 1000 else 1000
    bonuses: dict[int | None, int] = {}   # by expiry, in configuration order
    for c in running:
        if c.bonus:
            bonuses[c.expire_after_days] = bonuses.get(c.expire_after_days, 0) + c.bonus
    return Plan(milli, best.expire_after_days if best is not None and milli > 1000 else None,
                tuple((b, days) for days, b in bonuses.items()))


class ProgramRules(BaseRules):
    """Tiers, campaigns, daily cap, birthday bonus, stamps, receipts (docs/programs.md)."""

    def __init__(self, zone: ZoneInfo | str = "UTC") -> None:
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        # Campaign windows change by the hour at most: their plan per store and local hour is
        # a memo (a pure function of the configuration and the hour; bounded).
        self._plans: dict[tuple[str, int, str | None], Plan] = {}

    def campaign_plan(self, store: Store, coalition: Coalition, now: dt.datetime,
                      segment: str | None = None) -> Plan:
        # Keyed by the UTC quarter-hour: every zone offset is a multiple of 15 minutes, so
        # the local date and hour are the same throughout one.
        key = (store.id, int(now.timestamp()) // 900, segment)
        found = self._plans.get(key)
        if found is None:
            if len(self._plans) > 10_000:
                self._plans.clear()
            local = now.astimezone(self.zone)
            found = self._plans[key] = plan((*coalition.campaigns, *store.campaigns), local,
                                            segment)
        return found

    def earn(self, ctx: EarnContext) -> EarnResult:
        store, co, card, day, amount = ctx.store, ctx.coalition, ctx.card, ctx.business_day, \
            ctx.amount
        club = card.club or _NO_CLUB
        tiers = co.tiers
        tier_before = nightly_tier(club, tiers, day)
        spend = _rolling(club, day) + amount
        tier = higher(tiers, tier_before, qualified(tiers, spend)) if tiers else ""
        rule = store.earn
        expires = day + dt.timedelta(days=co.points_expire_after_days)
        groups: list[tuple[int, dt.date | None]] = []  # (points, expiry) before the cap
        birthday_year = 0
        if amount >= rule.min_amount:
            base = amount // rule.points_per * rule.points
            t_milli = tier_milli(tiers, tier)
            p = self.campaign_plan(store, co, ctx.local_time or ctx.now, ctx.segment)
            main = base * t_milli * p.multiplier_milli // 1_000_000
            groups.append((main, expires))
            if p.multiplier_expires:
                plain = base * t_milli // 1000
                groups[0] = (plain, expires)
                groups.append((main - plain, day + dt.timedelta(days=p.multiplier_expires)))
            for bonus, days in p.bonuses:
                groups.append((bonus, day + dt.timedelta(days=days) if days else expires))
            profile = club.profile
            given = max(club.birthday_year, ctx.account_birthday_year)  # once per customer
            if (store.birthday_bonus and profile is not None and profile.birth_date is not None
                    and given < day.year):
                year = birthday_occurrence(profile.birth_date, day, store.birthday_window_days)
                if year and given < year:
                    birthday_year = year
        else:
            groups.append((0, expires))
        if co.daily_earn_cap:
            left = max(co.daily_earn_cap - club.earned_on(day), 0)
            capped = []
            for points, exp in groups:
                take = min(points, left)
                left -= take
                capped.append((take, exp))
            groups = capped
        earned = sum(p for p, _ in groups)
        if birthday_year:
            groups[0] = (groups[0][0] + store.birthday_bonus, groups[0][1])
        stamps = rewards = 0
        if store.stamps is not None:
            now_stamps = club.stamps.get(store.id, 0) + 1
            stamps, rewards = (1 - store.stamps.needed, 1) if now_stamps >= store.stamps.needed \
                else (1, 0)
        effect = ClubEffect(
            day=day, spend_day=day, spend=amount, earned=earned,
            tier_before=tier_before if tiers else None, tier_after=tier,
            birthday_year=birthday_year, birthday_before=club.birthday_year if birthday_year else 0,
            stamp_store=store.id if store.stamps is not None else "", stamps=stamps,
            rewards=rewards,
        )
        # Lots with the same expiry are one lot.
        merged: dict[dt.date | None, int] = {}
        for points, exp in groups:
            merged[exp] = merged.get(exp, 0) + points
        main_points = merged.pop(expires, 0)
        extra = tuple((p, e) for e, p in merged.items() if p)
        tags = {"TR": tier} if tier else {}
        return EarnResult(points=main_points, expires_on=expires, tags=tags, extra_lots=extra,
                          effect=effect)

    def redeem_stamp(self, store: Store, card: Card, business_day: dt.date) -> StampResult:
        if store.stamps is None:
            return StampResult(response_code=RC.INVALID_TRANSACTION)
        club = card.club or _NO_CLUB
        if club.rewards.get(store.id, 0) <= 0:
            return StampResult(response_code=RC.INSUFFICIENT)
        return StampResult(response_code=RC.APPROVED, effect=ClubEffect(
            day=business_day, stamp_store=store.id, rewards=-1))

    def reply_tags(self, store: Store, coalition: Coalition, card: Card, business_day: dt.date,
                   kind: str, tags: dict[str, str]) -> dict[str, str]:
        if kind == KIND_REVERSAL:
            return tags
        club = card.club or _NO_CLUB
        out = dict(tags)
        if coalition.tiers and "TR" not in out:
            tier = nightly_tier(club, coalition.tiers, business_day)
            if tier:
                out["TR"] = tier
        stamps = rewards = None
        if store.stamps is not None:
            stamps = club.stamps.get(store.id, 0)
            rewards = max(club.rewards.get(store.id, 0), 0)
            out["SC"] = str(max(stamps, 0))
            out["SR"] = str(rewards)
        balance, xp, first = balance_and_expiring(card.lots, business_day)
        if first is not None:
            out["XP"] = f"{xp}@{first:%Y%m%d}"
        facts = ReceiptFacts(
            earned=int(out["EP"]) if "EP" in out else None,
            redeemed=int(out["RD"]) if "RD" in out and kind == KIND_REDEEM else None,
            balance=balance,
            tier=out.get("TR", ""), stamps=stamps,
            stamps_needed=store.stamps.needed if store.stamps else 0, rewards=rewards or 0,
            expiring=xp, expiring_on=first,
            stored_value=usable_purse(card, business_day) if card.purse
            and kind in (Kind.TOPUP, Kind.SV_PURCHASE) else None,
            reward=store.stamps.reward if store.stamps is not None and kind == KIND_STAMP else "",
        )
        text = receipt_text(store.language, facts)
        if text:
            out["MS"] = text
        return out


def usable_purse(card: Card, business_day: dt.date) -> int:
    """The card's stored value less lots expired by `business_day` (only gift-card lots
    expire, docs/programs.md "Gift cards")."""
    return sum(lot.remaining for lot in card.purse
               if lot.expires_on is None or lot.expires_on > business_day)


def program_rules(config: Catalog) -> ProgramRules:
    """The programs of a loaded configuration (its time zone judges campaign hours)."""
    return ProgramRules(config.switch.zone)
