"""Sealing settled days: a register of inputs' digests and an all-or-nothing output directory.

The register is its own SQLite file beside the journal (the switch's database is the switch's:
settlement never writes there). A day is settled once per set of inputs: a second run with the
same digest must reproduce the same bytes; a run with different inputs is refused unless the
operator reopens the day, which is recorded with who, when and the two digests.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from settlement.records import SettlementError

SCHEMA = """
CREATE TABLE IF NOT EXISTS settled_days (
    business_day TEXT PRIMARY KEY,
    inputs_digest TEXT NOT NULL,
    outputs_digest TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    settled_at TEXT NOT NULL,
    runs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reopened (
    id INTEGER PRIMARY KEY,
    business_day TEXT NOT NULL,
    old_inputs_digest TEXT NOT NULL,
    new_inputs_digest TEXT NOT NULL,
    at TEXT NOT NULL,
    operator TEXT NOT NULL
);
"""


class SealError(SettlementError):
    """The day is sealed with other inputs, or the output directory is not ours to replace."""


@dataclass(frozen=True, slots=True)
class Sealed:
    business_day: str
    inputs_digest: str
    outputs_digest: str
    out_dir: str
    settled_at: str
    runs: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What sealing did: `first`, `identical` (a re-run) or `reopened`."""

    status: str
    previous: Sealed | None


def outputs_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}|{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def default_register(database: Path) -> Path:
    return database.with_name(database.name + ".settlement.db")


class Register:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise SettlementError(f"{path}: cannot open the register of sealed days: {exc}"
                                  ) from None

    def close(self) -> None:
        self.conn.close()

    def get(self, day: str) -> Sealed | None:
        row = self.conn.execute(
            "SELECT business_day, inputs_digest, outputs_digest, out_dir, settled_at, runs "
            "FROM settled_days WHERE business_day = ?", (day,)).fetchone()
        return Sealed(*row) if row else None

    def reopenings(self, day: str) -> list[tuple[str, str, str, str]]:
        return self.conn.execute(
            "SELECT old_inputs_digest, new_inputs_digest, at, operator FROM reopened "
            "WHERE business_day = ? ORDER BY id", (day,)).fetchall()

    def seal(self, day: str, inputs: str, files: Mapping[str, bytes], out: Path, at: str,
             reopen: bool) -> Outcome:
        """Check the day against the register, write `out` atomically, then record it.

        The check, the directory swap and the record happen under one write lock, so two
        operators settling the same day at once cannot both succeed.
        """
        outputs = outputs_digest(files)
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            prev = self.get(day)
            status = "first"
            if prev is not None and prev.inputs_digest == inputs:
                if prev.outputs_digest != outputs:
                    raise SealError(
                        f"business day {day}: same inputs ({inputs[:16]}...) but different "
                        f"outputs than the sealed run; refusing to overwrite {prev.out_dir}")
                status = "identical"
            elif prev is not None:
                if not reopen:
                    raise SealError(
                        f"business day {day} is sealed with inputs {prev.inputs_digest[:16]}... "
                        f"(settled {prev.settled_at} into {prev.out_dir}); the journal now "
                        f"gives {inputs[:16]}...: settle it again only with --reopen "
                        "(which is logged)")
                status = "reopened"
                conn.execute(
                    "INSERT INTO reopened (business_day, old_inputs_digest, new_inputs_digest, "
                    "at, operator) VALUES (?, ?, ?, ?, ?)",
                    (day, prev.inputs_digest, inputs, at, _operator()))
            write_dir(out, files)
            conn.execute(
                "INSERT INTO settled_days VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT(business_day) "
                "DO UPDATE SET inputs_digest = excluded.inputs_digest, outputs_digest = "
                "excluded.outputs_digest, out_dir = excluded.out_dir, settled_at = CASE WHEN "
                "settled_days.inputs_digest = excluded.inputs_digest THEN settled_days.settled_at"
                " ELSE excluded.settled_at END, runs = settled_days.runs + 1",
                (day, inputs, outputs, str(out.resolve()), at))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return Outcome(status, prev)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def same_files(out: Path, files: Mapping[str, bytes]) -> bool:
    names = {p.name for p in out.iterdir()}
    return names == set(files) and all((out / n).read_bytes() == b for n, b in files.items())


def write_dir(out: Path, files: Mapping[str, bytes]) -> None:
    """Replace `out` with exactly `files`, all or nothing.

    The files are written and synced in a sibling temporary directory that is then renamed
    into place; an existing `out` is only replaced when it holds nothing but settlement files
    (an operator's other files are never deleted). A crash leaves the old or the new directory
    complete, plus at worst a `.tmp`/`.old` sibling to remove.
    """
    out = out.absolute()
    if out.is_dir() and same_files(out, files):
        return  # a re-run of a sealed day: the very same bytes are already in place
    if out.exists():
        if not out.is_dir():
            raise SealError(f"{out} exists and is not a directory")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in files)
        if foreign:
            raise SealError(
                f"{out} holds files that are not this settlement's ({', '.join(foreign[:5])}); "
                "choose an empty or new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, body in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if out.exists():
            os.rename(out, old)
        os.rename(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
