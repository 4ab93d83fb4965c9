"""Reversals: undone exactly once, on the original's card, and only when they match it.

docs/switch.md ("Decisions", Reversal 0400/0420) and docs/protocol.md §4 (idempotency and
ordering), with the matching rule a reversal is held to: one naming another card than its
original is declined `12` and changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from tests.money.support import Shell, points_balance, rc, rrn, scratch_dir
from tests.switch import support
from tests.switch.support import NOW, T1, T2, T3, batch_close, burn, card, earn, inquiry
from tests.switch.support import reversal as reversal_of

A, B = card(601), card(602)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def balance(sh: Shell, pan: str) -> int:
    return points_balance(sh.send(inquiry(T1, sh.next_stan(), pan)))


def naming(original: Message, pan: str, stan: int) -> Message:
    """A 0400 for `original` whose DE2 names `pan` instead of the original's card."""
    msg = reversal_of(original, stan)
    msg.fields[2] = pan
    return msg


def test_a_reversal_naming_another_card_is_declined_and_changes_nothing(db: Path) -> None:
    """docs/protocol.md §4: a reversal must match its original's card; a 0400 whose DE90 names
    A's redemption but whose DE2 is B is declined `12` and changes nothing: neither card's
    lots, nor the batch's reversal counts, and the journal still adds up (invariants). It is
    remembered like any answer (its retransmission is `12` again) and the journal row says
    what differs without the card number (docs/switch.md, `detail.mismatch`); the original
    stays reversible by a matching reversal with its own STAN."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), A, 100_000))                   # A: 10
    sh.send(earn(T1, sh.next_stan(), B, 50_000))                    # B: 5
    spent_msg = burn(T3, sh.next_stan(), A, 4_000, tags={"RP": "4"})
    assert rc(sh.send(spent_msg)) == "00"                           # A: 6
    lots_before = (sh.lots(A), sh.lots(B))

    wrong_msg = naming(spent_msg, B, sh.next_stan())
    wrong = sh.send(wrong_msg)
    assert rc(wrong) == "12"
    assert sh.moves(rrn(wrong)) == []
    (kind, original_id, detail), = sh.sql(
        "SELECT kind, original_id, detail FROM journal WHERE id = ?", (int(rrn(wrong)),))
    assert (kind, original_id) == ("reversal", None)
    assert json.loads(str(detail))["mismatch"] == "card (DE2/DE35)"
    assert A not in str(detail) and B not in str(detail)
    assert (sh.lots(A), sh.lots(B)) == lots_before
    assert (balance(sh, A), balance(sh, B)) == (6, 5)
    assert sh.store.check(full=True).problems == []
    again = sh.send(wrong_msg)
    assert rc(again) == "12" and again.fields == wrong.fields
    # The real reversal still undoes the redemption, once, and is the batch's one reversal.
    right = sh.send(reversal_of(spent_msg, sh.next_stan()))
    assert (rc(right), points_balance(right)) == ("00", 10)
    # docs/protocol.md §4, 0500: T3's batch holds one redemption and its one reversal.
    close = sh.send(batch_close(T3, sh.next_stan(), "000001",
                                {76: 1, 77: 1, 88: 4_000, 89: 4_000}))
    assert rc(close) == "00"
    sh.close()


def test_a_reversal_undoes_on_the_original_card_across_a_restart(db: Path) -> None:
    """A reversal undoes every lot move of its original exactly (a reversed earn already spent
    leaves a debt), once: a repeat is `00` again with no effect (docs/protocol.md §4)."""
    sh = Shell(db)
    earn_msg = earn(T2, sh.next_stan(), A, 100_000)                 # A: 20
    earned = sh.send(earn_msg)
    sh.send(earn(T1, sh.next_stan(), B, 50_000))                    # B: 5
    sh.send(burn(T3, sh.next_stan(), A, 15_000, tags={"RP": "15"}))  # A: 5
    sh.restart(NOW)
    undo = sh.send(reversal_of(earn_msg, sh.next_stan()))
    assert (rc(undo), points_balance(undo)) == ("00", -15)
    (lot,) = sh.lots(A)
    assert sh.moves(rrn(undo)) == [(lot, -20)]           # the exact opposite of the earn
    again = sh.send(reversal_of(earn_msg, sh.next_stan(), mti="0400"))
    assert rc(again) == "00" and sh.moves(rrn(again)) == []
    # docs/switch.md, `journal.original_id`: both rows name the reversed earn.
    assert sh.sql("SELECT original_id FROM journal WHERE id IN (?, ?)",
                  (int(rrn(undo)), int(rrn(again)))) == [(int(rrn(earned)),)] * 2
    assert (balance(sh, A), balance(sh, B)) == (-15, 5)
    sh.close()


def test_a_reversal_of_an_earlier_days_redemption_flows_back_that_day(db: Path) -> None:
    """docs/settlement.md: a reversal of an earlier day's redemption is a flow back on the day
    of the reversal; the same day's reversal cancels its redemption's flow."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    spent = burn(T2, sh.next_stan(), A, 6_000, tags={"RP": "6"})
    sh.send(spent)
    same_day = burn(T3, sh.next_stan(), A, 2_000, tags={"RP": "2"})
    sh.send(same_day)
    sh.send(reversal_of(same_day, sh.next_stan()))
    day = NOW.date()
    owed = {(o.payer, o.payee): o.units for o in sh.settle(day).points.obligations}
    assert owed == {("STORE0000000001", "STORE0000000002"): 6}
    tomorrow = NOW.replace(day=24)
    undo = reversal_of(spent, sh.next_stan(), now=tomorrow)
    assert rc(sh.send(undo, tomorrow)) == "00"
    owed = {(o.payer, o.payee): o.units for o in sh.settle(tomorrow.date()).points.obligations}
    assert owed == {("STORE0000000002", "STORE0000000001"): 6}
    sh.close()


@pytest.mark.parametrize("restart", [False, True], ids=["cache", "restarted"])
def test_an_original_arriving_after_its_reversal_is_declined_and_names_it(db: Path,
                                                                         restart: bool) -> None:
    """docs/protocol.md §4: a reversal of an unknown original is `25` and remembered, so that
    the late original is declined `05` with no effect; docs/switch.md, `journal.original_id`
    of a late original is the tombstoning reversal."""
    sh = Shell(db)
    late = burn(T3, sh.next_stan(), A, 2_000, tags={"RP": "2"})
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    early = sh.send(reversal_of(late, sh.next_stan()))
    assert rc(early) == "25"
    if restart:
        sh.restart(NOW)
    arrived = sh.send(late)
    assert rc(arrived) == "05" and sh.moves(rrn(arrived)) == []
    (original_id,), = sh.sql("SELECT original_id FROM journal WHERE id = ?",
                             (int(rrn(arrived)),))
    assert original_id == int(rrn(early))
    assert balance(sh, A) == 10
    sh.close()


@pytest.mark.parametrize(("sent", "named"), [("0220", "0221"), ("0221", "0220")])
def test_a_repeats_mti_counts_as_its_originals_in_de90(db: Path, sent: str,
                                                      named: str) -> None:
    """docs/protocol.md §4: a reversal must match DE90's MTI, a repeat's MTI counting as its
    original's (0221 as 0220). An advice earn that arrived as `sent` is reversed by a 0420
    whose DE90 names `named`: `00`, its points undone. The reversal's journal row is the
    terminal's store and coalition (docs/switch.md, "The journal")."""
    sh = Shell(db)
    advice = Message(mti=sent, fields=dict(earn(T1, sh.next_stan(), A, 100_000).fields))
    assert rc(sh.send(advice)) == "00"
    assert balance(sh, A) == 10
    as_named = Message(mti=named, fields=dict(advice.fields))
    undo = sh.send(reversal_of(as_named, sh.next_stan(), mti="0420"))
    assert (rc(undo), points_balance(undo)) == ("00", 0)
    (store, coalition, original_id), = sh.sql(
        "SELECT store_id, coalition_id, original_id FROM journal WHERE id = ?",
        (int(rrn(undo)),))
    assert (store, coalition) == ("STORE0000000001", "tehran-mall")
    assert original_id is not None
    assert sh.store.check(full=True).problems == []
    sh.close()


@pytest.mark.parametrize("when", ["committed", "restarted", "uncommitted"])
def test_an_earn_with_returns_standing_is_not_reversed_until_they_are(db: Path,
                                                                      when: str) -> None:
    """docs/protocol.md §4: a reversal of an earn against which an approved return stands is
    `12` and changes nothing (docs/switch.md: `detail.refused`), whether the return is
    committed, read back after a restart or still in the writer's open batch; once the return
    is reversed, a reversal with its own STAN undoes the earn. Figures: an earn of 100,000
    IRR is 10 points; a return of 30,000 claws back floor(10 x 30,000 / 100,000) = 3."""
    sh = Shell(db)
    earn_msg = earn(T1, sh.next_stan(), A, 100_000)
    if when == "uncommitted":
        with sh.group_commit():
            earned = sh.send(earn_msg)
            return_msg = support.request("0200", T1, sh.next_stan(), pan=A, pc="200000",
                                 amount=30_000, tags={"OR": rrn(earned)})
            assert rc(sh.send(return_msg)) == "00"
            refused = sh.send(reversal_of(earn_msg, sh.next_stan()))
    else:
        earned = sh.send(earn_msg)
        return_msg = support.request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=30_000,
                             tags={"OR": rrn(earned)})
        assert rc(sh.send(return_msg)) == "00"
        if when == "restarted":
            sh.restart(NOW)
        refused = sh.send(reversal_of(earn_msg, sh.next_stan()))
    assert rc(refused) == "12"
    assert sh.moves(rrn(refused)) == []
    (original_id, detail), = sh.sql("SELECT original_id, detail FROM journal WHERE id = ?",
                                    (int(rrn(refused)),))
    assert original_id is None
    assert json.loads(str(detail))["refused"] == "returns stand against it"
    assert balance(sh, A) == 7
    assert sh.store.check(full=True).problems == []
    # The return reversed first, the earn is reversible, and its points go.
    assert (rc(undone := sh.send(reversal_of(return_msg, sh.next_stan()))),
            points_balance(undone)) == ("00", 10)
    undo = sh.send(reversal_of(earn_msg, sh.next_stan()))
    assert (rc(undo), points_balance(undo)) == ("00", 0)
    assert sh.store.check(full=True).problems == []
    sh.close()


def test_a_return_of_one_rial_stands_against_its_earn(db: Path) -> None:
    """docs/protocol.md §4: any approved return naming the earn stands against it, one of 1 IRR
    too (it claws back floor(10 x 1 / 100,000) = 0 points, `RD` 0): the earn's reversal is
    `12` with no effect."""
    sh = Shell(db)
    earn_msg = earn(T1, sh.next_stan(), A, 100_000)
    earned = sh.send(earn_msg)
    one = sh.send(support.request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=1,
                          tags={"OR": rrn(earned)}))
    assert rc(one) == "00"
    refused = sh.send(reversal_of(earn_msg, sh.next_stan()))
    assert rc(refused) == "12" and sh.moves(rrn(refused)) == []
    assert balance(sh, A) == 10
    sh.close()


def _mismatch(sh: Shell, reversal: Message) -> str:
    resp = sh.send(reversal)
    assert rc(resp) == "12" and sh.moves(rrn(resp)) == []
    (detail,), = sh.sql("SELECT detail FROM journal WHERE id = ?", (int(rrn(resp)),))
    return str(json.loads(str(detail))["mismatch"])


def test_the_journal_names_what_a_reversal_does_not_match(db: Path) -> None:
    """docs/switch.md ("The journal", `detail`): a reversal declined for not matching its
    original names in `detail.mismatch` the one thing that differs, in the docs' words, never
    the card number (docs/protocol.md §4: card, DE4, DE3, DE90's MTI; the store cannot differ
    on one terminal, whose DE42 is checked before any decision)."""
    sh = Shell(db)
    spent = burn(T3, sh.next_stan(), A, 4_000, tags={"RP": "4"})
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    assert rc(sh.send(spent)) == "00"
    other_amount = reversal_of(spent, sh.next_stan())
    other_amount.fields[4] = f"{3_000:012d}"
    assert _mismatch(sh, other_amount) == "amount (DE4; partial reversals are not supported)"
    other_pc = reversal_of(spent, sh.next_stan())
    other_pc.fields[3] = "000000"
    assert _mismatch(sh, other_pc) == "processing code (DE3)"
    other_mti = reversal_of(Message(mti="0220", fields=dict(spent.fields)), sh.next_stan())
    assert _mismatch(sh, other_mti) == "DE90's original MTI"
    assert _mismatch(sh, naming(spent, B, sh.next_stan())) == "card (DE2/DE35)"
    # DE48 MB (docs/customers.md "Mobile numbers at the POS"): an earn by one number reversed
    # by a 0400 naming another.
    by_mobile = support.request("0200", T1, sh.next_stan(), pc="000000", amount=50_000,
                        tags={"MB": "09121234567"})
    assert rc(sh.send(by_mobile)) == "00"
    other = support.request("0400", T1, sh.next_stan(), pc="000000", amount=50_000, batch=None,
                    tags={"MB": "09127654321"}, extra={90: build_de90(OriginalData(
                        "0200", by_mobile.text(11), by_mobile.text(7)))})
    assert _mismatch(sh, other) == "card (DE48 MB)"
    assert (balance(sh, A), sh.store.check(full=True).problems) == (6, [])
    sh.close()


def test_reversals_of_originals_out_of_memory_undo_once(db: Path) -> None:
    """docs/switch.md "Memory": with `replay_memory` 1 every original has left memory when its
    reversal comes, and the decision reads it from the journal exactly as from memory
    (docs/protocol.md §4): a reversal undoes it once, a second one (committed, or in the same
    group commit) is `00` with no effect, and a late original after its reversal is `05`."""
    sh = Shell(db, cfg=support.example_config(db, replay_memory=1))
    first = earn(T1, sh.next_stan(), A, 100_000)                    # A: 10
    sh.send(first)
    second = earn(T1, sh.next_stan(), A, 50_000)                    # A: 15
    sh.send(second)
    sh.send(earn(T1, sh.next_stan(), B, 50_000))                    # B: 5
    undo = sh.send(reversal_of(first, sh.next_stan()))
    assert (rc(undo), points_balance(undo)) == ("00", 5)
    again = sh.send(reversal_of(first, sh.next_stan()))
    assert (rc(again), sh.moves(rrn(again))) == ("00", [])
    with sh.group_commit():
        undo = sh.send(reversal_of(second, sh.next_stan()))
        again = sh.send(reversal_of(second, sh.next_stan()))
    assert (rc(undo), points_balance(undo)) == ("00", 0)
    assert (rc(again), sh.moves(rrn(again))) == ("00", [])
    late = burn(T3, sh.next_stan(), B, 2_000, tags={"RP": "2"})
    assert rc(sh.send(reversal_of(late, sh.next_stan()))) == "25"
    sh.send(earn(T1, sh.next_stan(), B, 10_000))                    # B: 6
    arrived = sh.send(late)
    assert (rc(arrived), sh.moves(rrn(arrived))) == ("05", [])
    assert (balance(sh, A), balance(sh, B)) == (0, 6)
    assert sh.store.check(full=True).problems == []
    sh.close()


def test_a_reversal_from_a_terminal_moved_to_another_store_is_declined(db: Path) -> None:
    """docs/protocol.md §4: a reversal must match its original's store (DE42). A terminal moved
    to another store between a restart and the reversal (its `[terminal]` table changed) sends
    its new store's DE42: `12`, nothing undone, `detail.mismatch` "store (DE42)"."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), A, 100_000))                   # A: 10
    spent = burn(T1, sh.next_stan(), A, 4_000, tags={"RP": "4"})    # A: 6
    assert rc(sh.send(spent)) == "00"
    sh.close()
    moved_cfg = support.example_config(db)
    moved = dataclasses.replace(moved_cfg.terminals[T1], store="STORE0000000002")
    moved_cfg = dataclasses.replace(moved_cfg, terminals={**moved_cfg.terminals, T1: moved})
    sh = Shell(db, cfg=moved_cfg)
    sh.stan = 100
    undo = reversal_of(spent, sh.next_stan())
    undo.fields[42] = "STORE0000000002"
    assert _mismatch(sh, undo) == "store (DE42)"
    assert points_balance(sh.send(inquiry(T2, sh.next_stan(), A))) == 6
    sh.close()
