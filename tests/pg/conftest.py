"""PostgreSQL fixtures for tests/pg (tests/pg/fixtures.py)."""

from tests.pg.fixtures import *  # noqa: F403
