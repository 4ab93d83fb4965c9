"""Profiles are data: schema errors are clear, and a new encoding is only a new file."""

from __future__ import annotations

from pathlib import Path

import pytest

from iso8583 import Message, SchemaError, available_profiles, load_profile, lps87_rules
from iso8583.profile import SCHEMA_DIR


def test_shipped_profiles_cover_all_128_fields() -> None:
    assert set(available_profiles()) >= {"ascii", "bcd", "iso87a", "iso87b"}
    for name in available_profiles():
        profile = load_profile(name)
        assert all(profile.field(n) is not None for n in range(2, 129))


def test_ebcdic_profile_is_only_a_data_change(tmp_path: Path) -> None:
    path = tmp_path / "ebcdic.toml"
    path.write_text(
        f'name = "ebcdic"\ndictionary = "{SCHEMA_DIR / "iso8583_1987.toml"}"\n'
        'charset = "cp500"\nmti = "chars"\nbitmap = "binary"\nlength_prefix = "chars"\n'
        '[types.n]\nencoding = "chars"\n[types.z]\nencoding = "chars"\n'
        '[types."x+n"]\nencoding = "chars"\n[types.b]\nencoding = "binary"\n'
    )
    profile = load_profile(path)
    msg = Message("0200", {2: "6280001234567893", 3: "000000", 41: "T0000001"})
    raw = profile.encode(msg)
    assert raw.startswith("0200".encode("cp500"))
    assert "6280001234567893".encode("cp500") in raw
    assert "T0000001".encode("cp500") in raw
    assert profile.decode(raw) == msg


def test_iso87a_uses_hex_bitmaps_and_hex_binary() -> None:
    profile = load_profile("iso87a")
    raw = profile.encode(Message("0800", {11: "000001", 52: b"\x01\x02\x03\x04\x05\x06\x07\x08",
                                          70: "301"}))
    assert raw == (b"0800" + b"8020000000001000" + b"0400000000000000" + b"000001"
                   + b"0102030405060708" + b"301")


def test_iso87b_llnum_pads_right_and_if_char_currency() -> None:
    profile = load_profile("iso87b")
    raw = profile.encode(Message("0200", {2: "628000123456789", 49: "IRR"}))
    assert raw == bytes.fromhex("0200" "4000000000008000" "15" "6280001234567890") + b"IRR"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('dictionary = "nowhere.toml"', "cannot read"),
        ("this is not toml", "not valid TOML"),
        ('dictionary = "{dict}"\nbitmap = "octal"', "bitmap"),
        ('dictionary = "{dict}"\n[fields.2]\ncolour = "red"', "unknown keys"),
        ('dictionary = "{dict}"\n[fields.2]\ntype = "q"', "type"),
        ('dictionary = "{dict}"\n[types.n]\nencoding = "morse"', "encoding"),
        ('dictionary = "{dict}"\ncharset = "klingon"', "charset"),
        ('dictionary = "{dict}"\n[types.n]\nencoding = "chars"\n[types.z]\nencoding = "chars"\n'
         '[types.b]\nencoding = "binary"\n[types."x+n"]\nencoding = "chars"\ncheck_sign = "no"',
         "check_sign"),
    ],
)
def test_bad_profiles_name_file_key_and_problem(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body.replace("{dict}", str(SCHEMA_DIR / "iso8583_1987.toml")))
    with pytest.raises(SchemaError, match=match) as info:
        load_profile(path)
    assert str(path) in str(info.value)


def test_unknown_profile_name_lists_known_ones() -> None:
    with pytest.raises(SchemaError, match="ascii"):
        load_profile("martian")


def test_lps87_subset_matches_protocol_table() -> None:
    rules = lps87_rules()
    assert {2, 3, 4, 7, 11, 35, 48, 52, 54, 62, 64, 70, 90, 128} <= set(rules["fields"])
    assert rules["mandatory"]["all"] == [7, 11, 41]
