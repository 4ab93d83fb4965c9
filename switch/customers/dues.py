"""Which messages each account is due on a day (docs/customers.md, "The nightly job"): pure,
from one account's row and the club's triggers; the nightly job queues and grants them.

Every key names the customer and the occasion, so a day's messages are made once whatever
number of runs reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switch.config.club import TRIGGER_FIELDS, ClubSettings, SegmentMessage, Trigger
from switch.journal.sql.club import ClubRow

__all__ = ["NAMELESS", "Due", "due_messages"]

#: A customer with no name (a mobile number a POS enrolled) is addressed so.
NAMELESS = "مشتری"


@dataclass(frozen=True, slots=True)
class Due:
    """A message a trigger makes due for one account on one day."""

    key: str
    account_id: int
    kind: str
    template: str
    channel: str
    mobile: str | None
    email: str | None
    params: Mapping[str, Any]
    bonus: int = 0
    store: str = ""
    #: Gift credit to the purse, IRR (the win-back's «شارژ هدیه»; 0: none).
    gift: int = 0
    #: The customer's home store when the coalition words a trigger per store: the message's
    #: scope (its `{store}` and per-store wording) when it grants nothing of a store.
    home: str = ""

    def grants(self) -> list[tuple[str, str, int]]:
        """What this message waits for: (key, unit, amount) of each grant, points first."""
        out = []
        if self.bonus:
            out.append((self.key, "points", self.bonus))
        if self.gift:
            out.append((f"{self.key}:gift", "rials", self.gift))
        return out


def _birthday_on(birth: dt.date, day: dt.date) -> bool:
    """Born on this day of the year; a 29 February birthday is kept on 28 February of a common
    year."""
    if (birth.month, birth.day) == (day.month, day.day):
        return True
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    return (birth.month, birth.day) == (2, 29) and not leap and (day.month, day.day) == (2, 28)


def _due(row: ClubRow, trigger: Trigger | SegmentMessage, kind: str, key: str, day: dt.date,
         gift: int = 0, **params: Any) -> Due:
    full: dict[str, Any] = {"name": row.name or NAMELESS, "date": day.isoformat(), **params}
    if "bonus" in TRIGGER_FIELDS[kind]:
        full.setdefault("bonus", trigger.bonus)
    if "credit" in TRIGGER_FIELDS[kind]:
        full.setdefault("credit", gift)
    return Due(key, row.id, kind, trigger.template, trigger.channel, row.mobile, row.email,
               full, trigger.bonus, trigger.store, gift, row.home_store or "")


def due_messages(row: ClubRow, club: ClubSettings, segment: str, day: dt.date,
                 tier: str = "", ranks: Sequence[str] = ()) -> Iterator[Due]:
    """The messages `row`'s account is due on `day` (pure: the keys make them once); `tier`:
    the account's tier tonight, `ranks` the coalition's tiers lowest first. Each trigger is
    the one of the account's home store where the coalition sets one (`ClubSettings.trigger`)."""
    home = row.home_store
    a = row.id
    before = row.tier_before
    if before is not None and before != tier and tier in ranks:
        up = before not in ranks or ranks.index(tier) > ranks.index(before)
        kind = "tier_up" if up else "tier_down"
        if trigger := club.trigger(kind, home):
            yield _due(row, trigger, kind, f"{kind}:{a}:{day.isoformat()}", day, tier=tier)
    b = club.trigger("birthday", home)
    if b and row.birth_date and _birthday_on(row.birth_date, day):
        yield _due(row, b, "birthday", f"birthday:{a}:{day.year}", day)
    if (w := club.trigger("welcome", home)) and (day - row.joined).days < w.days:
        yield _due(row, w, "welcome", f"welcome:{a}", day)
    if (e := club.trigger("expiring", home)) and row.expiring > 0 and row.expires_on is not None:
        yield _due(row, e, "expiring", f"expiring:{a}:{row.expires_on.isoformat()}", day,
                   points=row.expiring, days=(row.expires_on - day).days,
                   expiry_date=row.expires_on.isoformat())
    if w := club.trigger("winback", home):
        since = row.last_purchase or row.joined
        if (day - since).days >= w.days:
            spell = row.last_purchase.isoformat() if row.last_purchase else "never"
            yield _due(row, w, "winback", f"winback:{a}:{spell}", day, w.gift,
                       days=(day - since).days)
    for m in club.segment_messages:
        if m.segment == segment:
            period = day.toordinal() // m.every_days
            yield _due(row, m, "segment", f"segment:{m.name}:{a}:{period}", day)
