"""The journal as its users see it: typed protocols an engine implements.

`Journal` is the switch's side (the writer's group commit, recovery, the per-request `fetch`,
the checks); `JournalReader` is everyone else's (settlement, reports, the console, the
commands), read-only; `Outbox` is the messaging sender's. `switch/journal/sqlite` implements
them on one SQLite file; a second engine implements the same and plugs into
`switch.journal.engine`, and nothing that uses them changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from switch.core.entries import Entry
from switch.core.facts import NO_CHECKS, Checks, Facts, Needs
from switch.core.model import Card, Lot
from switch.core.programs.club import Profile
from switch.core.rewards import CouponTerms, ProgramVersion
from switch.core.rules import RuleBook
from switch.core.state import State
from switch.journal.errors import JournalError
from switch.journal.receipts import Receipt
from switch.journal.reports import CheckResult, RecoveryReport
from switch.journal.rows import CouponRecord, DayFigures, JournalRow, KeyCheckValues, OutboxRow

if TYPE_CHECKING:
    from switch.config import Config


@runtime_checkable
class SharedJournal(Protocol):
    """What a node of several needs beyond `Journal` (docs/switch.md, "Several nodes")."""

    def append_decided(self, decide: Callable[[int], Sequence[Entry]]) -> None:
        """One group commit decided inside the nodes' lock: `decide(head)` returns the
        entries, decided against the journal up to `head`; durable when this returns."""
        ...

    def refresh(self, config: Config, rules: RuleBook | None, now: dt.datetime,
                carry: tuple[State, int] | None = None) -> State:
        """The cached state read again from the journal (another node appended); with
        `carry`, the remembered requests of a clean state as of that id taken over."""
        ...


class Journal(Protocol):
    """The switch's journal: where money becomes durable (docs/switch.md, the journal)."""

    report: RecoveryReport

    @property
    def location(self) -> str:
        """The database, as log lines and errors name it (never a password)."""
        ...

    def append(self, entries: Sequence[Entry], receipts: Sequence[Receipt] = ()) -> None:
        """Persist one group commit atomically and durably, or raise `JournalError`: the
        journal rows with the lots, moves, cards, terminals, program rows, batch totals, keys
        and PINs they carry, and the receipt SMS of their transactions, all in one
        transaction."""
        ...

    def fetch(self, needs: Needs, checks: Checks = NO_CHECKS) -> Facts:
        """The committed rows one decision needs (`switch.core.needs`), with `checks`."""
        ...

    def load(self, config: Config, rules: RuleBook | None, now: dt.datetime, *,
             lazy: bool = False) -> State:
        """Recovery: the state rebuilt from the journal, after the invariants were checked
        from the verified checkpoint (`RecoveryError` when they do not hold). `lazy`: the
        cards' lots are left in the journal until `fill` reads them."""
        ...

    def fill(self, state: State, pan: str) -> None:
        """Read the lots of a card `load(lazy=True)` left unread into `state` (on the event
        loop, no decision in progress; `switch.core.card_store.UnreadCard` names the card)."""
        ...

    def card_lots(self, pan: str) -> tuple[list[Lot], list[Lot]]:
        """One card's committed live lots (points, stored value) without changing a state:
        what `fill` reads, for `snapshot(state, lots_of)`."""
        ...

    def check(self, *, full: bool) -> CheckResult:
        """`lps check [--full]`."""
        ...

    def claim_serving(self) -> None:
        """`lps serve` claims the database for as long as it serves (`JournalError` when
        another switch holds it in a way this one cannot share, docs/switch.md "Several
        nodes")."""
        ...

    @property
    def commits_on_loop(self) -> bool:
        """Whether the writer commits through `watch_commits` and `send_nowait` (a commit
        process runs)."""
        ...

    def watch_commits(self, loop: asyncio.AbstractEventLoop,
                      on_answer: Callable[[tuple[int, float] | JournalError], None]) -> None:
        """From now on each answer of the commit process reaches `on_answer` from `loop`'s
        reader: (how many of the batches sent it committed, the oldest first, in one
        transaction; its CPU seconds), or the `JournalError` that ends the commits."""
        ...

    def send_nowait(self, entries: Sequence[Entry], receipts: Sequence[Receipt] = ()) -> None:
        """A batch sent to the commit process, its commit not awaited: the process commits
        it, with the batches sent behind it while it was busy, once it finishes the commit
        it is in."""
        ...

    @property
    def sending(self) -> bool:
        """Whether batches sent wait for room in the commit process's pipe (it is behind)."""
        ...

    def start_commit_process(self, keep_fds: Sequence[int] = ()) -> None:
        """From now on group commits run in a process of their own where the engine gains by
        it, holding `keep_fds` (the switch's lock file) open while it lives."""
        ...

    def wait_for_commit_process(self) -> None:
        """Return once the commit process, if one was started, has opened the database;
        `JournalError` when it ends or fails first. A serving switch waits before it listens
        (docs/switch.md, "The commit process")."""
        ...

    def checkpoint_in_background(self) -> None:
        """From now on the caller runs `checkpoint` and `verify_tail` off the commit path."""
        ...

    def checkpoint(self) -> tuple[int, int, int]:
        """Engine housekeeping off the commit path (SQLite: a WAL checkpoint) and
        `verify_tail`; SQLite's (busy, WAL frames, frames checkpointed), zeros elsewhere."""
        ...

    def verify_tail(self) -> None:
        """Verify the rows committed since the verified checkpoint; the advance rides in the
        next `append`. Never raises; a violation is logged and stops the advances."""
        ...

    def security_rows(self) -> int:
        """How many keys and PINs are stored under an LMK."""
        ...

    def stored_tmk(self) -> tuple[str, str, str] | None:
        """One stored TMK under the LMK: (terminal, key, check value)."""
        ...

    def put_profile(self, pan: str, profile: Profile) -> None:
        """A card's customer profile, committed at once."""
        ...

    def reserve_card_numbers(self, prefix: str, length: int,
                             choose: Callable[[set[str]], Sequence[str]], file: str,
                             at: dt.datetime) -> list[str]:
        """New card numbers `choose` picks from those enrolled or issued, recorded as issued
        in the same transaction."""
        ...

    def issue_coupons(self, terms: CouponTerms, digests: Sequence[str], file: str,
                      at: dt.datetime, by: str, written: Callable[[int], None]) -> int:
        """Record an issue of coupons and the digests of its codes in one transaction, calling
        `written(issue id)` before it commits (it writes the codes' file); the issue's id."""
        ...

    def program_version(self) -> ProgramVersion | None:
        """The newest version of the programs recorded (None: none yet)."""
        ...

    def record_programs(self, version: ProgramVersion, at: dt.datetime) -> None:
        """A version of the programs the switch read from its file at a start."""
        ...

    def close(self) -> None: ...


class CardReader(Protocol):
    """One card, the terminals' keys, draws' entrants."""

    def card(self, pan: str, *, stores: Collection[str] | None = None,
             club_on: dt.date | None = None) -> Card | None:
        """The card with its live lots (of `stores` when given); with `club_on`, its program
        state on that business day. None: not enrolled."""
        ...

    def history(self, pan: str, *, stores: Collection[str] | None = None,
                limit: int = 20) -> list[JournalRow]:
        """The card's last journal rows (of `stores` when given), newest first, with `at`."""
        ...

    def profile(self, pan: str) -> Profile | None: ...

    def key_check_values(self) -> dict[str, KeyCheckValues]: ...

    def members(self, coalition: str, enrolled_by: dt.date) -> list[str]:
        """Active cards of `coalition` enrolled by `enrolled_by`, by card number."""
        ...

    def usable_points_at(self, coalition: str, day: dt.date) -> dict[str, int]:
        """Per card: points usable on `day` as the journal stood at that day's end."""
        ...

    def coupon(self, digest: str) -> CouponRecord | None:
        """A coupon by its code's digest, with its issue and moves (None: no such code)."""
        ...


class DayReader(Protocol):
    """Settlement's reads (`settlement.journal` holds the algorithm)."""

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """One read transaction: every read in the block sees one state of the journal."""
        ...

    def day_size(self, day: dt.date) -> int: ...

    def day_bounds(self, day: dt.date) -> tuple[int, int] | None: ...

    def first_id_from(self, day: dt.date) -> int | None: ...

    def digest_rows(self, day: dt.date, lo: int, hi: int) -> list[tuple[Any, ...]]: ...

    def moves(self, lo: int, hi: int) -> list[tuple[Any, ...]]: ...

    def closes(self, ids: Collection[int]) -> list[tuple[Any, ...]]: ...

    def day_closes(self, day: dt.date) -> list[tuple[Any, ...]]: ...

    def lapsed(self, lot_ids: Collection[int], day: dt.date) -> list[int]: ...

    def lots_due(self, day: dt.date, skip_kinds: Collection[str]
                 ) -> Iterator[tuple[int, str, dt.date, int, int]]: ...

    def moved_after(self, after_id: int, day: dt.date, skip_kinds: Collection[str]
                    ) -> dict[int, int]: ...

    def expiring_lots(self, day: dt.date, touched: Collection[int] = ()
                      ) -> dict[int, tuple[str, dt.date, int]]: ...

    def batch_rows(self, lo: int, hi: int, keys: Collection[tuple[str, str]]
                   ) -> list[JournalRow]: ...

    def lots_at(self, day: dt.date) -> dict[str, tuple[int, int]]: ...

    def new_members(self, start: dt.date, end: dt.date, kinds: Collection[str]
                    ) -> tuple[dict[str, int], dict[str, int]]: ...

    def rows(self, start: dt.date, end: dt.date | None = None, *, draws: bool = True
             ) -> Iterator[JournalRow]: ...

    def new_members_by_day(self, start: dt.date, end: dt.date, kinds: Collection[str]
                           ) -> tuple[dict[tuple[str, dt.date], int],
                                      dict[tuple[str, dt.date], int]]:
        """`new_members` per business day: per (store, day) and per (coalition, day)."""
        ...

    def tiered_cards(self) -> list[tuple[str, str, dt.date | None, str]]: ...

    def spend(self, pans: Collection[str], after: dt.date, upto: dt.date
              ) -> Iterator[tuple[str, dt.date, int]]: ...

    def coupon_moves(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Coupon redemptions and releases of journal ids [lo, hi]: (journal id, issue,
        coalition, issuer, store, discount), in journal order."""
        ...

    def paid_members(self, since: dt.date) -> dict[str, tuple[str, dt.date]]:
        """Cards whose paid membership runs on `since` or later: card -> (tier, last day)."""
        ...

    def membership_sales(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """Club cards sold and sales reversed in journal ids [lo, hi]: (journal id, coalition,
        store, signed price), in journal order."""
        ...

    def gift_lots_due(self, day: dt.date, skip_kinds: Collection[str] = ()
                      ) -> Iterator[tuple[int, str, str, dt.date, int, int]]:
        """Gift-card lots unusable on `day` (lapsing that day, or lapsed and moved that day
        by a row of a kind not in `skip_kinds`): (lot, seller, coalition, expiry, remaining
        at the end of the day before, at its end)."""
        ...


class FigureReader(Protocol):
    """Figures for people: the console's dashboard, the demo's summary."""

    def day_figures(self, day: dt.date, stores: Collection[str] | None = None
                    ) -> DayFigures: ...

    def signed_on(self) -> dict[str, bool]: ...

    def business_days(self, before: dt.date, limit: int = 60) -> list[dt.date]: ...

    def size(self) -> tuple[int, int]: ...

    def points_by_store(self) -> list[tuple[str, int, int, int]]: ...

    def redeemed_by_issuer(self) -> list[tuple[str, str, int]]: ...

    def top_cards(self, limit: int) -> list[tuple[str, int]]: ...


class JournalReader(CardReader, DayReader, FigureReader, Protocol):
    """The journal read-only: never takes the write lock the group commit needs."""

    @property
    def location(self) -> str: ...

    def check(self, *, full: bool) -> CheckResult:
        """`lps check [--full]` while the switch may be running."""
        ...

    def close(self) -> None: ...


class Outbox(Protocol):
    """The messaging tables (docs/messaging.md): what `switch.messaging` reads and writes."""

    @property
    def in_transaction(self) -> bool: ...

    def transaction(self) -> contextlib.AbstractContextManager[None]: ...

    def insert(self, rows: Sequence[Sequence[Any]], now: dt.datetime) -> list[int | None]: ...

    def due(self, channel: str, now: dt.datetime, limit: int) -> list[OutboxRow]: ...

    def next_due(self, channel: str) -> dt.datetime | None: ...

    def in_state(self, state: str, *, newest_first: bool = False,
                 limit: int = -1) -> list[OutboxRow]: ...

    def counts(self) -> dict[str, int]: ...

    def attempts(self, oid: int) -> int: ...

    def state_of(self, oid: int) -> str: ...

    def claim(self, ids: Sequence[int], now: dt.datetime) -> None: ...

    def defer(self, ids: Sequence[int], until: dt.datetime, reason: str,
              now: dt.datetime) -> None: ...

    def release(self, ids: Sequence[int], now: dt.datetime) -> None: ...

    def add_parts(self, acks: Sequence[tuple[int, int, str]], totals: Mapping[int, int],
                  now: dt.datetime) -> list[int]: ...

    def reschedule(self, oid: int, due: dt.datetime, error: str, now: dt.datetime) -> None: ...

    def set_state(self, oid: int, state: str, error: str, now: dt.datetime) -> None: ...

    def part_owner(self, smsc_id: str) -> int | None: ...

    def set_receipt(self, oid: int, smsc_id: str, stat: str, now: dt.datetime) -> None: ...

    def undelivered_parts(self, oid: int) -> int: ...

    def mark_delivered(self, oid: int, now: dt.datetime) -> None: ...

    def requeue(self, ids: Collection[int], now: dt.datetime) -> int: ...

    def set_consent(self, address: str, promotional: bool, source: str,
                    now: dt.datetime) -> None: ...

    def consent(self, address: str) -> bool | None: ...

    def set_receipts(self, address: str, on: bool, source: str, now: dt.datetime) -> None: ...

    def receipts(self, address: str) -> bool: ...

    def close(self) -> None: ...
