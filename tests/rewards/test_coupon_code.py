"""Coupon codes (docs/programs.md "Coupons"): the alphabet, the check symbol, the normal form."""

from __future__ import annotations

import secrets

import pytest

from switch.core import coupon_code
from switch.core.coupon_code import ALPHABET, LENGTH, check_symbol, display, new_code, normalize

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def test_a_new_code_is_sixteen_symbols_of_the_alphabet_and_checks() -> None:
    for _ in range(200):
        code = new_code(secrets.randbelow)
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)
        assert normalize(code) == (code, "")
    assert not set("ILOU") & set(ALPHABET)


def test_every_single_wrong_symbol_and_every_adjacent_swap_is_caught() -> None:
    code = new_code(secrets.randbelow)
    for i in range(LENGTH):
        for ch in ALPHABET:
            if ch != code[i]:
                assert normalize(code[:i] + ch + code[i + 1:])[0] is None
    for i in range(LENGTH - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            code2, why = normalize(swapped)
            assert code2 is None and "check symbol" in why


def test_what_a_cashier_types_is_read_as_the_printed_code() -> None:
    code = new_code(secrets.randbelow)
    printed = display(code)
    assert normalize(printed)[0] == code
    assert normalize(printed.lower())[0] == code
    assert normalize(" ".join(code[i:i + 4] for i in range(0, LENGTH, 4)))[0] == code
    assert normalize(code.translate(PERSIAN))[0] == code
    assert normalize(printed.replace("-", "\u200c"))[0] == code  # a Persian keyboard's ZWNJ
    body = "0" * 15
    assert normalize("O" * 15 + check_symbol(body))[0] == body + check_symbol(body)


@pytest.mark.parametrize("typed", ["", "ABC", "A" * 70, "ÄBCD-EFGH-JKMN-PQRS",
                                   "AAAA-AAAA-AAAA-AAA!", "AAAA-AAAA-AAAA-AAAU"])
def test_what_cannot_be_a_code_is_refused_without_echoing_it(typed: str) -> None:
    code, why = normalize(typed)
    assert code is None and why
    assert not typed or typed not in why


def test_the_digest_is_of_the_normal_form_and_not_the_code() -> None:
    code = new_code(secrets.randbelow)
    d = coupon_code.digest(code)
    assert len(d) == 64 and code not in d
    assert coupon_code.digest(normalize(code.lower())[0] or "") == d
