"""What the desk makes of typed values (docs/customers.md, "Typed values"): a name in
`normalize_text`'s form (Persian with ZWNJ accepted), a mobile in `normalize_mobile`'s form, an
email, a Gregorian or Jalali date. Each refusal is a `CustomerError` naming the field and, for
a mobile, showing the accepted forms."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from switch.core.mobile import MobileError, normalize_mobile
from switch.core.text import TextError, normalize_text
from switch.i18n.jalali import DateError, parse_date

__all__ = ["ChangeForm", "CustomerError", "EnrolForm", "InvalidValue", "parse_email",
           "parse_mobile", "parse_name", "parse_typed_date"]

NAME_MAX = 80
#: One `@`, no spaces, a dot in the domain: enough to catch a typo, not a full RFC 5322 parser.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")


class CustomerError(ValueError):
    """A desk operation refused: a conflict with another account (named by id and masked
    mobile only), an account that does not exist, or (`InvalidValue`) a typed value that cannot
    be accepted. Nothing was changed."""


class InvalidValue(CustomerError):
    """A typed value the desk cannot accept; the message names the field."""


def parse_name(text: str) -> str:
    try:
        name = normalize_text(text, "name", max_length=NAME_MAX)
    except TextError as exc:
        raise InvalidValue(str(exc)) from None
    return name


def parse_mobile(text: str) -> str:
    try:
        return normalize_mobile(text)
    except MobileError as exc:
        raise InvalidValue(f"mobile: {exc}") from None


def parse_email(text: str) -> str:
    bare = text.strip()
    if len(bare) > 254 or not _EMAIL.fullmatch(bare) or not bare.isascii():
        raise InvalidValue(f"email: {bare[:40]!r} is not an address such as "
                            "name@example.ir")
    local, _, domain = bare.rpartition("@")
    return f"{local}@{domain.lower()}"


def parse_typed_date(text: str, what: str, today: dt.date) -> dt.date:
    """A Gregorian `2026-11-23` or a Jalali `۱۴۰۵/۰۹/۰۲` (told apart by the year: 1700 and
    later is Gregorian), not in the future and not before 1900."""
    try:
        day = parse_date(text)
    except DateError as exc:
        raise InvalidValue(f"{what}: {exc}") from None
    if day > today or day.year < 1900:
        raise InvalidValue(f"{what}: {day.isoformat()} is not a plausible date")
    return day


@dataclass(frozen=True, slots=True)
class EnrolForm:
    """An enrolment as typed; `Desk.enroll` validates every field before writing any."""

    name: str
    mobile: str
    coalition: str | None = None
    email: str | None = None
    birth_date: str | None = None
    anniversary: str | None = None
    cards: tuple[str, ...] = ()
    sms: bool | None = None
    emails: bool | None = None
    source: str = "desk"


@dataclass(frozen=True, slots=True)
class ChangeForm:
    """Changes to an account as typed: None leaves a field as it is, "" empties an optional
    one (email, birth date, anniversary)."""

    name: str | None = None
    mobile: str | None = None
    email: str | None = None
    birth_date: str | None = None
    anniversary: str | None = None
    sms: bool | None = None
    emails: bool | None = None
