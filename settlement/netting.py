"""Coalition netting: provenance flows -> bilateral obligations -> net positions -> transfers.

A burn at store B that drew points from a lot issued by store A means A owes B those points
(A took the customer's spend when the points were earned; B gave the goods). Summing all such
flows per ordered pair gives bilateral obligations; summing those per store gives a net position
that is paid to or received from the coalition's settlement account. Netting is linear, so the
flows may be summed in any order or pre-aggregated (the SQLite reader does) with equal results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from settlement.records import (
    DISCOUNT,
    POINTS,
    REDEEM,
    RETURN,
    REVERSAL,
    SPENDING_PCS,
    SV_PURCHASE,
    Flow,
    InputError,
    InvariantError,
    Row,
)
from settlement.terms import Terms

#: Entries whose draws on other stores' lots move value to the accepting store: redemptions,
#: and returns (a claw-back that takes another store's points to cover spent ones).
MOVING_KINDS = frozenset({REDEEM, DISCOUNT, SV_PURCHASE, RETURN})
#: (flow kind, payer, payee) -> signed units.
PairKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What settlement needs of a configured store and its coalition."""

    id: str
    name: str
    coalition: str
    point_value: int
    currency: str
    #: The account the bank batch pays to or from (SHEBA, compact); None when not configured.
    iban: str | None = None
    #: The coalition's operator and fee (None: the coalition has no operator).
    terms: Terms | None = None


@dataclass(frozen=True, slots=True)
class Obligation:
    kind: str
    payer: str
    payee: str
    units: int
    amount: int
    currency: str
    coalition: str


@dataclass(frozen=True, slots=True)
class Position:
    """A store's day: `net` = receivable - payable (units), `net_amount` in minor units."""

    store_id: str
    store_name: str
    coalition: str
    payable: int
    receivable: int
    net: int
    net_amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class Instruction:
    """One transfer with the coalition's settlement account (`pay` into it or `receive`)."""

    coalition: str
    store_id: str
    action: str
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class NettingSummary:
    """How much netting removed: gross obligations against the transfers that remain."""

    coalition: str
    kind: str
    obligations: int
    gross_units: int
    gross_amount: int
    net_units: int
    net_amount: int
    currency: str

    @property
    def removed_amount(self) -> int:
        return self.gross_amount - self.net_amount

    @property
    def ratio(self) -> str | None:
        """Net transfers / gross obligations, 4 decimals, rounded half up (None if no gross)."""
        return fraction_str(self.net_amount, self.gross_amount)


def fraction_str(num: int, den: int, places: int = 4) -> str | None:
    """`num/den` as a decimal string with integer arithmetic (no float ever touches money)."""
    if den == 0:
        return None
    scale = 10**places
    q = (2 * num * scale + den) // (2 * den)
    return f"{q // scale}.{q % scale:0{places}d}"


def flows_of(row: Row) -> list[Flow]:
    """The inter-store flows of one journal entry; most entries have none.

    Redemptions (points or stored value), returns that claw back another store's points, and
    the reversals of those move value; a draw on a lot the accepting store issued itself moves
    nothing. A reversal is classified by the
    kind of its original (the processing code it carries is the terminal's word only, used
    when the original's kind is not known). A declined entry must not have
    touched any lot: that would be a switch bug, so it is refused rather than guessed about.
    """
    if not row.draws:
        return []
    if not row.approved:
        raise InputError(
            f"journal entry {row.id}: declined ({row.response_code!r}) yet it changed lots"
        )
    if row.kind in MOVING_KINDS:
        sign = -1
    elif row.kind == REVERSAL and (
        row.original_kind in MOVING_KINDS
        or (not row.original_kind and row.pc in SPENDING_PCS)
    ):
        sign = 1
    else:
        return []
    flows = []
    for d in row.draws:
        if d.delta * sign < 0:
            raise InputError(
                f"journal entry {row.id} ({row.kind}): lot {d.lot_id} moved by {d.delta}, "
                "the wrong way for this kind of entry"
            )
        if d.issuer != row.store_id and d.delta:
            flows.append(Flow(d.kind, d.issuer, row.store_id, -d.delta))
    return flows


class FlowBook:
    """Sums flows per (kind, payer, payee); what the day's obligations are made of."""

    def __init__(self) -> None:
        self.pairs: dict[PairKey, int] = {}

    def add(self, flow: Flow) -> None:
        key = (flow.kind, flow.payer, flow.payee)
        self.pairs[key] = self.pairs.get(key, 0) + flow.units

    def add_pair(self, kind: str, payer: str, payee: str, units: int) -> None:
        key = (kind, payer, payee)
        self.pairs[key] = self.pairs.get(key, 0) + units

    def add_row(self, row: Row) -> int:
        """Add a row's flows; returns how many it had."""
        flows = flows_of(row)
        for f in flows:
            self.add(f)
        return len(flows)


def _store(stores: Mapping[str, StoreInfo], store_id: str, why: str) -> StoreInfo:
    info = stores.get(store_id)
    if info is None:
        raise InputError(f"store {store_id!r} ({why}) is not in the configuration")
    return info


def obligations(book: FlowBook, stores: Mapping[str, StoreInfo], kind: str) -> list[Obligation]:
    """Bilateral obligations of one kind, sorted by payer then payee.

    A pair whose sum is negative (only a reversal of an earlier day's redemption) becomes an
    obligation the other way, added to whatever that direction already owed.
    """
    directed: dict[tuple[str, str], int] = {}
    for (k, payer, payee), units in book.pairs.items():
        if k != kind or units == 0:
            continue
        if units < 0:
            payer, payee, units = payee, payer, -units
        directed[(payer, payee)] = directed.get((payer, payee), 0) + units
    named = {payer for payer, _ in directed} | {payee for _, payee in directed}
    if not named <= stores.keys():  # name the first pair's unknown store, as read
        for payer, payee in directed:
            for store, why in ((payer, f"issuer of points redeemed at {payee}"),
                               (payee, f"accepted value issued by {payer}")):
                _store(stores, store, why)
    # By the stores' order, as one int per pair: a sort of ints is the cheapest Python has
    # (IDs with long common prefixes, or tuples of ranks, compare several times slower).
    rank = {sid: i for i, sid in enumerate(sorted(stores))}
    width = len(rank)
    out = []
    for (payer, payee), units in sorted(directed.items(),
                                        key=lambda kv: rank[kv[0][0]] * width + rank[kv[0][1]]):
        p, q = stores[payer], stores[payee]
        if p.coalition != q.coalition:
            raise InputError(
                f"value issued by {payer} (coalition {p.coalition}) was spent at {payee} "
                f"(coalition {q.coalition}); coalitions do not settle with each other"
            )
        value = p.point_value if kind == POINTS else 1  # other kinds are money already
        out.append(Obligation(kind, payer, payee, units, units * value, p.currency, p.coalition))
    return out


def positions(
    obls: Iterable[Obligation], stores: Mapping[str, StoreInfo], kind: str
) -> list[Position]:
    """Every configured store's net position (zero rows included), by coalition then store.

    Asserts that each coalition's positions sum to zero, in units and in currency.
    """
    pay: dict[str, int] = {}
    rec: dict[str, int] = {}
    for o in obls:
        pay[o.payer] = pay.get(o.payer, 0) + o.units
        rec[o.payee] = rec.get(o.payee, 0) + o.units
    out = []
    for s in sorted(stores.values(), key=lambda s: (s.coalition, s.id)):
        value = s.point_value if kind == POINTS else 1
        p, r = pay.get(s.id, 0), rec.get(s.id, 0)
        out.append(Position(s.id, s.name, s.coalition, p, r, r - p, (r - p) * value, s.currency))
    sums: dict[str, tuple[int, int]] = {}
    for pos in out:
        u, a = sums.get(pos.coalition, (0, 0))
        sums[pos.coalition] = (u + pos.net, a + pos.net_amount)
    for coalition, (u, a) in sums.items():
        if u or a:
            raise InvariantError(
                f"coalition {coalition}: {kind} net positions sum to {u} units / {a} minor "
                "units instead of zero"
            )
    return out


def instructions(poss: Iterable[Position]) -> list[Instruction]:
    """Each store pays its net debit into, or receives its net credit from, the account."""
    return [
        Instruction(
            p.coalition, p.store_id, "receive" if p.net_amount > 0 else "pay",
            abs(p.net_amount), p.currency,
        )
        for p in poss
        if p.net_amount
    ]


def summaries(
    obls: list[Obligation], poss: list[Position], stores: Mapping[str, StoreInfo], kind: str
) -> list[NettingSummary]:
    """Per coalition: gross obligations against net transfers (sum of net credits)."""
    out = []
    for coalition in sorted({s.coalition for s in stores.values()}):
        mine = [o for o in obls if o.coalition == coalition]
        credits = [p for p in poss if p.coalition == coalition and p.net > 0]
        currency = next(s.currency for s in stores.values() if s.coalition == coalition)
        out.append(
            NettingSummary(
                coalition=coalition, kind=kind, obligations=len(mine),
                gross_units=sum(o.units for o in mine),
                gross_amount=sum(o.amount for o in mine),
                net_units=sum(p.net for p in credits),
                net_amount=sum(p.net_amount for p in credits),
                currency=currency,
            )
        )
    return out
