"""The club's figures, each defined once (docs/settlement.md, "The figures"): `lps report`, the
console's reports and the console's dashboard count through this module and nowhere else.

Every figure is over the approved journal rows of a range of business days:

- active customers: cards with an earn, advice, redemption, top-up or stored-value purchase
  at the store;
- new customers: cards whose first such row at the store falls in the range (for a
  coalition: cards enrolled in the range);
- purchases: earns and their advices (0200 and 0220) not reversed inside the range;
  purchasing customers: cards with at least one; repeat customers: cards with two or more;
  repeat-customer rate: repeat over purchasing customers; purchase frequency: purchases per
  purchasing customer; average basket: purchase amount over purchases, rounded down;
- points issued (to the issuing store's lots): credited by purchases, less what returns and
  reversals of purchases took back; points adjusted: the net of operators' adjustments
  (goodwill credits and debits), apart from issued;
- points redeemed (at the accepting store): drawn by redemptions, less what their reversals
  gave back; redemption rate: redeemed over issued;
- points expired: what lapsed in the range (remaining of lots whose expiry fell in it);
  points outstanding (liability): the remaining of unexpired lots at the end of the range,
  in points and at the coalition's point value.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from settlement.netting import StoreInfo
from settlement.periods import Period, periods
from settlement.records import ADVICE, EARN, POINTS, REDEEM, REVERSAL, SV_PURCHASE, TOPUP, Row
from switch.core.codes import Kind

#: Rows that make a card a store's active (and, the first time, new) customer.
ACTIVITY = (EARN, ADVICE, REDEEM, SV_PURCHASE, TOPUP)
PURCHASES = frozenset({EARN, ADVICE})
#: Rows whose points moves count as issued: purchases and the returns clawing them back.
ISSUING = frozenset({EARN, ADVICE, Kind.RETURN})
ADJUSTING = frozenset({Kind.CARD_ADMIN})
#: The scope of a coalition's total row.
TOTAL = "ALL"


class FiguresReader(Protocol):
    """The journal's read API as the figures use it (`switch.journal.JournalReader`)."""

    def rows(self, start: dt.date, end: dt.date | None = None, *, draws: bool = True
             ) -> Iterator[Row]: ...

    def new_members(self, start: dt.date, end: dt.date, kinds: Collection[str]
                    ) -> tuple[dict[str, int], dict[str, int]]: ...

    def lots_at(self, day: dt.date) -> dict[str, tuple[int, int]]: ...

    def new_members_by_day(self, start: dt.date, end: dt.date, kinds: Collection[str]
                           ) -> tuple[dict[tuple[str, dt.date], int],
                                      dict[tuple[str, dt.date], int]]: ...


@dataclass(frozen=True, slots=True)
class Figures:
    """One store's (or one coalition's, scope `ALL`) figures over one range of days."""

    scope: str
    name: str
    coalition: str
    start: dt.date
    end: dt.date
    active_customers: int
    new_customers: int
    purchases: int
    purchasing_customers: int
    repeat_customers: int
    purchase_amount: int
    points_issued: int
    points_adjusted: int
    points_redeemed: int
    points_expired: int
    points_outstanding: int
    liability: int
    currency: str

    @property
    def repeat_customer_rate(self) -> Fraction | None:
        return _ratio(self.repeat_customers, self.purchasing_customers)

    @property
    def purchase_frequency(self) -> Fraction | None:
        return _ratio(self.purchases, self.purchasing_customers)

    @property
    def average_basket(self) -> int:
        return self.purchase_amount // self.purchases if self.purchases > 0 else 0

    @property
    def redemption_rate(self) -> Fraction | None:
        return _ratio(self.points_redeemed, self.points_issued)


def _ratio(num: int, den: int) -> Fraction | None:
    return Fraction(num, den) if den > 0 else None


@dataclass(slots=True)
class _Tally:
    members: set[str] = field(default_factory=set)
    visits: Counter[str] = field(default_factory=Counter)
    amount: int = 0
    issued: int = 0
    adjusted: int = 0
    redeemed: int = 0

    def add(self, other: _Tally) -> None:
        self.members |= other.members
        self.visits.update(other.visits)
        self.amount += other.amount
        self.issued += other.issued
        self.adjusted += other.adjusted
        self.redeemed += other.redeemed


def _tally(rows: Iterator[Row], stores: Collection[str]) -> dict[str, _Tally]:
    """Per store: the customers, purchases and points moves of the rows (module docstring)."""
    acc = {sid: _Tally() for sid in stores}
    purchases: dict[int, tuple[str, str, int]] = {}
    reversed_ids: set[int] = set()
    for r in rows:
        if not r.approved:
            continue
        here = acc.get(r.store_id)
        if here is not None and r.kind in ACTIVITY and r.pan:
            here.members.add(r.pan)
        if here is not None and r.kind in PURCHASES:
            here.visits[r.pan] += 1
            here.amount += r.amount
            purchases[r.id] = (r.store_id, r.pan, r.amount)
        if r.kind == REVERSAL and r.original_kind in PURCHASES and r.original_id is not None:
            reversed_ids.add(r.original_id)
        effective = r.original_kind if r.kind == REVERSAL else r.kind
        for d in r.draws:
            if d.kind != POINTS:
                continue
            if effective in ISSUING and d.issuer in acc:
                acc[d.issuer].issued += d.delta
            elif effective in ADJUSTING and d.issuer in acc:
                acc[d.issuer].adjusted += d.delta
            elif effective == REDEEM and here is not None:
                here.redeemed -= d.delta
    for oid in reversed_ids:  # a purchase reversed inside the range is no purchase
        if oid in purchases:
            store, pan, amount = purchases[oid]
            acc[store].visits[pan] -= 1
            acc[store].amount -= amount
    return acc


@dataclass(frozen=True, slots=True)
class Points:
    """Points issued, adjusted and redeemed, as `Figures` counts them."""

    issued: int = 0
    adjusted: int = 0
    redeemed: int = 0


def points(reader: FiguresReader, stores: Collection[str], start: dt.date,
           end: dt.date) -> Points:
    """The points the `stores` issued, adjusted and redeemed over the range, together (the
    console's dashboard: the rows only, none of the lot and customer reads)."""
    acc = _tally(reader.rows(start, end, draws=True), stores)
    return Points(sum(t.issued for t in acc.values()), sum(t.adjusted for t in acc.values()),
                  sum(t.redeemed for t in acc.values()))


def _figures(scope: str, name: str, s: StoreInfo, period: Period, t: _Tally, new: int,
             expired: int, outstanding: int) -> Figures:
    counts = [v for v in t.visits.values() if v > 0]
    return Figures(
        scope=scope, name=name, coalition=s.coalition, start=period.start, end=period.end,
        active_customers=len(t.members), new_customers=new, purchases=sum(counts),
        purchasing_customers=len(counts), repeat_customers=sum(1 for v in counts if v > 1),
        purchase_amount=t.amount, points_issued=t.issued, points_adjusted=t.adjusted,
        points_redeemed=t.redeemed, points_expired=expired, points_outstanding=outstanding,
        liability=outstanding * s.point_value, currency=s.currency)


def compute(reader: FiguresReader, stores: Mapping[str, StoreInfo], start: dt.date,
            end: dt.date, *, totals: bool = True) -> list[Figures]:
    """Each store's figures over `start`..`end`, by coalition, each coalition's stores followed
    by its total (`totals`: a reader limited to some stores gets no coalition total)."""
    new = reader.new_members(start, end, ACTIVITY)
    return _compute(reader, stores, Period(start, end), totals, new, reader.lots_at)


def _compute(reader: FiguresReader, stores: Mapping[str, StoreInfo], period: Period,
             totals: bool, new: tuple[Mapping[str, int], Mapping[str, int]],
             lots_at: Callable[[dt.date], dict[str, tuple[int, int]]]) -> list[Figures]:
    acc = _tally(reader.rows(period.start, period.end, draws=True), stores)
    new_by_store, new_by_coalition = new
    before = lots_at(period.start - dt.timedelta(days=1))
    after = lots_at(period.end)
    rows: list[Figures] = []
    for coalition in sorted({s.coalition for s in stores.values()}):
        mine = sorted((s for s in stores.values() if s.coalition == coalition), key=lambda s: s.id)
        total, expired_all, outstanding_all = _Tally(), 0, 0
        for s in mine:
            lapsed_before = before.get(s.id, (0, 0))[0]
            lapsed_after, outstanding = after.get(s.id, (0, 0))
            expired = lapsed_after - lapsed_before
            rows.append(_figures(s.id, s.name, s, period, acc[s.id],
                                 new_by_store.get(s.id, 0), expired, outstanding))
            total.add(acc[s.id])
            expired_all += expired
            outstanding_all += outstanding
        if totals:
            rows.append(_figures(TOTAL, f"coalition {coalition}", mine[0], period, total,
                                 new_by_coalition.get(coalition, 0), expired_all,
                                 outstanding_all))
    return rows


def series(reader: FiguresReader, stores: Mapping[str, StoreInfo], start: dt.date,
           end: dt.date, grain: str, *, totals: bool = True) -> list[list[Figures]]:
    """`compute` for each period of `start`..`end` cut by `grain` (settlement.periods), with
    the new customers of every day read once and each period's lots at its end read once
    (the next period's start)."""
    by_store_day, by_coalition_day = reader.new_members_by_day(start, end, ACTIVITY)
    lots = functools.cache(reader.lots_at)
    out = []
    for p in periods(start, end, grain):
        new_by_store: Counter[str] = Counter()
        new_by_coalition: Counter[str] = Counter()
        for (store, day), n in by_store_day.items():
            if p.start <= day <= p.end:
                new_by_store[store] += n
        for (coalition, day), n in by_coalition_day.items():
            if p.start <= day <= p.end:
                new_by_coalition[coalition] += n
        out.append(_compute(reader, stores, p, totals, (new_by_store, new_by_coalition), lots))
    return out
