"""The Makefile's choice of interpreter for the venv: Debian's python3.11 where the machine has
it, else the first python3 on PATH (the Makefile's header says why; benches/README.md, "The
interpreter"). Read from what `make -n` would run for a venv that does not exist yet."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")


def venv_command(tmp_path: Path, *overrides: str) -> str:
    """The line of `make -n` that would create a venv in `tmp_path`."""
    assert MAKE is not None, "make is not installed"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS", "MFLAGS")}
    venv = tmp_path / "venv"
    done = subprocess.run(
        [MAKE, "--no-print-directory", "-n", f"VENV={venv}", *overrides, f"{venv}/.installed"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60)
    made = [line for line in done.stdout.splitlines() if f"-m venv {venv}" in line]
    assert len(made) == 1, done.stdout
    return made[0]


@pytest.mark.skipif(not Path("/usr/bin/python3.11").exists(),
                    reason="no Debian python3.11 on this machine")
def test_the_venv_is_made_with_debians_interpreter_where_it_exists(tmp_path: Path) -> None:
    assert venv_command(tmp_path).endswith(f"|| /usr/bin/python3.11 -m venv {tmp_path}/venv")


def test_without_debians_interpreter_the_venv_is_made_with_python3_on_path(
        tmp_path: Path) -> None:
    line = venv_command(tmp_path, f"DEBIAN_PYTHON={tmp_path}/no-such-python")
    assert line.endswith(f"|| python3 -m venv {tmp_path}/venv")


def test_a_python_named_by_the_caller_wins(tmp_path: Path) -> None:
    line = venv_command(tmp_path, "PYTHON=/opt/other/python3")
    assert line.endswith(f"|| /opt/other/python3 -m venv {tmp_path}/venv")
