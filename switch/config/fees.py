"""The coalition's operator, its fee and the bank accounts (docs/settlement.md, "The
coalition's fee" and "The bank transfer batch")."""

from __future__ import annotations

from stdnum.iso7064 import mod_97_10

from switch.config.reader import Reader
from switch.core.catalog import FeeSchedule, Operator
from switch.core.text import TextError, is_digits, normalize_text, to_ascii_digits

__all__ = ["BANK_BATCHES", "BASIS_POINTS", "CALENDARS", "MAX_FEE", "fee", "iban", "operator",
           "parse_iban"]

#: Bounds that catch a typo (a fee in the billions per point) without limiting real schedules.
MAX_FEE = 10**12
BASIS_POINTS = 10_000
CALENDARS = ("jalali", "gregorian")
BANK_BATCHES = ("net", "gross")
_IBAN_SPACES = frozenset(" \t\u00a0\u200e\u200f")


def parse_iban(text: str) -> str:
    """An Iranian IBAN (SHEBA) as typed, in its compact form `IR` + 24 ASCII digits.

    Spaces between groups (and the invisible direction marks a copy from Persian text brings)
    are dropped, Persian and Arabic-Indic digits read as ASCII, `ir` accepted; the check digits
    are ISO 13616's mod 97 (python-stdnum's ISO 7064 Mod 97-10). Raises `ValueError` saying
    what is wrong without repeating the number.
    """
    bare = "".join(ch for ch in to_ascii_digits(text) if ch not in _IBAN_SPACES)
    if bare[:2].upper() != "IR":
        raise ValueError("must be an Iranian IBAN (SHEBA) starting with IR")
    digits = bare[2:]
    if not is_digits(digits):
        bad = next((ch for ch in digits if not is_digits(ch)), "")
        raise ValueError("must be IR followed by 24 digits (0-9 or ۰-۹, spaces allowed)"
                         + (f"; it holds U+{ord(bad):04X}" if bad else ""))
    if len(digits) != 24:
        raise ValueError(f"must be IR followed by 24 digits, got {len(digits)} digits")
    number = "IR" + digits
    if not mod_97_10.is_valid(number[4:] + number[:4]):
        raise ValueError("its check digits are wrong (ISO 13616 mod 97): a digit was probably "
                         "mistyped")
    return number


def iban(r: Reader, name: str) -> str:
    value = r.string(name)
    try:
        return parse_iban(value)
    except ValueError as exc:
        raise r.fail(name, str(exc)) from None


def operator(coalition: Reader) -> Operator | None:
    """`[coalition.X.operator]`: name (Persian with ZWNJ allowed), iban, bank_batch."""
    r = coalition.section("operator")
    if r is None:
        return None
    try:
        name = normalize_text(r.string("name"), "the name", max_length=120)
    except TextError as exc:
        raise r.fail("name", str(exc)) from None
    result = Operator(name=name, iban=iban(r, "iban"),
                      bank_batch=r.choice("bank_batch", BANK_BATCHES))
    r.done()
    return result


def fee(coalition: Reader) -> FeeSchedule | None:
    """`[coalition.X.fee]`: integer rials per point and per store-month, basis points."""
    r = coalition.section("fee")
    if r is None:
        return None
    schedule = FeeSchedule(
        per_redeemed_point=r.integer("per_redeemed_point", 0),
        per_issued_point=r.integer("per_issued_point", 0),
        gross_basis_points=r.integer("gross_basis_points", 0),
        monthly_per_store=r.integer("monthly_per_store", 0),
        calendar=r.choice("calendar", CALENDARS),
    )
    for name in ("per_redeemed_point", "per_issued_point", "monthly_per_store"):
        if getattr(schedule, name) > MAX_FEE:
            raise r.fail(name, f"must be at most {MAX_FEE:_} rials, got {getattr(schedule, name)}")
    if schedule.gross_basis_points > BASIS_POINTS:
        raise r.fail("gross_basis_points", f"is in basis points (1/10,000): at most "
                     f"{BASIS_POINTS}, got {schedule.gross_basis_points}")
    r.done()
    return schedule
