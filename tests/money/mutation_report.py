"""The mutation run's results as Markdown, per module: `python -m tests.money.mutation_report`.

Reads what `mutmut run` left in `mutants/` (one `.meta` file of exit codes per module) and
prints the table docs/testing.md carries, then every survivor with its diff command. Optional
arguments are mutant-name globs (as given to `mutmut run`): only those mutants are counted.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

#: The modules that decide, store or settle money: the >= 95 % target is on these
#: (docs/testing.md, "Mutation testing").
MONEY = (
    "switch/core/authorizer.py", "switch/core/rules.py", "switch/core/model.py",
    "switch/core/calendar.py", "switch/core/admin.py", "switch/core/programs/club.py",
    "switch/core/programs/rules.py", "switch/core/programs/nightly.py", "switch/store.py",
    "settlement/netting.py", "settlement/reconcile.py", "settlement/expiry.py",
    "settlement/day.py", "settlement/journal.py", "settlement/records.py",
)
#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into the report's columns.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          37: "type check", None: "not run"}
COLUMNS = ("mutants", "killed", "timeout", "survived", "no tests", "not run", "other")


def status(code: int | None) -> str:
    return STATUS.get(code, "other")


def load(root: Path, globs: list[str]) -> dict[str, dict[str, int | None]]:
    """Module path -> {mutant name: exit code}, for the mutants matching `globs` (all: [])."""
    out: dict[str, dict[str, int | None]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        picked = {k: v for k, v in codes.items()
                  if not globs or any(fnmatch.fnmatch(k, g) for g in globs)}
        if picked:
            out[module] = picked
    return out


def row(name: str, counts: Counter[str]) -> str:
    total = sum(counts.values())
    run = total - counts["not run"] - counts["no tests"]
    killed = counts["killed"] + counts["timeout"]
    score = f"{100 * killed / run:.1f} %" if run else "-"
    cells = [str(total), *(str(counts[c]) for c in COLUMNS[1:])]
    return f"| {name} | {' | '.join(cells)} | {score} |"


def report(results: dict[str, dict[str, int | None]]) -> str:
    lines = ["| module | " + " | ".join(COLUMNS) + " | killed of run |",
             "|---|" + "---:|" * (len(COLUMNS) + 1)]
    money: Counter[str] = Counter()
    everything: Counter[str] = Counter()
    for module, codes in results.items():
        counts = Counter(status(c) for c in codes.values())
        lines.append(row(f"`{module}`", counts))
        everything += counts
        if module in MONEY:
            money += counts
    lines.append(row("**money modules**", money))
    lines.append(row("**all**", everything))
    survivors = [name for codes in results.values() for name, c in codes.items()
                 if status(c) == "survived"]
    if survivors:
        lines += ["", f"Survivors ({len(survivors)}; `mutmut show NAME` prints the diff):", ""]
        lines += [f"- `{name}`" for name in sorted(survivors)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    root = Path("mutants")
    if not root.is_dir():
        print("no mutants/ here: run `make mutants` first", file=sys.stderr)
        return 2
    print(report(load(root, argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
