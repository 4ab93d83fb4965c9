"""A fixed sample of realistic money bugs (tests/money/mutants.py), each of which must be caught.

The full mutation run (`make mutants`, docs/testing.md) is too slow for every change; this
sample runs in `make test` so that a change that weakens the money tests is seen at once. Each
mutant is applied to a private copy of the source packages (an overlay that comes first on the
import path of a child pytest), and only the tests it names are run: they must fail. The same
tests must pass on the unmutated overlay first, or a "kill" would mean nothing.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.money.mutants import SAMPLE, Mutant

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("switch", "settlement", "iso8583")
#: What the child pytest needs beside the packages, linked rather than copied.
LINKED = ("tests", "schemas", "examples", "pyproject.toml")
WORKERS = 2


def snippet_problem(m: Mutant) -> str:
    """Why a mutant cannot be applied ("" when its snippet is in its file exactly once)."""
    path = ROOT / m.path
    if not path.exists():
        return f"mutant {m.name!r}: {m.path} does not exist; update tests/money/mutants.py"
    found = path.read_text(encoding="utf-8").count(m.snippet)
    if found != 1:
        return (f"mutant {m.name!r}: its snippet is in {m.path} {found} times, not once; the "
                f"code it guards ({m.why}) moved: update the snippet in tests/money/mutants.py "
                f"to the new code.\nSnippet: {m.snippet!r}")
    return ""


def test_every_snippet_is_in_its_file_once() -> None:
    problems = [p for p in map(snippet_problem, SAMPLE) if p]
    assert not problems, "\n".join(problems)


def test_the_sample_names_distinct_mutants_and_existing_tests() -> None:
    assert len({m.name for m in SAMPLE}) == len(SAMPLE)
    for m in SAMPLE:
        assert m.snippet != m.replacement, m.name
        for test in m.tests:
            assert (ROOT / test.split("::")[0]).exists(), (m.name, test)


def make_overlay(base: Path) -> Path:
    """A private copy of the packages, compiled once. The bytecode is checked against a hash
    of its source at every import, so the one file a mutant changes is compiled afresh and
    the rest is not compiled again by every child."""
    base.mkdir()
    for package in PACKAGES:
        shutil.copytree(ROOT / package, base / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(base / package, quiet=1,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    for name in LINKED:
        (base / name).symlink_to(ROOT / name)
    return base


class Server:
    """A `tests/money/mutant_server.py` process working in one overlay."""

    def __init__(self, overlay: Path) -> None:
        self.overlay = overlay
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, str(overlay / "tests" / "money" / "mutant_server.py")],
            cwd=overlay, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, tests: tuple[str, ...], m: Mutant | None = None) -> tuple[int, str]:
        """(pytest's exit code, the end of its output) for `tests`, with `m` applied."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {"path": m.path if m else "", "snippet": m.snippet if m else "",
               "replacement": m.replacement if m else "", "tests": list(tests)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the mutant server exited ({self.proc.wait()})")
        answer = json.loads(line)
        return int(answer["exit"]), str(answer["output"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def try_mutant(server: Server, m: Mutant) -> str:
    """"" when the mutant is killed, else why the sample fails on it."""
    code, output = server.run(m.tests, m)
    if code == 1:
        return ""
    if code == 0:
        return f"SURVIVED {m.name} ({m.path}: {m.why}): {', '.join(m.tests)} still pass"
    return f"mutant {m.name}: pytest exited {code} (not a test failure):\n{output}"


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Server]]:
    with tempfile.TemporaryDirectory(prefix="lps-mutants-") as tmp:
        started = [Server(make_overlay(Path(tmp) / f"w{i}")) for i in range(WORKERS)]
        try:
            yield started
        finally:
            for server in started:
                server.close()


def test_the_named_tests_pass_without_a_mutant(servers: list[Server]) -> None:
    tests = sorted({t for m in SAMPLE for t in m.tests})
    code, output = servers[0].run(tuple(tests))
    assert code == 0, output


def test_every_sampled_mutant_is_killed(servers: list[Server]) -> None:
    problems = [p for p in map(snippet_problem, SAMPLE) if p]
    assert not problems, "\n".join(problems)
    queue = list(SAMPLE)

    def work(server: Server) -> list[str]:
        out = []
        while queue:
            try:
                m = queue.pop()
            except IndexError:
                break
            out.append(try_mutant(server, m))
        return out

    with ThreadPoolExecutor(len(servers)) as pool:
        results = [r for part in pool.map(work, servers) for r in part]
    assert len(results) == len(SAMPLE)
    failures = [r for r in results if r]
    assert not failures, "\n".join(failures)
