"""Primitives beyond the vectors: algebraic properties, round trips, and every error path."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim import primitives as p
from hsm_sim.errors import (
    DukptError,
    HsmError,
    InputError,
    KeyLengthError,
    PanError,
    PinBlockError,
    PinError,
)

H = bytes.fromhex
KEY16 = H("0123456789ABCDEFFEDCBA9876543210")
AES_KEY = H("C1D0F8FB4958670DBA40AB1F3752EF0D")

pins = st.text(alphabet="0123456789", min_size=4, max_size=12)
pans = st.text(alphabet="0123456789", min_size=13, max_size=19)
des_keys = st.binary(min_size=16, max_size=16)


def test_no_deprecation_warning_from_tdes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        key = os.urandom(16)  # a fresh key: nothing cached
        p.tdes_encrypt_ecb(key, bytes(8))
        p.retail_mac(key, b"abc")
        p.tdes_cmac(key, b"abc")
        p.tdes_cbc_encrypt(key, bytes(16))


def test_single_and_double_length_expansion() -> None:
    k = H("0123456789ABCDEF")
    assert p.tdes_encrypt_ecb(k, bytes(8)) == p.tdes_encrypt_ecb(k * 3, bytes(8))
    assert p.tdes_encrypt_ecb(KEY16, bytes(8)) == p.tdes_encrypt_ecb(KEY16 + KEY16[:8], bytes(8))
    block = p.tdes_encrypt_ecb(KEY16, b"12345678")
    assert p.tdes_decrypt_ecb(KEY16, block) == b"12345678"


@settings(max_examples=50, deadline=None)
@given(key=des_keys, block=st.binary(min_size=8, max_size=8))
def test_retail_mac_of_one_block_is_tdes_ecb(key: bytes, block: bytes) -> None:
    # Alg 3 over one block is E_K1(D_K2(E_K1(x))): two-key TDES encryption of the block.
    assert p.retail_mac(key, block, 1) == p.tdes_encrypt_ecb(key, block)


@settings(max_examples=50, deadline=None)
@given(key=des_keys, data=st.binary(min_size=9, max_size=100))
def test_retail_mac_is_cbc_then_tdes(key: bytes, data: bytes) -> None:
    padded = data + bytes(-len(data) % 8)
    chain = p.tdes_cbc_encrypt(key[:8], padded[:-8])[-8:]
    last = bytes(a ^ b for a, b in zip(chain, padded[-8:], strict=True))
    assert p.retail_mac(key, data, 1) == p.tdes_encrypt_ecb(key, last)


def test_retail_mac_padding_rules() -> None:
    assert p.retail_mac(KEY16, b"", 1) == p.tdes_encrypt_ecb(KEY16, bytes(8))
    assert p.retail_mac(KEY16, b"", 2) == p.tdes_encrypt_ecb(KEY16, H("8000000000000000"))
    # method 1 cannot tell trailing zeros apart; method 2 can
    assert p.retail_mac(KEY16, b"ab", 1) == p.retail_mac(KEY16, b"ab\x00", 1)
    assert p.retail_mac(KEY16, b"ab", 2) != p.retail_mac(KEY16, b"ab\x00", 2)


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda: p.retail_mac(KEY16[:8], b"x"), KeyLengthError),
        (lambda: p.retail_mac(KEY16 + KEY16[:8], b"x"), KeyLengthError),
        (lambda: p.retail_mac(KEY16, b"x", 3), InputError),
        # A str, and an algorithm the Literal leaves out: the run-time refusals under test.
        (lambda: p.retail_mac(KEY16, "text"), InputError),  # type: ignore[arg-type]
        (lambda: p.kcv(KEY16[:15]), KeyLengthError),
        (lambda: p.kcv(KEY16, "des3"), InputError),  # type: ignore[arg-type]
        (lambda: p.kcv(KEY16, "tdes", 9), InputError),
        (lambda: p.kcv(KEY16, "tdes", 0), InputError),
        (lambda: p.kcv(KEY16[:10], "aes"), KeyLengthError),
        (lambda: p.aes_cmac(KEY16[:8], b""), KeyLengthError),
        (lambda: p.tdes_encrypt_ecb(KEY16, b"1234567"), InputError),
        (lambda: p.tdes_decrypt_ecb(KEY16, b"123456789"), InputError),
        (lambda: p.tdes_encrypt_ecb(b"short", bytes(8)), KeyLengthError),
    ],
)
def test_bad_inputs_raise_specific_errors(call: Callable[[], object],
                                          error: type[HsmError]) -> None:
    with pytest.raises(error):
        call()


def test_kcv_lengths() -> None:
    assert p.kcv(KEY16, length=2) == H("08D7")
    assert len(p.kcv(KEY16, length=8)) == 8
    assert len(p.kcv(AES_KEY, "aes", length=16)) == 16


def test_parity_helpers() -> None:
    assert p.has_odd_parity(KEY16)
    fixed = p.des_odd_parity(bytes(16))
    assert p.has_odd_parity(fixed) and fixed == b"\x01" * 16
    assert not p.has_odd_parity(bytes(16))


# ---------------------------------------------------------------- PIN blocks


@settings(deadline=None)
@given(pin=pins, pan=pans)
def test_iso0_round_trip(pin: str, pan: str) -> None:
    block = p.pin_block_iso0(pin, pan)
    assert len(block) == 8
    assert p.decode_pin_block_iso0(block, pan) == pin


@settings(max_examples=50, deadline=None)
@given(pin=pins, pan=st.text(alphabet="0123456789", min_size=1, max_size=19))
def test_iso4_round_trip(pin: str, pan: str) -> None:
    block = p.encrypt_pin_block_iso4(AES_KEY, pin, pan)
    assert len(block) == 16
    assert p.decrypt_pin_block_iso4(AES_KEY, block, pan) == pin


def test_iso4_uses_fresh_random_fill() -> None:
    pan = "432198765432109870"
    assert p.encrypt_pin_block_iso4(AES_KEY, "1234", pan) != p.encrypt_pin_block_iso4(
        AES_KEY, "1234", pan
    )


def test_iso4_short_pan_is_left_padded() -> None:
    assert p.pan_field_iso4("123") == H("0000000000123" + "0" * 19)


@pytest.mark.parametrize("pin", ["123", "1234567890123", "12a4", "١٢٣٤", "", "12 34"])
def test_bad_pins(pin: str) -> None:
    with pytest.raises(PinError):
        p.pin_block_iso0(pin, "5555555551234567")
    with pytest.raises(PinError):
        p.encrypt_pin_block_iso4(AES_KEY, pin, "5555555551234567")


def test_pin_must_be_a_string() -> None:
    with pytest.raises(PinError):
        p.pin_block_iso0(1234, "5555555551234567")  # type: ignore[arg-type]


@pytest.mark.parametrize("pan", ["555555555123", "55555555512345678901", "55555555512345x7", ""])
def test_bad_pans(pan: str) -> None:
    with pytest.raises(PanError):
        p.pin_block_iso0("1234", pan)


@pytest.mark.parametrize(
    "clear_field,reason",
    [
        ("141234FFFFFFFFFF", "starts with nibble 1"),
        ("031234FFFFFFFFFF", "outside 4..12"),
        ("0D1234567890123F", "outside 4..12"),
        ("04123AFFFFFFFFFF", "non-decimal"),
        ("041234FFFFFFFFF0", "filler"),
    ],
)
def test_bad_iso0_blocks(clear_field: str, reason: str) -> None:
    pan = "5555555551234567"
    pan_field = H("0000" + pan[-13:-1])
    block = bytes(a ^ b for a, b in zip(H(clear_field), pan_field, strict=True))
    with pytest.raises(PinBlockError, match=reason):
        p.decode_pin_block_iso0(block, pan)


def test_iso0_block_of_wrong_length() -> None:
    with pytest.raises(PinBlockError):
        p.decode_pin_block_iso0(bytes(7), "5555555551234567")


def test_iso4_block_under_wrong_key_is_rejected() -> None:
    pan = "432198765432109870"
    block = p.encrypt_pin_block_iso4(AES_KEY, "1234", pan, random_fill=bytes(8))
    with pytest.raises(PinBlockError):
        p.decrypt_pin_block_iso4(bytes(16), block, pan)
    with pytest.raises(PinBlockError):
        p.decrypt_pin_block_iso4(AES_KEY, block[:8], pan)


# ---------------------------------------------------------------- DUKPT


IPEK = H("6AC292FAA1315B4D858AB3A3D7D5933A")


@pytest.mark.parametrize(
    "ksn,match",
    [
        ("FFFF9876543210E00000", "counter is 0"),
        ("FFFF9876543210E007FF", "more than 10 one bits"),
        ("FFFF9876543210E000", "10 bytes"),
    ],
)
def test_tdes_dukpt_rejects_impossible_ksns(ksn: str, match: str) -> None:
    with pytest.raises(DukptError, match=match):
        p.tdes_dukpt_key(IPEK, H(ksn))


def test_tdes_dukpt_bad_arguments() -> None:
    ksn = H("FFFF9876543210E00001")
    with pytest.raises(InputError, match="unknown TDES DUKPT usage"):
        p.tdes_dukpt_key(IPEK, ksn, "mac")
    with pytest.raises(KeyLengthError):
        p.tdes_dukpt_key(IPEK[:8], ksn)
    with pytest.raises(KeyLengthError):
        p.tdes_dukpt_ipek(IPEK[:8], ksn)


def test_tdes_dukpt_usages_give_distinct_keys() -> None:
    ksn = H("FFFF9876543210E00001")
    keys = {p.tdes_dukpt_key(IPEK, ksn, u) for u in p.TDES_DUKPT_USAGES}
    assert len(keys) == len(p.TDES_DUKPT_USAGES)


def test_aes_dukpt_bad_arguments() -> None:
    ik = H("1273671EA26AC29AFA4D1084127652A1")
    with pytest.raises(DukptError, match="counter is 0"):
        p.aes_dukpt_key(ik, H("123456789012345600000000"))
    with pytest.raises(DukptError, match="12 bytes"):
        p.aes_dukpt_key(ik, H("1234567890123456000001"))
    with pytest.raises(InputError, match="unknown AES DUKPT usage"):
        p.aes_dukpt_key(ik, H("123456789012345600000001"), "mac")
    with pytest.raises(DukptError, match="8 bytes"):
        p.aes_dukpt_initial_key(ik, H("12345678"))
    with pytest.raises(KeyLengthError):
        p.aes_dukpt_initial_key(ik[:8], H("1234567890123456"))


def test_aes_dukpt_working_keys_are_aes128_for_every_bdk_size() -> None:
    ik256 = p.aes_dukpt_initial_key(bytes(range(32)), H("1234567890123456"))
    assert len(ik256) == 32
    ksn = H("123456789012345600000001")
    assert len(p.aes_dukpt_key(ik256, ksn, "transaction")) == 32
    assert len(p.aes_dukpt_key(ik256, ksn, "pin")) == 16
