"""Numbers are ASCII `0-9` only: '²', '٥' and full-width digits are refused at every input.

`str.isdigit()` is true for all three and `int()` converts two of them, so every digit check in
iso8583/, hsm_sim/ and terminal_agent/ also requires ASCII. These packages do not import
`switch`; each keeps its own one-line helper. The source check below holds them to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from iso8583 import DecodeError, EncodeError, Message, load_profile
from iso8583.loyalty import (
    AmountEntry,
    OriginalData,
    build_de54,
    build_de90,
    parse_de54,
    parse_de90,
    parse_tlv,
)
from iso8583.profile import SCHEMA_DIR

ROOT = Path(__file__).resolve().parents[2]
UNICODE_DIGITS = ["²", "٥", "５"]  # superscript two, Arabic-Indic five, full-width five


def _receiver(node: ast.AST) -> str | None:
    """`x` of a call `x.isdigit()` / `x.isascii()`, as source text."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and not node.args):
        return ast.unparse(node.func.value)
    return None


def unguarded_isdigit(path: Path) -> list[str]:
    """`.isdigit()` calls not preceded, in the same `and`, by `.isascii()` on the same value."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            asciis: set[str] = set()
            for operand in node.values:
                target = _receiver(operand)
                if target is None:
                    continue
                assert isinstance(operand, ast.Call) and isinstance(operand.func, ast.Attribute)
                if operand.func.attr == "isascii":
                    asciis.add(target)
                elif operand.func.attr == "isdigit" and target in asciis:
                    guarded.add(id(operand))
    return [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("isdigit", "isnumeric", "isdecimal")
            and id(node) not in guarded]


@pytest.mark.parametrize("package", ["iso8583", "hsm_sim", "terminal_agent"])
def test_every_digit_check_requires_ascii(package: str) -> None:
    found = [hit for path in sorted((ROOT / package).rglob("*.py"))
             for hit in unguarded_isdigit(path)]
    assert found == [], f"isdigit() without isascii() first: {found}"


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
@pytest.mark.parametrize("profile_name", ["ascii", "bcd", "iso87a", "iso87b"])
def test_encoder_refuses_unicode_digits_in_every_numeric_type(profile_name: str,
                                                             digit: str) -> None:
    profile = load_profile(profile_name)
    tpdu = bytes.fromhex("6000010002") if profile.tpdu_size else None
    for number, value in ((2, f"628000123456789{digit}"), (11, f"00000{digit}"),
                          (35, f"6280001234567895=2912{digit}"), (28, f"D0000010{digit}"),
                          (4, f"{digit}" * 12)):
        with pytest.raises(EncodeError):
            profile.encode(Message("0200", {number: value}, tpdu))


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_structured_field_helpers_refuse_unicode_digits(digit: str) -> None:
    with pytest.raises(EncodeError):
        build_de54([AmountEntry("00", "02", f"99{digit}", 5)])
    with pytest.raises(DecodeError):
        parse_de54(f"000299{digit}C000000000005")
    with pytest.raises(DecodeError):
        parse_de54(f"0002999C00000000000{digit}")
    with pytest.raises(EncodeError):
        build_de90(OriginalData("0200", f"00000{digit}", "1123093015"))
    with pytest.raises(DecodeError):
        parse_de90(f"02000000{digit}1" + "1123093015" + "0" * 22)
    with pytest.raises(DecodeError):
        parse_tlv(f"RP00{digit}7")  # a TLV length in other digits


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_decoder_refuses_unicode_digits_in_a_unicode_profile(tmp_path: Path, digit: str) -> None:
    """A profile whose text travels as UTF-8: the decoded characters are checked, not bytes."""
    path = tmp_path / "utf8.toml"
    path.write_text(
        f'name = "utf8"\ndictionary = "{SCHEMA_DIR / "iso8583_1987.toml"}"\n'
        'charset = "utf-8"\nmti = "chars"\nbitmap = "binary"\nlength_prefix = "chars"\n'
        '[types.n]\nencoding = "chars"\n[types.z]\nencoding = "chars"\n'
        '[types."x+n"]\nencoding = "chars"\n[types.b]\nencoding = "binary"\n'
    )
    profile = load_profile(path)
    good = profile.encode(Message("0200", {2: "6280001234567895", 11: "000001"}))
    assert profile.decode(good).fields[11] == "000001"
    wide = digit.encode("utf-8")
    with pytest.raises(DecodeError) as in_field:
        profile.decode(good.replace(b"000001", b"00000" + wide))
    assert in_field.value.field == 11
    with pytest.raises(DecodeError) as in_prefix:
        profile.decode(good.replace(b"166280", b"1" + wide + b"6280"))
    assert in_prefix.value.field == 2
    with pytest.raises(DecodeError) as in_mti:
        profile.decode(("020" + digit).encode("utf-8") + good[4:])
    assert in_mti.value.field == 0
