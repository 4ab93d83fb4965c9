"""Both journal engines for the tests that adopt them (docs/testing.md, docs/switch.md
"PostgreSQL"): `journal_settings` gives `[switch]` settings for an SQLite file or for a fresh
database on the session's PostgreSQL server (one cluster per session, a new database per test;
under CI=true a missing PostgreSQL fails, tests/pg/fixtures.py).

A module adopts them by using `journal_settings` (or `engine`); a test that only makes sense on
one engine narrows it with `@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def journal_settings(engine: str, tmp_path: Path, request: pytest.FixtureRequest
                     ) -> dict[str, Any]:
    """`[switch]` settings (`dataclasses.replace` keywords) naming the test's journal: the
    SQLite file `lps.db` in `tmp_path`, or a fresh PostgreSQL database with `tmp_path` as the
    node's own directory."""
    settings: dict[str, Any] = {"database": tmp_path / "lps.db"}
    if engine == "postgresql":
        settings["journal_url"] = request.getfixturevalue("pg_journal_url")
    return settings


def query(journal: str | Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the test's journal, on either engine (the test checks the
    database itself, not through the code under test)."""
    if isinstance(journal, str):
        import psycopg

        with psycopg.connect(journal) as conn:
            return [tuple(row) for row in conn.execute(sql)]
    import sqlite3

    lite = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in lite.execute(sql)]
    finally:
        lite.close()


def toml_settings(settings: dict[str, Any]) -> str:
    """`[switch]` lines naming the journal of `journal_settings`, for a configuration file."""
    if "journal_url" in settings:
        return (f'database = "{settings["journal_url"]}"\n'
                f'state_dir = "{settings["database"].parent}"\n')
    return f'database = "{settings["database"]}"\n'


_RAW: dict[int, Any] = {}


def raw(journal: Any) -> Any:
    """A connection of the test's own to `journal`'s database, speaking the journal's SQL
    (`switch/journal/sql/db.py`): the SQLite journal's own write connection, or a `PgDb` on
    the PostgreSQL database (for tests that tamper with rows behind the journal's back)."""
    from switch.journal.postgres.journal import PgJournal

    if not isinstance(journal, PgJournal):
        return journal.conn
    found = _RAW.get(id(journal))
    if found is None or found[0] is not journal:
        from switch.journal.postgres.connect import open_db

        found = _RAW[id(journal)] = (journal, open_db(journal._conninfo))
    return found[1]
