"""Connections to the SQLite journal: WAL, `synchronous=FULL`, the file its owner's alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from switch.filemode import check_private, private_database
from switch.journal.errors import JournalError


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode with `synchronous=FULL` (durability before reply).

    Read-write creates the file 0600 and refuses a wider one; read-only (`mode=ro`: it can
    never take the write lock) refuses a wider one too (switch/filemode.py).
    """
    if readonly:
        check_private(path, JournalError)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with private_database(path, JournalError):
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"{path}: cannot switch to WAL mode (got {mode})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
