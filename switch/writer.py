"""The journal writer: one task, group commit, replies released after COMMIT, fail-stop.

Decisions are applied in memory as they are made (switch/connection.py); their entries queue
here in decision order with the reply each one waits to send. The writer commits everything
queued (up to `max_batch` requests) in one SQLite transaction in a worker thread while the loop
keeps deciding, then hands the batch to `on_commit`, which tells the core the entries are
journaled and writes the replies. A failed commit stops the switch: nothing further is answered
and recovery rebuilds the state from the journal, which never saw the batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from switch.core import Entry
from switch.journal import Journal, JournalError
from switch.metrics import Metrics


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


class Writer:
    """The one task that writes the journal: group commit, release after COMMIT, fail-stop."""

    def __init__(self, journal: Journal, metrics: Metrics, max_batch: int,
                 on_fail: Callable[[str], None],
                 on_commit: Callable[[list[Entry], list[Outgoing]], None]) -> None:
        self.journal = journal
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
        self.queue.append((entries, out))
        self.idle.clear()
        self.wakeup.set()

    async def run(self) -> None:
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
                    try:
                        await loop.run_in_executor(self.executor, self.journal.append, entries)
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

    async def drain(self) -> None:
        while self.queue or not self.idle.is_set():
            if self.failed is not None:
                return
            await self.idle.wait()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
