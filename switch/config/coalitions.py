"""`[coalition.<id>]`: a coalition, its tiers and card BINs (docs/programs.md, Tiers)."""

from __future__ import annotations

from collections.abc import Mapping

from switch.config import fees, programs, rewards, till
from switch.config.reader import ConfigError, Reader
from switch.core.catalog import TO_OPERATOR, Coalition, MobileAccounts, Tier
from switch.core.text import is_digits

__all__ = ["check_bins", "coalition"]


def coalition(r: Reader, cid: str) -> Coalition:
    currency = r.string("currency", "364")
    if not is_digits(currency, 3):
        raise r.fail("currency", f"must be an ISO 4217 numeric code of 3 digits, got {currency!r}")
    bins = r.list_of("card_bins")
    for i, b in enumerate(bins):
        if not isinstance(b, str) or not is_digits(b) or not 1 <= len(b) <= 12:
            raise r.fail(f"card_bins[{i}]", f"must be a string of 1-12 digits, got {b!r}")
    tiers = _tiers(r)
    campaigns = programs.campaigns(r)
    er = r.section("earn")
    default_earn = programs.earn_rule(er) if er is not None else None
    result = Coalition(
        id=cid,
        name=r.string("name"),
        point_value=r.integer("point_value", minimum=1),
        currency=currency,
        points_expire_after_days=r.days("points_expire_after_days", 365, minimum=1),
        card_bins=tuple(bins),
        auto_enroll=r.boolean("auto_enroll", False),
        tiers=tiers,
        daily_earn_cap=r.integer("daily_earn_cap", 0),
        campaigns=campaigns,
        earn=default_earn,
        language=programs.language(r, "fa"),
        operator=fees.operator(r),
        fee=fees.fee(r),
        mobile=_mobile(r),
        coupons=rewards.coupon_rules(r),
        gift_cards=rewards.gift_cards(r),
        display_currency=_display_currency(r, currency),
        discounts=till.coalition_discounts(r, tiers),
        memberships=till.memberships(r, tiers),
    )
    if result.fee is not None and result.operator is None:
        raise r.fail("fee", "needs an [operator] table beside it (the fee's payee: name, iban)")
    if result.memberships and result.operator is None:
        raise r.fail("memberships", "needs an [operator] table in the coalition (who is paid "
                     "for the club cards sold)")
    gift = result.gift_cards
    if gift is not None and gift.breakage == TO_OPERATOR and result.operator is None:
        raise r.fail("gift_cards.breakage", "\"operator\" needs an [operator] table in the "
                     "coalition (who keeps the lapsed value)")
    r.done()
    return result


DISPLAY_CURRENCIES = ("rial", "toman")


def _display_currency(r: Reader, currency: str) -> str:
    """`display_currency`: tomans are a way of writing Iranian rials (ISO 4217 364) only."""
    unit = r.string("display_currency", "rial")
    if unit not in DISPLAY_CURRENCIES:
        raise r.fail("display_currency", f"must be rial or toman, got {unit!r}")
    if unit == "toman" and currency != "364":
        raise r.fail("display_currency", f"toman needs the rial (currency 364), got {currency}")
    return unit


def _tiers(r: Reader) -> tuple[Tier, ...]:
    """`[[coalition.X.tiers]]`, lowest spend first; names and thresholds unique."""
    tiers: list[Tier] = []
    for i, t in enumerate(r.list_of("tiers")):
        if not isinstance(t, dict):
            raise r.fail(f"tiers[{i}]", "must be a table")
        tr = r.child(f"tiers[{i}]", t)
        tiers.append(
            Tier(
                name=tr.string("name"),
                min_spend_12m=tr.integer("min_spend_12m", 0),
                earn_multiplier=programs.multiplier(tr, "earn_multiplier"),
            )
        )
        tr.done()
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise r.fail("tiers", f"tier names must be unique, got {names}")
    for i, t in enumerate(tiers):
        if not t.name.isascii() or not t.name.isprintable() or len(t.name) > 20:
            raise r.fail(f"tiers[{i}].name", "must be 1-20 printable ASCII characters (DE48 TR)")
    spends = [t.min_spend_12m for t in tiers]
    if len(set(spends)) != len(spends):
        raise r.fail("tiers", f"two tiers share one min_spend_12m: {sorted(spends)}")
    return tuple(sorted(tiers, key=lambda t: t.min_spend_12m))


def _mobile(r: Reader) -> MobileAccounts | None:
    """`[coalition.X.mobile]`: the virtual cards of mobile-number accounts (docs/customers.md)."""
    mr = r.section("mobile")
    if mr is None:
        return None
    bin_ = mr.string("virtual_bin")
    if not is_digits(bin_) or not 1 <= len(bin_) <= 12:
        raise mr.fail("virtual_bin", f"must be a string of 1-12 digits, got {bin_!r}")
    length = mr.integer("length", 16, minimum=13)
    if length > 19 or length < len(bin_) + 2:
        raise mr.fail("length", f"must be 13-19 and leave room for a serial after BIN "
                                f"{bin_} and the check digit, got {length}")
    result = MobileAccounts(bin_, length, mr.boolean("enroll", False))
    mr.done()
    return result


def check_bins(file: str, coalitions: Mapping[str, Coalition]) -> None:
    """Two coalitions claiming one BIN would make auto-enrolment ambiguous, a gift-card BIN
    inside a loyalty BIN (or the other way round) would make a card both, and a card range
    overlapping a range of virtual cards (`mobile.virtual_bin`) would give a printed card the
    number of a mobile account's card."""
    owner: dict[str, tuple[str, str]] = {}
    for c in coalitions.values():
        gift = c.gift_cards.bins if c.gift_cards is not None else ()
        virtual = (c.mobile.virtual_bin,) if c.mobile is not None else ()
        for key, bins in (("card_bins", c.card_bins), ("gift_cards.bins", gift),
                          ("mobile.virtual_bin", virtual)):
            for b in bins:
                for other_bin, (other, other_key) in owner.items():
                    overlaps = b.startswith(other_bin) or other_bin.startswith(b)
                    if overlaps and (other != c.id or other_key != key):
                        whose = f"coalition {other}" if other != c.id else "this coalition"
                        raise ConfigError(
                            file, f"coalition.{c.id}.{key}",
                            f"BIN {b} overlaps {other_bin} of {whose} ({other_key})",
                        )
                owner[b] = (c.id, key)
