"""The journal writer: one task, group commit, replies released after COMMIT, fail-stop.

Decisions are applied in memory as they are made (switch/connection.py); their entries queue
here in decision order with the reply each one waits to send. The writer commits everything
queued (up to `max_batch` requests) in one SQLite transaction in a worker thread while the loop
keeps deciding, then hands the batch to `on_commit`, which tells the core the entries are
journaled and writes the replies. A failed commit stops the switch: nothing further is answered
and recovery rebuilds the state from the journal, which never saw the batch.

A node of several on one PostgreSQL journal (`Nodes`) decides nothing ahead of the commit:
its requests wait here undecided (`defer`), and each group commit is a turn taken under the
nodes' lock: read the journal's head, read the state again if another node appended since,
decide the waiting requests in arrival order, commit (docs/switch.md, "Several nodes").
"""

from __future__ import annotations

import asyncio
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
                 nodes: Nodes | None = None, receipts: ReceiptsOf | None = None) -> None:
        self.journal = journal
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

    def submit(self, entries: list[Entry], out: Outgoing) -> None:
        if self.failed is not None:
            raise SwitchStopped(self.failed)
        assert self.nodes is None, "a node of several decides in its turn (defer)"
        if self.receipts is not None:
            out.receipts = self.receipts(entries)
        queue = self.queue
        queue.append((entries, out))
        if len(queue) == 1:
            # The first since `run` took the queue: wake it. Behind another, `run` is awake
            # already (`wakeup` set, or its batch loop takes what is queued before it waits).
            self.idle.clear()
            self.wakeup.set()

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
        loop = asyncio.get_running_loop()
        while self.failed is None:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue and self.failed is None:
                # Take at most max_batch requests: the rest form the next batch.
                batch = self.queue[: self.max_batch]
                del self.queue[: self.max_batch]
                entries = [e for es, _ in batch for e in es]
                if entries:
                    # Receipts ride in the batch's transaction (docs/messaging.md, "Receipts").
                    receipts = [r for _, out in batch if out.receipts for r in out.receipts] \
                        if self.receipts is not None else None
                    args = (entries, receipts) if receipts else (entries,)
                    try:
                        if getattr(self.journal, "commits_on_loop", False):
                            await self._timed_append_on_loop(args)
                        else:
                            await loop.run_in_executor(self.executor, self._timed_append, args)
                    except Exception as exc:  # any failure to commit is fatal
                        reason = str(exc) if isinstance(exc, JournalError) else repr(exc)
                        self.failed = reason
                        self.on_fail(reason)
                        return
                    self.commits += 1
                    self.metrics.batch_size.observe(len(entries))
                self.on_commit(entries, [out for _, out in batch])
            if not self.queue:
                self.idle.set()

    def _timed_append(self, args: tuple[Any, ...]) -> None:
        """The group commit, in the writer thread, timed (`lps_commit_seconds`) and its CPU
        counted (`lps_commit_cpu_seconds`)."""
        started, cpu = time.perf_counter(), time.thread_time()
        self.journal.append(*args)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.commit_cpu_seconds.observe(time.thread_time() - cpu)

    async def _timed_append_on_loop(self, args: tuple[Any, ...]) -> None:
        """The group commit through the commit process's pipe, on the loop: its length from
        the rows built to the child's answer read (`lps_commit_seconds`), and the child's CPU
        (`lps_commit_cpu_seconds`; the loop's own part is the loop's CPU)."""
        started = time.perf_counter()
        cpu = await self.journal.append_on_loop(*args)
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.commit_cpu_seconds.observe(cpu)

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
