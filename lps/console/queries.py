"""Every read of the money database the console makes, and the one place store scoping is
applied (docs/console.md, "Reading the money journal" and "Store-scoped staff").

No other console module holds SQL over the switch's database: this module is what a later step
moves behind the journal package's read API. Connections are read-only (`mode=ro`), so the
console never takes the switch's write lock. Every function takes a `Scope`; a scoped member
gets only rows of their stores.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lps.console.i18n import N_
from switch.config import Config
from switch.store import StoreError, connect

#: Journal kinds that are terminal traffic with an approve/decline answer.
FINANCIAL = ("earn", "advice", "redeem", "inquiry", "return", "topup", "sv_purchase", "stamp",
             "reversal")


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
def reading(database: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the switch's database, closed after the block."""
    if not database.exists():
        raise QueryError(f"the switch's database {database} does not exist yet (start the "
                         "switch once)")
    try:
        conn = connect(database, readonly=True)
    except StoreError as exc:
        raise QueryError(str(exc)) from None
    try:
        yield conn
    finally:
        conn.close()


# -- the dashboard -------------------------------------------------------------------------


@dataclass(slots=True)
class Dashboard:
    day: dt.date
    by_store: list[tuple[str, int, int]] = field(default_factory=list)
    by_code: list[tuple[str, int]] = field(default_factory=list)
    issued: int = 0
    redeemed: int = 0
    terminals: list[tuple[str, str, bool]] = field(default_factory=list)


def dashboard(conn: sqlite3.Connection, config: Config, scope: Scope,
              day: dt.date) -> Dashboard:
    d = Dashboard(day)
    marks = ",".join("?" * len(FINANCIAL))
    where, ids = scope.sql("store_id")
    args = (day.isoformat(), *FINANCIAL, *ids)
    d.by_store = [(r[0], int(r[1]), int(r[2])) for r in conn.execute(
        "SELECT COALESCE(store_id, ''), SUM(response_code = '00'), SUM(response_code != '00') "
        f"FROM journal WHERE business_day = ? AND kind IN ({marks}){where} GROUP BY 1 "
        "ORDER BY 1", args)]
    d.by_code = [(r[0], int(r[1])) for r in conn.execute(
        "SELECT COALESCE(response_code, ''), COUNT(*) FROM journal WHERE business_day = ? "
        f"AND kind IN ({marks}){where} GROUP BY 1 ORDER BY 2 DESC, 1", args)]
    # Points moved today: credits to points lots are issued; approved redemptions redeemed.
    issued, redeemed = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN points > 0 THEN points END), 0), "
        "COALESCE(-SUM(CASE WHEN kind = 'redeem' AND points < 0 THEN points END), 0) "
        f"FROM journal WHERE business_day = ? AND response_code = '00'{where}",
        (day.isoformat(), *ids)).fetchone()
    d.issued, d.redeemed = int(issued), int(redeemed)
    signed = dict(conn.execute("SELECT id, signed_on FROM terminals").fetchall())
    d.terminals = [(tid, t.store, bool(signed.get(tid, 0)))
                   for tid, t in sorted(config.terminals.items()) if scope.sees(t.store)]
    return d


# -- cards --------------------------------------------------------------------------------------


@dataclass(slots=True)
class CardView:
    pan: str
    coalition: str
    status: str
    enrolled_on: str
    #: Usable points of the lots the reader may see (the whole card for the whole coalition).
    available: int
    on_card: int
    lots: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    scoped: bool = False


def card(conn: sqlite3.Connection, pan: str, scope: Scope, today: dt.date) -> CardView | None:
    """A card with its lots and last 20 entries, as far as the reader's stores go; None when it
    is not enrolled, or (scoped) never had a lot or an entry at the reader's stores."""
    row = conn.execute("SELECT coalition_id, status, enrolled_on FROM cards WHERE pan = ?",
                       (pan,)).fetchone()
    if row is None:
        return None
    where, ids = scope.sql("store_id")
    lots = conn.execute(
        "SELECT id, kind, store_id, earned_on, expires_on, initial, remaining FROM lots "
        f"WHERE pan = ? AND remaining != 0{where} ORDER BY id", (pan, *ids)).fetchall()
    history = conn.execute(
        "SELECT id, at, kind, terminal_id, store_id, response_code, amount, points, sv "
        f"FROM journal WHERE pan = ?{where} ORDER BY id DESC LIMIT 20", (pan, *ids)).fetchall()
    if scope.limited and not lots and not history:
        return None
    points = [r for r in lots if r[1] == "points"]
    usable = sum(r[6] for r in points if r[6] < 0 or r[4] is None or r[4] > today.isoformat())
    return CardView(pan, row[0], row[1], row[2], usable, sum(r[6] for r in points), lots,
                    history, scope.limited)


def available(conn: sqlite3.Connection, pan: str, today: dt.date) -> int:
    """The card's usable points over all its lots (what a debit may draw)."""
    view = card(conn, pan, EVERYTHING, today)
    return view.available if view is not None else 0


def card_status(conn: sqlite3.Connection, pan: str) -> str | None:
    row = conn.execute("SELECT status FROM cards WHERE pan = ?", (pan,)).fetchone()
    return str(row[0]) if row else None


# -- settlement ---------------------------------------------------------------------------------


def business_days(conn: sqlite3.Connection, before: dt.date, limit: int = 60) -> list[str]:
    """Business days with journal entries, newest first, up to the day before `before`."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT business_day FROM journal WHERE business_day < ? "
        "ORDER BY business_day DESC LIMIT ?", (before.isoformat(), limit))]
