"""Settings and fixtures for the whole suite.

Fixtures every test directory may use: both journal engines (tests/engines.py) and the
PostgreSQL server they need (tests/pg/fixtures.py; started only when a test asks for it).

Hypothesis times each example (a 200 ms deadline) and the generation of its data (the
`too_slow` health check) by default: on a loaded CI machine both fail tests that are only slow.
The suite's property tests check results, never speed, so neither applies to any of them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from tests.engines import engine, journal_settings
from tests.pg.fixtures import *  # noqa: F403

settings.register_profile("lps", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lps")

__all__ = ["engine", "journal_settings"]
