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


def load(root: Path, globs: list[str]) -> tuple[dict[str, dict[str, int | None]],
                                                dict[str, float]]:
    """Module path -> {mutant name: exit code}, for the mutants matching `globs` (all: []),
    and module path -> seconds its mutants' test runs took (added up, not wall time)."""
    out: dict[str, dict[str, int | None]] = {}
    seconds: dict[str, float] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        picked = {k: v for k, v in data["exit_code_by_key"].items()
                  if not globs or any(fnmatch.fnmatch(k, g) for g in globs)}
        if picked:
            out[module] = picked
            durations = data.get("durations_by_key", {})
            seconds[module] = sum(float(durations.get(k) or 0) for k in picked)
    return out, seconds


def row(name: str, counts: Counter[str], seconds: float) -> str:
    total = sum(counts.values())
    run = total - counts["not run"] - counts["no tests"]
    killed = counts["killed"] + counts["timeout"]
    score = f"{100 * killed / run:.1f} %" if run else "-"
    cells = [str(total), *(str(counts[c]) for c in COLUMNS[1:])]
    return f"| {name} | {' | '.join(cells)} | {score} | {seconds:.0f} |"


def report(results: dict[str, dict[str, int | None]], seconds: dict[str, float]) -> str:
    lines = ["| module | " + " | ".join(COLUMNS) + " | killed of run | test seconds |",
             "|---|" + "---:|" * (len(COLUMNS) + 2)]
    money: Counter[str] = Counter()
    everything: Counter[str] = Counter()
    money_s = all_s = 0.0
    for module, codes in results.items():
        counts = Counter(status(c) for c in codes.values())
        lines.append(row(f"`{module}`", counts, seconds.get(module, 0.0)))
        everything += counts
        all_s += seconds.get(module, 0.0)
        if module in MONEY:
            money += counts
            money_s += seconds.get(module, 0.0)
    lines.append(row("**money modules**", money, money_s))
    lines.append(row("**all**", everything, all_s))
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
    print(report(*load(root, argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
