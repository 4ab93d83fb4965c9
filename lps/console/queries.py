"""Every read of the money database the console makes, and the one place store scoping is
applied (docs/console.md, "Reading the money journal" and "Store-scoped staff").

The reads are the journal's read API (`switch.journal.JournalReader`, read-only: the console
never takes the switch's write lock); no console module holds SQL over the switch's database.
Every function takes a `Scope`; a scoped member gets only rows of their stores.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lps.console.i18n import N_
from settlement import figures
from settlement.day import stores_from_config
from settlement.figures import Figures, points
from settlement.netting import StoreInfo
from switch.config import Config
from switch.core.ledger import available_points
from switch.core.model import Lot
from switch.customers.desk import CardView as DeskCard
from switch.customers.desk import CustomerView, LotView
from switch.journal import JournalError, JournalReader, JournalRow, open_reader
from switch.journal.customers import HistoryRow

#: Every journal and lot kind a page may name, for the catalogue (`N_` in lps.console.i18n).
KIND_WORDS = (N_("earn"), N_("advice"), N_("redeem"), N_("inquiry"),
              N_("return"), N_("topup"), N_("sv_purchase"), N_("stamp"),
              N_("reversal"), N_("card_admin"), N_("batch_close"), N_("network"),
              N_("enroll"), N_("sv"))


class QueryError(RuntimeError):
    """The switch's database cannot be read (missing, or refused by its file mode)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """The stores a reader may see; `stores=None` is the whole coalition."""

    stores: frozenset[str] | None = None

    @classmethod
    def of(cls, stores: Iterable[str]) -> Scope:
        chosen = frozenset(stores)
        return cls(chosen or None)

    @property
    def limited(self) -> bool:
        return self.stores is not None

    def sees(self, store_id: str | None) -> bool:
        return self.stores is None or store_id in self.stores

    def sql(self, column: str) -> tuple[str, list[str]]:
        """`AND column IN (...)` for a scoped reader, nothing for the whole coalition."""
        if self.stores is None:
            return "", []
        ids = sorted(self.stores)
        return f" AND {column} IN ({','.join('?' * len(ids))})", ids

    def rows(self, items: Iterable[dict[str, str]], key: str) -> list[dict[str, str]]:
        """Rows of a settlement file (a dict per row) whose `key` column is a visible store."""
        return [r for r in items if self.sees(r.get(key))]


EVERYTHING = Scope()


@contextmanager
def reading(journal: str | Path) -> Iterator[JournalReader]:
    """The journal's read API on the switch's database (`[switch] database`: an SQLite file,
    or the PostgreSQL URL, docs/deploy.md "The switch on PostgreSQL"), closed after the
    block."""
    if isinstance(journal, Path) and not journal.exists():
        raise QueryError(f"the switch's database {journal} does not exist yet (start the "
                         "switch once)")
    try:
        reader = open_reader(journal)
    except JournalError as exc:
        raise QueryError(str(exc)) from None
    try:
        yield reader
    except JournalError as exc:  # lost while reading (a server gone): the page says so
        raise QueryError(str(exc)) from None
    finally:
        reader.close()


# -- the dashboard -------------------------------------------------------------------------


@dataclass(slots=True)
class Dashboard:
    day: dt.date
    by_store: list[tuple[str, int, int]] = field(default_factory=list)
    by_code: list[tuple[str, int]] = field(default_factory=list)
    #: Points of the day as settlement.figures counts them (docs/settlement.md).
    issued: int = 0
    adjusted: int = 0
    redeemed: int = 0
    terminals: list[tuple[str, str, bool]] = field(default_factory=list)


def dashboard(reader: JournalReader, config: Config, scope: Scope,
              day: dt.date) -> Dashboard:
    traffic = reader.day_figures(day, scope.stores)
    signed = reader.signed_on()
    terminals = [(tid, t.store, signed.get(tid, False))
                 for tid, t in sorted(config.terminals.items()) if scope.sees(t.store)]
    visible = [sid for sid in config.stores if scope.sees(sid)]
    moved = points(reader, visible, day, day)
    return Dashboard(day, traffic.by_store, traffic.by_code, moved.issued, moved.adjusted,
                     moved.redeemed, terminals)


# -- reports (the figures of settlement.figures, docs/settlement.md "The figures") ---------


def _report_stores(config: Config, scope: Scope) -> dict[str, StoreInfo]:
    return {sid: s for sid, s in stores_from_config(config).items() if scope.sees(sid)}


def report_figures(reader: JournalReader, config: Config, scope: Scope, start: dt.date,
                   end: dt.date) -> list[Figures]:
    """The figures of the reader's stores over the range; each coalition's total only for the
    whole coalition's staff (a total would tell a store manager about other stores)."""
    return figures.compute(reader, _report_stores(config, scope), start, end,
                           totals=not scope.limited)


def report_series(reader: JournalReader, config: Config, scope: Scope, start: dt.date,
                  end: dt.date, grain: str) -> list[list[Figures]]:
    """`report_figures` for each period of the range (settlement.periods)."""
    return figures.series(reader, _report_stores(config, scope), start, end, grain,
                          totals=not scope.limited)


# -- cards --------------------------------------------------------------------------------------


@dataclass(slots=True)
class CardView:
    pan: str
    coalition: str
    status: str
    enrolled_on: dt.date
    #: Usable points of the lots the reader may see (the whole card for the whole coalition).
    available: int
    on_card: int
    lots: list[Lot] = field(default_factory=list)
    history: list[JournalRow] = field(default_factory=list)
    scoped: bool = False


def card(reader: JournalReader, pan: str, scope: Scope, today: dt.date) -> CardView | None:
    """A card with its lots and last 20 entries, as far as the reader's stores go; None when it
    is not enrolled, or (scoped) never had a lot or an entry at the reader's stores."""
    found = reader.card(pan, stores=scope.stores)
    if found is None:
        return None
    history = reader.history(pan, stores=scope.stores)
    lots = sorted(found.lots + found.purse, key=lambda lot: lot.id)
    if scope.limited and not lots and not history:
        return None
    return CardView(pan, found.coalition, found.status, found.enrolled_on,
                    available_points(found, today), found.points, lots, history,
                    scope.limited)


def available(reader: JournalReader, pan: str, today: dt.date) -> int:
    """The card's usable points over all its lots (what a debit may draw)."""
    view = card(reader, pan, EVERYTHING, today)
    return view.available if view is not None else 0


def card_status(reader: JournalReader, pan: str) -> str | None:
    found = reader.card(pan)
    return found.status if found is not None else None


# -- the service desk (docs/console.md "The service desk", "Store-scoped staff") ------------


def sees_card(reader: JournalReader, pan: str, scope: Scope) -> bool:
    """Whether the reader may see the card at all: the whole coalition sees every card, a
    scoped reader one with a live lot or a journal entry at their stores (as `card`)."""
    if not scope.limited:
        return True
    found = reader.card(pan, stores=scope.stores)
    if found is None:
        return False
    return bool(found.lots or found.purse or reader.history(pan, stores=scope.stores, limit=1))


def desk_history(rows: Iterable[HistoryRow], scope: Scope) -> list[HistoryRow]:
    """A customer's history rows at the reader's stores (a row of no store, such as an
    enrolment by the switch, is the whole coalition's)."""
    return [h for h in rows if scope.sees(h.row.store_id or None)]


def desk_customer(reader: JournalReader, config: Config, view: CustomerView, scope: Scope,
                  today: dt.date, history: list[HistoryRow]) -> CustomerView | None:
    """The customer's page as far as the reader's stores go: the cards with activity there,
    each with the lots of those stores only (another store's lot is not shown, nor counted in
    a figure, as on the card page), stamps of those stores; the totals and "last seen" from
    what is left. `history` is the scoped history (`desk_history`). None: nothing of the
    customer is at the reader's stores."""
    if not scope.limited:
        return view
    cards = [c for c in (_desk_card(reader, config, c, scope, today) for c in view.cards)
             if c is not None]
    if not cards:
        return None
    seen = [h.row.at for h in history
            if h.row.at is not None and h.row.terminal_id and h.row.approved]
    last = max(seen).astimezone(config.switch.zone) if seen else None
    return dataclasses.replace(
        view, cards=cards, points=sum(c.points for c in cards),
        available_points=sum(c.available_points for c in cards),
        purse=sum(c.purse for c in cards), last_seen=last, history=[])


def _desk_card(reader: JournalReader, config: Config, card: DeskCard, scope: Scope,
               today: dt.date) -> DeskCard | None:
    if not sees_card(reader, card.pan, scope):
        return None
    found = reader.card(card.pan, stores=scope.stores, club_on=today)
    if found is None:
        return None

    def name(store: str) -> str:
        known = config.stores.get(store)
        return known.name if known is not None else store

    club = found.club
    stamps = {name(s): (n, club.rewards.get(s, 0)) for s, n in sorted(club.stamps.items())
              if scope.sees(s)} if club is not None else {}
    lots = [LotView(lot.id, lot.kind, lot.store, name(lot.store), lot.earned_on,
                    lot.expires_on, lot.initial, lot.remaining)
            for lot in sorted(found.lots + found.purse,
                              key=lambda lot: (lot.expires_on or dt.date.max, lot.id))
            if scope.sees(lot.store)]
    return dataclasses.replace(
        card, points=sum(lot.remaining for lot in found.lots if scope.sees(lot.store)),
        available_points=available_points(found, today),
        purse=sum(lot.remaining for lot in found.purse if scope.sees(lot.store)),
        stamps=stamps, lots=lots)


# -- settlement ---------------------------------------------------------------------------------


def business_days(reader: JournalReader, before: dt.date, limit: int = 60) -> list[str]:
    """Business days with journal entries, newest first, up to the day before `before`."""
    return [d.isoformat() for d in reader.business_days(before, limit)]
