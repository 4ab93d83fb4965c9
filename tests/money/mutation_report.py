"""The mutation run's results as Markdown, per module: `python -m tests.money.mutation_report`.

Reads what `mutmut run` left in `mutants/` (one `.meta` file of exit codes per module) and
prints the table docs/testing.md carries, then every survivor with its diff command. Optional
arguments are mutant-name globs (as given to `mutmut run`): only those mutants are counted.
`--pending GLOB...` prints instead, one a line, the money mutants matching the globs that no
run has decided (mutmut reruns every mutant a glob names, killed or not; `make mutants-pending`
gives it these names only).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

#: The money code (docs/testing.md, "The money modules"): file -> the functions counted, as
#: mutmut names them (`x_name` for a function, `xǁClassǁname` for a method; globs), "*" every
#: function of the file. The >= 95 % target is on these. `[tool.mutmut] only_mutate` lists the
#: same files: repoint both when a module moves.
MONEY: dict[str, tuple[str, ...]] = {
    **{f"switch/core/{name}.py": ("*",) for name in (
        "financial", "earn", "redeem", "returns", "reversal", "stored_value", "batch", "ledger",
        "limits", "apply", "outcome", "needs", "rules", "model", "calendar", "coupon",
        "gift_card", "card_store")},
    # a coupon's discount (the rest of rewards.py is plain records)
    "switch/core/rewards.py": ("xǁCouponTermsǁdiscount",),
    # the journal: the rows a group commit writes and their append, the rows a decision reads
    # (fetch), what a restart recovers, the verified checkpoint and the full check
    "switch/journal/batch.py": ("x_batch_rows",),
    # the codec: a reversal's `undone`, and the encoder of every row's reply and detail
    "switch/journal/codec.py": ("x_undone", "x__encoder", "x__no_default"),
    "switch/journal/sql/append.py": ("*",),
    "switch/journal/sql/fetch.py": ("*",),
    "switch/journal/sql/recover.py": ("*",),
    "switch/journal/sql/verify.py": (
        "x_verify", "x_advance", "x_verified_upto", "x_check_invariants", "x_check_batch_totals",
        "x_check_checkpoint", "x_check"),
    "switch/journal/sql/journal.py": (
        "xǁSqlJournalǁappend", "xǁSqlJournalǁ_commit_group", "xǁSqlJournalǁ_write_group",
        "xǁSqlJournalǁ_advance_in",
        "xǁSqlJournalǁfetch",
        "xǁSqlJournalǁ_apply_advance"),
    "switch/journal/sql/common.py": ("x_lot", "x_card_lots", "x_live_lots"),
    # PostgreSQL's group commit: a batch's rows made one per key (its statements run only
    # against a server, in tests/pg, outside the selection)
    "switch/journal/sql/bulk.py": ("x_last_per_key", "x_summed_per_key", "x_lot_deltas",
                                   "x_card_rows"),
    **{f"settlement/{name}.py": ("*",) for name in ("netting", "reconcile", "expiry")},
    # the fee of a day (the month's days of `lps report --month` are the command's)
    "settlement/fees.py": ("x_activity_of", "x_month_of", "x_is_month_end", "x_day_lines"),
    # the codec's length checks: length prefixes, field sizes, frames
    "iso8583/fields.py": (
        "xǁFieldCodecǁ_read_prefix", "xǁFieldCodecǁ_write_prefix", "xǁFieldCodecǁ_quick_prefix",
        "xǁFieldCodecǁdecode", "xǁFieldCodecǁencode", "xǁ*ǁbody_size", "xǁ*ǁdecode",
        "xǁ*ǁencode", "x__fit_fixed_digits"),
    "iso8583/framing.py": ("*",),
}
#: mutmut's exit codes (mutmut.stats.status_by_exit_code), folded into the report's columns.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          37: "type check", None: "not run"}
COLUMNS = ("mutants", "killed", "timeout", "survived", "no tests", "not run", "other")


def status(code: int | None) -> str:
    return STATUS.get(code, "other")


def is_money(module: str, mutant: str) -> bool:
    """Whether `mutant` (mutmut's name) is in the money code of `module` (a file path)."""
    functions = MONEY.get(module)
    if functions is None:
        return False
    if functions == ("*",):
        return True
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    return any(fnmatch.fnmatch(mutant, f"{prefix}{f}__mutmut_*") for f in functions)


def load(root: Path, globs: list[str]) -> tuple[dict[str, dict[str, int | None]],
                                                dict[str, float]]:
    """Module path -> {mutant name: exit code}, for the mutants matching `globs` (all: []),
    and module path -> seconds its mutants' test runs took (added up, not wall time). The
    money code of a module is under its path; the rest of it under "path (other)"."""
    out: dict[str, dict[str, int | None]] = {}
    seconds: dict[str, float] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        durations = data.get("durations_by_key", {})
        for k, v in data["exit_code_by_key"].items():
            if globs and not any(fnmatch.fnmatch(k, g) for g in globs):
                continue
            where = module if is_money(module, k) else f"{module} (other)"
            out.setdefault(where, {})[k] = v
            seconds[where] = seconds.get(where, 0.0) + float(durations.get(k) or 0)
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
        if module in MONEY:  # its money functions (the rest is "(other)")
            money += counts
            money_s += seconds.get(module, 0.0)
    lines.append(row("**money modules**", money, money_s))
    lines.append(row("**all**", everything, all_s))
    survivors = [name for module, codes in results.items() if module in MONEY
                 for name, c in codes.items() if status(c) == "survived"]
    if survivors:
        lines += ["", f"Survivors in the money code ({len(survivors)}; `mutmut show NAME` "
                  "prints the diff):", ""]
        lines += [f"- `{name}`" for name in sorted(survivors)]
    return "\n".join(lines)


def pending(results: dict[str, dict[str, int | None]]) -> list[str]:
    """The money mutants no run has decided (not run, or dropped when their function changed)."""
    return sorted(name for module, codes in results.items() if module in MONEY
                  for name, c in codes.items() if c is None)


def main(argv: list[str]) -> int:
    root = Path("mutants")
    if not root.is_dir():
        print("no mutants/ here: run `make mutants` first", file=sys.stderr)
        return 2
    if argv[:1] == ["--pending"]:
        print("\n".join(pending(load(root, argv[1:])[0])))
        return 0
    print(report(*load(root, argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
