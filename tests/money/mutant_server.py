"""Runs sampled mutants for tests/money/test_mutation_sample.py, one fork per mutant.

Started with the working directory at an overlay (a private copy of the source packages), it
imports the heavy third-party modules once, then for each job read from stdin (one JSON line:
`path`, `snippet`, `replacement`, `tests`) patches the overlay's file, forks a child that runs
pytest on the named tests (importing the project's packages fresh, from the overlay), restores
the file and writes one JSON line: the child's exit code and the end of its output. Nothing of
the project is imported here before the fork, so every child sees the patched source.

The pytest plugins are imported here too: pytest rewrites the asserts of a plugin it imports
itself, which cost each child about a second; one imported already is used as it is.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import _hypothesis_pytestplugin  # type: ignore[import-untyped]  # noqa: F401  (pytest's plugins)
import anyio.pytest_plugin  # noqa: F401
import construct  # noqa: F401  (imported once, shared by every child)
import cryptography.hazmat.primitives.ciphers  # noqa: F401
import hypothesis  # noqa: F401
import platformdirs  # noqa: F401
import pytest
import pytest_benchmark.plugin  # noqa: F401
import pytest_timeout  # type: ignore[import-untyped]  # noqa: F401
import sqlite_utils  # noqa: F401

PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "--hypothesis-seed=0", "-o", "addopts=",
               "-W", "ignore::pytest.PytestAssertRewriteWarning"]


def run_job(job: dict[str, object], log: Path) -> int:
    snippet, replacement = str(job.get("snippet", "")), str(job.get("replacement", ""))
    target = Path(str(job["path"])) if snippet else None
    original = target.read_text(encoding="utf-8") if target else ""
    if target:
        target.write_text(original.replace(snippet, replacement, 1), encoding="utf-8")
    try:
        pid = os.fork()
        if pid == 0:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = 3
            try:
                code = int(pytest.main([*PYTEST_ARGS, *map(str, job["tests"])]))  # type: ignore[call-overload]
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    finally:
        if target:
            target.write_text(original, encoding="utf-8")


def main() -> int:
    sys.path.insert(0, os.getcwd())
    with tempfile.TemporaryDirectory(prefix="lps-mutant-log-") as tmp:
        log = Path(tmp) / "out.txt"
        for line in sys.stdin:
            if not line.strip():
                continue
            code = run_job(json.loads(line), log)
            output = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
            print(json.dumps({"exit": code, "output": output[-3000:]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
