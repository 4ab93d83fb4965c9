"""Sealing settled days: a register of what was sealed, and files that never change after.

Each business day is written into its own folder under the output root (`<out>/<day>/`), so one
root for every night (`--out var/settle`) keeps every day. The register is its own SQLite file
beside the journal (the switch's database is the switch's: settlement never writes there): per
day the inputs' digest, the outputs' digest, the folder, and the SHA-256 of every file sealed.
A day is settled once per set of inputs: a second run with the same digest must reproduce the
same bytes and leaves the sealed folder untouched; a run with different inputs is refused
unless the operator reopens the day, which is recorded with who, when and the two digests, and
which sets the old folder aside (`<day>.replaced-N`) instead of deleting it. Nothing here ever
deletes a sealed file (docs/settlement.md, "Sealed and repeatable").
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
from switch.exit_codes import EXIT_SEALED

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
CREATE TABLE IF NOT EXISTS sealed_files (
    business_day TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (business_day, name)
);
"""
#: Columns later versions of the register added to a table; added to older registers on open.
ADDED_COLUMNS = {("reopened", "set_aside"): "TEXT"}


class SealError(SettlementError):
    """The day is sealed with other inputs, or the output directory is not ours to replace."""

    exit_code = EXIT_SEALED
    prefix = "refused: "


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
    """What sealing did: `first`, `identical` (a re-run; a copy when `out`, the folder of this
    run, is not the sealed one) or `reopened` (the old folder set aside in `set_aside`, None
    when it was gone)."""

    status: str
    previous: Sealed | None
    out: Path
    set_aside: Path | None = None


def outputs_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}|{hashlib.sha256(files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def default_register(database: Path) -> Path:
    return database.with_name(database.name + ".settlement.db")


class Register:
    """`what` names a sealed key in messages: a business day, or an invoiced month
    (`settlement.invoice` keeps its own register of the same shape)."""

    def __init__(self, path: Path, what: str = "business day") -> None:
        self.path = path
        self.what = what
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(SCHEMA)
            for (table, column), kind in ADDED_COLUMNS.items():
                if column not in {r[1] for r in self.conn.execute(
                        f"PRAGMA table_info({table})")}:
                    self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
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

    def set_aside(self, day: str) -> list[str]:
        """Where each reopening of `day` put the folder it replaced, oldest first."""
        return [r[0] for r in self.conn.execute(
            "SELECT set_aside FROM reopened WHERE business_day = ? AND set_aside IS NOT NULL "
            "ORDER BY id", (day,))]

    def sealed_files(self, day: str) -> dict[str, str]:
        """name -> SHA-256 of every file sealed for `day` (empty for a register that predates
        the list: then the outputs digest alone vouches for them)."""
        return dict(self.conn.execute(
            "SELECT name, sha256 FROM sealed_files WHERE business_day = ?", (day,)).fetchall())

    def seal(self, day: str, inputs: str, files: Mapping[str, bytes], root: Path, at: str,
             reopen: bool) -> Outcome:
        """Check the day against the register, write `root/<day>` atomically, record it.

        The check, the folder swap and the record happen under one write lock, so two
        operators settling the same day at once cannot both succeed.
        """
        outputs = outputs_digest(files)
        out = (root / day).resolve()
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            prev = self.get(day)
            aside: Path | None = None
            if prev is None:
                write_dir(out, files)
                status = "first"
            elif prev.inputs_digest == inputs:
                if prev.outputs_digest != outputs:
                    raise SealError(
                        f"{self.what} {day}: same inputs ({inputs[:16]}...) but different "
                        f"outputs than the sealed run; refusing to touch {prev.out_dir}")
                sealed = Path(prev.out_dir)
                changed = _changed(sealed, files) if sealed == out else []
                if changed and not reopen:
                    raise SealError(
                        f"the sealed files of {self.what} {day} in {sealed} differ from what "
                        f"was sealed ({', '.join(changed[:5])}); nothing was written: restore "
                        "them (the register holds their SHA-256) or settle again with --reopen")
                if changed:
                    aside = set_aside(sealed)
                    write_dir(out, files)
                    status = "reopened"
                else:
                    write_dir(out, files)  # the sealed folder as it is, or a copy elsewhere
                    status = "identical"
            else:
                if not reopen:
                    raise SealError(
                        f"{self.what} {day} is sealed with inputs {prev.inputs_digest[:16]}... "
                        f"(settled {prev.settled_at} into {prev.out_dir}); the journal now "
                        f"gives {inputs[:16]}...: settle it again only with --reopen "
                        "(which is logged, and keeps the sealed files aside)")
                aside = set_aside(Path(prev.out_dir))
                write_dir(out, files)
                status = "reopened"
            if status == "reopened":
                assert prev is not None
                conn.execute(
                    "INSERT INTO reopened (business_day, old_inputs_digest, new_inputs_digest, "
                    "at, operator, set_aside) VALUES (?, ?, ?, ?, ?, ?)",
                    (day, prev.inputs_digest, inputs, at, _operator(),
                     None if aside is None else str(aside)))
            self._record(day, inputs, outputs, out, at, files, status)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return Outcome(status, prev, out, aside)

    def _record(self, day: str, inputs: str, outputs: str, out: Path, at: str,
                files: Mapping[str, bytes], status: str) -> None:
        """The register's rows for a run: the sealed folder moves only when (re)sealed."""
        self.conn.execute(
            "INSERT INTO settled_days VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT(business_day) "
            "DO UPDATE SET runs = settled_days.runs + 1", (day, inputs, outputs, str(out), at))
        if status == "identical":
            return
        self.conn.execute(
            "UPDATE settled_days SET inputs_digest = ?, outputs_digest = ?, out_dir = ?, "
            "settled_at = ? WHERE business_day = ?", (inputs, outputs, str(out), at, day))
        self.conn.execute("DELETE FROM sealed_files WHERE business_day = ?", (day,))
        self.conn.executemany(
            "INSERT INTO sealed_files VALUES (?, ?, ?, ?)",
            [(day, name, hashlib.sha256(body).hexdigest(), len(body))
             for name, body in sorted(files.items())])


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
    return not _changed(out, files)


def _changed(out: Path, files: Mapping[str, bytes]) -> list[str]:
    """The names in `out` that are missing, different or extra compared with `files`."""
    if not out.is_dir():
        return sorted(files)
    names = {p.name for p in out.iterdir()}
    return sorted((names ^ set(files)) | {n for n in names & set(files)
                                          if (out / n).read_bytes() != files[n]})


def set_aside(sealed: Path) -> Path | None:
    """Move a sealed folder out of the way, never deleting it: `<folder>.replaced-N`."""
    if not sealed.exists():
        return None
    n = 1
    while (aside := sealed.with_name(f"{sealed.name}.replaced-{n}")).exists():
        n += 1
    os.rename(sealed, aside)
    _fsync_dir(sealed.parent)
    return aside


def write_dir(out: Path, files: Mapping[str, bytes]) -> None:
    """Create `out` holding exactly `files`, all or nothing; never replace or delete anything.

    The files are written and synced in a sibling temporary folder that is then renamed into
    place. An `out` that already holds exactly these bytes is left as it is; one that holds
    anything else is refused (an operator's files, or a settlement the register does not
    know). A crash leaves no `out` or a complete one, plus at worst a `.tmp` sibling.
    """
    out = out.absolute()
    if out.is_dir() and same_files(out, files):
        return  # a re-run of a sealed day: the very same bytes are already in place
    if out.exists():
        if not out.is_dir():
            raise SealError(f"{out} exists and is not a directory")
        names = sorted(p.name for p in out.iterdir())
        foreign = [n for n in names if n not in files]
        raise SealError(
            f"{out} holds files that are not this settlement's ({', '.join(foreign[:5])})"
            if foreign else
            f"{out} holds another settlement of this day that the register does not know; "
            "move it away (nothing is ever overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, body in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
