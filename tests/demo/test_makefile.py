"""`make demo` installs from Debian only what the demo uses; `make test` still installs all."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.waits import START

ROOT = Path(__file__).resolve().parents[2]


def dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")  # the project's own two commands need it
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                          timeout=START, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def packages(plan: str) -> set[str]:
    """The Debian packages the plan's `debs` recipe checks (and installs when missing)."""
    found = re.findall(r"for p in ([^;]+); do dpkg -s", plan)
    assert len(found) == 1, plan
    return set(found[0].split())


def test_demo_installs_only_what_the_demo_needs() -> None:
    assert packages(dry_run("demo")) == {"pcscd", "vsmartcard-vpcd", "libpcsclite-dev", "swig"}


def test_test_installs_everything_the_tests_need() -> None:
    assert {"chromium", "chromium-driver", "mosquitto", "pcscd", "vsmartcard-vpcd"} <= packages(
        dry_run("test"))
