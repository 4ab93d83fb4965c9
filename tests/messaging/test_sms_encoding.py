"""SMS coding: UCS-2 for Persian, UDH concatenation for long texts (TS 23.040 §9.2.3.24.1)."""

from __future__ import annotations

import pytest

from switch.messaging.sms_encoding import SmsTooLong, encode_sms


def test_plain_ascii_in_one_sms_is_default_alphabet() -> None:
    e = encode_sms("Your code is 1234", 7, 6)
    assert (e.data_coding, e.esm_class, e.parts) == (0, 0, (b"Your code is 1234",))


def test_ascii_outside_the_shared_set_goes_ucs2() -> None:
    # '@', '_' and '$' have other codes in the GSM default alphabet
    assert encode_sms("mail me @ home_1 $", 7, 6).data_coding == 8


def test_persian_fits_seventy_characters_in_one_sms() -> None:
    text = "س" * 70
    e = encode_sms(text, 7, 6)
    assert (e.data_coding, e.esm_class, len(e.parts)) == (8, 0, 1)
    assert e.parts[0].decode("utf-16-be") == text


def test_long_persian_is_concatenated_with_one_reference() -> None:
    text = "سلام علی‌رضا! " * 20            # 280 characters
    e = encode_sms(text, 300, 6)
    assert (e.data_coding, e.esm_class) == (8, 0x40)
    assert len(e.parts) == 5
    for number, part in enumerate(e.parts, start=1):
        assert part[:6] == bytes((5, 0, 3, 300 % 256, 5, number))
        assert len(part) <= 140
    assert b"".join(p[6:] for p in e.parts).decode("utf-16-be") == text


def test_a_surrogate_pair_is_never_cut() -> None:
    text = "ا" * 66 + "🎁" + "ب" * 80
    e = encode_sms(text, 1, 6)
    for part in e.parts:
        part[6:].decode("utf-16-be")      # each part decodes on its own
    assert b"".join(p[6:] for p in e.parts).decode("utf-16-be") == text


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(SmsTooLong, match="7 SMS parts"):
        encode_sms("س" * (67 * 6 + 1), 1, 6)
    with pytest.raises(ValueError):
        encode_sms("", 1, 6)
