"""`[coalition.X.coupons]` and `[coalition.X.gift_cards]`: the coalition's coupon rules and
its gift cards (docs/programs.md "Coupons" and "Gift cards")."""

from __future__ import annotations

from switch.config.reader import Reader
from switch.core.catalog import ANYWHERE, AT_ISSUER, TO_OPERATOR, TO_SELLER, CouponRules, GiftCards
from switch.core.limits import DEFAULT_LIMITS
from switch.core.text import is_digits

__all__ = ["MAX_GIFT_MONTHS", "coupon_rules", "gift_cards"]

#: Ten years: a longer expiry is most likely a typo (days or years for months).
MAX_GIFT_MONTHS = 120


def coupon_rules(coalition: Reader) -> CouponRules:
    """Where a store's coupons are taken and the largest discount; defaults without a table."""
    r = coalition.section("coupons")
    if r is None:
        return CouponRules()
    rules = CouponRules(
        store_coupons=r.choice("store_coupons", (AT_ISSUER, ANYWHERE)),
        max_discount=r.integer("max_discount", 0),
    )
    if rules.max_discount > DEFAULT_LIMITS.max_amount:
        raise r.fail("max_discount", f"must be at most {DEFAULT_LIMITS.max_amount:_} (DE4), got "
                     f"{rules.max_discount}")
    r.done()
    return rules


def gift_cards(coalition: Reader) -> GiftCards | None:
    """The gift-card BINs, expiry in months after the sale, who keeps lapsed value."""
    r = coalition.section("gift_cards")
    if r is None:
        return None
    bins = r.list_of("bins")
    if not bins:
        raise r.fail("bins", "name at least one gift-card BIN, e.g. [\"639000\"]")
    for i, b in enumerate(bins):
        if not isinstance(b, str) or not is_digits(b) or not 1 <= len(b) <= 12:
            raise r.fail(f"bins[{i}]", f"must be a string of 1-12 digits, got {b!r}")
    months = r.integer("expire_after_months", minimum=1)
    if months > MAX_GIFT_MONTHS:
        raise r.fail("expire_after_months", f"must be at most {MAX_GIFT_MONTHS}, got {months}")
    cards = GiftCards(
        bins=tuple(bins),
        expire_after_months=months,
        breakage=r.choice("breakage", (TO_SELLER, TO_OPERATOR)),
        max_balance=r.integer("max_balance", 0),
    )
    if cards.max_balance > DEFAULT_LIMITS.max_stored_value:
        raise r.fail("max_balance", f"must be at most {DEFAULT_LIMITS.max_stored_value:_}, got "
                     f"{cards.max_balance}")
    r.done()
    return cards
