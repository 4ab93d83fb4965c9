"""What a decision reads of the journal is the row as the switch wrote it.

docs/switch.md, "The request path", steps 2 and 3: `needs` names the committed rows a decision
reads besides the state (a reversal's original with its lot moves and batch totals, a return's
earn with the returns against it, a batch's totals) and `Journal.fetch(needs)` reads exactly
those into `Facts`; "The journal" lists each column. Each test decides through the request
path (`Shell`), keeps the entry the decision handed to the group commit, and reads that row
back through the engine's `fetch`: the oracle is what was written, not how it is read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from iso8583 import Message
from switch.core import NO_CHECKS
from switch.core.entries import Entry
from switch.core.facts import NOTHING_RETURNED, Needs
from switch.journal.sql.fetch import fetch
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    batch_close,
    card,
    earn,
    example_config,
    inquiry,
    request,
)
from tests.switch.support import reversal as reversal_of

A, B = card(731), card(732)

#: The columns of a journal row a decision's `Entry` carries (docs/switch.md, "The journal"),
#: all but the stored reply, which `Facts` carries apart (`reply`).
COLUMNS = ("id", "at", "business_day", "kind", "mti", "pc", "terminal_id", "store_id",
           "coalition_id", "pan", "stan", "transmission", "rrn", "amount", "points", "sv",
           "response_code", "batch", "digest", "original_id", "original_key", "detail")


@pytest.fixture
def small() -> Iterator[Shell]:
    """The example's switch with memory for one request (`switch.replay_memory`)."""
    with scratch_dir() as path:
        shell = Shell(path / "lps.db", example_config(path / "lps.db", replay_memory=1))
        yield shell
        shell.close()


def written(sh: Shell, msg: Message) -> tuple[Message, Entry]:
    """Send `msg` in a group commit of its own: its answer and the one entry it wrote."""
    with sh.group_commit():
        answer = sh.send(msg)
        assert sh.pending is not None
        entry, = sh.pending
    return answer, entry


def row(entry: Entry) -> dict[str, Any]:
    """An entry's columns and its lot moves as (lot id, delta), in the order made."""
    return {**{c: getattr(entry, c) for c in COLUMNS},
            "moves": [(d.lot.id, d.delta) for d in entry.lot_deltas]}


def test_each_row_a_decision_reads_is_read_back_as_it_was_written(sh: Shell) -> None:
    """An earn, a purse top-up, a return against the earn (its `original_id`) and the
    reversal of that return (DE90's STAN and DE7, `detail.undone`): each row, fetched as a
    reversal's original and as a return's earn, is the entry its decision wrote, column by
    column, with its lot moves in order; a row the journal does not hold is None."""
    earned, earn_row = written(sh, earn(T1, sh.next_stan(), A, 100_000))
    topped, topup_row = written(sh, request("0200", T3, sh.next_stan(), pan=A, pc="210060",
                                            amount=70_000))
    returned = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=40_000,
                       tags={"OR": rrn(earned)})
    answer, return_row = written(sh, returned)
    undo, reversal_row = written(sh, reversal_of(returned, sh.next_stan()))
    assert [rc(m) for m in (earned, topped, answer, undo)] == ["00"] * 4
    assert return_row.original_id == earn_row.id and topup_row.sv == 80_500
    assert reversal_row.original_key is not None and reversal_row.detail["undone"]
    for entry in (earn_row, topup_row, return_row, reversal_row):
        as_original = sh.store.fetch(Needs(original=entry.id), NO_CHECKS).original_row
        as_earn = sh.store.fetch(Needs(earn=entry.id), NO_CHECKS).earn_row
        assert as_original is not None and as_earn is not None
        assert row(as_original) == row(entry) == row(as_earn)
    absent = reversal_row.id + 1
    assert sh.store.fetch(Needs(original=absent), NO_CHECKS).original_row is None


def test_a_reversal_of_an_original_out_of_memory_after_a_restart_counts_in_its_batch(
        small: Shell) -> None:
    """docs/switch.md, "Memory": an original that left memory is read from the journal with
    its batch's totals, and the reversal decides as if it had stayed; a restart leaves the
    batch totals in the journal only ("Comparing states": read on demand). The reversal
    counts in the earn's batch on top of what the batch holds, so the 0500 with one credit of
    100,000 and its reversal balances (docs/protocol.md §4, DE74/DE86, DE75/DE87)."""
    sh = small
    first = earn(T1, sh.next_stan(), A, 100_000)
    assert rc(sh.send(first)) == "00"
    assert rc(sh.send(inquiry(T2, sh.next_stan(), B))) == "00"     # memory holds this one
    sh.restart(NOW)
    assert rc(sh.send(reversal_of(first, sh.next_stan()))) == "00"
    assert sh.journal_points(A) == 0
    totals = {74: 1, 86: 100_000, 75: 1, 87: 100_000}
    assert rc(sh.send(batch_close(T1, sh.next_stan(), "000001", totals))) == "00"


def test_returns_standing_against_an_earn_out_of_memory_refuse_its_reversal(
        small: Shell) -> None:
    """docs/protocol.md §4: an earn against which an approved return stands is not reversed
    (`12`, `detail.refused`) until the return is; read from the journal when the earn left
    memory ("Memory": the returns standing against it), before and after a restart. Once the
    return is reversed, the earn's reversal undoes the rest."""
    sh = small
    first = earn(T1, sh.next_stan(), A, 100_000)                   # 10 points
    earned = sh.send(first)
    returned = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=40_000,
                       tags={"OR": rrn(earned)})
    assert rc(sh.send(returned)) == "00"                           # 4 clawed back
    assert rc(sh.send(inquiry(T2, sh.next_stan(), B))) == "00"
    refused = sh.send(reversal_of(first, sh.next_stan()))
    assert rc(refused) == "12" and sh.moves(rrn(refused)) == []
    sh.restart(NOW)
    refused = sh.send(reversal_of(first, sh.next_stan()))
    assert rc(refused) == "12" and sh.journal_points(A) == 6
    assert rc(sh.send(reversal_of(returned, sh.next_stan()))) == "00"
    assert rc(sh.send(inquiry(T2, sh.next_stan(), B))) == "00"
    assert rc(sh.send(reversal_of(first, sh.next_stan()))) == "00"
    assert sh.journal_points(A) == 0


def test_fetch_reads_one_statement_a_row_named_and_nothing_else(sh: Shell) -> None:
    """docs/switch.md, "The request path", step 3: `fetch` reads exactly what the needs name,
    each by its key: a stored reply one statement, a batch's totals one, an earn its row and
    its returns with their reversals (three), a reversal's original its row, its batch's
    totals and, as the earn it may be, its returns (four: the row read once for both). A row
    the journal does not hold is None, and so are its batch's totals."""
    earned, earn_row = written(sh, earn(T1, sh.next_stan(), A, 100_000))
    returned = request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=40_000,
                       tags={"OR": rrn(earned)})
    _, return_row = written(sh, returned)
    written(sh, reversal_of(returned, sh.next_stan()))
    conn = sqlite3.connect(sh.store.path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)

    def read(needs: Needs) -> tuple[int, Any]:
        statements.clear()
        facts = fetch(conn, needs, NO_CHECKS)
        return len(statements), facts

    try:
        count, facts = read(Needs(reply=earn_row.id))
        assert count == 1 and facts.reply_message is not None
        assert rc(facts.reply_message) == "00"
        count, facts = read(Needs(totals=(T1, "000001")))
        assert count == 1 and facts.batch_totals is not None
        count, facts = read(Needs(earn=earn_row.id))
        assert count == 3 and facts.earn_row is not None
        assert [r.journal_id for r in facts.earn_returned.returns] == [return_row.id]
        assert facts.earn_returned.undone == frozenset({return_row.id})
        count, facts = read(Needs(original=earn_row.id, earn=earn_row.id))
        assert count == 4 and facts.original_row is not None
        assert facts.earn_row is facts.original_row and facts.original_totals is not None
        assert read(Needs())[0] == 0
        absent = return_row.id + 10
        count, facts = read(Needs(original=absent, earn=absent))
        assert count == 4
        assert (facts.original_row, facts.original_totals, facts.earn_row) == (None, None, None)
        assert facts.earn_returned == NOTHING_RETURNED
    finally:
        conn.close()
