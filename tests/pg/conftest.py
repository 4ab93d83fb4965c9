"""PostgreSQL fixtures for tests/pg (tests/pg/fixtures.py), and the simulation journaled on both
engines (tests/pg/simulated.py)."""

from tests.pg.fixtures import *  # noqa: F403
from tests.pg.simulated import both

__all__ = ["both"]
