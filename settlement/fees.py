"""The coalition operator's fee: what a day charges each store (pure, integer rials).

docs/settlement.md "The coalition's fee". Four charges, each optional, from the coalition's
`[coalition.X.fee]`:

- per issued point: the points a store's lots gained that day (earns and advices, less
  returns' claw-backs and reversals), times the rate;
- per redeemed point: the points redeemed at the store that day (less reversals), times the rate;
- a share of gross obligations: basis points of what the store owes other stores that day
  (points and stored value, at their money value), rounded down to the rial: the fraction under
  one rial stays with the store;
- a monthly fixed fee: charged to every store of the coalition on the last business day of the
  month of the calendar the fee names (Jalali by default).

Each charge is a line (what, quantity, rate, amount); a store's lines together are one money
obligation between the store and the operator, a party of the netting like the stores
(`settlement.day`). A day whose reversals outweigh its activity has a negative quantity and a
negative amount: the operator owes the store that much back, the way a late reversal turns an
obligation around. Later money lines (a coupon discount the coalition pays, a gift card sold at
one store and spent at another) are obligations of their own kinds netted the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jdatetime

from settlement.netting import StoreInfo
from settlement.records import (
    ADVICE,
    EARN,
    POINTS,
    REDEEMING_KINDS,
    RETURN,
    REVERSAL,
    InputError,
    Row,
)
from settlement.terms import GREGORIAN, JALALI, Schedule, rate
from switch.core.text import is_digits, to_ascii_digits

#: Flow kinds of the netting besides points and stored value: the operator's fee, and every
#: money obligation of the day together (the one the bank batch pays).
FEE = "fee"
MONEY = "money"

#: The fee lines, in the order an invoice lists them.
ISSUED = "issued_points"
REDEEMED = "redeemed_points"
GROSS = "gross_obligations"
MONTHLY = "monthly"
FEE_KINDS = (ISSUED, REDEEMED, GROSS, MONTHLY)
#: How each line's rate reads.
RATE_UNITS = {ISSUED: "rials per point", REDEEMED: "rials per point",
              GROSS: "basis points", MONTHLY: "rials per month"}
BASIS = 10_000

#: Entries whose points moves issue points (a return claws back what its earn issued).
ISSUING_KINDS = frozenset({EARN, ADVICE, RETURN})


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One charge of one day to one store: `amount` = the rule applied to `quantity`."""

    coalition: str
    store_id: str
    store_name: str
    fee: str
    quantity: int
    rate: int
    amount: int
    currency: str

    @property
    def unit(self) -> str:
        return RATE_UNITS[self.fee]


# -- what a day's entries count -----------------------------------------------------------------


def activity_of(row: Row) -> list[tuple[str, str, int]]:
    """(ISSUED or REDEEMED, store, points) of one journal entry; most entries have none.

    Issued points are counted for the lot's issuer, redeemed points for the store that accepted
    them; a reversal counts against its original's kind (docs/settlement.md). A declined entry
    counts nothing (one that moved lots is refused by the netting).
    """
    if not row.draws or not row.approved:
        return []
    kind = row.original_kind if row.kind == REVERSAL else row.kind
    out = []
    for d in row.draws:
        if d.kind != POINTS or not d.delta:
            continue
        if kind in ISSUING_KINDS:
            out.append((ISSUED, d.issuer, d.delta))
        elif kind in REDEEMING_KINDS:
            out.append((REDEEMED, row.store_id, -d.delta))
    return out


# -- months of the fee's calendar ---------------------------------------------------------------


def month_of(day: dt.date, calendar: str) -> str:
    """`YYYY-MM` of `day` in the calendar (Jalali `1405-09`, Gregorian `2026-11`)."""
    if calendar == JALALI:
        j = jdatetime.date.fromgregorian(date=day)
        return f"{j.year:04d}-{j.month:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def is_month_end(day: dt.date, calendar: str) -> bool:
    """The last business day of its month: every calendar day is a business day of LPS
    (`switch.core.calendar.business_day`), so the month's last day."""
    return month_of(day, calendar) != month_of(day + dt.timedelta(days=1), calendar)


def parse_month(text: str) -> str:
    """A typed month `YYYY-MM` (Persian digits accepted) in its ASCII form, or `InputError`."""
    bare = to_ascii_digits(text).strip()
    year, sep, month = bare.partition("-")
    if not (sep and is_digits(year, 4) and is_digits(month, 2) and 1 <= int(month) <= 12):
        raise InputError(f"--month must be a month YYYY-MM (1405-09 Jalali, 2026-11 "
                         f"Gregorian), got {text[:20]!r}")
    return f"{year}-{month}"


def calendar_of_month(month: str) -> str:
    """Which calendar a `YYYY-MM` is in: Jalali years are in the 1300s-1400s, Gregorian in the
    1900s-2000s, so the year says it (`lps report --month`)."""
    return JALALI if int(month[:4]) < 1700 else GREGORIAN


def month_days(month: str, calendar: str) -> list[dt.date]:
    """Every (Gregorian) date of a month of the calendar, in order."""
    year, number = int(month[:4]), int(month[5:7])
    if calendar == JALALI:
        first = jdatetime.date(year, number, 1).togregorian()
        nxt = (jdatetime.date(year + 1, 1, 1) if number == 12
               else jdatetime.date(year, number + 1, 1)).togregorian()
    else:
        first = dt.date(year, number, 1)
        nxt = dt.date(year + 1, 1, 1) if number == 12 else dt.date(year, number + 1, 1)
    return [first + dt.timedelta(days=i) for i in range((nxt - first).days)]


# -- a day's fee lines --------------------------------------------------------------------------


def day_lines(day: dt.date, stores: Iterable[StoreInfo], schedules: Mapping[str, Schedule],
              activity: Mapping[tuple[str, str], int],
              payable: Mapping[str, int]) -> list[FeeLine]:
    """Every fee line of `day`, by coalition, store, then the order of `FEE_KINDS`.

    `activity` is (ISSUED or REDEEMED, store) -> points (`activity_of` summed), `payable` the
    money each store owes other stores that day (its gross obligations as payer).
    """
    out = []
    for s in sorted(stores, key=lambda s: (s.coalition, s.id)):
        schedule = schedules.get(s.coalition)
        if schedule is None:
            continue
        month_end = is_month_end(day, schedule.calendar)
        for fee in FEE_KINDS:
            per = rate(schedule, fee)
            if fee == MONTHLY:
                quantity = 1 if month_end else 0
            elif fee == GROSS:
                quantity = payable.get(s.id, 0)
            else:
                quantity = activity.get((fee, s.id), 0)
            if not per or not quantity:
                continue
            # Basis points round down (the fraction under a rial stays with the store); the
            # others are whole rials times whole quantities, exact.
            amount = quantity * per // BASIS if fee == GROSS else quantity * per
            out.append(FeeLine(s.coalition, s.id, s.name, fee, quantity, per, amount,
                               s.currency))
    return out
