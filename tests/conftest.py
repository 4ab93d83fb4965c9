"""Fixtures every test directory may use: both journal engines (tests/engines.py) and the
PostgreSQL server they need (tests/pg/fixtures.py; started only when a test asks for it)."""

from tests.engines import engine, journal_settings
from tests.pg.fixtures import *  # noqa: F403

__all__ = ["engine", "journal_settings"]
