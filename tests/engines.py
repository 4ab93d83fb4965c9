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
