"""The PostgreSQL-only survivors, checked against tests/pg: `python -m tests.money.mutation_pg`.

Some money survivors are equivalent only on SQLite: they change what the journal does on
PostgreSQL, which the mutation runs never see (`mutation_narrow` drops tests/pg, whose
clusters would make each mutant's run minutes long). Their rows in docs/testing.md
("Survivors") say what tests/pg does with each, in words of the form
"`mutation_pg`: fails `tests/pg/test_bulk.py`" or "`mutation_pg`: passes `tests/pg/test_fetch.py`".
This runs each named mutant, in the `mutants/` directory the last `mutmut run` left, against
that file (`MUTANT_UNDER_TEST`, as mutmut activates one; each name first looked up there,
since an unknown one runs the code unmutated, and each file run without a mutant, which must
pass), and reports every mutant whose result is not the one its row says. Exit 1
on any. `--list` prints the plan without running.

Not run by `make test`: about ten seconds a mutant, each test run making its own cluster.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.money.mutation_survivors import DOC, names_in, section

ROOT = Path(__file__).resolve().parents[2]
_VERDICT = re.compile(r"`mutation_pg`: (?P<verdict>fails|passes) `(?P<test>tests/pg/\w+\.py)`")


def plan(text: str) -> list[tuple[str, str, bool]]:
    """(mutant, test file, whether the test must fail) for every row with a verdict."""
    out = []
    for line in section(text, "Survivors").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for verdict in _VERDICT.finditer(cells[2]):
            for module, mutant in names_in(cells[0]):
                out.append((f"{module}.{mutant}", verdict["test"], verdict["verdict"] == "fails"))
    return out


def made(mutants: Path, mutant: str) -> bool:
    """Whether `mutants/` holds `mutant` (module.function__mutmut_N) as mutmut wrote it."""
    module, function = mutant.rsplit(".", 1)
    source = mutants / (module.replace(".", "/") + ".py")
    return source.is_file() and f"def {function}(" in source.read_text(encoding="utf-8")


def run(mutants: Path, mutant: str, test: str) -> bool:
    """Whether `test` passes with `mutant` active in `mutants/` (none: "")."""
    env = dict(os.environ, MUTANT_UNDER_TEST=mutant, CI="true")
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           test], cwd=mutants, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{mutant}: pytest {test} exited {done.returncode}")
    return done.returncode == 0


def main(argv: list[str]) -> int:
    mutants = Path(next((a for a in argv if not a.startswith("--")), str(ROOT / "mutants")))
    todo = plan(DOC.read_text(encoding="utf-8"))
    if "--list" in argv:
        for mutant, test, fails in todo:
            print(f"{mutant}: {'fails' if fails else 'passes'} {test}")
        return 0
    missing = [mutant for mutant, _, _ in todo if not made(mutants, mutant)]
    if missing:  # an unknown name runs the code unmutated: it would pass as "passes"
        print(f"not in {mutants}: {', '.join(missing)}")
        return 1
    for test in sorted({test for _, test, _ in todo}):  # a failure must be the mutant's
        if not run(mutants, "", test):
            print(f"{test} fails without a mutant: nothing to compare")
            return 1
    wrong = []
    for mutant, test, fails in todo:
        started = time.monotonic()
        passed = run(mutants, mutant, test)
        ok = passed != fails
        print(f"{mutant}: {test} {'passed' if passed else 'failed'}"
              f"{'' if ok else ' (the page says otherwise)'}, {time.monotonic() - started:.1f} s",
              flush=True)
        if not ok:
            wrong.append(mutant)
    print(f"{len(todo)} mutants against tests/pg, {len(wrong)} not as docs/testing.md says")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
