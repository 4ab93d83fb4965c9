"""docs/testing.md's survivors, counted: `python -m tests.money.mutation_survivors`.

"Every survivor explained" (docs/testing.md, "Survivors") is a claim about two tables: the
per-module table counts each module's survivors from mutmut's results, and the "Survivors"
table names each one with why no test kills it. This reads both and prints, per module, how
many survivors are named and under which reason: `equivalent` (no test can tell the mutant
from the code, an assertion that cannot fire among them), `not pinned` (text or figures
docs/ do not define), `other`; tests/test_docs.py fails when a module's named survivors are
not exactly the table's count. `--against mutants/` compares the page with a run's results
instead: a money survivor there that the page does not name, or one it names that was killed.

The first column of a "Survivors" row names mutants the way mutmut does
(`switch.core.reversal.x_decide__mutmut_8`), then shortened: `x_need__mutmut_4` in the module
named last, `_25` in the function named last, `_11` to `_13` a range; text in parentheses is a
remark. A row whose reason starts "killed" lists mutants a test now kills, and one starting
"\"no tests\"" mutants a later row names again with their result; neither counts.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from tests.money.mutation_report import MONEY, load, status

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"

_MODULE_ROW = re.compile(
    r"\| `(?P<path>[\w/]+)\.py` \| (?P<mutants>\d+) \| \d+ \| \d+ \| (?P<survived>\d+) "
    r"\| \d+ \| \d+ \| (?P<other>\d+) \|")
_FULL = re.compile(r"(?P<module>[\w.]+)\.(?P<function>x[\wǁ]*__mutmut_)(?P<n>\d+)")
_IN_MODULE = re.compile(r"(?P<function>x[\wǁ]*__mutmut_)(?P<n>\d+)")
_IN_FUNCTION = re.compile(r"_(?P<n>\d+)")
_NAME = re.compile(r"`(?P<name>[^`]+)`(?P<to> to (?=`_\d+`))?")


def section(text: str, heading: str) -> str:
    """The text under a `### ` heading, up to the next one."""
    return text.split(f"\n### {heading}\n", 1)[1].split("\n### ", 1)[0]


def counted_survivors(text: str) -> dict[str, int]:
    """Module (dotted) -> survivors plus "other" as the per-module table gives them."""
    rows = (_MODULE_ROW.match(line) for line in text.splitlines())
    return {m["path"].replace("/", "."): int(m["survived"]) + int(m["other"]) for m in rows if m}


def reason_of(why: str) -> str | None:
    """The kind of a row's reason; None for a row whose mutants do not survive (killed, no
    tests, or gone: numbers of a function since changed, whose mutants a later run decided)."""
    lowered = why.lower()
    if lowered.startswith(("killed", '"no tests"', "gone")):
        return None
    if lowered.startswith("equivalent") or lowered.startswith("the assertion cannot fire"):
        return "equivalent"
    if lowered.startswith("not pinned"):
        return "not pinned"
    return "other"


def names_in(cell: str) -> list[tuple[str, str]]:
    """(module, mutant) for every mutant a row's first cell names, ranges expanded."""
    while re.search(r"\([^()]*\)", cell):
        cell = re.sub(r"\([^()]*\)", "", cell)
    found: list[tuple[str, str]] = []
    module = function = ""
    pending_from: int | None = None
    for m in _NAME.finditer(cell):
        name = m["name"]
        if full := _FULL.fullmatch(name):
            module, function, n = full["module"], full["function"], int(full["n"])
        elif (short := _IN_MODULE.fullmatch(name)) and module:
            function, n = short["function"], int(short["n"])
        elif (shorter := _IN_FUNCTION.fullmatch(name)) and function:
            n = int(shorter["n"])
        else:
            continue
        first = n if pending_from is None else pending_from + 1
        found += [(module, f"{function}{k}") for k in range(first, n + 1)]
        pending_from = n if m["to"] else None
    return found


def named_survivors(text: str) -> dict[str, str]:
    """Mutant name -> the kind of reason the "Survivors" table gives it (the last row naming
    a mutant decides: a later run's row corrects an earlier one's)."""
    reason_by_mutant: dict[str, str] = {}
    for line in section(text, "Survivors").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        reason = reason_of(cells[2])
        for module, mutant in names_in(cells[0]):
            if reason is None:
                reason_by_mutant.pop(f"{module}.{mutant}", None)
            else:
                reason_by_mutant[f"{module}.{mutant}"] = reason
    return reason_by_mutant


def explained(text: str) -> dict[str, Counter[str]]:
    """Module -> reason -> how many distinct survivors the "Survivors" table names."""
    per_module: dict[str, Counter[str]] = {}
    for name, reason in named_survivors(text).items():
        module = name.rsplit(".", 1)[0]  # the mutant's own name has no dot
        per_module.setdefault(module, Counter())[reason] += 1
    return per_module


def against(text: str, root: Path) -> list[str]:
    """What a `mutants/` directory's results say against the page: money survivors it does not
    name, and named survivors that directory decided otherwise."""
    named = named_survivors(text)
    problems = []
    for module, codes in load(root, [])[0].items():
        if module not in MONEY:
            continue
        for mutant, code in sorted(codes.items()):
            result = status(code)
            if result in ("survived", "other") and mutant not in named:
                problems.append(f"{mutant}: {result}, not named in \"Survivors\"")
            elif result in ("killed", "timeout") and mutant in named:
                problems.append(f"{mutant}: named as {named[mutant]}, but {result}")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["--against"]:
        problems = against(DOC.read_text(encoding="utf-8"), Path(argv[1]))
        print("\n".join(problems) or f"{argv[1]}: every money survivor is named, none killed")
        return 1 if problems else 0
    text = (Path(argv[0]) if argv else DOC).read_text(encoding="utf-8")
    counted = counted_survivors(text)
    named = explained(text)
    totals: Counter[str] = Counter()
    unlisted = 0
    print("| module | survivors counted | named | equivalent | not pinned | other |")
    print("|---|---:|---:|---:|---:|---:|")
    for module in sorted(set(counted) | set(named)):
        reasons = named.get(module, Counter())
        totals.update(reasons)
        unlisted += abs(counted.get(module, 0) - reasons.total())
        print(f"| `{module}` | {counted.get(module, 0)} | {reasons.total()} | "
              f"{reasons['equivalent']} | {reasons['not pinned']} | {reasons['other']} |")
    print(f"| **all** | {sum(counted.values())} | {totals.total()} | {totals['equivalent']} | "
          f"{totals['not pinned']} | {totals['other']} |")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
