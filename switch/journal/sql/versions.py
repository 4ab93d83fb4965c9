"""The versions of the programs (`rewards_schema.program_versions`; docs/programs.md,
"Changing programs while the switch runs"): written with the `programs` journal row that
loads one, or at a start whose file differs from the last version; read at recovery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from switch.core.rewards import ProgramVersion
from switch.journal.sql.db import Db, tables

_COLUMNS = "version, journal_id, at, digest, file, document"


def write_versions(conn: Db, rows: Sequence[tuple[Any, ...]]) -> None:
    """`program_versions` rows, inside the caller's transaction."""
    conn.executemany(f"INSERT INTO program_versions ({_COLUMNS}) VALUES (?,?,?,?,?,?)", rows)


def latest(conn: Db) -> ProgramVersion | None:
    """The version in force: the newest one recorded (None: none yet, or a journal from
    before versions were recorded)."""
    if "program_versions" not in tables(conn):
        return None
    row = conn.execute("SELECT version, digest, file, document FROM program_versions "
                       "ORDER BY version DESC LIMIT 1").fetchone()
    return None if row is None else ProgramVersion(int(row[0]), row[1], row[2], row[3])


def record_at_start(conn: Db, version: ProgramVersion, at: str) -> None:
    """A version the switch read from its file at a start (no journal row loads it), inside
    the caller's write transaction."""
    write_versions(conn, [(version.version, None, at, version.digest, version.file,
                           version.document)])
