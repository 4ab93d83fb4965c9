"""The LMK file and key wrapping under LMK variants."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hsm_sim import primitives as p
from hsm_sim.errors import KeyLengthError, KeyParityError, KeySchemeError, KeyTypeError, LmkError
from hsm_sim.lmk import KeyType, Lmk, create_lmk_file, load_lmk, parse_key_type
from tests.hsm.conftest import FIXED_LMK

CLEAR = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def test_init_creates_a_0600_file(lmk_path: Path) -> None:
    assert stat.S_IMODE(lmk_path.stat().st_mode) == 0o600
    lmk = load_lmk(lmk_path)
    assert len(lmk.check_value()) == 16
    assert lmk.check_value() == json.loads(lmk_path.read_text())["check_value"]
    assert not [f for f in lmk_path.parent.iterdir() if f.name.endswith(".tmp")]


def test_init_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_lmk_file(tmp_path / "lmk.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "lmk.json").stat().st_mode) == 0o600


def test_init_refuses_to_overwrite(lmk_path: Path) -> None:
    before = lmk_path.read_bytes()
    with pytest.raises(LmkError, match="refusing to overwrite"):
        create_lmk_file(lmk_path)
    assert lmk_path.read_bytes() == before


def test_init_force_replaces(lmk_path: Path) -> None:
    old = load_lmk(lmk_path).check_value()
    new = create_lmk_file(lmk_path, force=True)
    assert new.check_value() != old
    assert load_lmk(lmk_path).check_value() == new.check_value()
    assert stat.S_IMODE(lmk_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700 | 0o004])
def test_load_refuses_readable_by_others(lmk_path: Path, mode: int) -> None:
    os.chmod(lmk_path, mode)
    with pytest.raises(LmkError, match="must be 0600"):
        load_lmk(lmk_path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LmkError, match="lps-hsm init"):
        load_lmk(tmp_path / "none.json")


@pytest.mark.parametrize(
    "content,match",
    [
        ("not json", "not a valid LMK file"),
        ('{"format": "other"}', "not an lps-lmk-1 file"),
        ('{"format": "lps-lmk-1", "lmk": "00"}', "24 bytes"),
        ('{"format": "lps-lmk-1", "lmk": "zz"}', "not a valid LMK file"),
        ("[1, 2]", "not a valid LMK file"),
    ],
)
def test_load_malformed(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(LmkError, match=match):
        load_lmk(path)


def test_load_detects_damage(lmk_path: Path) -> None:
    doc = json.loads(lmk_path.read_text())
    doc["lmk"] = ("1" if doc["lmk"][0] != "1" else "2") + doc["lmk"][1:]
    lmk_path.write_text(json.dumps(doc))
    with pytest.raises(LmkError, match="check value mismatch"):
        load_lmk(lmk_path)


def test_lmk_repr_hides_the_key() -> None:
    assert FIXED_LMK.key.hex() not in repr(FIXED_LMK).lower()


def test_wrap_unwrap_round_trip_for_every_type() -> None:
    for kt in KeyType:
        token = FIXED_LMK.wrap(CLEAR, kt)
        assert token[0] == "U" and len(token) == 33
        assert FIXED_LMK.unwrap(token, kt) == CLEAR


def test_every_type_wraps_differently() -> None:
    tokens = {FIXED_LMK.wrap(CLEAR, kt) for kt in KeyType}
    assert len(tokens) == len(KeyType)


def test_key_wrapped_as_one_type_is_refused_as_every_other() -> None:
    # With this fixed LMK and key, each wrong-type unwrap yields bytes without odd parity.
    for wrapped_as in KeyType:
        token = FIXED_LMK.wrap(CLEAR, wrapped_as)
        for used_as in KeyType:
            if used_as is wrapped_as:
                continue
            with pytest.raises(KeyParityError, match=used_as.name):
                FIXED_LMK.unwrap(token, used_as)


def test_halves_are_bound_to_their_position() -> None:
    token = FIXED_LMK.wrap(CLEAR, KeyType.TAK)
    swapped = "U" + token[17:] + token[1:17]
    try:
        clear = FIXED_LMK.unwrap(swapped, KeyType.TAK)
    except KeyParityError:
        return
    assert clear != CLEAR[8:] + CLEAR[:8]


def test_replicated_half_does_not_give_a_single_des_key() -> None:
    token = FIXED_LMK.wrap(CLEAR, KeyType.TAK)
    doubled = "U" + token[1:17] * 2
    try:
        clear = FIXED_LMK.unwrap(doubled, KeyType.TAK)
    except KeyParityError:
        return
    assert clear[:8] != clear[8:]


@pytest.mark.parametrize(
    "token,error",
    [
        ("X" + "0" * 32, KeySchemeError),
        ("", KeySchemeError),
        ("U" + "0" * 31, KeyLengthError),
        ("U" + "G" * 32, KeySchemeError),
    ],
)
def test_unwrap_bad_tokens(token: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        FIXED_LMK.unwrap(token, KeyType.TAK)


def test_wrap_refuses_other_lengths() -> None:
    with pytest.raises(KeyLengthError):
        FIXED_LMK.wrap(CLEAR[:8], KeyType.TAK)


def test_parse_key_type() -> None:
    assert parse_key_type("003") is KeyType.TAK
    assert parse_key_type("tak") is KeyType.TAK
    assert parse_key_type(KeyType.BDK) is KeyType.BDK
    with pytest.raises(KeyTypeError, match="unknown key type"):
        parse_key_type("999")


def test_pin_under_lmk_round_trip_and_binding_to_the_account() -> None:
    block = p.pin_block_iso0("1234", "5555555551234567")
    enc = FIXED_LMK.encrypt_pin_block(block)
    assert len(enc) == 16
    assert FIXED_LMK.decrypt_pin_block(enc) == block
    other = FIXED_LMK.encrypt_pin_block(p.pin_block_iso0("1234", "5555555551234575"))
    assert other != enc  # the same PIN on another card stores differently


def test_lmk_length_is_checked() -> None:
    with pytest.raises(LmkError):
        Lmk(bytes(16))
