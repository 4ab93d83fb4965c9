"""The settlement pages' data: sealed days from settlement's register, their files and chart.

Runs go through `lps settle` (`python -m lps.cli settle`) in a child process (the settlement's
own command, its seal and its exit codes), so a console never settles differently from the CLI.
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

from lps.console.messages import N_, Refusal
from lps.console.queries import Scope
from settlement.seal import default_register

SVG = re.compile(r"<svg\b.*?</svg>", re.S)
SAFE_NAME = re.compile(r"[a-z_]+\.(csv|json|html)")


#: The files a store-scoped member gets, each cut to the rows of their stores (by this column).
SCOPED_FILES = {"positions.csv": "store_id", "sv_positions.csv": "store_id",
                "breakage.csv": "store_id", "reconciliation.csv": "store_id"}


class SettleError(Refusal):
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
    """A business day as typed: Jalali or Gregorian, Persian or ASCII digits."""
    from switch.i18n import DateError, parse_date

    try:
        return parse_date(text)
    except DateError as exc:
        raise date_refusal(exc) from None


def date_refusal(exc: Exception) -> Refusal:
    """A typed date refused with its reason (switch.i18n.DateError)."""
    from switch.i18n import DateError

    assert isinstance(exc, DateError)
    if exc.reason == "day":
        return Refusal(N_("{date}: that month has only {days} days"), date=exc.text,
                       days=exc.days)
    if exc.reason == "month":
        return Refusal(N_("{date}: a month is 1 to 12"), date=exc.text)
    return Refusal(N_("a date is YYYY/MM/DD in the Jalali calendar (or YYYY-MM-DD "
                      "Gregorian), got {date}"), date=exc.text)


def day(database: Path, when: dt.date) -> Day:
    for d in days(database):
        if d.business_day == when.isoformat():
            return d
    raise SettleError(N_("business day {day} has not been settled"), day=when)


def files(d: Day, scope: Scope | None = None) -> list[tuple[str, int]]:
    """The day's files (name, size); for a scoped reader only those cut to their stores."""
    out = Path(d.out_dir)
    if not out.is_dir():
        return []
    found = sorted((p.name, p.stat().st_size) for p in out.iterdir()
                   if p.is_file() and SAFE_NAME.fullmatch(p.name))
    if scope is None or not scope.limited:
        return found
    return [(n, len(read_file(d, n, scope))) for n, _ in found if n in SCOPED_FILES]


def read_file(d: Day, name: str, scope: Scope | None = None) -> bytes:
    """One of the day's files, by a name from its own listing (no path ever taken from input);
    for a scoped reader a CSV of their stores' rows only."""
    names = {n for n, _ in files(d)}
    if name not in names or (scope is not None and scope.limited and name not in SCOPED_FILES):
        raise SettleError(N_("business day {day} has no file {name}"), day=d.business_day,
                          name=name[:40])
    data = (Path(d.out_dir) / name).read_bytes()
    if scope is None or not scope.limited:
        return data
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    header = next(csv.reader(io.StringIO(data.decode())), [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(scope.rows(rows, SCOPED_FILES[name]))
    return buf.getvalue().encode()


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


def positions(d: Day, scope: Scope, name: str = "positions.csv") -> list[dict[str, str]]:
    """The day's net positions (or another per-store CSV), the reader's stores only."""
    try:
        text = read_file(d, name).decode()
    except SettleError:
        return []
    return scope.rows(csv.DictReader(io.StringIO(text)), "store_id")


def run(config_path: str, journal: str | Path, out_root: Path, when: dt.date, reopen: bool,
        timeout: float = 600) -> tuple[int, str]:
    """Settle `when` into `out_root/<day>` (settlement makes the day's folder); returns (exit
    code, the command's output).

    An SQLite journal is named with `--database`; a PostgreSQL one is left to the
    configuration, so its URL (which may hold a password) never shows in `ps`."""
    cmd = [sys.executable, "-m", "lps.cli", "settle", "--config", config_path,
           "--date", when.isoformat(), "--out", str(out_root), "--no-progress"]
    if isinstance(journal, Path):
        cmd += ["--database", str(journal)]
    if reopen:
        cmd.append("--reopen")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()
