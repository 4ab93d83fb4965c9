"""The journal writer: one task, group commit, replies released after COMMIT, fail-stop.

Decisions are applied in memory as they are made (switch/connection.py); their entries queue
here in decision order with the reply each one waits to send. The writer commits everything
queued (up to `max_batch` requests) in one transaction while the loop keeps deciding (through
the commit process on SQLite, `_pipeline`; in a worker thread otherwise), then hands the batch
to `on_commit`, which tells the core the entries are journaled and writes the replies. A
failed commit stops the switch: nothing further is answered and recovery rebuilds the state
from the journal, which never saw the batch.

A node of several on one PostgreSQL journal (`Nodes`) decides nothing ahead of the commit:
its requests wait here undecided (`defer`), and each group commit is a turn taken under the
nodes' lock: read the journal's head, read the state again if another node appended since,
decide the waiting requests in arrival order, commit (docs/switch.md, "Several nodes").
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from switch.core import Entry
from switch.journal import Journal, JournalError, Receipt, SharedJournal
from switch.metrics import Metrics

log = logging.getLogger("lps.switch")

#: Through a commit process, requests wait while it commits unless this many do: then they
#: are sent at once, and it commits them as soon as it is done (a burst's decisions overlap
#: its commit). Fewer wait for the answer: each send costs the loop a pickle and a write.
PIPELINE_MIN = 32


def kv(event: str, **fields: Any) -> str:
    """A structured (logfmt) log line; callers pass PANs through `mask_pan`."""
    parts = [f"event={event}"]
    for k, v in fields.items():
        text = str(v)
        parts.append(f"{k}={json.dumps(text) if (' ' in text or not text) else text}")
    return " ".join(parts)


class SwitchStopped(RuntimeError):
    """The switch stopped taking work (fail-stop after a commit error)."""


class Recipient(Protocol):
    """Who waits for a reply's commit: a terminal connection (switch/connection.py)."""

    def release(self, out: Outgoing) -> None:
        """The reply's batch is committed: it may be written now."""


@dataclass(slots=True, eq=False)
class Outgoing:
    """What waits for a batch's commit: the reply to a terminal, or an operator command."""

    conn: Recipient | None
    wire: bytes = b""
    mti: str = ""
    rc: str = ""
    started: float = 0.0
    #: Set once committed (operator commands wait on it).
    committed: asyncio.Event | None = None
    #: The receipt SMS of its entries, written in their transaction (docs/messaging.md).
    receipts: list[Receipt] | None = None


@dataclass(slots=True, eq=False)
class Flight:
    """A batch sent to the commit process (or with nothing to commit), until released."""

    entries: list[Entry]
    outs: list[Outgoing]
    #: `time.perf_counter()` when it was sent.
    sent: float
    committed: bool = False


#: A request (or operator command) waiting for a turn: decides, applies and returns its
#: entries and what waits for their commit, or None when there is nothing to commit (its
#: connection closed). Raises to stop the switch (an invariant broke). Called again, after a
#: refresh, when its turn's transaction did not commit and another node appended meanwhile.
Job = Callable[[], Awaitable["tuple[list[Entry], Outgoing] | None"]]

#: The receipt SMS of a decision's entries, made right after `apply` (switch/messaging/
#: receipts.py); None: none of them gets one.
ReceiptsOf = Callable[[list[Entry]], "list[Receipt] | None"]


@dataclass(slots=True)
class Nodes:
    """This node is one of several on one journal: how it takes turns."""

    journal: SharedJournal
    #: Read the state again from the journal (another node appended since this node's state,
    #: which holds the journal up to the id given, or an unknown part of it: None).
    refresh: Callable[[int | None], Awaitable[None]]


@dataclass(slots=True, eq=False)
class Turn:
    """One group commit of a node of several: its requests, decided once the journal's head
    is known, inside the transaction that holds the nodes' lock."""

    jobs: list[Job]
    loop: asyncio.AbstractEventLoop
    writer: Writer
    head: int = -1
    decided: bool = False
    entries: list[Entry] = field(default_factory=list)
    outs: list[Outgoing] = field(default_factory=list)

    def decide_at(self, head: int) -> Sequence[Entry]:
        """The writer thread's call (`SharedJournal.append_decided`): the loop decides."""
        return asyncio.run_coroutine_threadsafe(self.decide(head), self.loop).result()

    async def decide(self, head: int) -> list[Entry]:
        writer = self.writer
        assert writer.nodes is not None
        if self.decided:  # the transaction runs again: the batch did not commit
            if head == self.head:
                return self.entries
            # Another node appended meanwhile: the state holds this batch's decisions, made
            # on the old head. Read it again and decide the same requests once more.
            log.warning("event=node_redecide head=%d decided_at=%d requests=%d", head,
                        self.head, len(self.jobs))
            writer.fresh = None
            self.entries, self.outs = [], []
        if head != writer.fresh:
            began = time.perf_counter()
            try:
                await writer.nodes.refresh(writer.fresh)
            except BaseException:
                # A refresh cut short may have added to the memory it was taking over: the
                # turn's next attempt reads the state whole.
                writer.fresh = None
                raise
            took = time.perf_counter() - began
            writer.metrics.node_refreshes.observe(took)
            log.debug("event=node_refresh head=%d known=%s seconds=%.4f", head, writer.fresh,
                      took)
        self.head = head
        live: list[Job] = []
        for job in self.jobs:
            made = await job()
            if made is not None:
                live.append(job)
                self.entries.extend(made[0])
                self.outs.append(made[1])
        # A request that came to nothing (its connection closed) is not decided again.
        self.jobs = live
        self.decided = True
        return self.entries


class Writer:
    """The one task that writes the journal: group commit, release after COMMIT, fail-stop."""

    def __init__(self, journal: Journal, metrics: Metrics, max_batch: int,
                 on_fail: Callable[[str], None],
                 on_commit: Callable[[list[Entry], list[Outgoing]], None],
                 nodes: Nodes | None = None, receipts: ReceiptsOf | None = None,
                 freeze: Callable[[], None] | None = None) -> None:
        self.journal = journal
        #: `gc.freeze` when the switch tuned the collector (`switch.server.tune_gc`): called
        #: at each `submit`, so that what waits for its commit is never scanned by a young
        #: collection (it is alive; a collection would find nothing to free).
        self.freeze = freeze
        #: None when no store sends receipts: nothing is looked at per request.
        self.receipts = receipts
        self.nodes = nodes
        #: One of several nodes: requests are `defer`red, not decided then `submit`ted (a
        #: plain attribute: every request reads it).
        self.shared = nodes is not None
        #: Requests of a node of several waiting for their turn, undecided.
        self.jobs: list[Job] = []
        #: The journal head this node's state is known to match (None: not yet known).
        self.fresh: int | None = None
        self.metrics = metrics
        self.max_batch = max_batch
        self.on_fail = on_fail
        self.on_commit = on_commit
        self.queue: list[tuple[list[Entry], Outgoing]] = []
        self.wakeup = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.failed: str | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="lps-writer")
        self.commits = 0
        #: Through a commit process: the batches taken and not yet released, in order.
        self.flights: collections.deque[Flight] = collections.deque()
        #: Of those, how many were sent and not yet covered by an answer.
        self.unanswered = 0

    def submit(self, entries: list[Entry], out: Outgoing) -> None:
        if self.failed is not None:
            raise SwitchStopped(self.failed)
        assert self.nodes is None, "a node of several decides in its turn (defer)"
        if self.receipts is not None:
            out.receipts = self.receipts(entries)
        queue = self.queue
        queue.append((entries, out))
        if self.freeze is not None:
            self.freeze()
        if len(queue) == 1:
            # The first since `run` took the queue: wake it. Behind another, `run` is awake
            # already (`wakeup` set, or its batch loop takes what is queued before it waits).
            self.idle.clear()
            self.wakeup.set()
        elif len(queue) == PIPELINE_MIN:
            self.wakeup.set()  # a pipeline's worth: sent even while the process commits

    def defer(self, job: Job) -> None:
        """A node of several: decide `job` in the next turn (arrival order)."""
        if self.failed is not None:
            raise SwitchStopped(self.failed)
        self.jobs.append(job)
        self.idle.clear()
        self.wakeup.set()

    async def run(self) -> None:
        if self.nodes is not None:
            await self._take_turns(self.nodes)
            return
        if getattr(self.journal, "commits_on_loop", False):
            await self._pipeline()
            return
        loop = asyncio.get_running_loop()
        while self.failed is None:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue and self.failed is None:
                entries, outs, args = self._take()
                if entries:
                    try:
                        await loop.run_in_executor(self.executor, self._timed_append, args)
                    except Exception as exc:  # any failure to commit is fatal
                        self._fail(exc)
                        return
                    self.commits += 1
                    self.metrics.batch_size.observe(len(entries))
                self.on_commit(entries, outs)
            if not self.queue:
                self.idle.set()

    def _take(self) -> tuple[list[Entry], list[Outgoing], tuple[Any, ...]]:
        """The next batch: at most max_batch requests (the rest form the next one), their
        entries, what waits for them, and the journal's arguments for them."""
        batch = self.queue[: self.max_batch]
        del self.queue[: self.max_batch]
        entries = [e for es, _ in batch for e in es]
        # Receipts ride in the batch's transaction (docs/messaging.md, "Receipts").
        receipts = [r for _, out in batch if out.receipts for r in out.receipts] \
            if self.receipts is not None and entries else None
        return entries, [out for _, out in batch], (entries, receipts) if receipts \
            else (entries,)

    def _fail(self, exc: Exception) -> None:
        """A commit failed, or its outcome is unknown: stop (fail-stop)."""
        reason = str(exc) if isinstance(exc, JournalError) else repr(exc)
        if self.failed is None:
            self.failed = reason
            self.on_fail(reason)
        self.idle.set()  # nothing more will be committed: `drain` returns

    async def _pipeline(self) -> None:
        """The group commit through the commit process (docs/switch.md, "The commit
        process"). A batch is sent when the process is idle, or while it commits another
        once `PIPELINE_MIN` requests wait; each answer, read by the loop's reader on the
        pipe, releases the batches it covers in the order taken (`_answered`). This task
        sends what `submit` wakes it for."""
        self.journal.watch_commits(asyncio.get_running_loop(), self._answered)
        while self.failed is None:
            await self.wakeup.wait()
            self.wakeup.clear()
            self._send_queued()

    def _send_queued(self) -> None:
        """Send what waits as batches: all of it when the commit process is idle, a
        pipeline's worth at a time while it commits (unless the pipe is full already)."""
        journal = self.journal
        queue = self.queue
        while queue and self.failed is None and (
                not self.unanswered or (len(queue) >= PIPELINE_MIN and not journal.sending)):
            entries, outs, args = self._take()
            self.flights.append(Flight(entries, outs, time.perf_counter(), committed=not entries))
            if not entries:  # nothing to commit: out after the batches before it
                self._release()
                continue
            try:
                journal.send_nowait(*args)
            except Exception as exc:  # its fate unknown: fail-stop
                self._fail(exc)
                return
            self.unanswered += 1

    def _answered(self, outcome: tuple[int, float] | JournalError) -> None:
        """An answer of the commit process: release the batches it covers, and send what
        waits, before the replies when it is a pipeline's worth (the process is busy again
        sooner), after them otherwise (the replies go out sooner)."""
        if self.failed is not None:  # stopped: nothing more is released
            return
        if isinstance(outcome, JournalError):
            self._fail(outcome)
            return
        try:
            batches, cpu = outcome
            self.unanswered -= batches
            covered = [f for f in self.flights if not f.committed][:batches]
            for flight in covered:
                flight.committed = True
            self.commits += 1
            self.metrics.batch_size.observe(sum(len(f.entries) for f in covered))
            # From the oldest batch's send to its answer (the loop's part is its CPU).
            self.metrics.commit_seconds.observe(time.perf_counter() - covered[0].sent)
            self.metrics.commit_cpu_seconds.observe(cpu)
            if len(self.queue) >= PIPELINE_MIN:
                self._send_queued()
            self._release()
            self._send_queued()
        except Exception as exc:  # from the loop's reader: stop, do not go on half-released
            self._fail(exc)

    def _release(self) -> None:
        """Hand every committed batch at the head of the flights to `on_commit`, in order."""
        flights = self.flights
        entries: list[Entry] = []
        outs: list[Outgoing] = []
        while flights and flights[0].committed:
            flight = flights.popleft()
            entries += flight.entries
            outs += flight.outs
        if outs or entries:
            self.on_commit(entries, outs)
        if not flights and not self.queue:
            self.idle.set()

    def _timed_append(self, args: tuple[Any, ...]) -> None:
        """The group commit, in the writer thread, timed (`lps_commit_seconds`) and its CPU
        counted (`lps_commit_cpu_seconds`)."""
        started, cpu = time.perf_counter(), time.thread_time()
        self.journal.append(*args)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.commit_cpu_seconds.observe(time.thread_time() - cpu)

    async def _take_turns(self, nodes: Nodes) -> None:
        loop = asyncio.get_running_loop()
        while self.failed is None:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.jobs and self.failed is None:
                turn = Turn(self.jobs[: self.max_batch], loop, self)
                del self.jobs[: self.max_batch]
                try:
                    await loop.run_in_executor(self.executor, nodes.journal.append_decided,
                                               turn.decide_at)
                except Exception as exc:  # no reply without a durable row: fail-stop
                    reason = str(exc) if isinstance(exc, (JournalError, SwitchStopped)) \
                        else repr(exc)
                    self.failed = reason
                    self.on_fail(reason)
                    return
                self.fresh = turn.entries[-1].id if turn.entries else turn.head
                if turn.entries:
                    self.commits += 1
                    self.metrics.batch_size.observe(len(turn.entries))
                self.on_commit(turn.entries, turn.outs)
            if not self.jobs:
                self.idle.set()

    async def drain(self) -> None:
        while self.queue or self.jobs or not self.idle.is_set():
            if self.failed is not None:
                return
            await self.idle.wait()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
