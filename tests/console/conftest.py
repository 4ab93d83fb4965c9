"""Fixtures of the console tests: a seeded database (built once per module) and a console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.support import Console, Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def console(env: Env) -> Iterator[Console]:
    with Console(env) as c:
        yield c
