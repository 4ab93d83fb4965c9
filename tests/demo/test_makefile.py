"""`make demo` installs from Debian only what the demo uses; `make test` still installs all;
the venv is made with Debian's python3.11 where the machine has it (the Makefile's header
says why; benches/README.md, "The interpreter")."""

from __future__ import annotations

import os
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
    assert packages(dry_run("demo")) == {"python3.11-venv", "python3.11-dev", "pcscd",
                                         "vsmartcard-vpcd", "libpcsclite-dev", "swig"}


def test_test_installs_everything_the_tests_need() -> None:
    assert {"chromium", "chromium-driver", "mosquitto", "pcscd", "vsmartcard-vpcd"} <= packages(
        dry_run("test"))


def venv_command(tmp_path: Path, *overrides: str) -> str:
    """The line of `make -n` that would create a venv in `tmp_path`."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS", "MFLAGS")}
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", f"VENV={venv}", *overrides, f"{venv}/.installed"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=START)
    made = [line for line in done.stdout.splitlines() if f"-m venv {venv}" in line]
    assert len(made) == 1, done.stdout
    return made[0]


def debian_python_ready() -> bool:
    """Whether /usr/bin/python3.11 has its venv module and headers (what the Makefile asks)."""
    probe = "import ensurepip, os, sysconfig; assert os.path.exists(os.path.join(" \
        "sysconfig.get_paths()['include'], 'Python.h'))"
    try:
        return subprocess.run(["/usr/bin/python3.11", "-c", probe], capture_output=True,
                              timeout=START, check=False).returncode == 0
    except FileNotFoundError:
        return False


def test_the_venv_is_made_with_debians_interpreter_where_it_exists(tmp_path: Path) -> None:
    if not debian_python_ready():
        # `make test` installs python3.11-venv and -dev as root (`debs`): CI has them
        if os.environ.get("CI") == "true":
            pytest.fail("no /usr/bin/python3.11 with its venv module and headers: "
                        "`make debs` as root installs them")
        pytest.skip("no Debian python3.11 with python3.11-venv and -dev on this machine")
    assert venv_command(tmp_path).endswith(f"|| /usr/bin/python3.11 -m venv {tmp_path}/venv")


def test_without_debians_interpreter_the_venv_is_made_with_python3_on_path(
        tmp_path: Path) -> None:
    line = venv_command(tmp_path, f"DEBIAN_PYTHON={tmp_path}/no-such-python")
    assert line.endswith(f"|| python3 -m venv {tmp_path}/venv")


def test_debians_interpreter_without_its_venv_module_or_headers_is_passed_over(
        tmp_path: Path) -> None:
    """A Debian python3.11 installed without python3.11-venv or -dev (`make` run as another
    user than root installs neither) could not make the venv or build pyscard."""
    lacking = tmp_path / "python3.11"
    lacking.write_text("#!/bin/sh\nexit 1\n")  # as `import ensurepip` fails there
    lacking.chmod(0o755)
    line = venv_command(tmp_path, f"DEBIAN_PYTHON={lacking}")
    assert line.endswith(f"|| python3 -m venv {tmp_path}/venv")


def test_a_python_named_by_the_caller_wins(tmp_path: Path) -> None:
    line = venv_command(tmp_path, "PYTHON=/opt/other/python3")
    assert line.endswith(f"|| /opt/other/python3 -m venv {tmp_path}/venv")
