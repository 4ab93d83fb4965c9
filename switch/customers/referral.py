"""Referral codes (docs/customers.md "Referrals"): a customer's code to give to a friend, and
the friend's account recorded as referred by it, so the nightly job gives both their bonus on
the friend's first purchase.

A code is 8 symbols of Crockford's base 32, 7 drawn from the CSPRNG and a check symbol
(`switch.core.coupon_code`'s Damm check over GF(32)): a typo is refused before anything is
looked up. Typed in lower case, with spaces or dashes, Persian digits, O for 0 or I/L for 1,
it is the same code.
"""

from __future__ import annotations

import datetime as dt
import secrets

from switch.core import coupon_code
from switch.core.text import to_ascii_digits
from switch.customers.inputs import CustomerError, InvalidValue
from switch.journal.customers import AccountRow, Customers

__all__ = ["RANDOM_SYMBOLS", "code_for", "normalize_code", "refer"]

RANDOM_SYMBOLS = 7
_SEPARATORS = str.maketrans("", "", " -\t\u200c\u00a0")
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_code(typed: str) -> str:
    """The code as stored, or `InvalidValue` saying what is wrong with it."""
    text = to_ascii_digits(typed).translate(_SEPARATORS).upper().translate(_ALIASES)
    if len(text) != RANDOM_SYMBOLS + 1 or any(ch not in coupon_code.ALPHABET for ch in text):
        raise InvalidValue(f"referral code: {RANDOM_SYMBOLS + 1} letters and digits, e.g. "
                           "7KQ4M2XD")
    if coupon_code.check_symbol(text[:-1]) != text[-1]:
        raise InvalidValue("referral code: its check symbol is wrong (a typo?)")
    return text


def _draw() -> str:
    body = "".join(coupon_code.ALPHABET[secrets.randbelow(32)] for _ in range(RANDOM_SYMBOLS))
    return body + coupon_code.check_symbol(body)


def _live(customers: Customers, account_id: int) -> AccountRow:
    row = customers.account(account_id)
    if row is None or row.erased:
        raise CustomerError(f"no account {account_id}")
    return row


def code_for(customers: Customers, account_id: int, now: dt.datetime) -> str:
    """The account's referral code, drawn the first time it is asked for."""
    refs = customers.club.referrals
    with customers.transaction():
        _live(customers, account_id)
        found = refs.code_of(account_id)
        while found is None:
            code = _draw()
            if refs.add_code(account_id, code, now):
                found = code
    return found


def refer(customers: Customers, friend_id: int, typed: str, now: dt.datetime) -> int:
    """Record that `friend_id` came by the code `typed`; the referrer's account id. Refused:
    a code nobody holds, a referrer of another coalition, the friend's own code, a friend
    referred already or who has bought already (the bonus is for a first purchase)."""
    code = normalize_code(typed)
    refs = customers.club.referrals
    with customers.transaction():
        friend = _live(customers, friend_id)
        owner = refs.owner(code)
        if owner is None:
            raise CustomerError("no customer holds this referral code")
        referrer, coalition = owner
        if referrer == friend_id:
            raise CustomerError("a customer cannot refer themselves")
        if coalition != friend.coalition:
            raise CustomerError("the code is a customer's of another coalition")
        if refs.referrer_of(friend_id) is not None:
            raise CustomerError(f"account {friend_id} was referred already")
        pans = [c.pan for c in customers.cards(friend_id)]
        if pans and customers.last_seen(pans) is not None:
            raise CustomerError(f"account {friend_id} has bought already; a referral counts "
                                "before the first purchase")
        refs.record(friend_id, referrer, now)
    return referrer
