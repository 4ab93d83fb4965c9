"""The commit process itself: `python -m switch.journal.sqlite.commit_child DATABASE PARENT`.

Started by `CommitProcess` (switch/journal/sqlite/committer.py, which says why and what
passes between them); it commits each batch read from stdin with the same code the writer
thread would run, and answers on stdout, until stdin ends.
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

from switch.journal.errors import JournalError
from switch.journal.sqlite.committer import read_message, write_message
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

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but answers on the pipe
    journal = SqliteJournal(path)
    try:
        background_checkpoints(journal.conn)  # the parent's thread copies the WAL
        write_message(stdout, b'{"ready": true}')
        while (body := read_message(stdin)) is not None:
            rows, receipts, advance, catch_up = pickle.loads(body)
            started = time.thread_time()
            journal._verify_failed = False
            try:
                journal._commit_group(rows, receipts, advance)
            except JournalError as exc:
                answer: dict[str, Any] = {"error": str(exc)}
            except Exception as exc:  # what the thread would have raised: fail-stop
                answer = {"error": f"{path}: commit failed: {exc!r}"}
            else:
                answer = {"cpu": time.thread_time() - started,
                          "advance_failed": journal._verify_failed}
            write_message(stdout, json.dumps(answer).encode())
            if catch_up and "error" not in answer:  # answered first: no reply waits for it
                journal.catch_up_wal()
    finally:
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], int(sys.argv[2])))
