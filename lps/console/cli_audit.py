"""The audit rows of `lps` commands: written to, and read from, the console's database of the
switch they changed (`<database>.console.db`), never the switch's own.

Its own module, above both the audit log (`audit`) and the console's database (`db`), so that
neither of those needs the other's opening of files (docs/console.md, "Its own database").
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from lps.console.audit import AuditRow, append, find
from lps.console.db import ConsoleDbError, console_path, open_console
from switch.exit_codes import EXIT_AUDIT


def cli_actor() -> str:
    """`cli:LOGIN` of the OS user; under sudo also who ran sudo (`cli:root (sudo by ann)`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    sudo = os.environ.get("SUDO_USER")
    return f"cli:{user} (sudo by {sudo})" if sudo and sudo != user else f"cli:{user}"


def append_cli(switch_database: str | Path, action: str, target: str, before: Any = None,
               after: Any = None) -> int:
    """Audit an `lps` command's change, which has already happened: 0, else EXIT_AUDIT.

    The row goes to the console's database of that switch (`<database>.console.db`, made when
    missing); the switch's database is not opened for writing. A failure is said on stderr (the
    change stands; the row is missing) rather than raised, so the command can still print what
    it did before exiting non-zero.
    """
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        conn = open_console(switch_database)
        try:
            append(conn, at, cli_actor(), action, target, before, after)
        finally:
            conn.close()
    except (sqlite3.Error, OSError, ConsoleDbError) as exc:
        print(f"lps: {action} {target} WAS DONE, but its audit row could not be written to "
              f"{console_path(switch_database)}: {exc}. Record it by hand; do not run the "
              "command again.", file=sys.stderr)
        return EXIT_AUDIT
    return 0


def read_cli(switch_database: str | Path, action: str, target: str) -> list[AuditRow]:
    """The rows of one action on one target for an `lps` command (none when no console
    database exists yet: nothing was ever audited)."""
    if not console_path(switch_database).exists():
        return []
    conn = open_console(switch_database)
    try:
        return find(conn, action, target)
    finally:
        conn.close()
