"""Jalali (Solar Hijri) dates and Tehran wall-clock time for people in Iran.

The Jalali conversion is jdatetime's (a maintained, pure-Python implementation of the
arithmetic calendar Iran uses); this module only chooses the display forms.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import jdatetime

from switch.i18n.numbers import persian_digits

__all__ = ["TEHRAN", "jalali_date", "jalali_date_long", "tehran_time"]

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
