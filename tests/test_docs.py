"""The documents a new operator follows: their example card numbers pass the Luhn check the
switch applies, and every page they point to exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from switch.core.luhn import luhn_ok

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
