"""Recovery's reads: the in-memory state rebuilt from the journal (docs/switch.md, "Durability
and recovery"). Cards, live lots, the requests of the idempotency window (compact
`Remembered` records), program state, sign-on state, key and PIN references; everything else
a decision needs is read when it needs it (`fetch`)."""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from switch.core.admin import new_state
from switch.core.calendar import business_day
from switch.core.card_store import HEAD_NARROW, LOT_NARROW, UNREAD, Cards, Unread, day_number
from switch.core.codes import NOT_REVERSIBLE, RC, UNREMEMBERED_KINDS, Kind, sql_list
from switch.core.model import (
    APPROVED,
    REVERSED,
    REVERSIBLE,
    Card,
    Lot,
    Remembered,
    TxnKey,
    txn_key,
)
from switch.core.replay import add_tombstone, remember
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.journal.codec import undone
from switch.journal.reports import RecoveryReport
from switch.journal.sql import versions
from switch.journal.sql.accounts import load_virtual
from switch.journal.sql.common import LOT_COLUMNS, card_lots
from switch.journal.sql.db import Db, dialect_of
from switch.journal.sql.programs import load_clubs
from switch.journal.sql.recall import TOMBSTONE_ROWS

if TYPE_CHECKING:
    from switch.config import Config


def first_recent(conn: Db, first_day: dt.date, today: dt.date) -> int:
    """The first journal id of a business day from `first_day` on (or beyond the end).

    One indexed look-up per day: `MIN(id) ... WHERE business_day >= ?` makes SQLite walk
    the table in id order from the start (measured: 1.8 s for 10M rows)."""
    q = conn.execute
    journal_by_day = dialect_of(conn).indexed_by("journal", "journal_day")
    found = []
    day = first_day
    while day <= today:
        found.append(q("SELECT MIN(id) FROM journal WHERE business_day = ?",
                       (day.isoformat(),)).fetchone()[0])
        day += dt.timedelta(days=1)
    found.append(q(f"SELECT MIN(id) FROM {journal_by_day} WHERE business_day > ?",
                   (today.isoformat(),)).fetchone()[0])
    return min((i for i in found if i is not None), default=1 << 62)


def replay_start(conn: Db, first: int, state: State) -> int:
    """The first journal id recovery remembers in memory, of the window starting at journal
    id `first`: that of the newest `replay_memory` remembered requests. Notes in `state` the
    business day of the newest request (and tombstone) of the window before it, if any."""
    remembered = f"kind NOT IN {sql_list(UNREMEMBERED_KINDS)}"
    row = conn.execute(f"SELECT id FROM journal WHERE id >= ? AND {remembered} "
                       "ORDER BY id DESC LIMIT 1 OFFSET ?",
                       (first, state.config.switch.replay_memory - 1)).fetchone()
    if row is None:
        return first
    start = int(row[0])

    def newest_day(table: str, rows: str) -> dt.date | None:
        found = conn.execute(f"SELECT business_day FROM {table} WHERE id >= ? AND id < ? "
                             f"AND {rows} ORDER BY id DESC LIMIT 1", (first, start)).fetchone()
        return dt.date.fromisoformat(found[0]) if found is not None else None

    state.forgot_day = newest_day("journal", remembered)
    # The tombstones' partial index holds only them: a few rows, whatever the window.
    tombstones = dialect_of(conn).indexed_by("journal", "journal_tombstone")
    state.forgot_tombstone_day = newest_day(tombstones, TOMBSTONE_ROWS)
    return start


def load_cache(conn: Db, config: Config, rules: RuleBook | None,
               now: dt.datetime, report: RecoveryReport,
               carry: tuple[State, int] | None = None, *, lazy: bool = False) -> State:
    """The state as the journal leaves it (counts in `report`); the next ids are set by the
    caller once the invariants are checked.

    `lazy`: the cards' lots stay in the journal, each card's read when a decision first needs
    them (`card_lots`; switch/core/card_store.py, `Unread`).

    `carry` (a node of several, docs/switch.md "Several nodes"): the remembered requests of
    a state that holds the journal up to the given id and nothing uncommitted, taken over
    and added to from the rows after that id, instead of the whole window read again (it
    grows with the traffic); everything else is read whole."""
    state = new_state(config, rules)
    version = versions.latest(conn)
    state.program_version = version.version if version is not None else 0
    q = conn.execute
    cards = state.cards
    dates: dict[str, dt.date] = {}

    def day_of(text: str) -> dt.date:
        d = dates.get(text)
        if d is None:
            d = dates[text] = dt.date.fromisoformat(text)
        return d

    cfg = config.switch
    today = business_day(now, cfg.zone, cfg.business_day_cutover)
    report.lots = _load_cards(conn, cards, day_of, lazy)

    # The newest `replay_memory` requests of the idempotency window, compact (`Remembered`):
    # the reply, the lot moves and the rest stay in the journal, read back when a request
    # names them; so do the window's older requests (switch/core/replay.py).
    if carry is None:
        state.remember_from = today - dt.timedelta(days=cfg.idempotency_days + 1)
        first = first_recent(conn, state.remember_from, today)
        start = replay_start(conn, first, state)
    else:
        old, upto = carry
        assert not old.uncommitted, "a state with uncommitted entries cannot be carried"
        state.txns, state.txn_order = old.txns, old.txn_order
        state.tombstones, state.tomb_order = old.tombstones, old.tomb_order
        state.remember_from, state.forgot_day = old.remember_from, old.forgot_day
        state.forgot_tombstone_day = old.forgot_tombstone_day
        start = upto + 1
    keys: dict[int, TxnKey] = {}
    txns = state.txns
    for (jid, day, kind, tid, stan, de7, rc, digest, original_id, ostan, ode7,
         detail) in q(
        "SELECT id, business_day, kind, terminal_id, stan, transmission, response_code, "
        "digest, original_id, original_stan, original_transmission, detail FROM journal "
        f"WHERE id >= ? AND kind NOT IN {sql_list(UNREMEMBERED_KINDS)} ORDER BY id",
        (start,)
    ):
        key = txn_key(tid, stan, de7)
        flags = (APPROVED if rc == RC.APPROVED else 0) | \
            (0 if kind in NOT_REVERSIBLE else REVERSIBLE)
        remember(state, key, Remembered(bytes.fromhex(digest or ""), jid,
                                        dates.get(day) or day_of(day), flags))
        keys[jid] = key
        if kind == Kind.REVERSAL:
            if rc == RC.ORIGINAL_NOT_FOUND:
                add_tombstone(state, txn_key(tid, ostan, ode7), jid)
            elif rc == RC.APPROVED and undone(detail):
                original = keys.get(original_id) or _carried(state, tid, ostan, ode7,
                                                             original_id)
                if original is not None:
                    txns[original] |= REVERSED
    report.transactions = len(keys)
    load_clubs(conn, cards, today)
    load_virtual(conn, state, config)
    for tid, store, signed_on in q("SELECT id, store_id, signed_on FROM terminals"):
        term = state.terminals.get(tid)
        if term is not None and term.store == store:
            term.signed_on = bool(signed_on)
    for tid, tmk, mac, pin, bdk in q(
        "SELECT terminal_id, tmk, mac, pin, bdk FROM terminal_keys"
    ):
        term = state.terminals.get(tid)
        if term is not None:
            term.tmk_ref, term.mac_key_ref, term.pin_key_ref, term.bdk_ref = tmk, mac, pin, bdk
    for pan, pin, tries in q("SELECT pan, pin, tries FROM card_pins"):
        if pan in cards:
            cards[pan].pin_ref, cards[pan].pin_tries = pin, tries
    report.cards = len(cards)
    cards.pack()  # those read as objects above (programs, PINs, virtual, wide)
    return state


def _load_cards(conn: Db, cards: Cards, day_of: Callable[[str], dt.date], lazy: bool) -> int:
    """Every card and (unless `lazy`) its live lots, packed straight from the rows
    (switch/core/card_store.py): no `Card` or `Lot` object for a card whose values fit a
    narrow record. The others (wide amounts or ids, days outside 1970-2149) are read again per
    card as objects, for `pack` to store wide. Returns the live lots loaded."""
    q = conn.execute
    packed = cards.packed
    numbers: dict[str, int] = {}

    def number(text: str) -> int:
        found = numbers.get(text)
        if found is None:
            found = numbers[text] = day_number(day_of(text))
        return found

    # Local memos of the names' indexes (never 0) and day numbers (never 0 for a day): one
    # dict look-up per value instead of a call.
    named: dict[tuple[str, str, object], int] = {}

    def name(key: tuple[str, str, object]) -> int:
        found = named.get(key)
        if found is None:
            found = named[key] = cards.names.index(key)
        return found

    head = HEAD_NARROW.pack
    flags = UNREAD if lazy else 0
    again: set[str] = set()
    for pan, coalition, status, enrolled in q(
        "SELECT pan, coalition_id, status, enrolled_on FROM cards"
    ):
        try:
            packed[pan] = head(flags, named.get((coalition, status, False))
                               or name((coalition, status, False)), number(enrolled))
        except (struct.error, ValueError):
            if lazy:
                unread = cast("list[Lot]", Unread(pan))
                cards[pan] = Card(pan, coalition, status, day_of(enrolled), unread, unread)
            else:
                cards[pan] = Card(pan, coalition, status, day_of(enrolled))
                again.add(pan)
    if lazy:
        return 0
    lot_part = LOT_NARROW.pack
    loaded = 0
    # When most lots are live (a young database, the benchmark's), reading the table in order
    # beats the partial index's look-ups; when most are spent, not.
    live = q("SELECT COUNT(*) FROM lots WHERE remaining != 0").fetchone()[0]
    whole = q("SELECT COALESCE(MAX(id), 0) FROM lots").fetchone()[0]
    source = dialect_of(conn).indexed_by("lots", None if 3 * live > whole else "lots_live")
    for lid, pan, kind, store, coalition, earned, expires, initial, remaining in q(
        f"SELECT {LOT_COLUMNS} FROM {source} WHERE remaining != 0"
    ):
        record = packed.get(pan)
        if record is None:  # not a card's (or read again below)
            continue
        try:
            packed[pan] = record + lot_part(  # type: ignore[operator]
                lid, named.get((kind, store, coalition)) or name((kind, store, coalition)),
                numbers.get(earned) or number(earned),
                (numbers.get(expires) or number(expires)) if expires else 0, initial, remaining)
        except (struct.error, ValueError):
            again.add(pan)
            cards.get(pan)  # an object from here on, its lots read again below
            continue
        loaded += 1
    for pan in again:
        card = cards[pan]
        loaded -= len(card.lots) + len(card.purse)
        card.lots, card.purse = card_lots(conn, pan)
        loaded += len(card.lots) + len(card.purse)
    return loaded


def _carried(state: State, tid: str, stan: str | None, de7: str | None,
             journal_id: int | None) -> TxnKey | None:
    """The key of a reversal's original remembered before the rows being read (a carried
    state's): the reversal's own terminal and original DE11/DE7, if that record is the
    original's journal row."""
    if stan is None or de7 is None or journal_id is None:
        return None
    key = txn_key(tid, stan, de7)
    value = state.txns.get(key)
    if value is None or Remembered.unpack(value).journal_id != journal_id:
        return None
    return key


def next_ids(conn: Db) -> tuple[int, int]:
    """The next journal id and the next lot id."""
    q = conn.execute
    return ((q("SELECT MAX(id) FROM journal").fetchone()[0] or 0) + 1,
            (q("SELECT MAX(id) FROM lots").fetchone()[0] or 0) + 1)
