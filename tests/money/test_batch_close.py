"""The 0500 batch close (docs/protocol.md §4) and its journal row (docs/switch.md, "The
journal": `detail` holds both sets of totals keyed by DE number)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.money.support import Shell, rc, scratch_dir
from tests.switch.support import T1, batch_close, burn, card, earn

A = card(951)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def last_row(sh: Shell) -> tuple[object, ...]:
    """The newest journal row (a 0510 carries no DE37: only financial replies do, §4)."""
    (found,) = sh.sql("SELECT kind, response_code, store_id, coalition_id, detail FROM journal "
                      "ORDER BY id DESC LIMIT 1")
    return found


def test_a_batch_close_compares_the_terminals_totals_with_the_switchs(db: Path) -> None:
    """`00` when DE74-77 and DE86-89 equal the switch's totals of batch DE62, `95` when not;
    the journal row is the terminal's store and coalition, with both sets in `detail`."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    sh.send(burn(T1, sh.next_stan(), A, 4_000, tags={"RP": "4"}))
    ours = {74: 1, 86: 100_000, 76: 1, 88: 4_000}
    fields = {str(n): 0 for n in (74, 75, 76, 77, 86, 87, 88, 89)} | \
        {str(n): v for n, v in ours.items()}
    balanced = sh.send(batch_close(T1, sh.next_stan(), "000001", ours))
    assert rc(balanced) == "00"
    kind, code, store, coalition, detail = last_row(sh)
    assert (kind, code, store, coalition) == ("batch_close", "00", "STORE0000000001",
                                              "tehran-mall")
    assert json.loads(str(detail)) == {"terminal": fields, "switch": fields}
    short = sh.send(batch_close(T1, sh.next_stan(), "000001", ours | {88: 3_000}))
    assert rc(short) == "95"
    theirs = json.loads(str(last_row(sh)[4]))
    assert (theirs["terminal"]["88"], theirs["switch"]["88"]) == (3_000, 4_000)
    sh.close()


def test_a_0500_of_another_processing_code_is_declined(db: Path) -> None:
    """§4: a 0500 is `920000`; another processing code is `12` (invalid transaction),
    journaled as the terminal's batch close with nothing compared."""
    sh = Shell(db)
    msg = batch_close(T1, sh.next_stan(), "000001", {})
    msg.fields[3] = "000000"
    refused = sh.send(msg)
    assert rc(refused) == "12"
    kind, code, store, coalition, detail = last_row(sh)
    assert (kind, code, store, coalition, detail) == ("batch_close", "12", "STORE0000000001",
                                                      "tehran-mall", None)
    sh.close()
