"""The group commit in a process of its own (docs/switch.md, "The commit process").

In one process the writer thread's Python (each row's statement, the GIL taken back after
every SQLite step) queues behind the event loop's decisions, and the loop's behind it. A
serving switch on SQLite therefore hands each batch's rows to a child process that owns the
write connection: the writer task sends them from the event loop and awaits the child's
answer there (`commit_on_loop`, no thread between), and the replies are released only after
it says COMMIT returned, as before. `commit` does the same, blocking, for callers without a
loop (a journal used directly, the hostile simulation); one process uses one or the other.

The child (switch/journal/sqlite/commit_child.py) runs the very code the thread would
(`SqlJournal._commit_group` on its own `SqliteJournal`). It holds the switch's lock file
open, so no other switch can open the database while it lives, and it dies with its parent
(`PR_SET_PDEATHSIG`, which follows the thread that started it: start it from one that lives
as long as the switch): a commit never lands behind a restarted switch's recovery. When it
ends unexpectedly the batch's fate is unknown to the parent, which stops (fail-stop);
recovery reads what the journal holds.

The wire between them is a pipe only the two hold: a request is a 4-byte big-endian length
and a pickle of (rows, receipts, advance, catch_up); an answer the same length and a JSON object,
`{"ready": true}` once, then `{"cpu": s, "advance_failed": b}` or `{"error": text}` for each
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from switch.journal.batch import BatchRows
from switch.journal.errors import JournalError
from switch.journal.receipts import Receipt

_LENGTH = struct.Struct(">I")
#: A batch of 4,096 entries pickles to a few MB; anything near this is not ours.
_MAX_MESSAGE = 1 << 30
#: The child's module (switch/journal/sqlite/commit_child.py).
CHILD = "switch.journal.sqlite.commit_child"
#: How long `close` waits for the child's last commit and exit before killing it.
CLOSE_WAIT = 10.0


def read_message(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed message; None at a clean end of the stream."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) < _LENGTH.size:
        raise EOFError("the stream ended inside a message's length")
    (length,) = _LENGTH.unpack(head)
    if length > _MAX_MESSAGE:
        raise ValueError(f"a message of {length} bytes")
    body = stream.read(length)
    if len(body) < length:
        raise EOFError("the stream ended inside a message")
    return body


def write_message(stream: IO[bytes], body: bytes) -> None:
    stream.write(_LENGTH.pack(len(body)) + body)
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
        #: The loop that watches the child's answers (`commit_on_loop`), once one does.
        self._loop: asyncio.AbstractEventLoop | None = None
        #: The commit awaiting an answer, woken as bytes arrive; the child's pipe ended.
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False

    def commit(self, rows: BatchRows, receipts: Sequence[Receipt],
               advance: tuple[int, int] | None, catch_up: bool = False) -> tuple[float, bool]:
        """The batch committed by the child: (its CPU seconds, whether the checkpoint's
        advance failed). `JournalError` when the commit failed or the child ended. With
        `catch_up` the child checkpoints the WAL after answering (`SqliteJournal.catch_up_wal`)."""
        if not self._ready:
            self._answer()  # {"ready": true}: the child opened the database
            self._ready = True
        body = pickle.dumps((rows, list(receipts), advance, catch_up),
                            protocol=pickle.HIGHEST_PROTOCOL)
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            write_message(stdin, body)
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed here
            raise JournalError(self._ended()) from None
        return self._outcome(self._answer())

    async def commit_on_loop(self, rows: BatchRows, receipts: Sequence[Receipt],
                             advance: tuple[int, int] | None,
                             catch_up: bool = False) -> tuple[float, bool]:
        """`commit` from the event loop: the pipe written and read there, no thread between."""
        loop = asyncio.get_running_loop()
        if not self._ready:
            # From here on this process reads and writes the pipe without blocking, and the
            # loop watches the answers' end for as long as the child lives.
            assert self.proc.stdin is not None and self.proc.stdout is not None
            os.set_blocking(self.proc.stdin.fileno(), False)
            os.set_blocking(self.proc.stdout.fileno(), False)
            self._loop = loop
            loop.add_reader(self.proc.stdout.fileno(), self._readable)
            self._parse(await self._message_on_loop())
            self._ready = True
        body = pickle.dumps((rows, list(receipts), advance, catch_up),
                            protocol=pickle.HIGHEST_PROTOCOL)
        await self._write_on_loop(loop, _LENGTH.pack(len(body)) + body)
        return self._outcome(self._parse(await self._message_on_loop()))

    def _outcome(self, answer: dict[str, Any]) -> tuple[float, bool]:
        """A commit's answer: (the child's CPU seconds, whether the advance failed)."""
        if "error" in answer:
            raise JournalError(str(answer["error"]))
        cpu, failed = answer.get("cpu"), answer.get("advance_failed")
        if not isinstance(cpu, (int, float)) or not isinstance(failed, bool):
            raise JournalError(f"{self.path}: the commit process answered {answer!r}")
        return float(cpu), failed

    async def _writable(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        fut: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_writer(fd, ready)
        try:
            await fut
        finally:
            loop.remove_writer(fd)

    async def _write_on_loop(self, loop: asyncio.AbstractEventLoop, data: bytes) -> None:
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                await self._writable(loop, fd)
            except OSError:  # the child is gone (a broken pipe)
                raise JournalError(self._ended()) from None

    def _readable(self) -> None:
        """The loop's reader on the child's answers: take what arrived, wake the waiter.

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
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _message_on_loop(self) -> bytes:
        assert self._loop is not None
        buf = self._inbuf
        while True:
            if len(buf) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(buf)
                if length > _MAX_MESSAGE:
                    raise JournalError(f"{self.path}: the commit process answered a message "
                                       f"of {length} bytes")
                if len(buf) >= _LENGTH.size + length:
                    body = bytes(buf[_LENGTH.size:_LENGTH.size + length])
                    del buf[:_LENGTH.size + length]
                    return body
            if self._eof:
                raise JournalError(self._ended())
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

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
        if loop is not None and not self._eof and not loop.is_closed() \
                and self.proc.stdout is not None:
            loop.remove_reader(self.proc.stdout.fileno())
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
