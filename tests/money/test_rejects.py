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


@pytest.mark.parametrize(("pc", "tags"), [
    ("940000", {"DP": "12a"}),              # not 1-12 ASCII digits
    ("940000", {"DP": "1234567890123"}),    # 13 digits
    ("940000", {"BQ": "2"}),                # BQ without BP
    ("950000", {}),                         # no ML
], ids=["DP-letter", "DP-13-digits", "BQ-without-BP", "no-ML"])
def test_a_till_rewards_malformed_de48_is_30_and_not_remembered(db: Path, pc: str,
                                                                 tags: dict[str, str]) -> None:
    """docs/protocol.md §4 ("Discounts at the till", "Paid memberships"): DE48 that breaks a
    till reward's format is `30`, not remembered (decided again when sent again), and no card
    is enrolled by it."""
    sh = Shell(db)
    msg = request("0200", T1, sh.next_stan(), pan=A, pc=pc, amount=100_000, tags=tags)
    first = sh.send(msg)
    assert rc(first) == "30"
    (kind, detail), = sh.sql("SELECT kind, detail FROM journal WHERE id = ?",
                             (int(rrn(first)),))
    assert kind == "reject" and json.loads(str(detail))["reason"]
    again = sh.send(msg)
    assert rc(again) == "30" and rrn(again) != rrn(first)
    assert sh.sql("SELECT pan FROM cards") == []
    sh.close()


@pytest.mark.parametrize(("mti", "kind"), [("0200", "earn"), ("0220", "advice")])
def test_an_earn_and_an_advice_are_journaled_as_their_kinds(db: Path, mti: str,
                                                            kind: str) -> None:
    """docs/switch.md "The journal", `kind`: a 0200 `000000` is an `earn`, a 0220 `000000`
    (store-and-forward) an `advice`; both approved."""
    sh = Shell(db)
    resp = sh.send(request(mti, T1, sh.next_stan(), pan=A, pc="000000", amount=100_000))
    assert rc(resp) == "00"
    assert sh.sql("SELECT kind FROM journal WHERE id = ?", (int(rrn(resp)),)) == [(kind,)]
    sh.close()
