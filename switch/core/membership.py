"""Paid memberships: a club card sold at the till, `0200` `950000` with DE48 `ML` (the level)
and DE4 its price (docs/protocol.md §4 "Paid memberships", docs/programs.md).

A level holds its tier for its term (`months` from the business day of the sale; its last day
is the day before the same date that many months on), whatever the card spends: the nightly
downgrade never takes the card below it (`club.member_floor`), and the night after the last day
the spend alone decides again (the lapse). Buying the level held again before it lapses renews
it from its last day; a higher level replaces a lower one from today; a lower level while a
higher one runs is refused (`12`), as it would take away what was paid for.

`decide` answers with the tier (`TR`), the level (`ML`) and the last day (`MU`, YYYYMMDD); the
sale is a program effect (`ClubEffect.member`), so a reversal restores the membership before it
exactly, and the price is journaled in DE4 and settled between the selling store and the
coalition's operator (docs/settlement.md "Paid memberships").
"""

from __future__ import annotations

import datetime as dt

from switch.core.catalog import Tier
from switch.core.codes import RC
from switch.core.entries import Entry
from switch.core.gift_card import add_months
from switch.core.ledger import CardEdit
from switch.core.outcome import Context, Decision, approve, decline
from switch.core.programs.club import Club, ClubEffect, higher, nightly_tier, rank
from switch.core.request import Request
from switch.core.text import to_ascii_digits
from switch.core.till_terms import MembershipLevel

#: DE48 tags: the level sold (request, echoed in the approval) and its last day (approval).
LEVEL_TAG = "ML"
UNTIL_TAG = "MU"
#: `Entry.detail` key of a sale.
DETAIL = "membership"
_LEVEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def level_of(req: Request) -> str:
    """DE48 `ML` as a level is configured: ASCII spaces around it trimmed, ASCII letters in
    lower case, Persian and Arabic-Indic digits as ASCII. Anything else stays as it came, for
    `format_error` to refuse: `str.strip()` would take any Unicode space away and
    `str.lower()` turns KELVIN SIGN into `k`."""
    name = to_ascii_digits(req.tags.get(LEVEL_TAG, "")).strip(" ")
    return name.lower() if name.isascii() else name


def format_error(req: Request) -> str:
    """Why the request's DE48 breaks the format ("" when it does not): `30`, not remembered."""
    level = level_of(req)
    if not 1 <= len(level) <= 20 or not set(level) <= _LEVEL_CHARS:
        return f"DE48 {LEVEL_TAG} must be a level: 1-20 letters, digits, - or _"
    return ""


def term(level: MembershipLevel, tiers: tuple[Tier, ...], club: Club, day: dt.date
         ) -> tuple[dt.date, str]:
    """The last day a sale of `level` on `day` holds its tier to, or why it is refused
    (the date is then meaningless)."""
    until = club.member_until
    running = club.member_tier and until is not None and until >= day
    start = day
    if running:
        assert until is not None
        held = rank(tiers, club.member_tier)
        wanted = rank(tiers, level.tier)
        if wanted < held:
            return day, (f"a {club.member_tier} membership runs until {until}: a lower one "
                         "would take it away")
        if wanted == held:
            start = until + dt.timedelta(days=1)  # a renewal: from its last day on
    return add_months(start, level.months) - dt.timedelta(days=1), ""


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req, coalition = ctx.req, ctx.coalition
    name = level_of(req)
    level = coalition.memberships.get(name)
    if level is None:
        why = "the coalition sells no club cards" if not coalition.memberships else \
            f"no membership level {name!r}"
        return decline(ctx, entry, RC.INVALID_TRANSACTION, edit, why)
    if req.amount != level.price:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit,
                       f"a {name} membership costs {level.price}, DE4 is {req.amount}")
    tiers = coalition.tiers
    club = edit.club or Club()
    until, why = term(level, tiers, club, ctx.day)
    if why:
        return decline(ctx, entry, RC.INVALID_TRANSACTION, edit, why)
    before = nightly_tier(club, tiers, ctx.day)
    after = higher(tiers, before, level.tier)
    effect = ClubEffect(day=ctx.day, tier_before=before, tier_after=after,
                        member=(level.tier, until),
                        member_before=(club.member_tier, club.member_until))
    edit.effect(effect)
    entry.detail["program"] = effect.to_json()
    entry.detail[DETAIL] = {"level": name, "tier": level.tier, "price": level.price,
                            "until": until.isoformat()}
    return approve(ctx, entry, edit, {"TR": after, LEVEL_TAG: name,
                                      UNTIL_TAG: f"{until:%Y%m%d}"})
