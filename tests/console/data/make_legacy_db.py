# ruff: noqa  (written for, and run against, the tree of commit 4cc2209: see below)
"""How `legacy-switch.db` was made: a switch database of the console at commit 4cc2209, whose
tables (`console_*`) lived in the switch's own file. Run against a checkout of that commit:

    git archive 4cc2209 | tar -x -C /tmp/legacy
    PYTHONPATH=/tmp/legacy .venv/bin/python tests/console/data/make_legacy_db.py OUT.db

It is kept for the record; the test (test_legacy_import.py) uses the file it made.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

# Modules of the tree this script is run against (above), not of this one.
from switch.console import audit, auth, cards  # type: ignore[import-not-found]
from switch.console.db import open_db  # type: ignore[import-not-found]
from tests.console.support import PASSWORD, make_env


def main(out: str) -> None:
    root = Path(tempfile.mkdtemp())
    env = make_env(root, n_cards=3)
    conn = open_db(env.config.switch.database)
    now = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    auth.add_staff(conn, "cli:root", "ann", "admin", PASSWORD, now)
    auth.add_staff(conn, "cli:root", "sue", "support", PASSWORD, now)
    auth.add_staff(conn, "staff:ann", "old", "auditor", PASSWORD, now)
    auth.disable_staff(conn, "staff:ann", "old", now)
    limits = auth.Limits()
    auth.login(conn, "ann", PASSWORD, "127.0.0.1", now, limits)
    try:
        auth.login(conn, "sue", "not the password", "127.0.0.9", now, limits)
    except auth.AuthError:
        pass
    cards.request_adjustment(conn, env.config, "sue", env.cards[0], 300, "STORE0000000001",
                             "goodwill", 1000, now)
    cards.request_adjustment(conn, env.config, "sue", env.cards[1], 5000, "STORE0000000002",
                             "lost receipts", 1000, now)
    conn.close()
    audit.append_cli(env.config.switch.database, "card.block", "card:628000******0000")
    db = sqlite3.connect(env.config.switch.database)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("VACUUM")
    db.close()
    shutil.copyfile(env.config.switch.database, out)
    print(f"{out}: {', '.join(env.cards)}")


if __name__ == "__main__":
    main(sys.argv[1])
