"""The switch's database is created 0600 and refused when group or others may use it.

It holds full card numbers and terminal keys under the LMK (switch/filemode.py). Created under
the most permissive umask, the database, its WAL and its shared-memory file are 0600; a database
(or one of those files) that group or others may read or write is refused by the switch, the
console and the CLI alike, with one line naming the `chmod` that mends it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.journal import JournalError, open_outbox, open_reader, open_scan_reader
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.journal import SqliteJournal
from tests.security.support import write_config
from tests.waits import START

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def new_database(path: Path) -> None:
    store = SqliteJournal(path)
    store.close()


def test_a_new_database_and_its_wal_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "var" / "lps.db"
    with umask(0):
        store = SqliteJournal(db)
        try:
            store.conn.execute("CREATE TABLE probe (a)")  # the WAL now has frames
            files = {p.name: mode(p) for p in tmp_path.joinpath("var").iterdir()}
        finally:
            store.close()
    assert files == {"lps.db": 0o600, "lps.db-wal": 0o600, "lps.db-shm": 0o600}
    assert os.umask(0o022) == 0o022  # the umask is given back as it was
    os.umask(0o022)


@pytest.mark.parametrize("which", ["lps.db", "lps.db-wal", "lps.db-shm"])
@pytest.mark.parametrize("loose", [0o644, 0o640, 0o606, 0o660])
def test_a_looser_file_is_refused_by_every_opener(tmp_path: Path, which: str,
                                                  loose: int) -> None:
    db = tmp_path / "lps.db"
    new_database(db)
    for side in ("lps.db-wal", "lps.db-shm"):  # as a crash leaves them
        (tmp_path / side).touch(mode=0o600)
    os.chmod(tmp_path / which, loose)
    before = (tmp_path / "lps.db").read_bytes()
    # The switch, the commands, settlement and its readers, the console (open_reader,
    # open_scan_reader, open_outbox).
    for opener in (lambda: SqliteJournal(db), lambda: connect(db),
                   lambda: connect(db, readonly=True), lambda: open_reader(db),
                   lambda: open_scan_reader(db), lambda: open_outbox(db)):
        with pytest.raises(JournalError) as info:
            opener()
        message = str(info.value)
        assert "\n" not in message
        assert f"{tmp_path / which} has mode {loose:04o}" in message
        assert f"chmod 600 {db}" in message
    assert mode(tmp_path / which) == loose  # refused, not silently changed
    assert (tmp_path / "lps.db").read_bytes() == before


def test_lps_serve_refuses_a_world_readable_database_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    new_database(tmp_path / "lps.db")
    os.chmod(tmp_path / "lps.db", 0o644)
    done = subprocess.run([sys.executable, "-m", "lps.cli", "serve", "--config", str(config),
                           "--log-level", "WARNING"],
                          capture_output=True, text=True, timeout=START, cwd=ROOT)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("lps serve: ")  # docs/cli.md: `lps COMMAND: what is wrong`
    assert "has mode 0644" in lines[0] and "chmod 600" in lines[0]
    os.chmod(tmp_path / "lps.db", 0o600)  # mended as the line says: it opens again
    store = SqliteJournal(tmp_path / "lps.db")
    store.close()
