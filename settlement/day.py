"""One business day's settlement, computed from the journal's records (pure).

`DayBook` takes the day's entries either one by one (`add_row`: tests, small days) or
pre-aggregated by the SQLite reader (`add_chunk`, `add_count`, `add_flow`): netting is a
sum, so both give the same result and, with the same canonical lines, the same digest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from settlement import digest as dg
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
from settlement.records import POINTS, STORED_VALUE, BatchClose, InvariantError, LotExpiry, Row
from settlement.tiers import Downgrade


def stores_from_config(config: object) -> dict[str, StoreInfo]:
    """The store table settlement needs, from a `switch.config.Config`."""
    stores: Mapping[str, object] = config.stores  # type: ignore[attr-defined]
    coalitions: Mapping[str, object] = config.coalitions  # type: ignore[attr-defined]
    out = {}
    for sid, s in stores.items():
        c = coalitions[s.coalition]  # type: ignore[attr-defined]
        out[sid] = StoreInfo(sid, s.name, c.id, c.point_value, c.currency)  # type: ignore[attr-defined]
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


class DayBook:
    """Accumulates a day's journal; `finish` nets, expires and reconciles."""

    def __init__(self, day: dt.date, stores: Mapping[str, StoreInfo]) -> None:
        self.day = day
        self.stores = stores
        self.digest = dg.Digest()
        self.flows = FlowBook()
        self.counts: dict[str, int] = {}
        self.entries = 0
        self.settling = 0
        self._last_id = 0
        self.digest.add("stores", [
            f"{s.id}|{s.name}|{s.coalition}|{s.point_value}|{s.currency}"
            for s in sorted(stores.values(), key=lambda s: s.id)
        ])

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

    def add_settling(self, n: int) -> None:
        self.settling += n

    # -- the day's result ---------------------------------------------------------------------

    def _side(self, kind: str) -> Side:
        obls = obligations(self.flows, self.stores, kind)
        poss = positions(obls, self.stores, kind)
        return Side(obls, poss, instructions(poss), summaries(obls, poss, self.stores, kind))

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
               downgrades: Iterable[Downgrade] = ()) -> DaySettlement:
        hashed = self.digest.count("entries")
        if hashed != self.entries:
            raise InvariantError(f"{hashed} entries read but {self.entries} counted")
        expired = breakage(self._hashed_lots(lots), self.stores, self.day)
        closes = sorted(closes, key=lambda c: c.id)
        self.digest.add("closes", [line for c in closes for line in dg.close_lines(c)])
        recon = [line for c in closes for line in reconcile(c)]
        lower = sorted(downgrades, key=lambda d: d.pan)
        self.digest.add("tiers", [d.line() for d in lower])
        return DaySettlement(
            day=self.day,
            inputs_digest=self.digest.hexdigest(self.day.isoformat()),
            entries=self.entries,
            counts=dict(sorted(self.counts.items())),
            settling_draws=self.settling,
            points=self._side(POINTS),
            stored_value=self._side(STORED_VALUE),
            breakage=expired,
            reconciliation=recon,
            downgrades=lower,
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
