"""What `lps` makes of typed values, and the exit codes every `lps` command keeps (docs/cli.md).

Values are read as people type them: Persian (۰-۹) and Arabic-Indic digits become ASCII on
input (`switch.core.text`), names are normalised, and a value that cannot be accepted raises
`InputError` naming the option, which `lps` prints as one line and exits 3. The converters are
argparse `type=` callables; `InputError` is deliberately not a `ValueError`, so argparse does
not turn it into a usage error (exit 2) but lets it reach `lps`'s entry point, which maps every
`CommandError` to its exit code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

from switch.core.catalog import SwitchSettings
from switch.core.luhn import luhn_ok
from switch.core.text import TextError, is_digits, normalize_text, to_ascii_digits
from switch.exit_codes import (
    EXIT_AUDIT,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SEALED,
    EXIT_SERVE,
    EXIT_USAGE,
    CommandError,
)

PHONE = re.compile(r"\+?[0-9]{7,15}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: The dates a command takes. Commands look back from the date they are given (a settlement's
#: lookback, a report's year before), and `datetime.date` holds the years 1 to 9999 only:
#: these bounds leave a century on either side.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9899, 12, 31)
#: The largest id a row can have: SQLite's INTEGER and PostgreSQL's BIGINT are 64-bit.
MAX_ID = 2**63 - 1


__all__ = ["EXIT_AUDIT", "EXIT_FAILED", "EXIT_INPUT", "EXIT_INTERRUPTED", "EXIT_OK",
           "EXIT_SEALED", "EXIT_SERVE", "EXIT_USAGE", "CommandError"]


class InputError(CommandError):
    """A typed value that cannot be accepted: exit 3, the message names the value's option."""

    exit_code = EXIT_INPUT


class Failed(CommandError):
    """The command was understood but cannot be done (nothing changed): exit 1."""


def missing_database(database: Path) -> Failed:
    """The one sentence every command says when the switch's database is not there."""
    return Failed(f"no switch database at {database} (check [switch] database in the "
                  "configuration; `lps serve` or `lps cards enroll` creates it)")


def require_database(database: Path) -> Path:
    if not database.exists():
        raise missing_database(database)
    return database


def require_journal(settings: SwitchSettings) -> str | Path:
    """Where the journal is: a PostgreSQL URL as configured (its server says whether it is
    there), or the SQLite file, which must exist."""
    if settings.journal_url is not None:
        return settings.journal_url
    return require_database(settings.database)


def audit_home(settings: SwitchSettings) -> Path:
    """The name a command's audit rows go beside (lps/console/cli_audit.py): the SQLite
    journal, which must exist, or on PostgreSQL this node's name in `[switch] state_dir`
    (docs/deploy.md, "The switch on PostgreSQL")."""
    if settings.journal_url is None:
        return require_database(settings.database)
    return settings.database


def shown(text: str) -> str:
    """A typed value fit to quote back in an error: short, and never a whole card number.

    The typist's own typo stays readable ("abcd", "12ab"); a run of 11 or more digits keeps its
    first 6 and last 4 digits only, as card numbers are masked everywhere.
    """
    text = to_ascii_digits(text)[:40]
    digits = [i for i, ch in enumerate(text) if ch.isascii() and ch.isdigit()]
    if len(digits) >= 11:
        hidden = set(digits[6:-4])
        text = "".join("*" if i in hidden else ch for i, ch in enumerate(text))
    return repr(text)


def card_number(text: str) -> str:
    """A card number as typed (spaces and dashes between groups allowed), Luhn-checked."""
    bare = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    if not is_digits(bare):
        raise InputError(f"{shown(text)} is not a card number (13-19 digits, 0-9 or ۰-۹)")
    if not 13 <= len(bare) <= 19:
        raise InputError(f"a card number has 13-19 digits; {len(bare)} were given")
    if not luhn_ok(bare):
        raise InputError(f"{shown(bare)} is not a card number: its check digit (Luhn) is "
                         "wrong, a digit was probably mistyped")
    return bare


def whole(what: str, minimum: int | None = None, maximum: int | None = None,
          ) -> Callable[[str], int]:
    """An argparse type: a whole number within bounds, Persian digits accepted."""

    def convert(text: str) -> int:
        raw = to_ascii_digits(text).strip().replace("_", "")
        body = raw[1:] if raw.startswith("-") else raw
        if not is_digits(body) or len(body) > 18:
            raise InputError(f"{what} must be a whole number, got {shown(text)}")
        value = int(raw)
        if minimum is not None and value < minimum:
            raise InputError(f"{what} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise InputError(f"{what} must be at most {maximum}, got {value}")
        return value

    return convert


def digits(what: str, lengths: range) -> Callable[[str], str]:
    """An argparse type: an ASCII digit string (a BIN, say) of one of `lengths`."""

    def convert(text: str) -> str:
        bare = to_ascii_digits(text).strip()
        if not is_digits(bare) or len(bare) not in lengths:
            raise InputError(f"{what} must be {lengths.start}-{lengths.stop - 1} digits, "
                             f"got {shown(text)}")
        return bare

    return convert


def day(what: str) -> Callable[[str], dt.date]:
    """An argparse type: a date YYYY-MM-DD (Persian digits accepted; Gregorian)."""

    def convert(text: str) -> dt.date:
        bare = to_ascii_digits(text).strip()
        try:
            if not DATE.fullmatch(bare):
                raise ValueError
            value = dt.date.fromisoformat(bare)
        except ValueError:
            raise InputError(f"{what} must be a date YYYY-MM-DD, got {shown(text)}") from None
        if not FIRST_DAY <= value <= LAST_DAY:
            raise InputError(f"{what} must be a date from {FIRST_DAY} to {LAST_DAY}, "
                             f"got {shown(text)}")
        return value

    return convert


def phone(text: str) -> str:
    """A mobile number: 7-15 digits with an optional leading +; spaces and dashes dropped."""
    bare = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    if not PHONE.fullmatch(bare):
        raise InputError(f"--phone must be 7-15 digits with an optional +, got {shown(text)}")
    return bare


def name(what: str, max_length: int) -> Callable[[str], str]:
    """An argparse type: text people type (Persian with ZWNJ included), in its normal form."""

    def convert(text: str) -> str:
        try:
            return normalize_text(text, what, max_length=max_length)
        except TextError as exc:
            raise InputError(str(exc)) from None

    return convert


def terminal_id(text: str) -> str:
    """A terminal ID as typed (DE41): its digits read as ASCII, at most 8 printable ASCII."""
    tid = to_ascii_digits(text).strip()
    if not tid or len(tid) > 8 or not (tid.isascii() and tid.isprintable()):
        raise InputError(f"a terminal ID is 1-8 ASCII letters and digits, got {shown(text)}")
    return tid


def hex_text(what: str) -> Callable[[str], str]:
    """An argparse type: hexadecimal (Persian digits read as ASCII), spaces between groups."""

    def convert(text: str) -> str:
        bare = to_ascii_digits(text).replace(" ", "").strip()
        try:
            bytes.fromhex(bare)
        except ValueError:
            raise InputError(f"{what} must be hexadecimal (an even number of 0-9, A-F)"
                             ) from None
        return bare

    return convert
