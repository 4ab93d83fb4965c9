"""Rejects: requests refused before they are decided (docs/switch.md "Decisions",
Idempotency; docs/protocol.md §4-§5): journaled for audit with the time of the decision and the
reason, never remembered, changing nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.switch.support import NOW, T1, card, request

A = card(801)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def test_an_unsupported_processing_code_is_a_journaled_reject_decided_again(db: Path) -> None:
    """docs/protocol.md §4: the `12` of an unsupported processing code is a reject: journaled
    (docs/switch.md "The journal": kind `reject`, `at` the switch's time of the decision, the
    business day, `detail` `{"reason"}` naming the code), not remembered (sent again, it is
    decided again: a new DE37), and no card is enrolled by it."""
    sh = Shell(db)
    msg = request("0200", T1, sh.next_stan(), pan=A, pc="123456", amount=1_000)
    first = sh.send(msg)
    assert rc(first) == "12"
    (kind, at, day, detail), = sh.sql(
        "SELECT kind, at, business_day, detail FROM journal WHERE id = ?", (int(rrn(first)),))
    assert (kind, str(day)) == ("reject", "2026-11-23")
    when = dt.datetime.fromisoformat(str(at))
    assert (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) == NOW
    assert "123456" in json.loads(str(detail))["reason"]
    again = sh.send(msg)
    assert rc(again) == "12" and rrn(again) != rrn(first)
    assert sh.sql("SELECT pan FROM cards") == []
    sh.close()
