"""A card on first use: enrolled only in its coalition's BIN range while the coalition
auto-enrols, on the business day, whatever the request (docs/switch.md "Decisions", Card).

Each case ends with a restart: recovery must give the live state (tests/money/support.py), so a
card enrolled in the journal but not in memory, or the other way round, fails there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.money.support import Shell, points_balance, rc, scratch_dir
from tests.switch.support import NOW, T1, card, earn, example_config, inquiry

IN_RANGE = card(701)
#: Luhn-valid, outside the example coalition's one BIN (628000).
OUT_OF_RANGE = card(702, bin_="627999")


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def enrolled(sh: Shell) -> list[tuple[object, ...]]:
    return sh.sql("SELECT pan, coalition_id, status, enrolled_on FROM cards ORDER BY pan")


def test_a_card_outside_the_coalitions_bins_is_14_and_not_enrolled(db: Path) -> None:
    """docs/switch.md, Card: a card not enrolled whose BIN is not in the store's coalition is
    `14`, even where the coalition auto-enrols; nothing is written of it."""
    sh = Shell(db)
    assert rc(sh.send(earn(T1, sh.next_stan(), OUT_OF_RANGE, 100_000))) == "14"
    assert rc(sh.send(inquiry(T1, sh.next_stan(), OUT_OF_RANGE))) == "14"
    assert enrolled(sh) == []
    sh.restart(NOW)
    assert rc(sh.send(inquiry(T1, sh.next_stan(), OUT_OF_RANGE))) == "14"
    sh.close()


def test_without_auto_enrol_a_card_of_the_bin_range_is_14(db: Path) -> None:
    """docs/switch.md, Card: enrolled on first use only when the coalition has `auto_enroll`;
    without it a card of its BIN range that nobody enrolled is `14`."""
    cfg = example_config(db)
    closed = dataclasses.replace(cfg.coalitions["tehran-mall"], auto_enroll=False)
    cfg = dataclasses.replace(cfg, coalitions={"tehran-mall": closed})
    sh = Shell(db, cfg=cfg)
    assert rc(sh.send(earn(T1, sh.next_stan(), IN_RANGE, 100_000))) == "14"
    assert enrolled(sh) == []
    sh.close()


def test_a_first_use_inquiry_enrols_the_card_on_the_business_day(db: Path) -> None:
    """docs/switch.md, Card, and "The journal" (`cards`): an inquiry is a first use like any
    other: `00` with a balance of 0, the card enrolled active in the coalition on the business
    day (NOW is 13:30 in Tehran, before the 23:30 cut-over), in memory as in the journal."""
    sh = Shell(db)
    shown = sh.send(inquiry(T1, sh.next_stan(), IN_RANGE))
    assert (rc(shown), points_balance(shown)) == ("00", 0)
    assert enrolled(sh) == [(IN_RANGE, "tehran-mall", "active", "2026-11-23")]
    sh.restart(NOW)
    assert rc(sh.send(earn(T1, sh.next_stan(), IN_RANGE, 100_000))) == "00"
    assert enrolled(sh) == [(IN_RANGE, "tehran-mall", "active", "2026-11-23")]
    sh.close()


def test_a_first_use_card_with_an_expired_de14_is_54_and_enrolled(db: Path) -> None:
    """docs/switch.md, Card: DE14 before this month is `54`; the card is enrolled on first use
    all the same (a decline keeps the enrolment), in memory as in the journal. A gift card's
    first sale is the one request that makes no card when declined (docs/protocol.md §4)."""
    sh = Shell(db)
    expired = earn(T1, sh.next_stan(), IN_RANGE, 100_000, extra={14: "2610"})
    assert rc(sh.send(expired)) == "54"
    assert enrolled(sh) == [(IN_RANGE, "tehran-mall", "active", "2026-11-23")]
    sh.restart(NOW)
    shown = sh.send(inquiry(T1, sh.next_stan(), IN_RANGE))
    assert (rc(shown), points_balance(shown)) == ("00", 0)
    sh.close()
