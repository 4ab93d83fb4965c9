"""One business day's settlement, computed from the journal's records (pure).

`DayBook` takes the day's entries either one by one (`add_row`: tests, small days) or
pre-aggregated by the SQLite reader (`add_chunk`, `add_count`, `add_flow`): netting is a
sum, so both give the same result and, with the same canonical lines, the same digest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from settlement import bank
from settlement import digest as dg
from settlement import fees as fee
from settlement.expiry import Breakage, breakage
from settlement.netting import (
    FlowBook,
    Instruction,
    NettingSummary,
    Obligation,
    Position,
    StoreInfo,
    instructions,
    obligations,
    positions,
    summaries,
)
from settlement.reconcile import ReconLine, reconcile
from settlement.records import (
    POINTS,
    STORED_VALUE,
    BatchClose,
    InputError,
    InvariantError,
    LotExpiry,
    Row,
)
from settlement.rewards import (
    COUPON,
    GIFT_BREAKAGE,
    MEMBERSHIP,
    CouponMove,
    GiftLapse,
    GiftLot,
    MembershipSale,
    coupon_payer,
)
from settlement.rewards import gift_lapses as lapses_of
from settlement.terms import Terms, operator_id
from settlement.tiers import Downgrade
from switch.config import Catalog, Coalition


def stores_from_config(config: Catalog) -> dict[str, StoreInfo]:
    """The store table settlement needs, from a `switch.config.Config`: each store with its
    account and its coalition's operator and fee."""
    terms = {cid: terms_of(c) for cid, c in config.coalitions.items()}
    out = {}
    for sid, s in config.stores.items():
        c = config.coalitions[s.coalition]
        out[sid] = StoreInfo(sid, s.name, c.id, c.point_value, c.currency, s.iban,
                             terms[s.coalition])
    return out


def terms_of(coalition: Coalition) -> Terms | None:
    """A `switch.config.Coalition`'s operator and fee as settlement's plain `Terms`."""
    op = coalition.operator
    if op is None:
        return None
    return Terms(coalition.id, op.name, op.iban, op.bank_batch, coalition.fee)


def parties(stores: Mapping[str, StoreInfo]) -> dict[str, StoreInfo]:
    """The stores and every coalition's operator: who can owe or be owed money.

    The operator is a party of the netting as the stores are (docs/settlement.md "The
    coalition's fee"), under `operator:<coalition>`; a store with that ID is refused.
    """
    out = dict(stores)
    for s in sorted(stores.values(), key=lambda s: s.id):
        t = s.terms
        if t is None:
            continue
        if t.operator_id in stores:
            raise InputError(f"store ID {t.operator_id!r} is the party ID of coalition "
                             f"{t.coalition}'s operator; give the store another ID")
        out.setdefault(t.operator_id, StoreInfo(t.operator_id, t.operator_name, s.coalition,
                                                s.point_value, s.currency, t.operator_iban, t))
    return out


def count_key(kind: str, response_code: str) -> str:
    """How an entry is counted: its kind and its response code (`-` for none)."""
    return f"{kind}/{response_code or '-'}"


@dataclass(frozen=True, slots=True)
class Side:
    """Netting of one kind of value (points or stored value)."""

    obligations: list[Obligation]
    positions: list[Position]
    instructions: list[Instruction]
    summaries: list[NettingSummary]


@dataclass(frozen=True, slots=True)
class DaySettlement:
    day: dt.date
    inputs_digest: str
    entries: int
    #: "kind/response code" -> entries; sums to `entries`.
    counts: dict[str, int]
    #: Lot draws (of redemptions and their reversals) that moved value between stores.
    settling_draws: int
    points: Side
    stored_value: Side
    breakage: list[Breakage]
    reconciliation: list[ReconLine]
    #: The night after the day: cards whose tier goes down (settlement.tiers).
    downgrades: list[Downgrade] = field(default_factory=list)
    #: The operator's fee: the day's lines, and its obligations and positions (stores and
    #: operators, in money).
    fee_lines: list[fee.FeeLine] = field(default_factory=list)
    fees: Side | None = None
    #: Every money obligation of the day (points at their value, stored value, the fee) netted
    #: between the stores and the operators: what the bank batch pays.
    money: Side | None = None
    transfers: list[bank.Transfer] = field(default_factory=list)
    #: Coupon discounts owed by their issuers (stores or operators) to the stores that took
    #: them, and gift-card value lapsing to operators (settlement.rewards).
    coupons: Side | None = None
    gift_breakage: Side | None = None
    #: Gift-card value lapsing on the day, per selling store, and who keeps it.
    gift_lapses: list[GiftLapse] = field(default_factory=list)
    #: Club cards sold, owed by the selling stores to their coalitions' operators.
    memberships: Side | None = None
    #: Coalitions paid by bank transfer -> currency (`bank_batch.csv` is written for them).
    bank_coalitions: dict[str, str] = field(default_factory=dict)


class DayBook:
    """Accumulates a day's journal; `finish` nets, expires and reconciles."""

    def __init__(self, day: dt.date, stores: Mapping[str, StoreInfo]) -> None:
        self.day = day
        self.stores = stores
        self.digest = dg.Digest()
        self.flows = FlowBook()
        self.counts: dict[str, int] = {}
        #: (fees.ISSUED or fees.REDEEMED, store) -> points: what the per-point fees count.
        self.activity: dict[tuple[str, str], int] = {}
        self.entries = 0
        self.settling = 0
        self._last_id = 0
        #: Coupon discounts and lapsed gift-card value (settlement.rewards).
        self.rewards = FlowBook()
        self.coupon_moves = 0
        self.parties = parties(stores)
        self.digest.add("stores", [
            f"{s.id}|{s.name}|{s.coalition}|{s.point_value}|{s.currency}|{s.iban or '-'}"
            for s in sorted(stores.values(), key=lambda s: s.id)
        ] + sorted({s.terms.line() for s in stores.values() if s.terms is not None}))

    # -- one entry at a time ------------------------------------------------------------------

    def add_row(self, row: Row) -> None:
        """Count, hash and net one entry. Entries must come in journal (ID) order, once each."""
        if row.id <= self._last_id:
            raise InvariantError(f"journal entry {row.id} read twice or out of order")
        if row.business_day != self.day:
            raise InvariantError(f"journal entry {row.id} belongs to {row.business_day}")
        self._last_id = row.id
        chunk = row.id >> dg.CHUNK_BITS
        self.digest.add_items("entries", chunk, [dg.entry_item(row)])
        self.digest.add_items("draws", chunk, [dg.draw_item(row.id, d) for d in row.draws])
        self.add_count(row.kind, row.response_code, 1)
        self.settling += self.flows.add_row(row)
        for measure, store, points in fee.activity_of(row):
            self.add_activity(measure, store, points)

    # -- pre-aggregated (the SQLite reader) ---------------------------------------------------

    def add_chunk(self, section: str, chunk: int, n: int, hexdigest: str) -> None:
        self.digest.add_chunk(section, chunk, n, hexdigest)

    def add_count(self, kind: str, response_code: str, n: int) -> None:
        key = count_key(kind, response_code)
        self.counts[key] = self.counts.get(key, 0) + n
        self.entries += n

    def add_flow(self, kind: str, payer: str, payee: str, units: int) -> None:
        if payer != payee and units:
            self.flows.add_pair(kind, payer, payee, units)

    def add_flows(self, pairs: Mapping[tuple[str, str, str], int]) -> None:
        """`add_flow` for each (kind, payer, payee) -> units of a reader's part, in one loop
        (a part holds up to a flow per ordered pair of stores)."""
        book = self.flows.pairs
        for key, units in pairs.items():
            if units and key[1] != key[2]:
                book[key] = book.get(key, 0) + units

    def add_settling(self, n: int) -> None:
        self.settling += n

    def add_coupons(self, moves: Iterable[CouponMove]) -> None:
        """The day's coupon redemptions and releases, in journal order, hashed in chunks (a
        day may have millions)."""
        buf: list[str] = []
        for m in moves:
            payer = coupon_payer(m)
            if payer != m.store and m.discount:
                self.rewards.add_pair(COUPON, payer, m.store, m.discount)
            self.coupon_moves += 1
            buf.append(m.line())
            if len(buf) >= 10_000:
                self.digest.add("coupons", buf)
                buf = []
        self.digest.add("coupons", buf)

    def add_memberships(self, sales: Iterable[MembershipSale]) -> None:
        """The day's club cards sold and sales reversed, in journal order."""
        lines = []
        for sale in sales:
            self.rewards.add_pair(MEMBERSHIP, sale.store, sale.payee, sale.price)
            lines.append(sale.line())
        if lines:  # a day without one hashes as it did before memberships existed
            self.digest.add("memberships", lines)

    def add_activity(self, measure: str, store: str, points: int) -> None:
        if points:
            key = (measure, store)
            self.activity[key] = self.activity.get(key, 0) + points

    # -- the day's result ---------------------------------------------------------------------

    def _side(self, book: FlowBook, kind: str, table: Mapping[str, StoreInfo]) -> Side:
        obls = obligations(book, table, kind)
        poss = positions(obls, table, kind)
        return Side(obls, poss, instructions(poss), summaries(obls, poss, table, kind))

    def _fees(self, value: list[Obligation]) -> tuple[list[fee.FeeLine], Side]:
        """The day's fee lines, and each store's as one obligation to (or, negative, from) its
        coalition's operator."""
        payable: dict[str, int] = {}
        for o in value:
            payable[o.payer] = payable.get(o.payer, 0) + o.amount
        for measure, store in self.activity:
            if store not in self.stores:
                raise InputError(f"store {store!r} ({measure.replace('_', ' ')}) is not in "
                                 "the configuration")
        schedules = {s.coalition: s.terms.schedule for s in self.stores.values()
                     if s.terms is not None and s.terms.schedule is not None}
        lines = fee.day_lines(self.day, self.stores.values(), schedules, self.activity, payable)
        book = FlowBook()
        for line in lines:
            book.add_pair(fee.FEE, line.store_id, operator_id(line.coalition), line.amount)
        return lines, self._side(book, fee.FEE, self.parties)

    def _money(self, every: list[Obligation], sides: Iterable[Side]) -> Side:
        """Every money obligation netted together; each party's net is the sum of its nets
        of points (at their value), stored value and fee (asserted: netting is linear)."""
        book = FlowBook()
        pairs = book.pairs
        for o in every:
            key = (fee.MONEY, o.payer, o.payee)
            pairs[key] = pairs.get(key, 0) + o.amount
        money = self._side(book, fee.MONEY, self.parties)
        parts: dict[str, int] = {}
        for side in sides:
            for p in side.positions:
                parts[p.store_id] = parts.get(p.store_id, 0) + p.net_amount
        for p in money.positions:
            if p.net_amount != parts.get(p.store_id, 0):
                raise InvariantError(f"{p.store_id}: net {p.net_amount} of every obligation, "
                                     f"{parts.get(p.store_id, 0)} of its parts")
        return money

    def _hashed_lots(self, lots: Iterable[LotExpiry]) -> Iterator[LotExpiry]:
        """Pass lots through, hashing them in chunks (a day may expire millions of lots)."""
        buf: list[str] = []
        for lot in lots:
            buf.append(dg.lot_line(lot))
            yield lot
            if len(buf) >= 10_000:
                self.digest.add("lots", buf)
                buf = []
        self.digest.add("lots", buf)

    def finish(self, lots: Iterable[LotExpiry], closes: Iterable[BatchClose],
               downgrades: Iterable[Downgrade] = (), gift_lots: Iterable[GiftLot] = (),
               gift_policy: Mapping[str, str] | None = None) -> DaySettlement:
        hashed = self.digest.count("entries")
        if hashed != self.entries:
            raise InvariantError(f"{hashed} entries read but {self.entries} counted")
        lower = sorted(downgrades, key=lambda d: d.pan)
        self.digest.add("tiers", [d.line() for d in lower])
        points = self._side(self.flows, POINTS, self.stores)
        stored = self._side(self.flows, STORED_VALUE, self.stores)
        value = [*points.obligations, *stored.obligations]
        lines, fees = self._fees(value)
        lapses, lapsed = lapses_of(gift_lots, self.day, gift_policy or {})
        self.digest.add("gift_lapses", [g.line() for g in lapses])
        for seller, operator, amount in lapsed:
            self.rewards.add_pair(GIFT_BREAKAGE, seller, operator, amount)
        coupons = self._side(self.rewards, COUPON, self.parties)
        gift = self._side(self.rewards, GIFT_BREAKAGE, self.parties)
        clubs = self._side(self.rewards, MEMBERSHIP, self.parties)
        every = [*value, *fees.obligations, *coupons.obligations, *gift.obligations,
                 *clubs.obligations]
        money = self._money(every, (points, stored, fees, coupons, gift, clubs))
        # Last, the lots and the closes: `settle_journal` hands them over while processes of
        # their own still read the lots due and the differing batches' rows.
        expired = breakage(self._hashed_lots(lots), self.stores, self.day)
        closes = sorted(closes, key=lambda c: c.id)
        self.digest.add("closes", [line for c in closes for line in dg.close_lines(c)])
        recon = [line for c in closes for line in reconcile(c)]
        return DaySettlement(
            day=self.day,
            inputs_digest=self.digest.hexdigest(self.day.isoformat()),
            entries=self.entries,
            counts=dict(sorted(self.counts.items())),
            settling_draws=self.settling,
            points=points,
            stored_value=stored,
            breakage=expired,
            reconciliation=recon,
            downgrades=lower,
            fee_lines=lines,
            fees=fees,
            money=money,
            transfers=bank.transfers(self.day, self.parties, money.positions, every),
            coupons=coupons,
            gift_breakage=gift,
            gift_lapses=lapses,
            memberships=clubs,
            bank_coalitions=bank.paying_coalitions(self.parties),
        )


def settle_rows(
    day: dt.date,
    stores: Mapping[str, StoreInfo],
    rows: Iterable[Row],
    lots: Iterable[LotExpiry] = (),
    closes: Iterable[BatchClose] = (),
    downgrades: Iterable[Downgrade] = (),
) -> DaySettlement:
    """Settle a day from plain records (the per-entry path)."""
    book = DayBook(day, stores)
    for r in rows:
        book.add_row(r)
    return book.finish(lots, closes, downgrades)
