"""Jalali (Solar Hijri) dates and Tehran wall-clock time for people in Iran.

The Jalali conversion is jdatetime's (a maintained, pure-Python implementation of the
arithmetic calendar Iran uses); this module only chooses the display forms.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import jdatetime

from switch.i18n.numbers import persian_digits

__all__ = ["TEHRAN", "WEEK", "DateError", "jalali_date", "jalali_date_long", "jalali_month_days",
           "parse_date", "tehran_time", "weekday_name"]

TEHRAN = ZoneInfo("Asia/Tehran")
_MONTHS = tuple(jdatetime.date.j_months_fa)


def _jalali(day: dt.date) -> jdatetime.date:
    if isinstance(day, dt.datetime):
        raise TypeError("a date, not a datetime: convert to local time first (tehran_time)")
    return jdatetime.date.fromgregorian(date=day)


def jalali_date(day: dt.date, *, persian: bool = True) -> str:
    """`۱۴۰۵/۰۹/۰۲`: the short numeric Jalali date."""
    j = _jalali(day)
    text = f"{j.year:04d}/{j.month:02d}/{j.day:02d}"
    return persian_digits(text) if persian else text


def jalali_date_long(day: dt.date, *, persian: bool = True) -> str:
    """`۲ آذر ۱۴۰۵`: day, month name, year, as a letter or an SMS says it."""
    j = _jalali(day)
    text = f"{j.day} {_MONTHS[j.month - 1]} {j.year}"
    return persian_digits(text) if persian else text


def tehran_time(moment: dt.datetime, *, persian: bool = True) -> str:
    """`۱۴:۳۰`: an aware instant as Tehran wall-clock hours and minutes."""
    if moment.tzinfo is None:
        raise ValueError("tehran_time needs an aware datetime (UTC or with its zone)")
    text = moment.astimezone(TEHRAN).strftime("%H:%M")
    return persian_digits(text) if persian else text


# -- typed dates and the week ---------------------------------------------------------------

#: Python's weekday numbers (0 = Monday) in the order of the Iranian week, Saturday first.
WEEK = (5, 6, 0, 1, 2, 3, 4)
_WEEKDAY_FA = dict(zip(WEEK, jdatetime.date.j_weekdays_fa, strict=True))
_WEEKDAY_EN = dict(zip(WEEK, ("Saturday", "Sunday", "Monday", "Tuesday", "Wednesday",
                              "Thursday", "Friday"), strict=True))
#: Gregorian years before this are read as Jalali years (1300-1699 is no Gregorian business day).
_FIRST_GREGORIAN_YEAR = 1700


class DateError(ValueError):
    """A typed date that is not a date; `reason` says why in words a form can translate.

    `reason` is one of "format" (not YYYY/MM/DD), "month" (no such month) or "day" (the month
    has fewer days: `days` of them, `leap` says whether the Jalali year is a leap year).
    """

    def __init__(self, text: str, reason: str, days: int = 0, leap: bool = False) -> None:
        super().__init__(f"{text!r}: " + {
            "format": "a date is YYYY/MM/DD (Jalali, as ۱۴۰۵/۰۹/۰۲) or YYYY-MM-DD (Gregorian)",
            "month": "a month is 1 to 12",
            "day": f"that month has {days} days" + (" (a leap year)" if leap else ""),
        }[reason])
        self.text, self.reason, self.days, self.leap = text, reason, days, leap


def weekday_name(weekday: int, *, persian: bool = True) -> str:
    """The name of Python's `weekday` number (0 = Monday): `شنبه` for 5."""
    return (_WEEKDAY_FA if persian else _WEEKDAY_EN)[weekday]


def jalali_month_days(year: int, month: int) -> int:
    """Days of a Jalali month: 31 for the first six, 30 for the next five, Esfand 29 or 30."""
    if month <= 6:
        return 31
    if month <= 11:
        return 30
    return 30 if jdatetime.date(year, 1, 1).isleap() else 29


def parse_date(typed: str) -> dt.date:
    """A date as staff type it: Jalali `۱۴۰۵/۰۹/۰۲` (or with `-`, Persian or ASCII digits), or
    Gregorian `2026-11-23`, told apart by the year; `DateError` with the reason otherwise.

    An impossible Jalali date (`۱۴۰۵/۱۲/۳۰`, Esfand of a common year) is refused, never moved to
    the next valid day.
    """
    from switch.core.text import is_digits, to_ascii_digits

    text = to_ascii_digits(typed).strip().replace("/", "-")
    parts = text.split("-")
    if len(parts) != 3 or not all(is_digits(p) for p in parts) or len(parts[0]) != 4 \
            or not all(1 <= len(p) <= 2 for p in parts[1:]):
        raise DateError(typed[:20], "format")
    year, month, day = (int(p) for p in parts)
    if not 1 <= month <= 12:
        raise DateError(typed[:20], "month")
    if year >= _FIRST_GREGORIAN_YEAR:
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise DateError(typed[:20], "day", calendar.monthrange(year, month)[1]) from None
    if year < 1:
        raise DateError(typed[:20], "format")
    days = jalali_month_days(year, month)
    if not 1 <= day <= days:
        raise DateError(typed[:20], "day", days, month == 12 and days == 30)
    result: dt.date = jdatetime.date(year, month, day).togregorian()
    return result
