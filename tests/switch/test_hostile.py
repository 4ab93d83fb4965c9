"""The hostile simulation: the core and its journal (SQLite; one shorter run on PostgreSQL)
driven the way the switch drives them, by hostile traffic (tests/switch/test_hostile_traffic.py),
against a reference switch written from the docs (tests/switch/test_hostile_model.py).

Each event is decided with `handle` (a `Message`) or, for a share of them, encoded as a frame
and read back the shell's way (`switch.connection.read_frame`, then `handle_request`), so that
what reaches the core is what a terminal can send. Decisions are committed in group commits of
random size through the journal's `append`; a crash at a random point drops the batch not yet
committed and rebuilds the state from the journal (`load`).

After every event: the answer is the model's (response code and MTI; a retransmission's answer
byte for byte; an approval's DE54 and DE48 `EP`/`RD`/`TR`/`SC`/`SR`, a discount's `CD`/`DB`
and a membership's `ML`/`MU` from the model's), the entry moves the card by what the model
says, each card the event touched holds in its lots what its journal entries add up to and what
the model has (invariant C of docs/switch.md), and each lot it moved what its moves add up to
(L). At every crash and
at the end: the recovered state equals the live one (`snapshot(...).durable()`, docs/switch.md
"Comparing states") and the journal's invariants hold (`check(full=True)`).

CI runs four seeds (the four configurations: the programs or the base rules, the fields' limits
or tight ones, lowered and raised again at some restarts), at least 100,000 events together.
`LPS_HOSTILE_SEED=<seed>` replays one seed (its configuration follows from it),
`LPS_HOSTILE_EVENTS` sets the events per seed; a failure names both. The long run is
`benches/hostile.py` (benches/README.md).

One module, a little past 400 lines: the run, its checks after each event and at each crash,
and the CI entry point are one loop and read together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iso8583 import CodecError, Message, load_profile
from iso8583.loyalty import parse_de54, parse_tlv
from switch.config import Config
from switch.connection import read_frame
from switch.core import (
    AdminError,
    Checks,
    Decision,
    Entry,
    MoneyLimits,
    RuleBook,
    State,
    apply,
    decide_adjust,
    decide_card_command,
    handle,
    handle_request,
    journaled,
    prune,
    snapshot,
)
from switch.core.calendar import business_day
from switch.core.card_store import reading_lots
from switch.core.programs.rules import program_rules
from switch.journal import Journal, open_journal
from tests.switch.support import example_config
from tests.switch.test_hostile_model import CLOSE, Expect, Model
from tests.switch.test_hostile_traffic import Event, Traffic, damaged, with_tpdu

START = dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC)
#: Simulated time a run spans, whatever its length: Yalda night (a campaign), many business-day
#: cut-overs, and the 7-day idempotency window pruned on the way.
SPAN = dt.timedelta(days=45)
#: Tight limits, so that every limit of docs/protocol.md §10 is reached often.
TIGHT = MoneyLimits(max_amount=5_000_000_000, max_points=3_000_000,
                    max_stored_value=2_000_000_000, max_topup=1_000_000_000,
                    max_batch_count=30, max_batch_amount=40_000_000_000)
#: What an operator may lower them to while cards hold more: a restart of a tight seed takes
#: one or the other (docs/protocol.md §10: a card beyond a limit may only move back).
LOWER = MoneyLimits(max_amount=2_000_000_000, max_points=1_000_000,
                    max_stored_value=500_000_000, max_topup=300_000_000,
                    max_batch_count=20, max_batch_amount=10_000_000_000)
PROFILES = {name: load_profile(name) for name in ("ascii", "bcd")}
MAX_FRAME = 4096
CI_SEEDS = (1, 2, 3, 4)
CI_EVENTS = 25_000
CRASH_RATE = 0.006  # per group commit: about one crash every 3,500 events
FULL_CHECK_EVERY = 4  # crashes between two `check(full=True)` over the whole journal


def configuration(seed: int) -> tuple[bool, bool]:
    """(the programs, tight limits) of a seed: the four combinations in turn."""
    return seed % 4 in (0, 1, 3), seed % 2 == 1


@dataclass
class Sums:
    """What the journal entries add up to, per card and kind (their `points`/`sv`) and per
    lot (their lot moves): committed, and since (docs/switch.md, invariants L and C)."""

    committed: Counter[object] = field(default_factory=Counter)
    pending: Counter[object] = field(default_factory=Counter)

    def add(self, entries: list[Entry]) -> None:
        for e in entries:
            if e.pan:
                self.pending[(e.pan, "points")] += e.points
                self.pending[(e.pan, "sv")] += e.sv
            for move in e.lot_deltas:
                self.pending[move.lot_id] += move.delta

    def of(self, key: object) -> int:
        return self.committed[key] + self.pending[key]

    def commit(self) -> None:
        self.committed.update(self.pending)
        self.pending.clear()

    def rollback(self) -> None:
        self.pending.clear()


@dataclass
class Stats:
    events: int = 0
    commits: int = 0
    crashes: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)


class Hostile:
    """One run: the live switch state, its journal, the model and the traffic."""

    def __init__(self, seed: int, tmp: Path, events: int, *, crash_rate: float = CRASH_RATE,
                 full_check_every: int = FULL_CHECK_EVERY,
                 journal: dict[str, Any] | None = None) -> None:
        self.seed = seed
        self.crash_rate = crash_rate
        self.full_check_every = full_check_every
        self.rng = random.Random(seed)
        self.programs, self.tight = configuration(seed)
        self.limits = TIGHT if self.tight else MoneyLimits()
        # `journal`: tests/engines.py's settings (default: an SQLite file in `tmp`).
        self.cfg: Config = example_config(**(journal or {"database": tmp / "hostile.db"}))
        self.rules: RuleBook | None = program_rules(self.cfg) if self.programs else None
        self.store: Journal = self.open_store()
        self.now = START
        self.state = self.recover(self.now)
        self.model = Model(self.limits, self.programs)
        self.traffic = Traffic(self.rng, self.limits,
                               totals_of=lambda tid, b: self.model.batches.get((tid, b), (0,) * 8))
        self.sums = Sums()
        self.batch: list[Entry] = []
        self.target = self.rng.randint(1, 40)
        self.pending = 0
        self.crash_at: int | None = None
        self.durable: object = None
        self.durable_at = self.now
        self.last_prune = self.now
        self.step = SPAN.total_seconds() / max(events, 1)
        self.stats = Stats()

    def open_store(self) -> Journal:
        """The journal as `lps serve` has it: on SQLite every batch is committed by the
        commit process (docs/switch.md, "The commit process"), through its pipe."""
        store = open_journal(self.cfg.switch.journal)
        store.start_commit_process()
        return store

    def day(self, now: dt.datetime) -> dt.date:
        """The business day of `now`: the snapshots compare the spend a decision can read."""
        return business_day(now, self.cfg.switch.zone, self.cfg.switch.business_day_cutover)

    def recover(self, now: dt.datetime) -> State:
        # As the switch recovers: the cards' lots stay in the journal until a decision reads
        # them (`fill`), so every event after a crash runs that path too.
        state = self.store.load(self.cfg, self.rules, now, lazy=True)
        state.limits = self.limits
        return state

    # -- the run ------------------------------------------------------------------------------

    def run(self, events: int) -> Stats:
        started = time.perf_counter()
        for tid in ("T0000001", "T0000002", "T0000003"):
            self.event(Event("0800 001", self.traffic.message("0800", tid, self.now, de70="001")))
        self.commit()
        for i in range(events):
            self.now += dt.timedelta(seconds=self.rng.expovariate(1 / self.step))
            event = self.traffic.next(self.now)
            try:
                self.event(event)
            except AssertionError as exc:
                raise AssertionError(
                    f"hostile simulation, seed {self.seed}, event {i} ({event.kind}, via "
                    f"{event.via} {event.damage}) at {self.now:%Y-%m-%d %H:%M:%S}: {exc}\n"
                    f"message: {event.msg or event.admin}\n"
                    f"replay: LPS_HOSTILE_SEED={self.seed} LPS_HOSTILE_EVENTS={events}"
                ) from exc
            self.pending += 1
            if self.crash_at is not None and self.pending >= self.crash_at:
                self.crash(i)
            elif self.pending >= self.target:
                self.commit()
        self.commit()
        self.durable, self.durable_at = self.prune_and_snapshot(), self.now
        self.restart()
        assert self.store.check(full=True).problems == []
        self.store.close()
        self.stats.events = events
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def commit(self) -> None:
        self.store.append(self.batch)
        journaled(self.state, self.batch)
        self.model.commit()
        self.sums.commit()
        self.batch, self.pending = [], 0
        self.stats.commits += 1
        if self.now - self.last_prune > dt.timedelta(hours=6):
            prune(self.state, self.now)  # the switch's housekeeping (docs/switch.md)
            self.last_prune = self.now
            self.model.forget(self.model.today - dt.timedelta(days=10))
        self.target = self.rng.randint(1, 40)
        if self.crash_at is None and self.rng.random() < self.crash_rate:
            self.durable, self.durable_at = self.prune_and_snapshot(), self.now
            self.crash_at = self.rng.randint(0, self.target)

    def prune_and_snapshot(self) -> object:
        prune(self.state, self.now)
        self.last_prune = self.now
        return snapshot(self.state, self.store.card_lots).durable(self.day(self.now))

    def crash(self, i: int) -> None:
        """The process dies: the batch not committed is lost, with what the model did since."""
        self.batch, self.pending, self.crash_at = [], 0, None
        self.model.rollback()
        self.sums.rollback()
        if self.tight and self.rng.random() < 0.5:  # restarted with other limits
            self.limits = LOWER if self.limits == TIGHT else TIGHT
            self.model.limits = self.limits
        try:
            self.restart()
            if self.stats.crashes % self.full_check_every == 0:
                assert self.store.check(full=True).problems == []
        except AssertionError as exc:
            raise AssertionError(f"hostile simulation, seed {self.seed}, crash after event "
                                 f"{i}: {exc}\nreplay: LPS_HOSTILE_SEED={self.seed}") from exc
        self.stats.crashes += 1

    def restart(self) -> None:
        """Recover from the journal as of the last commit: the state the live one had then."""
        self.store.close()
        self.store = self.open_store()
        self.state = self.recover(self.durable_at)
        recovered = snapshot(self.state, self.store.card_lots).durable(self.day(self.durable_at))
        if recovered != self.durable:
            raise AssertionError(f"recovered state differs from the live one: "
                                 f"{_difference(self.durable, recovered)}")

    # -- one event ----------------------------------------------------------------------------

    def event(self, event: Event) -> None:
        if event.admin is not None:
            self.card_command(*event.admin)
            return
        msg = event.msg
        assert msg is not None
        seen: Message | None = msg
        checks = Checks(mac_ok=event.mac_ok, hsm_unavailable=not event.hsm)
        if event.via == "direct":
            expect = self.model.expect(msg, self.now, event.mac_ok, event.hsm)
            decision = handle(self.state, msg, self.now, checks, fetch=self.store.fetch,
                              fill=self.store.fill)
        else:
            seen, expect, decision = self.frame(event, msg, checks)
        self.batch += decision.entries
        self.sums.add(decision.entries)
        self.check(expect, decision)
        self.model.answered(decision.response)
        self.stats.outcomes[expect.rc or expect.outcome] += 1
        if seen is not None:
            self.traffic.answered(seen, decision.response, self.now)
            if seen.mti == "0500" and expect.rc == "00" and expect.again is None:
                self.traffic.closed(str(seen.fields[41]))

    def frame(self, event: Event, msg: Message, checks: Checks
              ) -> tuple[Message | None, Expect, Decision]:
        """The message as a frame of its profile, maybe damaged, read the shell's way."""
        profile = PROFILES[event.via]
        try:
            payload = profile.encode(with_tpdu(msg) if event.via == "bcd" else msg)
        except CodecError:  # a value no codec writes: it can only be sent as it is
            return msg, self.model.expect(msg, self.now, event.mac_ok, event.hsm), handle(
                self.state, msg, self.now, checks, fetch=self.store.fetch, fill=self.store.fill)
        if event.damage:
            payload = damaged(self.rng, payload, event.damage)
        if len(payload) > MAX_FRAME:  # FrameDecoder refuses the header: the connection closes
            return None, CLOSE, Decision(None, close=True)
        try:
            seen: Message | None = profile.decode(payload)
        except CodecError as exc:
            seen, expect = None, self.model.undecodable(exc.partial)
        else:
            assert seen is not None
            expect = self.model.expect(seen, self.now, event.mac_ok, event.hsm)
        parsed = read_frame(profile, payload, self.state.protocol)
        decision = handle_request(self.state, parsed, self.now, checks, fetch=self.store.fetch,
                                  profile=profile, fill=self.store.fill)
        return seen, expect, decision

    def card_command(self, action: str, pan: str, *more: str) -> None:
        """`lps cards enroll|block|unblock` and the console's point adjustments."""
        try:
            if action == "adjust":
                points, store = int(more[0]), more[1]
                done = self.model.adjust(pan, points, store)
                decision = reading_lots(
                    lambda: decide_adjust(self.state, pan, points, store, "hostile", "sim",
                                          self.now), functools.partial(self.store.fill, self.state))
            else:
                done = self.model.card_command(action, pan)
                decision = reading_lots(
                    lambda: decide_card_command(self.state, action, pan, self.now),
                    functools.partial(self.store.fill, self.state))
        except AdminError as exc:
            assert not done, f"card {action} refused: {exc}"
            return
        assert done, f"card {action} carried out, the model refuses it"
        apply(self.state, decision)
        self.batch += decision.entries
        self.sums.add(decision.entries)
        self.check_card(pan, {m.lot_id for e in decision.entries for m in e.lot_deltas})

    # -- the checks after each event ----------------------------------------------------------

    def check(self, expect: Expect, d: Decision) -> None:
        if expect.outcome != "answer":
            assert d.response is None and d.close == (expect.outcome == "close") \
                and not d.entries, f"expected {expect.outcome}, got {d.response} ({d.reason})"
            return
        resp = d.response
        assert resp is not None, f"expected {expect.rc}, got no answer ({d.reason})"
        got = (resp.mti, resp.fields.get(39))
        assert got == (expect.mti, expect.rc), \
            f"expected {expect.mti}/{expect.rc} ({expect.why}), got {got} ({d.reason})"
        if expect.again is not None:
            assert d.retransmission and (resp.mti, resp.fields) == \
                (expect.again.mti, expect.again.fields), "a retransmission's answer differs"
            return
        if expect.balances:
            self.check_reply(expect, resp)
        assert (sum(e.points for e in d.entries), sum(e.sv for e in d.entries)) == \
            (expect.points, expect.sv), f"the entry moves {d.entries}, the model " \
            f"{expect.points} points, {expect.sv} stored value"
        lots = {m.lot_id for e in d.entries for m in e.lot_deltas}
        for pan in {e.pan for e in d.entries if e.pan} | ({expect.pan} - {""}):
            self.check_card(pan, lots)

    def check_reply(self, expect: Expect, resp: Message) -> None:
        points, _ = self.model.balance(expect.pan)
        de54 = {e.account_type: e for e in parse_de54(str(resp.fields[54]))}
        assert de54["00"].amount == points, f"DE54 {de54['00'].amount}, the model {points}"
        purse = self.model.purse_here(expect.pan, expect.store)
        got = de54["60"].amount if "60" in de54 else None
        assert got == purse, f"DE54 stored value {got}, the model {purse}"
        tags = parse_tlv(str(resp.fields.get(48, "")))
        for tag, value in expect.tags.items():
            assert tags.get(tag) == value, f"DE48 {tag}={tags.get(tag)}, the model {value}"

    def check_card(self, pan: str, moved: Collection[int] = ()) -> None:
        """The card's lots = the sum of its journal entries = the model's balance (invariant
        C of docs/switch.md), and each lot `moved` (of this card) holds what its moves add up
        to (L); a lot spent to 0 is no longer live."""
        card = self.state.cards.get(pan)
        if card is not None and self.state.cards.unread(pan):  # as the journal holds them
            points, purse = self.store.card_lots(pan)
            card = dataclasses.replace(card, lots=points, purse=purse)
        live = {x.id: x.remaining for x in (*card.lots, *card.purse)} if card else {}
        lots = (sum(x.remaining for x in card.lots), sum(x.remaining for x in card.purse)) \
            if card is not None else (0, 0)
        journal = (self.sums.of((pan, "points")), self.sums.of((pan, "sv")))
        model = self.model.balance(pan)
        assert lots == journal == model, \
            f"card {pan}: lots {lots}, journal {journal}, model {model}"
        for lot in moved:
            assert live.get(lot, 0) == self.sums.of(lot), \
                f"lot {lot}: {live.get(lot, 0)}, its moves add up to {self.sums.of(lot)}"


def _difference(a: Any, b: Any) -> str:
    """The first part of two snapshots that differs, shortly (whatever parts a `Snapshot`
    has: the remembered requests may be kept in other shapes, docs/switch.md)."""
    for part in dataclasses.fields(a):
        x, y = getattr(a, part.name), getattr(b, part.name)
        if x == y:
            continue
        try:
            only_x, only_y = sorted(set(x) - set(y))[:3], sorted(set(y) - set(x))[:3]
        except TypeError:  # not a collection of comparable rows
            return f"{part.name}: live {x!r:.200}, recovered {y!r:.200}"
        return f"{part.name}: live only {only_x}, recovered only {only_y}"
    return "elsewhere"


def simulate(seed: int, events: int, tmp: Path, *, tmpfs: bool = True, **options: Any
             ) -> Stats:
    """One run, its journal in `tmp` or, with `tmpfs`, on tmpfs when the machine has one: the
    crashes here lose the batch in memory, not a disk's cache (that is
    tests/switch/test_crash.py, with SIGKILL), so fsync would only cost time."""
    shm = Path("/dev/shm")
    if tmpfs and shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="lps-hostile-") as where:
            return Hostile(seed, Path(where), events, **options).run(events)
    return Hostile(seed, tmp, events, **options).run(events)


def _seeds() -> tuple[int, ...]:
    chosen = os.environ.get("LPS_HOSTILE_SEED")
    return (int(chosen),) if chosen else CI_SEEDS


@pytest.mark.parametrize("seed", _seeds())
def test_hostile_simulation(seed: int, tmp_path: Path) -> None:
    events = int(os.environ.get("LPS_HOSTILE_EVENTS", CI_EVENTS))
    programs, tight = configuration(seed)
    print(f"hostile simulation: seed {seed} ({'programs' if programs else 'base rules'}, "
          f"{'tight' if tight else 'field'} limits), {events} events")
    stats = simulate(seed, events, tmp_path)
    print(f"  {stats.seconds:.1f} s, {stats.commits} commits, {stats.crashes} crashes, "
          f"{dict(stats.outcomes.most_common())}")
    assert stats.crashes > 0 or events < 20_000


#: On PostgreSQL: one seed (the programs, tight limits), fewer events and more crashes, so that
#: recovery from the PostgreSQL journal runs several times in a CI-sized run.
PG_EVENTS, PG_CRASH_RATE = 4_000, 0.03


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_hostile_simulation_on_postgresql(tmp_path: Path,
                                          journal_settings: dict[str, Any]) -> None:
    stats = Hostile(1, tmp_path, PG_EVENTS, crash_rate=PG_CRASH_RATE,
                    journal=journal_settings).run(PG_EVENTS)
    print(f"  PostgreSQL: {stats.seconds:.1f} s, {stats.commits} commits, {stats.crashes} "
          f"crashes")
    assert stats.crashes >= 2
