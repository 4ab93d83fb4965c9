"""`lps check [--full]` and the verified checkpoint (docs/switch.md, "Durability and recovery":
the invariants (L) and (C), the verified checkpoint, what start-up checks and what only the
full check sees; docs/programs.md "Coupons": the full check replays each coupon's moves).

Every database here is made by the request path (`Shell`) and then changed behind the journal's
back on a connection of the test's own, as a faulty disk or a hand-edited row would; the checks
must name what was changed, and a sound database must have no problem.
"""

from __future__ import annotations

import sqlite3

from switch.core import coupon_code
from tests.money.support import Shell, rc
from tests.rewards.support import issue, redeem_coupon, terms
from tests.switch.support import T1, T2, card, earn, reversal

A, B = card(901), card(902)


def tamper(sh: Shell, sql: str, params: tuple[object, ...] = ()) -> None:
    """A change made behind the journal's back, committed on a connection of its own."""
    conn = sqlite3.connect(sh.path)
    try:
        with conn:
            assert conn.execute(sql, params).rowcount > 0
    finally:
        conn.close()


def live_lots(sh: Shell, pan: str) -> list[tuple[int, int]]:
    return [(int(str(i)), int(str(r))) for i, r in sh.sql(
        "SELECT id, remaining FROM lots WHERE pan = ? AND remaining != 0 ORDER BY id", (pan,))]


def test_lps_check_without_full_finds_a_lot_changed_on_a_card_the_tail_never_touched(
        sh: Shell) -> None:
    """docs/switch.md: `lps check` without `--full` runs the start-up check, which compares
    every other lot with its checkpoint sum, not only the lots moved after the checkpoint."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 200_000))) == "00"
    v = sh.store.verify_and_advance()
    assert v.problems == [] and v.upto > v.after
    assert rc(sh.send(earn(T2, sh.next_stan(), B, 300_000))) == "00"  # the tail: B only
    assert sh.store.check(full=False).problems == []
    [(lot, remaining)] = live_lots(sh, A)
    tamper(sh, "UPDATE lots SET remaining = remaining + 7 WHERE id = ?", (lot,))
    assert sh.store.check(full=False).problems == [
        f"lot {lot}: remaining {remaining + 7} but its moves sum to {remaining}"]


def test_lps_check_full_finds_a_coupon_whose_state_is_not_what_its_moves_say(
        sh: Shell) -> None:
    """docs/programs.md "Coupons": `lps check --full` replays each coupon's moves against its
    state; a used coupon shown free again (or a free one shown used) is a problem."""
    used, free = issue(sh.store, terms(amount=1_000), count=2)
    assert rc(sh.send(redeem_coupon(T1, sh.next_stan(), A, used, 10_000))) == "00"
    assert sh.store.check(full=True).problems == []
    tamper(sh, "UPDATE coupons SET redeemed_by = NULL, redeemed_pan = NULL WHERE digest = ?",
           (coupon_code.digest(used),))
    [problem] = sh.store.check(full=True).problems
    assert problem.startswith(f"coupon {coupon_code.digest(used)[:12]}: ")
    tamper(sh, "UPDATE coupons SET status = 'void' WHERE digest = ?",
           (coupon_code.digest(free),))
    assert sorted(p[:19] for p in sh.store.check(full=True).problems) == sorted(
        f"coupon {coupon_code.digest(c)[:12]}" for c in (used, free))


def test_a_lot_changed_with_its_checkpoint_row_to_match_is_found_by_the_full_check_alone(
        sh: Shell) -> None:
    """docs/switch.md: start-up does not see a lot changed together with its checkpoint row
    (`verified_lots`) on a card the tail does not touch; `lps check --full` finds it three
    ways: the lot against its moves (L), the card against its journal rows (C), and the
    checkpoint against the history up to J."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 200_000))) == "00"
    upto = sh.store.verify_and_advance().upto
    assert rc(sh.send(earn(T2, sh.next_stan(), B, 300_000))) == "00"
    [(lot, remaining)] = live_lots(sh, A)
    tamper(sh, "UPDATE lots SET remaining = remaining + 7 WHERE id = ?", (lot,))
    tamper(sh, "UPDATE verified_lots SET moved = moved + 7 WHERE lot_id = ?", (lot,))
    assert sh.store.check(full=False).problems == []
    assert sh.store.check(full=True).problems == [
        f"lot {lot}: remaining {remaining + 7} but its moves sum to {remaining}",
        f"card {A[:6]}...{A[-4:]}: points lots sum to {remaining + 7} "
        f"but its journal entries to {remaining}",
        f"verified lot {lot}: checkpoint records {remaining + 7} but its moves up to journal "
        f"#{upto} sum to {remaining}"]


def batch_of(sh: Shell) -> tuple[str, str]:
    [(tid, batch)] = sh.sql("SELECT terminal_id, batch FROM batch_totals")
    return str(tid), str(batch)


def test_the_full_check_finds_a_batchs_totals_row_lost(sh: Shell) -> None:
    """docs/switch.md: `lps check --full` compares every batch's durable totals with the
    journal; a batch the journal counted with no totals row reads as totals of nothing."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 200_000))) == "00"
    tid, batch = batch_of(sh)
    tamper(sh, "DELETE FROM batch_totals")
    assert sh.store.check(full=True).problems == [
        f"batch {tid}/{batch}: totals (0, 0, 0, 0, 0, 0, 0, 0) but the journal's "
        "(1, 200000, 0, 0, 0, 0, 0, 0)"]


def test_the_full_check_finds_totals_of_a_batch_the_journal_never_counted(sh: Shell) -> None:
    """docs/switch.md: the totals are compared with the journal both ways: a totals row with
    counts for a batch no journal row is in is a problem; one of nothing is not."""
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 200_000))) == "00"
    tid, _ = batch_of(sh)
    columns = "terminal_id, batch, credits, credit_amount, credit_reversals, " \
              "credit_reversal_amount, debits, debit_amount, debit_reversals, " \
              "debit_reversal_amount"
    tamper(sh, f"INSERT INTO batch_totals ({columns}) VALUES (?, ?, 0, 0, 0, 0, 2, 500, 0, 0)",
           (T2, "000002"))
    tamper(sh, f"INSERT INTO batch_totals ({columns}) VALUES (?, ?, 0, 0, 0, 0, 0, 0, 0, 0)",
           (tid, "000003"))
    assert sh.store.check(full=True).problems == [
        f"batch {T2}/000002: totals (0, 0, 0, 0, 2, 500, 0, 0) but the journal has no "
        "such batch"]


def test_a_checkpoint_row_for_a_spent_lot_is_refused_by_the_start_up_check(sh: Shell) -> None:
    """docs/switch.md: `verified_lots` records a lot's sum only where it is not 0, and start-up
    requires as many live lots outside the tail as checkpoint rows: a row kept for a lot
    spent to 0 (a reversed earn's) does not match the live lots, though no lot is wrong."""
    earned = earn(T1, sh.next_stan(), A, 200_000)
    assert rc(sh.send(earned)) == "00"
    assert rc(sh.send(reversal(earned, sh.next_stan()))) == "00"
    assert sh.store.verify_and_advance().problems == []
    [(lot, pan, kind)] = sh.sql("SELECT id, pan, kind FROM lots WHERE remaining = 0")
    assert sh.sql("SELECT lot_id FROM verified_lots") == []
    tamper(sh, "INSERT INTO verified_lots (lot_id, pan, kind, moved) VALUES (?, ?, ?, 0)",
           (lot, pan, kind))
    assert sh.store.check(full=False).problems == [
        "lots: the live lots do not match the verified checkpoint"]
