"""Fixtures of the console tests: a seeded database, a console, and for the browser tests
headless Chromium and the folder their screenshots go to (printed at the end of the run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.support import Console, Env, make_env
from tests.console.webdriver import Browser, find_browser, required


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def console(env: Env) -> Iterator[Console]:
    with Console(env) as c:
        yield c


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless Chromium over chromedriver (Debian's `chromium`, `chromium-driver`): skipped
    without them, a failure under CI=true."""
    found = find_browser()
    if found is None:
        if required():
            pytest.fail("chromium and chromedriver are required under CI=true "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("chromium/chromedriver not installed")
    b = Browser(*found)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for this test's screenshots: under $LPS_SCREENSHOTS when set (kept), else
    under pytest's temporary directory (its last three runs are kept)."""
    name = str(request.node.name).replace("[", "-").replace("]", "")
    root = os.environ.get("LPS_SCREENSHOTS")
    if root:
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp(f"screenshots-{name}-", numbered=True)
    # A report's user properties reach the controller from pytest-xdist's workers too.
    request.node.user_properties.append(("screenshots", str(folder)))
    print(f"screenshots in {folder}")
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every folder this run's browser tests wrote screenshots into."""
    said: set[str] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", ()):
                folder = Path(value)
                if key == "screenshots" and value not in said and folder.is_dir() \
                        and any(folder.iterdir()):
                    said.add(value)
                    terminalreporter.write_line(f"console screenshots: {folder}")
