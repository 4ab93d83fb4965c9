"""The settlement pages' data: sealed days from settlement's register, their files and chart.

Runs go through `python -m settlement settle` in a child process (the settlement's own command,
its seal and its exit codes), so a console never settles differently from the CLI.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settlement.seal import default_register

SVG = re.compile(r"<svg\b.*?</svg>", re.S)
SAFE_NAME = re.compile(r"^[a-z_]+\.(csv|json|html)$")


class SettleError(ValueError):
    """Bad input or a failed run, with a message fit to show."""


@dataclass(frozen=True, slots=True)
class Day:
    business_day: str
    inputs_digest: str
    out_dir: str
    settled_at: str
    runs: int
    reopenings: int


def register_path(database: Path) -> Path:
    return default_register(database)


def _open(database: Path) -> sqlite3.Connection | None:
    path = register_path(database)
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def days(database: Path) -> list[Day]:
    conn = _open(database)
    if conn is None:
        return []
    try:
        return [Day(*r) for r in conn.execute(
            "SELECT s.business_day, s.inputs_digest, s.out_dir, s.settled_at, s.runs, "
            "(SELECT COUNT(*) FROM reopened r WHERE r.business_day = s.business_day) "
            "FROM settled_days s ORDER BY s.business_day DESC LIMIT 400")]
    finally:
        conn.close()


def check_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise SettleError(f"a business day is YYYY-MM-DD, got {text[:20]!r}") from None


def day(database: Path, when: dt.date) -> Day:
    for d in days(database):
        if d.business_day == when.isoformat():
            return d
    raise SettleError(f"business day {when} has not been settled")


def files(d: Day) -> list[tuple[str, int]]:
    out = Path(d.out_dir)
    if not out.is_dir():
        return []
    return sorted((p.name, p.stat().st_size) for p in out.iterdir()
                  if p.is_file() and SAFE_NAME.match(p.name))


def read_file(d: Day, name: str) -> bytes:
    """One of the day's files, by a name from its own listing (no path ever taken from input)."""
    if name not in {n for n, _ in files(d)}:
        raise SettleError(f"business day {d.business_day} has no file {name[:40]!r}")
    return (Path(d.out_dir) / name).read_bytes()


def summary(d: Day) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(read_file(d, "settlement.json"))
    except (SettleError, ValueError):
        return {}
    return data


def charts(d: Day) -> list[str]:
    """The inline SVG charts settlement drew into its report.html (no script in them)."""
    try:
        html = read_file(d, "report.html").decode()
    except SettleError:
        return []
    return [m for m in SVG.findall(html) if "<script" not in m.lower()]


def positions(d: Day) -> list[dict[str, str]]:
    try:
        text = read_file(d, "positions.csv").decode()
    except SettleError:
        return []
    return list(csv.DictReader(io.StringIO(text)))


def run(config_path: str, database: Path, out_root: Path, when: dt.date, reopen: bool,
        timeout: float = 600) -> tuple[int, str]:
    """Settle `when` into `out_root/<day>` (settlement makes the day's folder); returns (exit
    code, the command's output)."""
    cmd = [sys.executable, "-m", "settlement", "settle", "--config", config_path,
           "--database", str(database), "--date", when.isoformat(),
           "--out", str(out_root), "--no-progress"]
    if reopen:
        cmd.append("--reopen")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()
