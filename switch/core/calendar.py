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


_MINUTE = dt.timedelta(minutes=1)
_NEVER = (None, dt.time(0, 0), dt.datetime.max.replace(tzinfo=dt.UTC),
          dt.datetime.min.replace(tzinfo=dt.UTC), dt.date.min)
#: The last minute answered by `business_day_of`: (zone, cutover, from, until, day), replaced
#: whole (one assignment: a reader on another thread sees one minute's or the other's).
_last: tuple[ZoneInfo | None, dt.time, dt.datetime, dt.datetime, dt.date] = _NEVER


def business_day_of(now: dt.datetime, zone: ZoneInfo, cutover: dt.time) -> dt.date:
    """`business_day`, remembered for the UTC minute of the last call: every decision asks
    for it, and converting `now` into a `ZoneInfo` zone costs about 1.5 µs, some 1-2 % of a
    decision.

    Inside one minute of UTC the answer cannot change when the zone's offset at its start is a
    whole number of minutes and the cutover is a whole minute: the minute is one whole local
    minute (an offset changes at a local time of whole minutes under the offset it leaves, so
    on a UTC minute's edge), and a day or a cutover only starts on a minute's edge. Any other
    minute (an offset with seconds, a `now` whose own offset has seconds or none) is answered
    by `business_day` each time."""
    global _last
    last_zone, last_cutover, start, until, day = _last
    if last_zone is zone and last_cutover == cutover and start <= now < until:
        return day
    day = business_day(now, zone, cutover)
    offset = now.utcoffset()
    if offset is None or offset % _MINUTE or cutover.second or cutover.microsecond:
        return day
    start = now.replace(second=0, microsecond=0)
    until = start + _MINUTE
    offset = start.astimezone(zone).utcoffset()
    if offset is None or offset % _MINUTE:
        return day
    _last = (zone, cutover, start, until, day)
    return day
