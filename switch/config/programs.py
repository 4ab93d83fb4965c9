"""The programs' parts of a coalition or store table: earn rules, campaigns, multipliers and
the receipt language (docs/programs.md)."""

from __future__ import annotations

from switch.config.club import SEGMENT_NAME
from switch.config.reader import Reader
from switch.core.catalog import Campaign, EarnRule

__all__ = ["LANGUAGES", "campaigns", "earn_rule", "language", "multiplier"]

LANGUAGES = ("fa", "en")


def multiplier(r: Reader, name: str) -> float:
    """A multiplier with at most 3 decimals (points are computed in thousandths, exactly)."""
    value = r.number(name, 1.0)
    if abs(value * 1000 - round(value * 1000)) > 1e-6 or value > 1000:
        raise r.fail(name, f"must have at most 3 decimals and be at most 1000, got {value}")
    return value


def language(r: Reader, default: str) -> str:
    lang = r.string("language", default)
    if lang not in LANGUAGES:
        raise r.fail("language", f"must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def earn_rule(r: Reader) -> EarnRule:
    rule = EarnRule(
        points_per=r.integer("points_per", minimum=1),
        points=r.integer("points", minimum=0),
        min_amount=r.integer("min_amount", 0),
    )
    r.done()
    return rule


def campaigns(r: Reader) -> tuple[Campaign, ...]:
    """The table's `[[campaigns]]` array."""
    out = []
    for i, c in enumerate(r.list_of("campaigns")):
        if not isinstance(c, dict):
            raise r.fail(f"campaigns[{i}]", "must be a table")
        out.append(_campaign(r.child(f"campaigns[{i}]", c)))
    return tuple(out)


def _campaign(r: Reader) -> Campaign:
    start, end = r.date("from"), r.date("to")
    if end < start:
        raise r.fail("to", f"ends ({end}) before it starts ({start})")
    weekdays = r.list_of("weekdays")
    for i, w in enumerate(weekdays):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 6:
            raise r.fail(f"weekdays[{i}]", f"must be 0 (Monday) to 6 (Sunday), got {w!r}")
    hours_raw = r.list_of("hours")
    hours: tuple[int, int] | None = None
    if hours_raw:
        ok = len(hours_raw) == 2 and all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in hours_raw
        )
        if not ok or hours_raw[0] >= hours_raw[1]:
            raise r.fail("hours", f"must be [from, to) hours 0-24, got {hours_raw!r}")
        hours = (hours_raw[0], hours_raw[1])
    campaign = Campaign(
        name=r.string("name"),
        start=start,
        end=end,
        multiplier=multiplier(r, "multiplier"),
        bonus=r.integer("bonus", 0),
        weekdays=tuple(weekdays),
        hours=hours,
        expire_after_days=(r.days("expire_after_days", minimum=1)
                           if "expire_after_days" in r.table else None),
        segment=_segment(r),
    )
    r.done()
    return campaign


def _segment(r: Reader) -> str:
    """A campaign's segment name (its definition is checked with the club's settings,
    `switch.config.club.check_campaign_segments`)."""
    name = r.string("segment", "", nonempty=False)
    if name and not SEGMENT_NAME.fullmatch(name):
        raise r.fail("segment", "a segment's name is a-z, 0-9 and _ (at most 32), first a "
                     "letter")
    return name
