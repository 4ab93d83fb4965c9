"""Business days: which day a transaction belongs to, fixed at authorization time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def business_day(now: dt.datetime, zone: ZoneInfo, cutover: dt.time) -> dt.date:
    """The local date of `now`, or the next one at or after the cutover (e.g. 23:30).

    A cutover of 00:00 means plain calendar days.
    """
    local = now.astimezone(zone)
    day = local.date()
    if cutover != dt.time(0, 0) and local.time().replace(tzinfo=None) >= cutover:
        day += dt.timedelta(days=1)
    return day
