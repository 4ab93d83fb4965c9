"""The group commit in a process of its own (docs/switch.md, "The commit process").

In one process the writer thread's Python (each row's statement, the GIL taken back after
every SQLite step) queues behind the event loop's decisions, and the loop's behind it. A
serving switch on SQLite therefore hands each batch's rows to a child process that owns the
write connection: the writer sends them from the event loop (`send_nowait`) and the loop
reads the child's answers (`watch`), no thread between, and the replies are released only
after it says COMMIT returned, as before. `commit` does the same, blocking, for callers
without a loop (a journal used directly, the hostile simulation); one process uses one or
the other.

The child (switch/journal/sqlite/commit_child.py) runs the very code the thread would
(`SqlJournal._write_group` on its own `SqliteJournal`). It holds the switch's lock file
open, so no other switch can open the database while it lives, and it dies with its parent
(`PR_SET_PDEATHSIG`, which follows the thread that started it: start it from one that lives
as long as the switch): a commit never lands behind a restarted switch's recovery. When it
ends unexpectedly the batch's fate is unknown to the parent, which stops (fail-stop);
recovery reads what the journal holds.

The wire between them is a pipe only the two hold: a request is a 4-byte big-endian length
and a pickle of (rows, receipts, advance, catch_up), the rows as `BatchRows.packed` makes
them; an answer the same length and a JSON object, `{"ready": true}` once (a serving switch
waits for it before it listens, `ready`), then `{"cpu": s, "advance_failed": b, "batches": n}`
or `{"error": text}` for each transaction.
The parent sends a batch when the child is idle, and while it commits only once a burst has
queued enough (the writer's `PIPELINE_MIN`); the child, once it has answered, commits every
batch that queued meanwhile in one transaction, and its answer says how many, the oldest
first. So a burst is committed while the rest of it is decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from switch.journal.batch import BatchRows
from switch.journal.errors import JournalError
from switch.journal.receipts import Receipt

LENGTH = struct.Struct(">I")
#: A batch of 4,096 entries pickles to a few MB; anything near this is not ours.
MAX_MESSAGE = 1 << 30
#: Where the loop hands each answer of the child (`CommitProcess.watch`).
OnAnswer = Callable[["tuple[float, bool, int] | JournalError"], None]
#: The child's module (switch/journal/sqlite/commit_child.py).
CHILD = "switch.journal.sqlite.commit_child"
#: How long `close` waits for the child's last commit and exit before killing it.
CLOSE_WAIT = 10.0
#: How long `ready` waits, once the parent's recovery is done, for the child to say it opened
#: the database (`CommitProcess.ready` says why there is a bound and why this one).
READY_WAIT = 60.0


def read_message(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed message; None at a clean end of the stream."""
    head = stream.read(LENGTH.size)
    if not head:
        return None
    if len(head) < LENGTH.size:
        raise EOFError("the stream ended inside a message's length")
    (length,) = LENGTH.unpack(head)
    if length > MAX_MESSAGE:
        raise ValueError(f"a message of {length} bytes")
    body = stream.read(length)
    if len(body) < length:
        raise EOFError("the stream ended inside a message")
    return body


def take_message(buf: bytearray) -> bytes | None:
    """The first whole length-prefixed message in `buf`, taken out of it; None while it has
    not all arrived. `ValueError` for a length no message of ours has."""
    if len(buf) < LENGTH.size:
        return None
    (length,) = LENGTH.unpack_from(buf)
    if length > MAX_MESSAGE:
        raise ValueError(f"a message of {length} bytes")
    if len(buf) < LENGTH.size + length:
        return None
    body = bytes(buf[LENGTH.size:LENGTH.size + length])
    del buf[:LENGTH.size + length]
    return body


def write_message(stream: IO[bytes], body: bytes) -> None:
    stream.write(LENGTH.pack(len(body)) + body)
    stream.flush()


class CommitProcess:
    """The parent's side: start the child, send it batches, read its answers."""

    def __init__(self, path: Path, keep_fds: Sequence[int] = (),
                 argv: Sequence[str] | None = None) -> None:
        """`argv`: the child's command line, `python -m` the child's module unless given (a
        stand-in child, in the tests)."""
        self.path = path
        package_root = str(Path(__file__).resolve().parents[3])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root,
                                                        env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", CHILD, str(path), str(os.getpid())] if argv is None
            else list(argv),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=tuple(keep_fds), env=env)
        self._ready = False
        self._inbuf = bytearray()
        #: Bytes of batches sent on the loop that the pipe has not taken yet.
        self._outbuf = bytearray()
        #: The loop that watches the child's answers (`watch`), once one does.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_answer: OnAnswer | None = None
        self._eof = False
        self._writer_added = False

    def ready(self, wait: float = READY_WAIT) -> None:
        """Wait for the child's `{"ready": true}`: it opened the database. `JournalError`
        that says the switch did not start when the child ends first, answers anything
        else, or says nothing for `wait` seconds. A serving switch calls this after its
        recovery, before it listens (docs/switch.md, "The commit process"): read lazily, at
        the first commit, a child that never opened the database would stop the switch only
        then, with a batch's fail-stop message. Afterwards `commit` and `watch` read answers
        only.

        Why a bound: a child that neither opens the database nor ends (stopped, stuck on its
        file system) would hold the start for ever, never listening and saying nothing. Why
        60 s, counted from here: the child only starts Python and opens the database the
        parent has just opened and migrated, each SQLite wait bounded by the busy timeout
        (5 s); it normally says ready within a second, while the parent's recovery runs. A
        busy two-core machine makes that seconds, not a minute."""
        if self._ready:
            return
        # Before `watch`: its reader would take the message's bytes from under this read.
        assert self._loop is None, "ready() before watch()"
        stdout = self.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + wait
        buf = bytearray()
        while True:
            try:
                body = take_message(buf)
            except ValueError as exc:  # a length no message of the child's has
                raise JournalError(self._not_started(f"answered {exc}")) from None
            if body is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(math.ceil(left * 1000)):
                raise JournalError(self._not_started(
                    f"did not say it opened the database within {wait:g} s (it still runs: "
                    "stopped, or stuck on the file system?)"))
            # Only this message's bytes: what follows is `commit`'s or `watch`'s to read.
            want = LENGTH.size - len(buf) if len(buf) < LENGTH.size \
                else LENGTH.size + LENGTH.unpack_from(buf)[0] - len(buf)
            try:
                chunk = os.read(fd, want)
            except OSError:
                chunk = b""
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=CLOSE_WAIT)  # its end of the pipe closed: it ends
                raise JournalError(self._not_started(
                    f"ended ({self._status()}) before it opened the database (its own error, "
                    "if any, is on stderr before this)"))
            buf += chunk
        try:
            answer = self._parse(body)
        except JournalError:
            answer = None
        if answer is None or answer.get("ready") is not True:
            shown = body[:80] if answer is None else answer
            raise JournalError(self._not_started(
                f"answered {shown!r} where it says it opened the database"))
        self._ready = True

    def _not_started(self, what: str) -> str:
        return f"{self.path}: the commit process {what}: the switch did not start"

    def _status(self) -> str:
        """How the child ended, in words: its exit status or the signal that killed it."""
        code = self.proc.returncode
        if code is None:
            return "exit status not known yet"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit {code}"

    def commit(self, rows: BatchRows, receipts: Sequence[Receipt],
               advance: tuple[int, int] | None, catch_up: bool = False) -> tuple[float, bool]:
        """The batch committed by the child: (its CPU seconds, whether the checkpoint's
        advance failed). `JournalError` when the commit failed or the child ended. With
        `catch_up` the child checkpoints the WAL after answering (`SqliteJournal.catch_up_wal`)."""
        if not self._ready:
            self._answer()  # {"ready": true}: the child opened the database
            self._ready = True
        body = pickle.dumps((rows.packed(), list(receipts), advance, catch_up),
                            protocol=pickle.HIGHEST_PROTOCOL)
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            write_message(stdin, body)
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed here
            raise JournalError(self._ended()) from None
        return self._alone(self._outcome(self._answer()))

    def watch(self, loop: asyncio.AbstractEventLoop, on_answer: OnAnswer) -> None:
        """From now on the pipe is written and read on `loop` without blocking, and each
        answer of the child is handed to `on_answer` as it is read, from the loop's reader
        (no task between): (CPU seconds, whether an advance failed, how many batches it
        committed, the oldest first), or the `JournalError` that ends the commits (an error
        answered, an answer that is not one, the child gone)."""
        assert self._loop is None, "one loop watches the child"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._loop, self._on_answer = loop, on_answer
        loop.add_reader(self.proc.stdout.fileno(), self._readable)

    def send_nowait(self, rows: BatchRows, receipts: Sequence[Receipt],
                    advance: tuple[int, int] | None, catch_up: bool = False) -> None:
        """A batch on its way to the child (`watch` first): written to the pipe now, what
        does not fit as the child reads (`sending`). The child commits it, with any sent
        behind it meanwhile, once it has answered the commit it is in."""
        assert self._loop is not None, "watch() first"
        body = pickle.dumps((rows.packed(), list(receipts), advance, catch_up),
                            protocol=pickle.HIGHEST_PROTOCOL)
        self._outbuf += LENGTH.pack(len(body))
        self._outbuf += body
        if not self._writer_added:
            self._writable()

    @property
    def sending(self) -> bool:
        """Whether batches sent wait for room in the pipe (the child is behind)."""
        return bool(self._outbuf)

    def _writable(self) -> None:
        """Write what the pipe takes; wait for room for the rest (`add_writer`)."""
        assert self.proc.stdin is not None and self._loop is not None
        fd = self.proc.stdin.fileno()
        buf = self._outbuf
        try:
            while buf:
                del buf[:os.write(fd, buf)]
        except BlockingIOError:
            pass
        except OSError:  # the child is gone (a broken pipe): its reader's EOF says so
            buf.clear()
        if buf and not self._writer_added:
            self._loop.add_writer(fd, self._writable)
            self._writer_added = True
        elif not buf and self._writer_added:
            self._loop.remove_writer(fd)
            self._writer_added = False

    def _alone(self, outcome: tuple[float, bool, int]) -> tuple[float, bool]:
        """The answer to the only batch in flight: it must cover exactly that one."""
        cpu, failed, batches = outcome
        if batches != 1:
            raise JournalError(f"{self.path}: the commit process answered for {batches} "
                               "batches, 1 was sent")
        return cpu, failed

    def _outcome(self, answer: dict[str, Any]) -> tuple[float, bool, int]:
        """A commit's answer: (the child's CPU seconds, whether an advance failed, how many
        batches it committed)."""
        if "error" in answer:
            raise JournalError(str(answer["error"]))
        cpu, failed, batches = answer.get("cpu"), answer.get("advance_failed"), \
            answer.get("batches")
        if not isinstance(cpu, (int, float)) or not isinstance(failed, bool) \
                or type(batches) is not int or batches < 1:
            raise JournalError(f"{self.path}: the commit process answered {answer!r}")
        return float(cpu), failed, batches

    def _readable(self) -> None:
        """The loop's reader on the child's answers: each whole one handed to `on_answer`.

        Registered once, not per commit: each commit would otherwise cost a read that finds
        nothing, two `epoll_ctl` calls and a callback handle."""
        assert self.proc.stdout is not None and self._loop is not None
        fd = self.proc.stdout.fileno()
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._inbuf += chunk
        else:  # the child is gone: stop watching (the pipe would read as ready forever)
            self._eof = True
            self._loop.remove_reader(fd)
        while self._on_answer is not None:
            try:
                body = take_message(self._inbuf)
                if body is None:
                    if self._eof:
                        raise JournalError(self._ended())
                    return
                answer = self._parse(body)
                if not self._ready:  # {"ready": true}: the child opened the database
                    self._ready = True
                    continue
                outcome: tuple[float, bool, int] | JournalError = self._outcome(answer)
            except JournalError as exc:
                outcome = exc
            except ValueError as exc:  # a length no answer of the child's has
                outcome = JournalError(f"{self.path}: the commit process answered {exc}")
            on_answer = self._on_answer
            if isinstance(outcome, JournalError):
                self._on_answer = None  # the commits end here: nothing more is read
            on_answer(outcome)

    def _parse(self, body: bytes) -> dict[str, Any]:
        """An answer's JSON object."""
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise JournalError(f"{self.path}: the commit process answered {body[:80]!r}")
        return answer

    def _answer(self) -> dict[str, Any]:
        stdout = self.proc.stdout
        assert stdout is not None
        try:
            body = read_message(stdout)
        except EOFError:
            body = None
        except ValueError as exc:
            raise JournalError(f"{self.path}: the commit process answered {exc}") from None
        if body is None:
            raise JournalError(self._ended())
        return self._parse(body)

    def _ended(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)
        return (f"{self.path}: the commit process ended (exit {self.proc.returncode}) before "
                "answering: its batch may or may not be durable, recovery reads which")

    def close(self) -> None:
        """End the child after the commit it may be running; kill it if it does not end."""
        loop, self._loop = self._loop, None
        self._on_answer = None
        if loop is not None and not loop.is_closed():
            if not self._eof and self.proc.stdout is not None:
                loop.remove_reader(self.proc.stdout.fileno())
            if self._writer_added and self.proc.stdin is not None:
                loop.remove_writer(self.proc.stdin.fileno())
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
