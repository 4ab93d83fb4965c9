"""Narrow mutmut's per-function test mapping: `python -m tests.money.mutation_narrow`.

mutmut runs, for each mutant, every test its statistics saw reach the mutant's function
(`mutants/mutmut-stats.json`, `tests_by_mangled_function_name`), fastest first. Two kinds of
test there cost a mutant much and kill nothing the others do not (docs/testing.md, "Mutation
testing"):

- a test's PostgreSQL variant (`[postgresql...]`, tests/engines.py): the core and the shared
  SQL layer are the same on SQLite, and each forked mutant would make its own cluster with
  `initdb` (the setup is not in the duration mutmut sorts by, so they look fast);
- the further parameters of a slow test (the simulation's seeds, 15 to 35 s each): the
  fastest of them stays, the others are dropped from the mapping.

Only the mapping changes: the tests stay in `duration_by_test`, so mutmut does not take them
for new tests and collect their statistics again, and its configuration (whose change would
reset every result) is untouched. Run before `mutmut run` (`make mutants-pending` does).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STATS = Path("mutants/mutmut-stats.json")
#: A test at least this slow (seconds of its call, as mutmut measured) keeps one parameter.
SLOW = 5.0


def base(test: str) -> str:
    """The test's node id without its parameters."""
    return test.split("[", 1)[0]


def narrow(tests: list[str], duration: dict[str, float]) -> list[str]:
    """`tests` without PostgreSQL variants and with one parameter of each slow test."""
    kept = [t for t in tests if "[postgresql" not in t]
    fastest: dict[str, str] = {}
    for t in kept:
        if "[" in t and duration.get(t, 0.0) >= SLOW:
            best = fastest.get(base(t))
            if best is None or duration.get(t, 0.0) < duration.get(best, 0.0):
                fastest[base(t)] = t
    return [t for t in kept
            if not ("[" in t and duration.get(t, 0.0) >= SLOW) or fastest[base(t)] == t]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else STATS
    if not path.is_file():
        print(f"no {path}: mutmut has not collected its statistics here yet (a new checkout: "
              "mutants/ is not in git); run it once on any one mutant first, e.g. "
              "`.venv/bin/mutmut run switch.journal.codec.x_undone__mutmut_1` (it mutates every "
              "file and times the selected tests)", file=sys.stderr)
        return 2
    stats = json.loads(path.read_text(encoding="utf-8"))
    duration: dict[str, float] = stats["duration_by_test"]
    mapping: dict[str, list[str]] = stats["tests_by_mangled_function_name"]
    before = sum(len(v) for v in mapping.values())
    stats["tests_by_mangled_function_name"] = {
        name: narrow(tests, duration) for name, tests in mapping.items()}
    after = sum(len(v) for v in stats["tests_by_mangled_function_name"].values())
    path.write_text(json.dumps(stats, indent=2), encoding="utf-8")
    print(f"{path}: {before} function-test pairs, {after} after narrowing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
