"""A socket-free switch on a real SQLite journal, for the money tests.

`Shell` runs one request the way `switch/connection.py` does (docs/switch.md, "The request
path"), one public call per step: `parse_request`, `needs`, `SqliteJournal.fetch` (exactly the
journal rows the needs name), `decide`, encode the reply (the `ascii` profile), `apply`, then
`SqliteJournal.append` and `journaled`, as the writer does before any response leaves. A failure
while fetching, deciding or encoding answers `96` and changes nothing, as in the server.
`group_commit` holds several decisions back from the journal, as the writer's open batch does.
`restart` closes the store and recovers the state from the journal (`SqliteJournal.load`), as
`lps serve` does at start-up.

Everything a test asserts is read from the journal's public schema (docs/switch.md, "The
journal") or from the responses: never from the core's in-memory objects, so the tests keep
their meaning while the core is restructured.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import switch.journal.sqlite.schema
from iso8583 import Message, load_profile
from iso8583.loyalty import parse_de54, parse_tlv
from settlement.day import DayBook, DaySettlement, settle_rows, stores_from_config
from settlement.journal import Journal, settle_journal
from switch.config import Config
from switch.core import (
    DEFAULT_LIMITS,
    NO_CHECKS,
    Checks,
    Entry,
    Ignored,
    MoneyLimits,
    RuleBook,
    apply,
    decide,
    journaled,
    needs,
    parse_request,
    prune,
    snapshot,
    system_error,
)
from switch.core.calendar import business_day
from switch.core.card_store import reading_lots
from switch.core.luhn import redact
from switch.journal.schema import MIGRATIONS
from switch.journal.sqlite.journal import SqliteJournal
from switch.security.admin import security_command
from tests.switch.support import NOW, T1, T2, T3, example_config, sign_on

#: Tehran is UTC+03:30 all year (no daylight saving since 2022): the example's time zone.
TEHRAN = dt.timezone(dt.timedelta(hours=3, minutes=30))


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A directory for a throw-away journal: in memory (tmpfs) where there is one.

    The journal runs with `synchronous=FULL`; on a tmpfs an fsync costs nothing, which keeps
    property tests that open many small journals fast without changing what they check.
    """
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="lps-money-", dir=base) as path:
        yield Path(path)


class Shell:
    """The request path of the switch without sockets (switch/connection.py), on a real journal."""

    def __init__(self, path: Path, cfg: Config | None = None, rules: RuleBook | None = None,
                 now: dt.datetime = NOW, sign_on_terminals: bool = True,
                 limits: MoneyLimits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.cfg = cfg or example_config(path)
        self.rules = rules
        #: The limits of docs/protocol.md §10 (data, not configuration: set on the state).
        self.limits = limits
        self.profile = load_profile("ascii")
        self.store = SqliteJournal(path)
        self.state = self.store.load(self.cfg, rules, now)
        self.state.limits = limits
        self.stan = 0
        #: The last decision's `reason`: what the server's log line says of a decline
        #: (docs/switch.md, "Why a request was declined: the log's reasons").
        self.reason = ""
        #: Decided and applied, not yet committed (inside `group_commit`): the writer's batch.
        self.pending: list[Entry] | None = None
        if sign_on_terminals:
            for tid in (T1, T2, T3):
                assert self.send(sign_on(tid, self.next_stan(), now=now), now).fields[39] == "00"

    def next_stan(self) -> int:
        self.stan += 1
        return self.stan

    def send(self, msg: Message, now: dt.datetime = NOW, checks: Checks = NO_CHECKS
             ) -> Message:
        """Decide one request, apply it and make it durable; returns the response. `checks`
        are the HSM's verdicts on its MAC and PIN (docs/security.md)."""
        request = parse_request(msg, self.state.protocol)
        assert not isinstance(request, Ignored), request.reason
        try:
            facts = self.store.fetch(needs(self.state, request), checks)
            decision = reading_lots(lambda: decide(self.state, request, facts, now),
                                    functools.partial(self.store.fill, self.state))
            assert decision.response is not None, decision.reason
            self.profile.encode(decision.response)
        except Exception as exc:  # as the server: 96, nothing changed
            decision = system_error(request, redact(f"{type(exc).__name__}: {exc}"))
        self.reason = decision.reason
        apply(self.state, decision)
        if self.pending is None:
            self._commit(decision.entries)
        else:
            self.pending += decision.entries
        assert decision.response is not None
        return decision.response

    def operator(self, command: dict[str, str], now: dt.datetime = NOW) -> None:
        """An operator's key or PIN command (`lps keys`, `lps cards set-pin`), made durable."""
        self._commit([security_command(self.state, command, now)])

    def _commit(self, entries: list[Entry]) -> None:
        if entries:
            self.store.append(entries)
            journaled(self.state, entries)

    @contextmanager
    def group_commit(self) -> Iterator[None]:
        """Decide every request of the block, then commit them in one append, as the
        server's writer does with the decisions made while the previous batch committed."""
        self.pending = []
        try:
            yield
            self._commit(self.pending)
        finally:
            self.pending = None

    def restart(self, now: dt.datetime, limits: MoneyLimits | None = None, *,
                lazy: bool = True) -> None:
        """Stop and recover from the journal alone, as `lps serve` does at start-up (with
        other `limits`, when given): the cards' lots left in the journal until a decision
        reads them (docs/switch.md, "The balance cache"; `lazy=False`: all read at once).

        The recovered state must equal the live one (docs/switch.md, "Comparing states"): the
        live state pruned to the idempotency window of `now`, as the server's housekeeping does,
        compared without the caches recovery reads on demand (an unread card's lots as the
        journal holds them), and without the spend neither can read any more.
        """
        prune(self.state, now)
        day = business_day(now, self.cfg.switch.zone, self.cfg.switch.business_day_cutover)
        live = snapshot(self.state, self.store.card_lots).durable(day)
        self.store.close()
        self.store = SqliteJournal(self.path)
        self.state = self.store.load(self.cfg, self.rules, now, lazy=lazy)
        assert snapshot(self.state, self.store.card_lots).durable(day) == live, \
            "recovery differs from the live state"
        if limits is not None:
            self.limits = limits
        self.state.limits = self.limits

    def close(self) -> None:
        self.store.close()

    # -- reading the journal (docs/switch.md, "The journal") --------------------------------

    def sql(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def moves(self, rrn: str) -> list[tuple[int, int]]:
        """(lot id, delta) of the journal row with this RRN, in the order they were made."""
        return [(int(str(lot)), int(str(delta))) for lot, delta in self.sql(
            "SELECT lot_id, delta FROM lot_moves WHERE journal_id = ? ORDER BY rowid",
            (int(rrn),))]

    def move_stores(self, rrn: str) -> list[tuple[int, str, int]]:
        """(lot id, issuing store, delta) of a journal row's lot moves."""
        return [(int(str(a)), str(b), int(str(c))) for a, b, c in self.sql(
            "SELECT lot_id, store_id, delta FROM lot_moves WHERE journal_id = ? ORDER BY rowid",
            (int(rrn),))]

    def lots(self, pan: str) -> dict[int, tuple[str, str | None, int, int]]:
        """Lot id -> (issuing store, expires_on, initial, remaining) of a card's points."""
        return {int(str(i)): (str(s), None if e is None else str(e), int(str(n)), int(str(r)))
                for i, s, e, n, r in self.sql(
                    "SELECT id, store_id, expires_on, initial, remaining FROM lots "
                    "WHERE pan = ? AND kind = 'points' ORDER BY id", (pan,))}

    def business_days(self, *responses: Message) -> list[str]:
        """The `business_day` the journal stamped on each answered request (by its RRN)."""
        days = {int(str(i)): str(d) for i, d in self.sql("SELECT id, business_day FROM journal")}
        return [days[int(rrn(resp))] for resp in responses]

    def journal_points(self, pan: str) -> int:
        """The sum of the card's journal `points`: its balance by invariant (C)."""
        (total,), = self.sql("SELECT COALESCE(SUM(points), 0) FROM journal WHERE pan = ?",
                             (pan,))
        return int(str(total))

    def settle(self, day: dt.date) -> DaySettlement:
        """Settle a business day from the journal, as `lps settle` does (one reader).

        The entry-by-entry path (docs/settlement.md, "Reading the journal") must give the same
        result: both are computed, compared, and the production one returned.
        """
        stores = stores_from_config(self.cfg)
        with Journal(self.path) as journal:
            result: DaySettlement = settle_journal(journal, DayBook(day, stores), workers=1)
            by_entry = settle_rows(day, stores, journal.rows(day), journal.lots_due(day),
                                   journal.batch_closes(day, workers=1))
        journal.close()
        for part in ("inputs_digest", "entries", "counts", "points", "stored_value", "breakage",
                     "reconciliation"):
            assert getattr(result, part) == getattr(by_entry, part), part
        return result


def rc(resp: Message) -> str:
    return str(resp.fields[39])


def tags(resp: Message) -> dict[str, str]:
    return parse_tlv(str(resp.fields[48])) if 48 in resp.fields else {}


def points_balance(resp: Message) -> int:
    """DE54's points entry, signed (`D` is a debt: docs/protocol.md §3)."""
    return next(e.amount for e in parse_de54(str(resp.fields[54])) if e.account_type == "00")


def rrn(resp: Message) -> str:
    return str(resp.fields[37])


def tehran(year: int, month: int, day: int, hour: int = 12, minute: int = 0,
           second: int = 0) -> dt.datetime:
    """A local time in the example's zone, as the aware UTC instant the core is given."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=TEHRAN).astimezone(dt.UTC)


def journal_before(path: Path, migration: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SQLite journal at `path` made by an LPS whose schema stops before `migration` (the
    next open migrates it)."""
    with monkeypatch.context() as m:
        m.setattr(switch.journal.sqlite.schema, "MIGRATIONS",
                  [x for x in MIGRATIONS if x.number < migration])
        old = SqliteJournal(path)
        assert old.version == migration - 1
        old.close()
