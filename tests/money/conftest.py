"""Fixtures of the money tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.money.support import Shell, scratch_dir


@pytest.fixture
def sh() -> Iterator[Shell]:
    """The example's switch on a throw-away journal, its three terminals signed on."""
    with scratch_dir() as path:
        shell = Shell(path / "lps.db")
        yield shell
        shell.close()
