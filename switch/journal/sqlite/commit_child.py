"""The commit process itself: `python -m switch.journal.sqlite.commit_child DATABASE PARENT`.

Started by `CommitProcess` (switch/journal/sqlite/committer.py, which says why and what
passes between them); it commits the batches read from stdin with the same code the writer
thread would run, all that queued during the commit before in one transaction, and answers on
stdout, until stdin ends.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import pickle
import signal
import sys
import time
from typing import Any

from switch.journal.batch import BatchRows
from switch.journal.errors import JournalError
from switch.journal.sqlite.committer import take_message, write_message
from switch.journal.sqlite.journal import SqliteJournal, background_checkpoints

_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """SIGKILL when the parent dies (Linux `prctl`); gone already: exit now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:
        sys.exit(0)


def serve(path: str, parent: int) -> int:
    """The child: commit each batch read from stdin, answer on stdout, until stdin ends."""
    _die_with(parent)
    # Ctrl-C and a service manager's SIGTERM reach the whole group: the parent drains its
    # requests and then closes the pipe, which ends this process after its last commit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

    requests = Requests(sys.stdin.buffer.fileno())
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    journal = SqliteJournal(path)
    try:
        background_checkpoints(journal.conn)  # the parent's thread copies the WAL
        write_message(stdout, b'{"ready": true}')
        while (bodies := requests.queued()) is not None:
            batches = [pickle.loads(body) for body in bodies]
            started = time.thread_time()
            journal._verify_failed = False
            try:
                journal.commit_queued([(BatchRows.unpacked(rows), receipts, advance)
                                       for rows, receipts, advance, _ in batches])
            except JournalError as exc:
                answer: dict[str, Any] = {"error": str(exc)}
            except Exception as exc:  # what the thread would have raised: fail-stop
                answer = {"error": f"{path}: commit failed: {exc!r}"}
            else:
                answer = {"cpu": time.thread_time() - started,
                          "advance_failed": journal._verify_failed, "batches": len(batches)}
            write_message(stdout, json.dumps(answer).encode())
            if any(b[3] for b in batches) and "error" not in answer:
                journal.catch_up_wal()  # answered first: no reply waits for it
    finally:
        journal.close()
    return 0


class Requests:
    """The batches on stdin: every one that has queued since the last commit, at once.

    Read from the descriptor itself: one read returns what the pipe holds (up to 64 KB), so
    a transaction takes the batches that arrived while the one before was being committed,
    and waits for none."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()

    def queued(self) -> list[bytes] | None:
        """The next batch, waiting for it, and the whole ones read with it (a read takes
        at most 64 KB: a transaction holds one batch and what followed it within that);
        None at a clean end of the stream."""
        bodies: list[bytes] = []
        while True:
            body = take_message(self.buf)
            if body is not None:
                bodies.append(body)
            elif bodies:
                return bodies
            elif not self._read():
                if self.buf:
                    raise EOFError("the stream ended inside a message")
                return None

    def _read(self) -> bool:
        """What the pipe holds, waiting for some; False at its end."""
        chunk = os.read(self.fd, 1 << 16)
        self.buf += chunk
        return bool(chunk)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
