"""The documents a new operator follows: their example card numbers pass the Luhn check the
switch applies, and every page they point to exists; docs/testing.md names every mutant the
mutation runs left surviving."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from switch.core.luhn import luhn_ok
from tests.money.mutation_survivors import counted_survivors, explained, names_in

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "benches" / "README.md",
                *(ROOT / "docs").glob("*.md")])
#: A run of 13-19 digits standing alone is a card number in these pages.
PAN = re.compile(r"(?<![\w*])[0-9]{13,19}(?![\w*])")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_card_numbers_are_luhn_valid(page: Path) -> None:
    bad = [pan for pan in PAN.findall(page.read_text(encoding="utf-8")) if not luhn_ok(pan)]
    assert not bad, f"{page.name}: {bad} fail the Luhn check (switch.core.luhn)"


def test_the_pages_named_exist() -> None:
    named = {m for page in PAGES for m in re.findall(r"\bdocs/[a-z0-9-]+\.md\b",
                                                         page.read_text(encoding="utf-8"))}
    assert "docs/cli.md" in named
    assert [n for n in sorted(named) if not (ROOT / n).exists()] == []


def test_every_counted_survivor_is_named_with_its_reason() -> None:
    """docs/testing.md: each module's survivors in the per-module table are the ones
    "Survivors" names (tests/money/mutation_survivors.py reads both)."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    named = {module: reasons.total() for module, reasons in explained(text).items()}
    counted = {module: n for module, n in counted_survivors(text).items() if n or module in named}
    assert named == counted


def test_survivor_names_expand_as_the_page_writes_them() -> None:
    text = "\n".join([
        "| module | mutants | killed | timeout | survived | no tests | not run | other |",
        "| `switch/core/a.py` | 9 | 4 | 0 | 5 | 0 | 0 | 0 | 44.4 % | 1 |",
        "| `iso8583/b.py` | 9 | 8 | 0 | 1 | 0 | 0 | 0 | 88.9 % | 1 |",
        "",
        "### Survivors",
        "",
        "| survivors | mutation | why |",
        "| `switch.core.a.x_f__mutmut_2`, `_4` to `_6` (runs 1, `_9`); `x_g__mutmut_1` | m | "
        "equivalent: why |",
        "| `iso8583.b.xǁTǁdecode__mutmut_7`, `switch.core.a.x_f__mutmut_3` | m | killed in run 2 |",
        "| `iso8583.b.xǁTǁdecode__mutmut_7` | m | Not pinned: why |",
        "",
        "### What these runs found",
    ])
    assert names_in(text.splitlines()[7].split("|")[1]) == [
        ("switch.core.a", f"x_f__mutmut_{n}") for n in (2, 4, 5, 6)] + [
        ("switch.core.a", "x_g__mutmut_1")]
    assert counted_survivors(text) == {"switch.core.a": 5, "iso8583.b": 1}
    assert explained(text) == {"switch.core.a": Counter({"equivalent": 5}),
                               "iso8583.b": Counter({"not pinned": 1})}
