"""Benchmark plumbing: collect bench_*.py, run pyiso8583 in its own environment, summarize.

pyiso8583 is also imported as `iso8583`, so it lives in a separate virtual environment,
.venv-peer, created here on first use (no make target needed). Its figures come from
tools/pyiso8583_peer/bench_peer.py run in a subprocess before our benchmarks start, and each
of our benchmarks records the ratio ours/pyiso8583 in its extra_info and in a summary line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEER_VENV = ROOT / ".venv-peer"
PEER_PACKAGE = "pyiso8583==4.0.1"
PEER_SCRIPT = ROOT / "tools" / "pyiso8583_peer" / "bench_peer.py"
PEER_SECONDS = 1.0
# The benchmarks import `benches.*` helpers (benches/loadgen/cpu.py) as `python -m` runs do.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# (profile, direction, implementation, ours messages/s, pyiso8583 messages/s)
RESULTS: list[tuple[str, str, str, float, float]] = []


def _peer_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-I", "-c",
         "import importlib.metadata as m; print(m.version('pyiso8583'))"],
        capture_output=True, text=True, check=False, cwd=BENCH_DIR.anchor, timeout=60)
    return probe.stdout.strip() if probe.returncode == 0 else None


def base_python() -> str:
    """The interpreter our own venv was made from, for the peer's: a ratio between two
    interpreter builds would measure the builds (benches/README.md, "The interpreter")."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / version
    return str(base) if base.exists() else shutil.which("python3") or sys.executable


def peer_python(venv: Path = PEER_VENV, package: str = PEER_PACKAGE) -> Path:
    """The python of `venv` with pyiso8583 installed, creating the environment if missing."""
    python = venv / "bin" / "python"
    wanted = package.split("==", 1)[1]
    if _peer_version(python) == wanted:
        return python
    if not python.exists():
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "install", "-q", package], check=True,
                   timeout=600)
    if _peer_version(python) != wanted:
        raise RuntimeError(f"{venv}: {package} did not install")
    return python


def run_peer_bench(seconds: float = PEER_SECONDS) -> dict[str, Any]:
    """pyiso8583's figures: {"profiles": {profile: {"decode"|"encode": {...}}}, ...}."""
    python = peer_python()
    done = subprocess.run([str(python), "-I", str(PEER_SCRIPT), "--seconds", str(seconds)],
                          capture_output=True, text=True, check=False, cwd=BENCH_DIR.anchor,
                          timeout=600)
    if done.returncode:
        raise RuntimeError(f"bench_peer.py failed ({done.returncode}): {done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect benches/bench_*.py (pytest's default pattern is test_*.py)."""
    if (file_path.parent == BENCH_DIR and file_path.name.startswith("bench_")
            and file_path.suffix == ".py" and not parent.session.isinitpath(file_path)):
        module: pytest.Module = pytest.Module.from_parent(parent, path=file_path)
        return module
    return None


@pytest.fixture(scope="session")
def peer_figures() -> dict[str, Any]:
    return run_peer_bench()


@pytest.fixture(scope="session")
def results() -> list[tuple[str, str, str, float, float]]:
    return RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    terminalreporter.section("LPS codec vs pyiso8583 (messages/s, median round)")
    for profile, direction, impl, ours, peer in RESULTS:
        terminalreporter.write_line(
            f"{profile:<5} {direction:<6} {impl:<9} ours {ours:>10,.0f}  pyiso8583 "
            f"{peer:>10,.0f}  ratio {ours / peer:5.2f}x"
            + ("" if impl != "fast" or ours >= peer else "  BELOW TARGET (1x)"))
