"""Digits and typed names: ASCII digits only, Persian digits converted, ZWNJ accepted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switch.core.text import (
    TextError,
    is_digits,
    normalize_text,
    parse_digits,
    parse_int,
    search_key,
    to_ascii_digits,
)


@pytest.mark.parametrize("text", ["", "12a", "002²", "٥", "۱۲", "１２", "1 2", "-1", "+1"])
def test_is_digits_refuses_everything_but_ascii(text: str) -> None:
    assert not is_digits(text)


def test_is_digits_length() -> None:
    assert is_digits("0123456789")
    assert is_digits("000001", 6)
    assert not is_digits("00001", 6)


@given(st.text())
def test_is_digits_means_int_of_ascii(text: str) -> None:
    if is_digits(text):
        assert set(text) <= set("0123456789")
        assert str(int(text)).zfill(len(text)) == text


def test_persian_and_arabic_indic_digits_convert() -> None:
    assert to_ascii_digits("۰۹۱۲۳۴۵۶۷۸۹") == "09123456789"
    assert to_ascii_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert to_ascii_digits("١٢x") == "12x"
    assert to_ascii_digits("１２") == "１２"  # full-width is not converted: refused later


def test_parse_digits() -> None:
    assert parse_digits("۶۲۸۰ ۰۰۱۲ ۳۴۵۶ ۷۸۹۵", "card number", lengths=range(13, 20)) \
        == "6280001234567895"
    with pytest.raises(TextError, match="card number must be digits"):
        parse_digits("abcd", "card number")
    with pytest.raises(TextError, match="must be 13-19 digits, got 4"):
        parse_digits("1234", "card number", lengths=range(13, 20))
    with pytest.raises(TextError, match="must be digits"):
        parse_digits("12²", "amount")


def test_parse_int() -> None:
    assert parse_int("۱۲۰", "points") == 120
    assert parse_int(" -۵ ", "points") == -5
    with pytest.raises(TextError, match="whole number"):
        parse_int("1.5", "points")
    with pytest.raises(TextError, match="at most 10"):
        parse_int("11", "points", maximum=10)
    with pytest.raises(TextError, match="at least 1"):
        parse_int("0", "points", minimum=1)
    # int() refuses more than 4,300 digits with a ValueError of its own: refused before it,
    # and the refusal quotes at most 20 characters of what was typed
    assert parse_int("9" * 30, "points") == 10**30 - 1
    for typed in ("9" * 31, "-" + "۹" * 10_000):
        with pytest.raises(TextError, match="at most 30 digits"):
            parse_int(typed, "points")
    with pytest.raises(TextError) as info:
        parse_int("x" * 10_000, "points")
    assert len(str(info.value)) < 80


def test_zwnj_names_are_accepted_and_arabic_letters_become_persian() -> None:
    assert normalize_text("زهرا حسین\u200cزاده") == "زهرا حسین\u200cزاده"
    assert normalize_text("  علي   كريمي ") == "علی کریمی"
    assert normalize_text("e\u0301") == "\u00e9"  # NFC


@pytest.mark.parametrize("text, reason", [
    ("a\x00b", "control character"),
    ("a\nb", "one line"),
    ("a\ud800b", "surrogate"),
    ("abc\u202edcba", "invisible formatting"),
    ("   ", "empty"),
])
def test_refused_text(text: str, reason: str) -> None:
    with pytest.raises(TextError, match=reason):
        normalize_text(text, "name")


def test_max_length() -> None:
    with pytest.raises(TextError, match="longer than 3"):
        normalize_text("abcd", "name", max_length=3)


def test_search_key_folds_spellings() -> None:
    keys = {search_key(s) for s in ("علی\u200cرضا", "علیرضا", "علي رضا", "عليرضا")}
    assert len(keys) == 1
    assert search_key("Ali Reza") == search_key("alireza")
    assert search_key("حسین\u200cزاده") == search_key("حسينزاده")
