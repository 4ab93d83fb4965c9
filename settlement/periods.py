"""The periods a report is cut into: days, weeks that start on Saturday, Jalali months
(docs/settlement.md, "The figures"), each clipped to the report's range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jdatetime

#: The grains a report is cut by, finest first.
GRAINS = ("day", "week", "month")
#: Python's weekday number of Saturday, the first day of the Iranian week.
SATURDAY = 5


class PeriodError(ValueError):
    """A grain that is not one of `GRAINS`, or a range that ends before it starts."""


@dataclass(frozen=True, slots=True)
class Period:
    """Business days `start` to `end`, both included."""

    start: dt.date
    end: dt.date


def week_start(day: dt.date) -> dt.date:
    """The Saturday on or before `day`."""
    return day - dt.timedelta(days=(day.weekday() - SATURDAY) % 7)


def jalali_month_start(day: dt.date) -> dt.date:
    """The first day of the Jalali month `day` falls in."""
    j = jdatetime.date.fromgregorian(date=day)
    first: dt.date = jdatetime.date(j.year, j.month, 1).togregorian()
    return first


def _next_start(day: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return day + dt.timedelta(days=1)
    if grain == "week":
        return week_start(day) + dt.timedelta(days=7)
    # a Jalali month has 29 to 31 days: 32 days on from its first always lands in the next
    return jalali_month_start(jalali_month_start(day) + dt.timedelta(days=32))


def periods(start: dt.date, end: dt.date, grain: str) -> list[Period]:
    """`start`..`end` cut by `grain`; the first and last period are clipped to the range."""
    if grain not in GRAINS:
        raise PeriodError(f"grain {grain!r}: one of {', '.join(GRAINS)}")
    if end < start:
        raise PeriodError(f"{end} is before {start}")
    out: list[Period] = []
    day = start
    while day <= end:
        following = _next_start(day, grain)
        out.append(Period(day, min(end, following - dt.timedelta(days=1))))
        day = following
    return out
