"""`[coalition.X.operator]`, `[coalition.X.fee]` and `[store.Y] iban`: read as typed, refused
with the file and the key when wrong (docs/settlement.md "Configuration")."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from switch.config import ConfigError, load_config, parse_config, parse_iban
from tests.settlement import scenario as sc

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def mod97_ok(iban: str) -> bool:
    """ISO 13616 written out: the first four characters moved to the end, letters as 10-35,
    the number mod 97 is 1 (independent of the code's library)."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def sheba(bban: str) -> str:
    """A valid SHEBA for 22 digits, its check digits computed as ISO 13616 says."""
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + "IR00")) % 97
    return f"IR{check:02d}{bban}"


VALID = sheba("0170000000212345678001")


@pytest.fixture
def doc() -> dict[str, Any]:
    with open(sc.EXAMPLE, "rb") as fh:
        return tomllib.load(fh)


def test_the_example_configures_a_fee_an_operator_and_every_store_iban() -> None:
    cfg = load_config(sc.EXAMPLE)
    mall = cfg.coalitions["tehran-mall"]
    assert mall.fee is not None and mall.operator is not None
    assert (mall.fee.per_redeemed_point, mall.fee.per_issued_point, mall.fee.gross_basis_points,
            mall.fee.monthly_per_store, mall.fee.calendar) == (20, 10, 50, 5_000_000, "jalali")
    assert mall.operator.bank_batch == "net" and "\u200c" in mall.operator.name  # ZWNJ kept
    for store in cfg.stores.values():
        assert store.iban is not None and len(store.iban) == 26 and mod97_ok(store.iban)
    assert cfg.stores[sc.S3].iban == "IR950180000000000987654321"


def test_persian_digits_in_the_toml_file_are_read_as_ascii(tmp_path: Path) -> None:
    """A SHEBA pasted from a Persian bank letter: Persian digits, a lower-case ir, groups."""
    text = sc.EXAMPLE.read_text()
    typed = "ir۹۵ ۰۱۸۰ ۰۰۰۰ ۰۰۰۰ ۰۹۸۷ ۶۵۴۳ ۲۱"
    path = tmp_path / "lps.toml"
    path.write_text(text.replace('"IR95 0180 0000 0000 0987 6543 21"', f'"{typed}"'),
                    encoding="utf-8")
    assert typed in path.read_text(encoding="utf-8")
    assert load_config(path).stores[sc.S3].iban == "IR950180000000000987654321"


@pytest.mark.parametrize("typed", [
    VALID,
    VALID.lower(),
    " ".join(VALID[i:i + 4] for i in range(0, 26, 4)),
    VALID.translate(PERSIAN),
    "ir" + " ".join(VALID[2:][i:i + 4] for i in range(0, 24, 4)).translate(PERSIAN),
    "\u200f" + VALID + "\u200e",   # direction marks a copy from Persian text brings
    VALID[:2] + "\u00a0" + VALID[2:],
    VALID[:10] + chr(0x0660 + int(VALID[10])) + VALID[11:],  # an Arabic-Indic digit
])
def test_a_sheba_is_read_as_people_type_it(typed: str) -> None:
    assert parse_iban(typed) == VALID


@pytest.mark.parametrize(("typed", "reason"), [
    ("", "starting with IR"),
    ("DE89370400440532013000", "starting with IR"),
    (VALID[:-1], "got 23 digits"),
    (VALID + "0", "got 25 digits"),
    (VALID[:-1] + ("1" if VALID[-1] != "1" else "2"), "check digits are wrong"),
    (VALID[:4] + VALID[5] + VALID[4] + VALID[6:], "check digits are wrong"),  # two swapped
    (VALID[:10] + "O" + VALID[11:], "holds U+004F"),
    (VALID[:10] + "²" + VALID[11:], "holds U+00B2"),
    (VALID[:10] + "-" + VALID[11:], "holds U+002D"),
    (VALID.replace("IR", "IR\u202e"), "holds U+202E"),  # a bidi override is not a space
])
def test_a_bad_sheba_is_refused_with_the_reason(typed: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace("+", r"\+")):
        parse_iban(typed)


def test_check_digits_agree_with_an_independent_mod97() -> None:
    for bban in ("0120000000004159832601", "0560081180000123456001", "0000000000000000000000"):
        iban = sheba(bban)
        assert mod97_ok(iban) and parse_iban(iban) == iban
        wrong = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
        assert not mod97_ok(wrong)
        with pytest.raises(ValueError, match="check digits"):
            parse_iban(wrong)


def _refused(doc: dict[str, Any], key: str, match: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(doc, "lps.toml")
    assert err.value.file == "lps.toml" and err.value.key == key, str(err.value)
    assert match in err.value.reason, str(err.value)


def test_a_bad_store_iban_names_the_file_and_the_key(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["store"][sc.S2]["iban"] = VALID[:-1] + ("1" if VALID[-1] != "1" else "2")
    _refused(bad, f"store.{sc.S2}.iban", "check digits are wrong")
    bad["store"][sc.S2]["iban"] = 62017000000021234567800
    _refused(bad, f"store.{sc.S2}.iban", "must be a string")
    bad["store"][sc.S2]["iban"] = "  "
    _refused(bad, f"store.{sc.S2}.iban", "must not be empty")


def test_a_store_without_iban_is_a_valid_configuration(doc: dict[str, Any]) -> None:
    del doc["store"][sc.S2]["iban"]
    assert parse_config(doc).stores[sc.S2].iban is None


@pytest.mark.parametrize(("table", "key", "value", "match"), [
    ("fee", "per_redeemed_point", -1, "at least 0"),
    ("fee", "per_issued_point", 1.5, "must be an integer"),
    ("fee", "per_issued_point", 10**13, "at most 1_000_000_000_000"),
    ("fee", "monthly_per_store", "5000000", "must be an integer"),
    ("fee", "gross_basis_points", 10_001, "basis points"),
    ("fee", "calendar", "hijri", "jalali, gregorian"),
    ("fee", "per_redemed_point", 20, "unknown key"),
    ("operator", "bank_batch", "daily", "net, gross"),
    ("operator", "iban", "IR00", "24 digits"),
    ("operator", "name", "Club\u202eevil", "invisible formatting character"),
    ("operator", "name", "", "must not be empty"),
])
def test_bad_fee_and_operator_keys_name_file_and_key(doc: dict[str, Any], table: str, key: str,
                                                     value: object, match: str) -> None:
    doc["coalition"]["tehran-mall"][table][key] = value
    _refused(doc, f"coalition.tehran-mall.{table}.{key}", match)


def test_a_fee_needs_an_operator_and_an_operator_needs_its_iban(doc: dict[str, Any]) -> None:
    no_op = copy.deepcopy(doc)
    del no_op["coalition"]["tehran-mall"]["operator"]
    _refused(no_op, "coalition.tehran-mall.fee", "needs an [operator] table")
    del doc["coalition"]["tehran-mall"]["operator"]["iban"]
    _refused(doc, "coalition.tehran-mall.operator.iban", "is missing")


def test_fee_lines_are_optional_and_default_to_nothing(doc: dict[str, Any]) -> None:
    doc["coalition"]["tehran-mall"]["fee"] = {"monthly_per_store": 1_000_000}
    fee = parse_config(doc).coalitions["tehran-mall"].fee
    assert fee is not None
    assert (fee.per_redeemed_point, fee.per_issued_point, fee.gross_basis_points,
            fee.calendar) == (0, 0, 0, "jalali")
    del doc["coalition"]["tehran-mall"]["fee"]
    del doc["coalition"]["tehran-mall"]["operator"]
    del doc["coalition"]["tehran-mall"]["memberships"]  # club cards are paid to the operator
    mall = parse_config(doc).coalitions["tehran-mall"]
    assert mall.fee is None and mall.operator is None


def test_a_persian_operator_name_is_normalised_as_names_are(doc: dict[str, Any]) -> None:
    doc["coalition"]["tehran-mall"]["operator"]["name"] = "  باشگاه   مشتريان\u200cتهران "
    operator = parse_config(doc).coalitions["tehran-mall"].operator
    assert operator is not None
    name = operator.name
    assert name == "باشگاه مشتریان\u200cتهران"  # Arabic yeh as Persian, spaces folded, ZWNJ kept
