"""The group commit's pipeline through the commit process (docs/switch.md, "The commit
process"): what the writer sends while the process commits, the order in which answers
release replies, and the child taking every batch queued behind a commit in one transaction."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import pytest

from switch.core import handle
from switch.core.entries import Entry
from switch.journal import Journal, JournalError
from switch.journal.sqlite.commit_child import Requests
from switch.journal.sqlite.committer import LENGTH
from switch.journal.sqlite.journal import SqliteJournal
from switch.metrics import Metrics
from switch.server import Switch
from switch.writer import PIPELINE_MIN, Outgoing, SwitchStopped, Writer
from tests.switch.support import NOW, T1, card, dismantle, earn, example_config, sign_on
from tests.switch.test_server import LOCAL0, signed_on
from tests.waits import EVENT

PAN = card(43)


class _Journal:
    """Stands in for a journal with a commit process: records what is sent; the test
    answers for the process (`answer`), as the loop's reader would."""

    commits_on_loop = True

    def __init__(self) -> None:
        self.sent: list[list[Entry]] = []
        self.sending = False
        self.on_answer: Callable[[tuple[int, float] | JournalError], None] | None = None

    def watch_commits(self, loop: asyncio.AbstractEventLoop,
                      on_answer: Callable[[tuple[int, float] | JournalError], None]) -> None:
        self.on_answer = on_answer

    def send_nowait(self, entries: Sequence[Entry], receipts: Sequence[object] = ()) -> None:
        self.sent.append(list(entries))

    def answer(self, outcome: tuple[int, float] | JournalError) -> None:
        assert self.on_answer is not None
        self.on_answer(outcome)


class _Pipeline:
    """A writer on `_Journal`, and what it released and why it failed."""

    def __init__(self) -> None:
        self.journal = _Journal()
        self.released: list[list[str]] = []
        self.failed: list[str] = []
        self.writer = Writer(cast(Journal, self.journal), Metrics(), 4096, self.failed.append,
                             self._committed)

    def _committed(self, entries: list[Entry], outs: list[Outgoing]) -> None:
        self.released.append([out.mti for out in outs])

    def submit(self, name: str, entries: int = 1) -> None:
        """A request named `name` with `entries` entries (stand-ins: only counted)."""
        self.writer.submit(cast(list[Entry], [object()] * entries),
                           Outgoing(None, mti=name))


async def _settled(check: Callable[[], bool]) -> None:
    """Let the loop run the writer's tasks until `check` holds (a few turns at most)."""
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer did not get there")


def _run(scenario: Callable[[_Pipeline], object]) -> _Pipeline:
    async def main() -> _Pipeline:
        p = _Pipeline()
        task = asyncio.create_task(p.writer.run())
        await _settled(lambda: p.journal.on_answer is not None)
        try:
            await cast("asyncio.Future[None]", scenario(p))
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return p

    return asyncio.run(main())


def test_an_idle_process_gets_the_first_request_and_the_rest_wait_for_its_answer() -> None:
    async def scenario(p: _Pipeline) -> None:
        p.submit("a")
        await _settled(lambda: len(p.journal.sent) == 1)
        p.submit("b")
        p.submit("nothing", entries=0)  # an answer that writes no row: after b, not before
        p.submit("c")
        await _settled(lambda: p.writer.wakeup.is_set() is False)
        assert len(p.journal.sent) == 1 and p.released == []
        p.journal.answer((1, 0.001))
        # a is out; b, the empty one and c go as one batch (the process is idle again)
        assert p.released == [["a"]]
        assert [len(batch) for batch in p.journal.sent] == [1, 2]
        p.journal.answer((1, 0.001))
        assert p.released == [["a"], ["b", "nothing", "c"]]
        assert p.writer.unanswered == 0 and not p.writer.flights and p.writer.idle.is_set()

    _run(scenario)


def test_a_pipelines_worth_goes_while_the_process_commits_and_answers_release_in_order(
        ) -> None:
    async def scenario(p: _Pipeline) -> None:
        p.submit("first")
        await _settled(lambda: len(p.journal.sent) == 1)
        for i in range(PIPELINE_MIN - 1):
            p.submit(f"r{i}")
        await _settled(lambda: p.writer.wakeup.is_set() is False)
        assert len(p.journal.sent) == 1  # fewer than a pipeline's worth: they wait
        p.submit(f"r{PIPELINE_MIN - 1}")
        await _settled(lambda: len(p.journal.sent) == 2)
        assert len(p.journal.sent[1]) == PIPELINE_MIN and p.writer.unanswered == 2
        p.submit("late")
        # One answer covers both batches: both released in one call, in order; then the
        # one that waited goes.
        p.journal.answer((2, 0.002))
        assert p.released == [["first"] + [f"r{i}" for i in range(PIPELINE_MIN)]]
        assert [len(batch) for batch in p.journal.sent] == [1, PIPELINE_MIN, 1]
        p.journal.answer((1, 0.001))
        assert p.released[-1] == ["late"]

    _run(scenario)


def test_an_answer_for_the_oldest_batch_releases_it_alone() -> None:
    async def scenario(p: _Pipeline) -> None:
        p.submit("first")
        await _settled(lambda: len(p.journal.sent) == 1)
        for i in range(PIPELINE_MIN):
            p.submit(f"r{i}")
        await _settled(lambda: len(p.journal.sent) == 2)
        p.journal.answer((1, 0.001))
        assert p.released == [["first"]]
        p.journal.answer((1, 0.001))
        assert len(p.released) == 2 and len(p.released[1]) == PIPELINE_MIN

    _run(scenario)


def test_a_full_pipe_keeps_the_pipeline_back() -> None:
    async def scenario(p: _Pipeline) -> None:
        p.submit("first")
        await _settled(lambda: len(p.journal.sent) == 1)
        p.journal.sending = True  # the process is behind: the pipe holds what was sent
        for i in range(PIPELINE_MIN):
            p.submit(f"r{i}")
        await _settled(lambda: p.writer.wakeup.is_set() is False)
        assert len(p.journal.sent) == 1
        p.journal.sending = False
        p.journal.answer((1, 0.001))
        assert [len(batch) for batch in p.journal.sent] == [1, PIPELINE_MIN]

    _run(scenario)


def test_a_failed_answer_stops_the_switch_and_releases_nothing() -> None:
    async def scenario(p: _Pipeline) -> None:
        p.submit("a")
        await _settled(lambda: len(p.journal.sent) == 1)
        p.submit("b")
        p.journal.answer(JournalError("lps.db: commit failed: disk I/O error"))
        assert p.failed == ["lps.db: commit failed: disk I/O error"]
        assert p.released == [] and p.writer.idle.is_set()
        with pytest.raises(SwitchStopped):
            p.submit("c")
        p.journal.answer((1, 0.001))  # an answer read after the stop: a's fate stays unknown
        assert p.released == [] and p.failed == ["lps.db: commit failed: disk I/O error"]

    _run(scenario)


# -- the child's side ---------------------------------------------------------------------


def _framed(body: bytes) -> bytes:
    return LENGTH.pack(len(body)) + body


def _requests(data: bytes, *, close: bool = True) -> Requests:
    read, write = os.pipe()
    os.write(write, data)
    if close:
        os.close(write)
    return Requests(read)


def test_the_child_takes_every_whole_batch_the_pipe_holds() -> None:
    requests = _requests(_framed(b"one") + _framed(b"two") + _framed(b"three")[:6])
    assert requests.queued() == [b"one", b"two"]  # the third has not all arrived
    with pytest.raises(EOFError, match="inside a message"):
        requests.queued()
    assert _requests(b"").queued() is None
    with pytest.raises(ValueError, match="bytes"):
        _requests(b"\x7f\xff\xff\xff").queued()


def test_batches_sent_while_the_child_commits_land_in_one_transaction(
        tmp_path: Path) -> None:
    """The database is held by another writer, so the child's first commit waits while two
    more batches arrive: it answers for all three in at most two answers, all durable."""
    db = tmp_path / "lps.db"
    store = SqliteJournal(db)
    store.start_commit_process()
    state = store.load(example_config(db), None, NOW)
    batches = [handle(state, sign_on(T1), NOW).entries] + [
        handle(state, earn(T1, stan, PAN, 100_000), NOW).entries for stan in (2, 3)]
    holder = sqlite3.connect(db, isolation_level=None)

    async def main() -> list[tuple[int, float]]:
        loop = asyncio.get_running_loop()
        answers: list[tuple[int, float]] = []
        done = loop.create_future()

        def answered(outcome: tuple[int, float] | JournalError) -> None:
            assert not isinstance(outcome, JournalError), outcome
            answers.append(outcome)
            if sum(n for n, _ in answers) == len(batches):
                done.set_result(None)

        store.watch_commits(loop, answered)
        holder.execute("BEGIN IMMEDIATE")
        for entries in batches:
            store.send_nowait(entries)
        holder.execute("COMMIT")
        await asyncio.wait_for(done, EVENT)
        return answers

    answers = asyncio.run(main())
    holder.close()
    assert sum(n for n, _ in answers) == 3 and len(answers) <= 2
    assert not store._in_flight and store._applying is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ?",
                            (PAN,)).fetchone()[0] == 20
        ids = [r[0] for r in conn.execute("SELECT id FROM journal ORDER BY id")]
    assert ids == [e.id for entries in batches for e in entries]
    assert not store.check(full=True).problems
    store.close()


def test_an_answer_for_more_batches_than_were_sent_ends_the_commits(tmp_path: Path) -> None:
    store = SqliteJournal(tmp_path / "lps.db")
    store.start_commit_process()
    store._in_flight.append(None)
    outcomes: list[tuple[int, float] | JournalError] = []
    assert store._committer is not None

    async def main() -> None:
        store.watch_commits(asyncio.get_running_loop(), outcomes.append)
        committer = store._committer
        assert committer is not None and committer._on_answer is not None
        committer._on_answer((0.001, False, 2))

    asyncio.run(main())
    (outcome,) = outcomes
    assert isinstance(outcome, JournalError)
    assert "answered for 2 batches of 1 sent" in str(outcome)
    store.close()


# -- a commit process killed with batches in flight ---------------------------------------


def _journaled_stans(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT stan FROM journal WHERE pan = ?", (PAN,))}


@pytest.mark.parametrize("answered", [1, 20, 45])
def test_a_commit_process_killed_with_batches_in_flight_loses_no_reply(
        tmp_path: Path, answered: int) -> None:
    """The child is held by another writer while a burst queues behind its first batch, so
    that more batches are in flight than one (sent while it commits); it is killed once
    `answered` replies came back. Every reply that came back is durable, the switch stops,
    and a restart finds the journal sound."""
    db = tmp_path / "lps.db"
    cfg = example_config(db, listen_ascii=LOCAL0, listen_bcd=LOCAL0, metrics=LOCAL0)
    approved: set[str] = set()

    async def serve_until_killed() -> None:
        sw = Switch(cfg)
        await sw.start()
        c = await signed_on(sw, "ascii", T1)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        replies = [c.send_nowait(earn(T1, 10, PAN, 100_000))]
        await _until(lambda: sw.writer.unanswered == 1)
        replies += [c.send_nowait(earn(T1, stan, PAN, 100_000)) for stan in range(11, 110)]
        await _until(lambda: sw.writer.unanswered >= 2)  # a pipeline's worth in flight
        holder.execute("COMMIT")
        holder.close()
        assert isinstance(sw.journal, SqliteJournal) and sw.journal._committer is not None
        child = sw.journal._committer.proc.pid
        for reply in asyncio.as_completed(replies):
            try:
                r = await reply
            except ConnectionError:
                break
            if r[39] == "00":
                approved.add(str(r[11]))
            if len(approved) == answered:
                os.kill(child, signal.SIGKILL)
        await asyncio.wait_for(sw.stopped.wait(), EVENT)
        await c.close()
        await dismantle(sw)

    asyncio.run(serve_until_killed())
    assert len(approved) >= answered
    assert approved <= _journaled_stans(db)  # no reply went out for a row that was lost
    store = SqliteJournal(db)
    assert not store.check(full=True).problems
    store.close()


async def _until(check: Callable[[], bool]) -> None:
    """Wait, on the loop, until `check` holds (the switch's own tasks make it so)."""
    deadline = asyncio.get_running_loop().time() + EVENT
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never came"
        await asyncio.sleep(0.001)
