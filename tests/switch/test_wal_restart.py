"""The WAL starts again from its beginning under a steady load (docs/switch.md, "WAL
checkpoints"): the background checkpoint cannot copy what is committed while it runs, so the
writer copies the rest after its next commit, and the commit after that restarts the WAL."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.core import handle
from switch.core.state import State
from switch.journal.batch import BatchRows
from switch.journal.sqlite import journal as sqlite_journal
from switch.journal.sqlite.journal import SqliteJournal
from tests.switch.support import NOW, T1, card, earn, example_config, sign_on

PAN = card(43)


def _journal(db: Path, *, process: bool) -> tuple[SqliteJournal, State]:
    """A journal as a serving switch has it: WAL checkpoints in the background, the group
    commits in the commit process (`process`) or in the caller's thread."""
    store = SqliteJournal(db)
    store.checkpoint_in_background()
    if process:
        store.start_commit_process()
    state = store.load(example_config(db), None, NOW)
    store.append(handle(state, sign_on(T1), NOW).entries)
    return store, state


def _steady(store: SqliteJournal, state: State, db: Path, seconds: int) -> Iterator[int]:
    """Each 'second' of a steady load: a commit lands while the background checkpoint runs
    (it copies only what a read that began before that commit sees, as it would have when it
    started), then the writer's next commit. Yields the WAL's frames each checkpoint saw."""
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    stan = 1
    try:
        for _ in range(seconds):
            if store._committer is not None:
                # The child catches up after it answered: an empty batch behind it is
                # answered once it did (a read in flight then would keep the WAL going).
                store._committer.commit(BatchRows(), [], None)
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM journal").fetchone()
            store.append(handle(state, earn(T1, stan, PAN, 100_000), NOW).entries)
            yield store.checkpoint()[1]
            reader.execute("COMMIT")
            store.append(handle(state, earn(T1, stan + 1, PAN, 100_000), NOW).entries)
            stan += 2
    finally:
        reader.close()


@pytest.mark.parametrize("process", [False, True], ids=["writer thread", "commit process"])
def test_a_steady_load_keeps_the_wal_to_the_last_seconds_commits(tmp_path: Path,
                                                                  process: bool) -> None:
    db = tmp_path / "lps.db"
    store, state = _journal(db, process=process)
    frames = list(_steady(store, state, db, 30))
    store.close()
    # 12-15 frames a second here; without the writer's own checkpoint the WAL holds every
    # commit so far (171 frames after the second 'second', 945 after the thirtieth).
    assert max(frames[1:]) <= 2 * min(frames[1:]), frames


def test_a_wal_a_long_read_let_grow_is_trimmed_when_it_restarts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_journal, "WAL_SIZE_LIMIT", 64 << 10)
    db = tmp_path / "lps.db"
    store, state = _journal(db, process=False)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM journal").fetchone()  # a settlement's long read
    for stan in range(1, 60):
        store.append(handle(state, earn(T1, stan, PAN, 100_000), NOW).entries)
        store.checkpoint()
    wal = Path(f"{db}-wal")
    grown = wal.stat().st_size
    assert grown > 4 * (64 << 10)
    reader.execute("COMMIT")
    store.checkpoint()
    for stan in range(60, 62):  # the writer catches up, then restarts the WAL and trims it
        store.append(handle(state, earn(T1, stan, PAN, 100_000), NOW).entries)
    assert wal.stat().st_size <= 64 << 10
    store.close()


def _points(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE pan = ?",
                                (PAN,)).fetchone()[0])


def test_a_commit_process_killed_around_its_wal_copy_loses_no_commit(tmp_path: Path) -> None:
    """SIGKILL right after the answer that asked for the writer's copy: before it, inside it
    or after it, wherever it lands, every answered commit is in the reopened journal and its
    invariants hold."""
    db = tmp_path / "lps.db"
    stan, points = 1, 0
    for _ in range(6):
        store, state = _journal(db, process=True)
        for _ in range(3):
            store.append(handle(state, earn(T1, stan, PAN, 100_000), NOW,
                                fetch=store.fetch).entries)
            stan, points = stan + 1, points + 10
        store.checkpoint()
        store.append(handle(state, earn(T1, stan, PAN, 100_000), NOW,
                            fetch=store.fetch).entries)
        stan, points = stan + 1, points + 10
        assert store._committer is not None
        os.kill(store._committer.proc.pid, signal.SIGKILL)  # answered; now copying the WAL
        store._committer.proc.wait()
        store.close()
        assert _points(db) == points
    store = SqliteJournal(db)
    assert store.verify_and_advance(everything=True).problems == []
    store.close()
