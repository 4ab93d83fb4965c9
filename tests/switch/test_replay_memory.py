"""The bounded replay memory (docs/switch.md, "Memory"): requests that left memory but are
inside the idempotency window are looked up in the journal, and every answer is the one the
switch gives while they are still in memory (docs/protocol.md §4, "Idempotency")."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, load_profile
from switch.config import Config
from switch.core import NO_CHECKS, handle, journaled
from switch.core.model import txn_key
from tests.switch.journaled import Journaled
from tests.switch.support import (
    NOW,
    T1,
    T2,
    burn,
    card,
    earn,
    example_config,
    inquiry,
    request,
    reversal,
    sign_on,
)

ASCII = load_profile("ascii")
P1, P2, FILLER = card(501), card(502), card(503)
#: Small enough that a handful of requests pushes the earlier ones out of memory.
BOUND = 4
LATER = NOW + dt.timedelta(minutes=5)


def journaled_with(tmp: Path, bound: int | None, journal: dict[str, Any] | None = None
                   ) -> Journaled:
    """The core on a journal: an SQLite file in `tmp`, or the engine of `journal`
    (`journal_settings`, tests/engines.py)."""
    extra: dict[str, Any] = {} if bound is None else {"replay_memory": bound}
    extra.update(journal or {"database": tmp / "lps.db"})
    return Journaled(tmp, example_config(**extra))


class Filler:
    """Inquiries on T2 that push earlier requests out of a small memory."""

    def __init__(self) -> None:
        self.stan = 700000

    def __call__(self, j: Journaled, count: int = 2 * BOUND, now: dt.datetime = NOW) -> None:
        for _ in range(count):
            self.stan += 1
            assert j.rc(inquiry(T2, self.stan, FILLER, now=now), now) == "00"


def earned_then_forgotten(j: Journaled) -> Message:
    """An earn of 20 points on P1 that more recent requests pushed out of memory."""
    j.send(sign_on(T1))
    j.send(sign_on(T2))
    a = earn(T1, 1, P1, 200_000)
    assert j.rc(a) == "00"
    Filler()(j)
    assert key_of(a) not in j.state.txns
    return a


def key_of(msg: Message) -> str:
    return txn_key(msg.text(41), msg.text(11), msg.text(7))


Step = Callable[[Journaled], list[bytes]]


def story(j: Journaled, bounded: bool) -> list[bytes]:
    """Every reply of one sequence of requests, encoded; with `bounded`, each request named
    again has left memory first (asserted)."""
    fill = Filler()
    out: list[bytes] = []
    replies: list[Message] = []

    def send(msg: Message, now: dt.datetime = NOW, gone: Message | None = None) -> str:
        if bounded and gone is not None:
            assert key_of(gone) not in j.state.txns, "the test must push it out of memory"
        d = j.send(msg, now)
        assert d.response is not None
        out.append(ASCII.encode(d.response))
        replies.append(d.response)
        return str(d.response.fields[39])

    send(sign_on(T1))
    send(sign_on(T2))
    a = earn(T1, 1, P1, 200_000)
    b = earn(T1, 2, P2, 50_000)
    unknown = earn(T1, 4, P1, 30_000)          # never sent before its reversal
    early = reversal(unknown, 3)
    c = burn(T1, 5, P1, 5_000)
    assert send(a) == "00"
    assert send(b) == "00"
    assert send(early) == "25"                 # a tombstone for `unknown`
    assert send(c) == "00"
    fill(j)
    # A retransmission of a request that left memory: the stored reply, byte for byte.
    assert send(a, LATER, gone=a) == "00"
    assert send(c, LATER, gone=c) == "00"
    # A repeat with other content on its key: 94.
    assert send(earn(T1, 1, P1, 999_000, now=NOW), LATER, gone=a) == "94"
    # The late original after its reversal: 05, nothing earned.
    assert send(unknown, LATER, gone=early) == "05"
    # A reversal of an original that left memory: undone exactly once.
    rev_a = reversal(a, 10, now=LATER)
    assert send(rev_a, LATER, gone=a) == "00"
    assert send(reversal(a, 11, now=LATER), LATER, gone=a) == "00"   # nothing to undo
    fill(j, now=LATER)
    assert send(reversal(a, 12, now=LATER), LATER, gone=rev_a) == "00"   # still nothing
    assert send(rev_a, LATER, gone=rev_a) == "00"                      # its retransmission
    assert send(reversal(rev_a, 13, now=LATER), LATER, gone=rev_a) == "25"  # not reversible
    # A reversal that does not match its original: 12, remembered, nothing changed.
    wrong = reversal(b, 14, now=LATER)
    wrong.fields[4] = f"{40_000:012d}"
    assert send(wrong, LATER, gone=b) == "12"
    fill(j, now=LATER)
    assert send(wrong, LATER, gone=wrong) == "12"
    assert send(reversal(b, 15, now=LATER), LATER, gone=b) == "00"
    # An earn with a return standing against it: its reversal, once it left memory, is
    # refused until the return is reversed (docs/protocol.md §4).
    d = earn(T1, 20, P2, 100_000, now=LATER)
    assert send(d, LATER) == "00"
    ret = request("0200", T1, 21, pan=P2, pc="200000", amount=40_000, now=LATER,
                  tags={"OR": replies[-1].text(37)})
    assert send(ret, LATER) == "00"
    fill(j, now=LATER)
    assert send(reversal(d, 22, now=LATER), LATER, gone=d) == "12"
    assert send(reversal(ret, 23, now=LATER), LATER, gone=ret) == "00"
    assert send(reversal(d, 24, now=LATER), LATER, gone=d) == "00"
    j.restart(LATER)
    assert send(a, LATER, gone=a) == "00"
    assert send(unknown, LATER, gone=unknown) == "05"
    return out


def test_a_request_out_of_memory_gets_the_answers_it_gets_in_memory(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """The same requests with memory for all of them (SQLite) and for `BOUND` of them, read
    back from the engine's journal: the same reply bytes."""
    whole = journaled_with(tmp_path / "whole", None)
    small = journaled_with(tmp_path / "small", BOUND, journal_settings)
    try:
        expected = story(whole, bounded=False)
        got = story(small, bounded=True)
        assert got == expected
        assert small.state.cards[P1].points == whole.state.cards[P1].points
        assert small.points(P2) == whole.points(P2) == 0
    finally:
        whole.close()
        small.close()


def test_memory_stays_within_the_bound(tmp_path: Path, journal_settings: dict[str, Any]
                                       ) -> None:
    j = journaled_with(tmp_path, BOUND, journal_settings)
    try:
        j.send(sign_on(T2))
        fill = Filler()
        for stan in range(800000, 800030):  # reversals of unknown originals: tombstones
            assert j.rc(reversal(earn(T2, stan + 100, P1, 1_000), stan)) == "25"
            fill(j, 1)
        assert len(j.state.txns) == BOUND and len(j.state.tombstones) <= BOUND
        assert not j.state.uncommitted
        j.restart()
        assert len(j.state.txns) == BOUND
    finally:
        j.close()


def test_a_reversal_in_flight_counts_for_an_original_out_of_memory(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """Two reversals (their own STANs) of one original that left memory, the first not yet
    committed when the second is decided: the second undoes nothing."""
    j = journaled_with(tmp_path, BOUND, journal_settings)
    try:
        a = earned_then_forgotten(j)
        first = handle(j.state, reversal(a, 2), NOW, fetch=j.store.fetch)
        second = handle(j.state, reversal(a, 3), NOW, fetch=j.store.fetch)
        assert first.response is not None and second.response is not None
        assert first.response.fields[39] == second.response.fields[39] == "00"
        assert first.entries[0].lot_deltas and not second.entries[0].lot_deltas
        for d in (first, second):
            j.store.append(d.entries)
            journaled(j.state, d.entries)
        assert j.points(P1) == 0
        j.restart()
    finally:
        j.close()


def test_requests_older_than_the_window_are_forgotten_out_of_memory_too(tmp_path: Path
                                                                        ) -> None:
    """Past the idempotency window a request is new again, whether it left memory by the
    bound or not (docs/protocol.md §4: kept for at least 7 days)."""
    from switch.core import prune
    j = journaled_with(tmp_path, BOUND)
    try:
        a = earned_then_forgotten(j)
        much_later = NOW + dt.timedelta(days=10)
        prune(j.state, much_later)
        j.restart(much_later)
        d = j.send(a, much_later)
        assert not d.retransmission and d.response is not None
        assert d.response.fields[39] == "00" and j.points(P1) == 40
    finally:
        j.close()


def _held_outside_the_journal() -> int:
    """The bytes tracemalloc sees held, but for what lines of the journal's package allocated.

    sqlite3 keeps a weak reference to every cursor a connection made and drops the dead ones
    once every 200 cursors: a sawtooth of up to some 17 KB, allocated on the line that called
    `execute`, whose phase at the two readings moves with the number of statements before
    them. The state's records are allocated in the core."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, "*/switch/journal/*")])
    return sum(stat.size for stat in snapshot.statistics("filename"))


def test_a_remembered_request_out_of_memory_costs_no_memory(tmp_path: Path) -> None:
    """tracemalloc over 1,000 inquiries once memory is full: the state does not grow
    (docs/switch.md, "Memory"); unbounded, it grew by about 167 bytes each."""
    bound = 200
    j = journaled_with(tmp_path, bound)
    try:
        j.send(sign_on(T2))
        fill = Filler()
        fill(j, 2 * bound)
        count = 1_000
        gc.collect()
        tracemalloc.start()
        try:
            # Memory full of records allocated under tracemalloc: those the next requests push
            # out are counted as freed.
            fill(j, 2 * bound)
            before = _held_outside_the_journal()
            fill(j, count)
            grown = _held_outside_the_journal() - before
        finally:
            tracemalloc.stop()
        assert len(j.state.txns) == bound and not j.state.uncommitted
        # What is left is fixed, not per request: the dict's table re-allocated by a resize.
        assert grown / count < 40, f"{grown / count:.1f} bytes per request past the bound"
        j.restart()
    finally:
        j.close()


@pytest.mark.parametrize("bound", [0, -1, "many"])
def test_the_bound_is_checked(tmp_path: Path, bound: object) -> None:
    from switch.config import ConfigError, load_config
    text = (Path(__file__).resolve().parents[2] / "examples" / "lps.toml").read_text()
    value = f'"{bound}"' if isinstance(bound, str) else str(bound)
    text = text.replace("[switch]\n", f"[switch]\nreplay_memory = {value}\n", 1)
    path = tmp_path / "lps.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="replay_memory"):
        load_config(path)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_seeded_simulation_with_a_small_memory(seed: int, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference-model simulation (retransmissions, reused STANs, reversals before and
    after their originals, crashes) with memory for 8 requests: after each crash recovery
    keeps 8 and the rest is read from the journal; every answer must still be the model's."""
    from tests.switch import test_simulation

    def small(database: Path | None = None, **switch: Any) -> Config:
        return example_config(database, replay_memory=8, **switch)

    monkeypatch.setattr(test_simulation, "example_config", small)
    test_simulation.simulate(seed, {"database": tmp_path / "sim.db"})


def test_a_look_up_reads_one_index_by_the_whole_key(tmp_path: Path) -> None:
    """docs/switch.md, "Memory": one indexed read per look-up, on every part of the key."""
    from switch.journal.sql import recall
    from switch.journal.sql.db import POSTGRES, SQLITE
    j = journaled_with(tmp_path, BOUND)
    try:
        conn = j.sqlite.conn
        since = ("2026-11-01",)
        # SQLite's SQL names the index; the same SQL without the hint (PostgreSQL's) is planned
        # on it by SQLite too, from its condition alone.
        for dialect in (SQLITE, POSTGRES):
            for sql, index in ((recall._request(dialect), "journal_request"),
                               (recall._tombstone(dialect), "journal_tombstone")):
                assert ("INDEXED BY" in sql) == dialect.index_hints
                plan = " ".join(str(r[-1]) for r in conn.execute(
                    "EXPLAIN QUERY PLAN " + sql, ("1123100000", T1, "000001", *since)))
                assert f"USING INDEX {index} (" in plan, plan
                assert "=? AND" in plan and plan.count("=?") == 3, plan
    finally:
        j.close()


def test_over_tcp_a_request_out_of_memory_and_after_a_restart(tmp_path: Path) -> None:
    """The real server with memory for 3 requests: a retransmission and a reversal of a
    request that left memory, before and after a restart."""
    import asyncio
    import dataclasses

    from switch.core import snapshot
    from switch.server import Switch
    from tests.switch.test_money_safety_tcp import assert_restart_equal
    from tests.switch.test_server import config_for, signed_on

    cfg = config_for(tmp_path)
    cfg = dataclasses.replace(cfg, switch=dataclasses.replace(cfg.switch, replay_memory=3))
    a = earn(T1, 1, P1, 200_000)
    first: list[Message] = []

    async def once(body: Callable[[Switch], object]) -> None:
        sw = Switch(cfg)
        await sw.start()
        try:
            await body(sw)  # type: ignore[misc]
            await sw.writer.drain()
            kept = snapshot(sw.state, sw.journal.card_lots).durable()
        finally:
            await sw.stop()
        assert_restart_equal(cfg, kept, None)

    async def before(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        first.append(await c.send(a))
        for stan in range(2, 8):
            assert (await c.send(inquiry(T2, stan, FILLER))).fields[39] == "00"
        assert key_of(a) not in sw.state.txns
        again = await c.send(a)
        assert (again.mti, again.fields) == (first[0].mti, first[0].fields)
        assert (await c.send(reversal(a, 8))).fields[39] == "00"
        assert sw.state.cards[P1].points == 0
        await c.close()

    async def after(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        assert key_of(a) not in sw.state.txns
        again = await c.send(a)
        assert (again.mti, again.fields) == (first[0].mti, first[0].fields)
        assert (await c.send(reversal(a, 9))).fields[39] == "00"   # nothing left to undo
        assert (await c.send(earn(T1, 1, P1, 1_000))).fields[39] == "94"
        # Recovered lazily, the card was read before the first request naming it was decided.
        assert not sw.state.cards.unread(P1) and sw.state.cards[P1].points == 0
        await c.close()

    asyncio.run(once(before))
    asyncio.run(once(after))


def test_an_original_leaving_memory_between_decide_and_apply(tmp_path: Path) -> None:
    """The shell awaits the reply's MAC between `decide` and `apply`, and a commit may push
    the original out of memory then: the reversal still applies, and counts."""
    from switch.core.apply import apply
    from switch.core.decide import decide
    from switch.core.needs import needs
    from switch.core.request import Request, parse_request

    j = journaled_with(tmp_path, BOUND)
    try:
        j.send(sign_on(T1))
        j.send(sign_on(T2))
        a = earn(T1, 1, P1, 200_000)
        state = j.state
        in_flight = [handle(state, a, NOW, fetch=j.store.fetch)]
        for stan in range(2, 2 + BOUND):
            in_flight.append(handle(state, inquiry(T2, stan, FILLER), NOW,
                                    fetch=j.store.fetch))
        assert key_of(a) in state.txns and len(state.txns) > BOUND  # none committed yet
        request = parse_request(reversal(a, 20), state.protocol)
        assert isinstance(request, Request)
        decision = decide(state, request, j.store.fetch(needs(state, request), NO_CHECKS), NOW)
        entries = [e for d in in_flight for e in d.entries]
        j.store.append(entries)
        journaled(state, entries)
        assert key_of(a) not in state.txns
        apply(state, decision)
        j.store.append(decision.entries)
        journaled(state, decision.entries)
        assert j.points(P1) == 0
        again = j.send(reversal(a, 21))
        assert again.response is not None and again.response.fields[39] == "00"
        assert not again.entries[0].lot_deltas
        j.restart()
    finally:
        j.close()


def test_an_engine_that_does_not_answer_a_recall_fails_loudly(tmp_path: Path) -> None:
    """A journal engine that ignores `Needs.recall` must not turn a retransmission into a
    new request (a second earn): the decision fails (`96`, nothing changed)."""
    from switch.core import Facts, snapshot
    j = journaled_with(tmp_path, BOUND)
    try:
        a = earned_then_forgotten(j)
        before = snapshot(j.state)
        d = handle(j.state, a, NOW, fetch=lambda needs, checks: Facts(needs, checks))
        assert d.response is not None and d.response.fields[39] == "96"
        assert snapshot(j.state) == before and j.points(P1) == 20
    finally:
        j.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_the_hostile_simulation_with_a_small_memory(seed: int, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile simulation (tests/switch/test_hostile.py: its reference switch written
    from the docs, crashes, malformed and repeated traffic) with memory for 64 requests:
    whatever left memory is read from the journal, and every answer is still the model's."""
    from tests.switch import test_hostile

    def small(database: Path) -> Config:
        return example_config(database, replay_memory=64)

    monkeypatch.setattr(test_hostile, "example_config", small)
    stats = test_hostile.simulate(seed, 6_000, tmp_path)
    assert stats.commits > 64
