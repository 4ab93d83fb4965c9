"""`business_day_of` answers as `business_day` does, at every instant (switch/core/calendar.py).

It remembers the last UTC minute it answered, so what must hold is that no instant gets another
day than the conversion gives: across the cutover minute, midnight, the zones' daylight-saving
transitions (a cutover inside the hour that spring skips or autumn repeats), offsets of whole
quarter hours and historic ones with seconds, asked in any order.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from switch.core import calendar
from switch.core.calendar import business_day, business_day_of

ZONES = [ZoneInfo(name) for name in (
    "Asia/Tehran",        # +03:30; daylight saving until 2022; +03:25:44 before 1946
    "America/New_York",   # transitions at 02:00 local
    "Europe/London",      # transitions at 01:00 local, +00:00 half the year
    "Asia/Kathmandu",     # +05:45
    "Australia/Lord_Howe",  # a half-hour daylight saving shift
    "Africa/Monrovia",    # -00:44:30 until 1972: no local minute starts on a UTC one
    "UTC",
)]
#: What `now` may come in: UTC (the switch's clock), and a zone 30 seconds off UTC's minutes.
CLOCKS = [dt.UTC, ZoneInfo("Africa/Monrovia")]
#: How long before an edge a minute is first asked, and how long after it the next one is.
BEFORE = [-dt.timedelta(microseconds=1), -dt.timedelta(seconds=0.5), -dt.timedelta(seconds=59.5)]
AFTER = [dt.timedelta(0), dt.timedelta(microseconds=1)]
CUTOVERS = [dt.time(0, 0), dt.time(23, 30), dt.time(2, 30), dt.time(1, 30), dt.time(0, 1),
            dt.time(12, 0, 30)]
#: Instants of 2021 (daylight saving in most of those zones), 1945-1946 and 2026.
instants = st.one_of(
    st.datetimes(dt.datetime(2021, 1, 1), dt.datetime(2022, 1, 1)),
    st.datetimes(dt.datetime(1945, 1, 1), dt.datetime(1947, 1, 1)),
    st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2027, 1, 1)),
).map(lambda t: t.replace(tzinfo=dt.UTC))
#: The same instants as a clock in one of the zones would give them.
zoned = st.tuples(instants, st.sampled_from(ZONES)).map(lambda p: p[0].astimezone(p[1]))


def transitions(zone: ZoneInfo, year: int) -> list[dt.datetime]:
    """The UTC minutes of `year` at which `zone`'s offset changes."""
    found, t = [], dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    before = t.astimezone(zone).utcoffset()
    while t.year == year:
        t += dt.timedelta(hours=1)
        now = t.astimezone(zone).utcoffset()
        if now != before:
            low = t - dt.timedelta(hours=1)
            while t - low > dt.timedelta(minutes=1):
                mid = low + (t - low) / 2
                if mid.astimezone(zone).utcoffset() == before:
                    low = mid
                else:
                    t = mid
            found.append(t.replace(second=0, microsecond=0))
            before = now
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ZONES), st.sampled_from(CUTOVERS),
                          st.one_of(instants, zoned)),
                min_size=1, max_size=30))
def test_every_instant_gets_the_day_the_conversion_gives(
        asked: list[tuple[ZoneInfo, dt.time, dt.datetime]]) -> None:
    calendar._last = calendar._NEVER
    for zone, cutover, now in asked:
        assert business_day_of(now, zone, cutover) == business_day(now, zone, cutover)
        # ...and the instants right around it, in the minute just remembered
        for step in (-61, -1, 1, 59):
            near = now + dt.timedelta(seconds=step)
            assert business_day_of(near, zone, cutover) == business_day(near, zone, cutover)


def test_each_second_around_the_offsets_changes_and_the_cutovers() -> None:
    """Around each offset's change in 2021, 1946 and 1972 (Monrovia's, at 00:44:30 UTC, inside a
    minute) and each cutover on a day of those years: a minute first asked late in it and then
    the edge, and second by second through the ten minutes around it, in the order time passes
    (the memo's own use) and backwards; `now` in UTC and on a clock whose minutes do not start
    on UTC's."""
    for zone in ZONES:
        for cutover in CUTOVERS:
            edges = [t for year in (2021, 1946, 1972) for t in transitions(zone, year)]
            for day in (dt.date(2021, 3, 14), dt.date(1946, 3, 14)):
                local = dt.datetime.combine(day, cutover, tzinfo=zone)
                edges.append(local.astimezone(dt.UTC).replace(second=0, microsecond=0))
            for edge, clock in itertools.product(edges, CLOCKS):
                # a minute first asked late in it, then the next minute's first instant
                for before, after in itertools.product(BEFORE, AFTER):
                    calendar._last = calendar._NEVER
                    for step in (before, after):
                        now = (edge + step).astimezone(clock)
                        assert business_day_of(now, zone, cutover) == \
                            business_day(now, zone, cutover), (zone, cutover, now)
                seconds = range(-300, 301)
                for order in (seconds, reversed(seconds)):
                    calendar._last = calendar._NEVER
                    for s in order:
                        now = (edge + dt.timedelta(seconds=s, microseconds=999_999 * (s % 2))
                               ).astimezone(clock)
                        assert business_day_of(now, zone, cutover) == \
                            business_day(now, zone, cutover), (zone, cutover, now)


def test_a_minute_is_remembered_and_another_zone_or_cutover_is_not_taken_from_it() -> None:
    tehran, utc = ZoneInfo("Asia/Tehran"), ZoneInfo("UTC")
    cut = dt.time(23, 30)
    now = dt.datetime(2026, 12, 5, 19, 59, 30, tzinfo=dt.UTC)  # 23:29:30 in Tehran
    calendar._last = calendar._NEVER
    assert business_day_of(now, tehran, cut) == dt.date(2026, 12, 5)
    assert calendar._last[2:] == (dt.datetime(2026, 12, 5, 19, 59, tzinfo=dt.UTC),
                                  dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.UTC),
                                  dt.date(2026, 12, 5))
    assert business_day_of(now + dt.timedelta(seconds=30), tehran, cut) == dt.date(2026, 12, 6)
    assert business_day_of(now, utc, cut) == dt.date(2026, 12, 5)
    assert business_day_of(now, tehran, dt.time(23, 0)) == dt.date(2026, 12, 6)
    # the minute is [19:59:00, 20:00:00): its first instant is answered from memory (a day
    # planted there shows it), the next minute's is not; a clock on Tehran's time is kept too
    business_day_of(now, tehran, cut)
    calendar._last = (*calendar._last[:4], dt.date(2000, 1, 1))
    assert business_day_of(dt.datetime(2026, 12, 5, 19, 59, tzinfo=dt.UTC), tehran, cut) \
        == dt.date(2000, 1, 1)
    assert business_day_of(dt.datetime(2026, 12, 5, 20, 0, tzinfo=dt.UTC), tehran, cut) \
        == dt.date(2026, 12, 6)
    calendar._last = calendar._NEVER
    assert business_day_of(now.astimezone(tehran), tehran, cut) == dt.date(2026, 12, 5)
    assert calendar._last[2] == dt.datetime(2026, 12, 5, 23, 29, tzinfo=tehran)
    naive = dt.datetime(2026, 12, 5, 19, 59, 30)
    assert business_day_of(naive, utc, cut) == business_day(naive, utc, cut)
