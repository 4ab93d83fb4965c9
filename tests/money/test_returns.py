"""Returns (`200000`): what a return may name, what it claws back, and what it leaves.

The rules are those of docs/switch.md ("Decisions", Return `200000`, and "Durability and
recovery") and docs/protocol.md §4; every expected figure below is worked out by hand from them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_tlv
from switch.core import Decision
from switch.core.programs.rules import program_rules
from tests.money.support import (
    TEHRAN,
    Shell,
    points_balance,
    rc,
    rrn,
    scratch_dir,
    tags,
    tehran,
)
from tests.switch.journaled import Journaled
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    burn,
    card,
    earn,
    example_config,
    inquiry,
    sign_on,
)
from tests.switch.support import request as build
from tests.switch.support import reversal as reversal_of

A, B = card(201), card(202)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def ret(sh: Shell, tid: str, pan: str, amount: int, original_rrn: str,
        now: dt.datetime = NOW) -> tuple[Message, Message]:
    msg = build("0200", tid, sh.next_stan(), pan=pan, pc="200000", amount=amount,
                tags={"OR": original_rrn}, now=now)
    return msg, sh.send(msg, now)


def balance(sh: Shell, pan: str, now: dt.datetime = NOW) -> int:
    resp = sh.send(inquiry(T1, sh.next_stan(), pan, now=now), now)
    assert rc(resp) == "00"
    return points_balance(resp)


def test_a_return_naming_another_cards_earn_is_declined_and_changes_nothing(db: Path) -> None:
    """docs/switch.md, Return: `OR` naming an earn of another card is `25`, with no effect."""
    sh = Shell(db)
    earned_a = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    assert tags(earned_a)["EP"] == "10"
    assert tags(sh.send(earn(T1, sh.next_stan(), B, 50_000)))["EP"] == "5"

    _, refused = ret(sh, T1, B, 100_000, rrn(earned_a))
    assert rc(refused) == "25"
    assert sh.moves(rrn(refused)) == []
    assert (balance(sh, A), balance(sh, B)) == (10, 5)
    # A's earn is untouched: its own full return still claws back all of it.
    _, full = ret(sh, T1, A, 100_000, rrn(earned_a))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", 0)
    sh.close()


@pytest.mark.parametrize("restart", [False, True], ids=["cache", "restarted"])
def test_reversing_a_partial_return_then_returning_the_full_amount(db: Path,
                                                                  restart: bool) -> None:
    """docs/switch.md, Return and Reversal: a reversed return no longer counts, so the whole
    amount can be returned afterwards, clawing back all the earn's points (RD = P)."""
    sh = Shell(db)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))          # P = 10, A = 100,000
    partial_msg, partial = ret(sh, T1, A, 40_000, rrn(earned))
    assert (rc(partial), tags(partial)["RD"], points_balance(partial)) == ("00", "4", 6)
    undo = sh.send(reversal_of(partial_msg, sh.next_stan()))
    assert (rc(undo), points_balance(undo)) == ("00", 10)
    if restart:
        sh.restart(NOW)
    _, full = ret(sh, T1, A, 100_000, rrn(earned))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", 0)
    _, beyond = ret(sh, T1, A, 1, rrn(earned))
    assert rc(beyond) == "13"                                      # R > A
    assert sh.journal_points(A) == 0
    sh.close()


def test_a_full_return_after_the_points_were_spent_leaves_a_debt_on_the_earns_lot(
        db: Path) -> None:
    """docs/switch.md, Return: the claw-back takes the earn's own lot, then other lots; beyond
    that the earn's lot goes negative, a debt still attributed to its store, sent as `D` in
    DE54 (docs/protocol.md §3), surviving a restart and repaid by later earns."""
    sh = Shell(db)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))          # 10 points, STORE1
    (lot,) = sh.lots(A)
    spent = sh.send(burn(T2, sh.next_stan(), A, 7_000, tags={"RP": "7"}))
    assert (rc(spent), points_balance(spent)) == ("00", 3)

    _, full = ret(sh, T1, A, 100_000, rrn(earned))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", -7)
    assert "D" + "7".zfill(12) in str(full.fields[54])
    moves = sh.move_stores(rrn(full))
    assert {lot_id for lot_id, _, _ in moves} == {lot}
    assert {store for _, store, _ in moves} == {"STORE0000000001"}
    assert sum(delta for _, _, delta in moves) == -10
    assert sh.lots(A)[lot][3] == -7

    sh.restart(NOW)
    assert balance(sh, A) == -7
    assert sh.journal_points(A) == -7
    assert rc(sh.send(burn(T1, sh.next_stan(), A, 1_000, tags={"RP": "1"}))) == "51"
    later = sh.send(earn(T1, sh.next_stan(), A, 50_000))            # 5 points
    assert points_balance(later) == -2
    assert sh.store.check(full=True).problems == []
    sh.close()


def test_a_full_return_takes_other_lots_before_making_a_debt(db: Path) -> None:
    """docs/switch.md, Return: own lot first, then the card's other lots in burn order, and
    only the rest as a debt on the earn's own lot."""
    sh = Shell(db)
    first = sh.send(earn(T1, sh.next_stan(), A, 100_000))           # lot 1: 10, STORE1
    sh.send(earn(T3, sh.next_stan(), A, 100_000))                   # lot 2: 5, STORE3
    own, other = sorted(sh.lots(A))
    spent = sh.send(burn(T2, sh.next_stan(), A, 12_000, tags={"RP": "12"}))
    assert sh.moves(rrn(spent)) == [(own, -10), (other, -2)]        # same expiry: lower id

    _, full = ret(sh, T1, A, 100_000, rrn(first))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", -7)
    assert sh.moves(rrn(full)) == [(other, -3), (own, -7)]
    assert {i: lot[3] for i, lot in sh.lots(A).items()} == {own: -7, other: 0}
    sh.close()


def test_a_return_claws_the_earns_own_lot_before_other_lots(db: Path) -> None:
    """docs/switch.md, Return: the claw-back takes the earn's own lot first, then other lots.
    Own lot 10 spent down to 6, another store's lot of 5: a full return takes the own lot's 6,
    then 4 of the other."""
    sh = Shell(db)
    first = sh.send(earn(T1, sh.next_stan(), A, 100_000))           # lot 1: 10, STORE1
    sh.send(earn(T3, sh.next_stan(), A, 100_000))                   # lot 2: 5, STORE3
    own, other = sorted(sh.lots(A))
    spent = sh.send(burn(T2, sh.next_stan(), A, 4_000, tags={"RP": "4"}))
    assert sh.moves(rrn(spent)) == [(own, -4)]
    _, full = ret(sh, T1, A, 100_000, rrn(first))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", 1)
    assert sh.moves(rrn(full)) == [(own, -6), (other, -4)]
    sh.close()


@pytest.mark.parametrize("age_days", [0, 40], ids=["in-cache", "from-journal"])
def test_partial_returns_across_restarts_claw_back_the_cumulative_proportion(
        db: Path, age_days: int) -> None:
    """docs/switch.md, Return: after returns totalling R of an earn of amount A and points P,
    floor(P x R / A) points are clawed back in all. The running totals survive a restart, both
    for an earn the recovered cache holds and one read back from the journal (`Needs.earn`)."""
    then = NOW - dt.timedelta(days=age_days)
    sh = Shell(db, now=then)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=then), then)   # P = 10
    sh.restart(NOW)
    expected = [(15_000, "1"), (15_000, "2"), (70_000, "7")]   # floor(1.5), floor(3)-1, 10-3
    for amount, clawed in expected:
        _, resp = ret(sh, T2, A, amount, rrn(earned))
        assert (rc(resp), tags(resp)["RD"]) == ("00", clawed), amount
        sh.restart(NOW)
    _, beyond = ret(sh, T2, A, 1, rrn(earned))
    assert rc(beyond) == "13"
    assert balance(sh, A) == 0
    sh.close()


@pytest.mark.parametrize("today", [NOW, tehran(2026, 11, 24, 0, 30)],
                         ids=["afternoon", "after-local-midnight"])
def test_an_earn_exactly_return_window_days_old_can_be_returned(db: Path,
                                                                today: dt.datetime) -> None:
    """docs/switch.md: `return_window_days` (365) is how old an earn a return may name; the
    age counts in business days, so an earn of business day D - 365 is still inside it and one
    of D - 366 is not (`25`). The earn is read from the journal, not the cache. Run at 13:30
    and at 00:30 local (still the previous day in UTC): the days are Tehran's."""
    cfg = example_config(db)
    assert cfg.switch.return_window_days == 365
    shift = dt.timedelta(days=(today.astimezone(TEHRAN).date() - dt.date(2026, 11, 23)).days)
    on_edge = tehran(2025, 11, 23, 12) + shift    # business day D - 365
    # 23:45 local is after the 23:30 cutover: business day D - 365 too.
    late_edge = tehran(2025, 11, 22, 23, 45) + shift
    outside = tehran(2025, 11, 22, 12) + shift    # business day D - 366: one day too old
    sh = Shell(db, cfg, now=outside)
    rrns = {}
    for name, when in (("edge", on_edge), ("late", late_edge), ("outside", outside)):
        resp = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=when), when)
        assert tags(resp)["EP"] == "10"
        rrns[name] = rrn(resp)
    sh.restart(today)
    _, refused = ret(sh, T1, A, 100_000, rrns["outside"], now=today)
    assert rc(refused) == "25" and sh.moves(rrn(refused)) == []
    for name in ("edge", "late"):
        _, resp = ret(sh, T1, A, 100_000, rrns[name], now=today)
        assert (rc(resp), tags(resp)["RD"]) == ("00", "10"), name
    # Each lot expired on its 365th day (today at the latest), so none of them is usable; the
    # returns clawed back their own lots, the one outside the window still holds its 10.
    assert balance(sh, A, today) == 0
    assert sorted(lot[3] for lot in sh.lots(A).values()) == [0, 0, 10]
    sh.close()


def test_the_return_window_holds_for_an_earn_still_in_the_cache(db: Path) -> None:
    """docs/switch.md: `return_window_days` bounds how old an earn a return may name. With a
    window of 2 days, an earn of 3 business days ago is outside it (`25`, no effect) even
    though the switch still remembers it for the 7-day idempotency window."""
    cfg = example_config(db, return_window_days=2)
    then = NOW - dt.timedelta(days=3)
    sh = Shell(db, cfg, now=then)
    old = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=then), then)
    recent = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=NOW - dt.timedelta(days=2)),
                     NOW - dt.timedelta(days=2))
    _, refused = ret(sh, T1, A, 100_000, rrn(old))
    assert rc(refused) == "25"
    assert sh.moves(rrn(refused)) == []
    _, allowed = ret(sh, T1, A, 100_000, rrn(recent))
    assert rc(allowed) == "00"
    assert balance(sh, A) == 10
    sh.close()


def test_an_earn_reversed_long_ago_cannot_be_returned(db: Path) -> None:
    """docs/switch.md, Return: a reversed earn is `25`; read back from the journal (older than
    the cache), its reversal must be seen there too. A return reversed long ago no longer
    counts against its earn."""
    then = NOW - dt.timedelta(days=40)
    sh = Shell(db, now=then)
    reversed_msg = earn(T1, sh.next_stan(), A, 100_000, now=then)
    reversed_earn = sh.send(reversed_msg, then)
    assert rc(sh.send(reversal_of(reversed_msg, sh.next_stan(), now=then), then)) == "00"
    kept = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=then), then)
    partial_msg, partial = ret(sh, T1, A, 50_000, rrn(kept), now=then)
    assert tags(partial)["RD"] == "5"
    assert rc(sh.send(reversal_of(partial_msg, sh.next_stan(), now=then), then)) == "00"
    sh.restart(NOW)

    _, refused = ret(sh, T1, A, 100_000, rrn(reversed_earn))
    assert rc(refused) == "25" and sh.moves(rrn(refused)) == []
    _, full = ret(sh, T1, A, 100_000, rrn(kept))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", 0)
    sh.close()


def test_a_return_naming_a_reversed_earn_in_the_cache_is_declined(db: Path) -> None:
    """docs/switch.md, Return: `OR` naming a reversed earn is `25`, no effect."""
    sh = Shell(db)
    msg = earn(T1, sh.next_stan(), A, 100_000)
    earned = sh.send(msg)
    sh.send(earn(T1, sh.next_stan(), A, 30_000))                    # 3 points that stay
    assert rc(sh.send(reversal_of(msg, sh.next_stan()))) == "00"
    _, refused = ret(sh, T1, A, 100_000, rrn(earned))
    assert rc(refused) == "25" and sh.moves(rrn(refused)) == []
    assert balance(sh, A) == 3
    sh.close()


def test_returns_decided_before_their_commit_claw_back_cumulatively(db: Path) -> None:
    """docs/switch.md, Durability and recovery: the writer commits decisions in batches, so a
    second return may be decided while the first is not yet in the journal; for an earn read
    back from the journal the cumulative claw-back must still count the first (P = 10,
    A = 100,000: 15,000 then 15,000 claw 1 then 2)."""
    then = NOW - dt.timedelta(days=40)
    sh = Shell(db, now=then)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=then), then)
    sh.restart(NOW)
    with sh.group_commit():
        _, first = ret(sh, T1, A, 15_000, rrn(earned))
        _, second = ret(sh, T1, A, 15_000, rrn(earned))
    assert (tags(first)["RD"], tags(second)["RD"]) == ("1", "2")
    assert balance(sh, A) == 7
    sh.close()


def test_a_full_return_of_a_spent_earn_read_from_the_journal_leaves_its_debt(db: Path) -> None:
    """docs/switch.md, Return: an earn older than the cache whose lot was spent: the claw-back
    makes that lot (read back from the journal, no longer live) a debt of its store."""
    then = NOW - dt.timedelta(days=40)
    sh = Shell(db, now=then)
    earned = sh.send(earn(T3, sh.next_stan(), A, 200_000, now=then), then)   # 10, STORE3
    (lot,) = sh.lots(A)
    sh.send(burn(T2, sh.next_stan(), A, 10_000, tags={"RP": "10"}, now=then), then)
    sh.restart(NOW)
    _, full = ret(sh, T1, A, 200_000, rrn(earned))
    assert (rc(full), tags(full)["RD"], points_balance(full)) == ("00", "10", -10)
    assert sh.move_stores(rrn(full)) == [(lot, "STORE0000000003", -10)]
    assert sh.lots(A)[lot][3] == -10
    assert sh.store.check(full=True).problems == []
    sh.restart(NOW)
    assert balance(sh, A) == -10
    sh.close()


def test_a_return_of_nothing_is_refused_and_of_one_is_not(db: Path) -> None:
    """docs/protocol.md §5 `13` invalid amount: a return of DE4 = 0 returns nothing; a return
    of 1 is valid (it claws floor(P x 1 / A) = 0 points). A return without `OR` is `30`."""
    sh = Shell(db)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    _, zero = ret(sh, T1, A, 0, rrn(earned))
    assert rc(zero) == "13" and sh.moves(rrn(zero)) == []
    _, one = ret(sh, T1, A, 1, rrn(earned))
    assert (rc(one), tags(one)["RD"], points_balance(one)) == ("00", "0", 10)
    bare = sh.send(build("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=5_000))
    assert rc(bare) == "30"
    (detail,), = sh.sql("SELECT detail FROM journal WHERE id = ?", (int(rrn(bare)),))
    assert json.loads(str(detail)) == {"reason": "a return needs DE48 OR, the original's RRN "
                                                  "(12 digits 0-9)"}
    assert balance(sh, A) == 10
    sh.close()


def test_the_last_point_of_a_claw_back_comes_from_another_lot(db: Path) -> None:
    """docs/switch.md, Return: own lot first, then other lots, a debt only beyond them: with 9
    left in the earn's lot, a full return of 10 takes those 9 and 1 of the other lot."""
    sh = Shell(db)
    first = sh.send(earn(T1, sh.next_stan(), A, 100_000))           # lot 1: 10, STORE1
    sh.send(earn(T3, sh.next_stan(), A, 100_000))                   # lot 2: 5, STORE3
    own, other = sorted(sh.lots(A))
    sh.send(burn(T2, sh.next_stan(), A, 1_000, tags={"RP": "1"}))
    _, full = ret(sh, T1, A, 100_000, rrn(first))
    assert sh.moves(rrn(full)) == [(own, -9), (other, -1)]
    assert points_balance(full) == 4
    sh.close()


def test_a_reversal_not_yet_committed_counts_for_the_next_return(db: Path) -> None:
    """docs/switch.md, the request path: decisions applied but not yet committed are read in
    memory. A reversal of a committed partial return, decided in the same group commit as a
    full return of its earn, frees the whole amount (RD = P); a reversal of the committed earn
    itself, not yet committed either, makes the next return `25`."""
    then = NOW - dt.timedelta(days=1)                  # within the idempotency window
    sh = Shell(db, now=then)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000, now=then), then)       # P = 10
    partial_msg, partial = ret(sh, T1, A, 40_000, rrn(earned), now=then)
    assert tags(partial)["RD"] == "4"
    other_msg = earn(T1, sh.next_stan(), A, 30_000, now=then)                    # 3 points
    other = sh.send(other_msg, then)
    sh.restart(NOW)
    with sh.group_commit():
        assert rc(sh.send(reversal_of(partial_msg, sh.next_stan()))) == "00"
        _, full = ret(sh, T1, A, 100_000, rrn(earned))
        assert rc(sh.send(reversal_of(other_msg, sh.next_stan()))) == "00"
        _, refused = ret(sh, T1, A, 30_000, rrn(other))
    assert (rc(full), tags(full)["RD"]) == ("00", "10")
    assert rc(refused) == "25" and sh.moves(rrn(refused)) == []
    assert balance(sh, A) == 0
    sh.close()


def test_a_return_naming_what_is_not_an_approved_earn_is_declined(db: Path) -> None:
    """docs/switch.md, Return: `OR` names an earn; a row that is not an approved earn (a
    redemption, an inquiry, a declined earn) is `25` with no effect. A card met for the first
    time by such a return is enrolled all the same (docs/switch.md, Card: enrolled on first
    use), and the state recovered from the journal says the same."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    redeemed = sh.send(burn(T2, sh.next_stan(), A, 3_000, tags={"RP": "3"}))
    asked = sh.send(inquiry(T1, sh.next_stan(), A))
    declined = sh.send(earn(T1, sh.next_stan(), A, 0))
    assert (rc(redeemed), rc(asked), rc(declined)) == ("00", "00", "13")
    for named in (redeemed, asked, declined):
        _, refused = ret(sh, T1, A, 1_000, rrn(named))
        assert rc(refused) == "25" and sh.moves(rrn(refused)) == [], rrn(named)
    newcomer = card(203)
    _, first_use = ret(sh, T1, newcomer, 1_000, rrn(redeemed))
    assert rc(first_use) == "25"
    assert sh.sql("SELECT status FROM cards WHERE pan = ?", (newcomer,)) == [("active",)]
    sh.restart(NOW)
    assert (balance(sh, A), balance(sh, newcomer)) == (7, 0)
    sh.close()


@pytest.mark.parametrize("restart", [False, True], ids=["cache", "restarted"])
def test_a_second_return_of_a_spent_earn_adds_to_its_debt(db: Path, restart: bool) -> None:
    """docs/switch.md, Return: beyond the card's lots the earn's lot goes negative; a second
    return of the same spent earn deepens that debt by its own claw-back (P = 10: 5, then 5
    more), whether the earn's lot is read from memory or the journal."""
    sh = Shell(db)
    earned = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    (lot,) = sh.lots(A)
    sh.send(burn(T2, sh.next_stan(), A, 10_000, tags={"RP": "10"}))
    _, half = ret(sh, T1, A, 50_000, rrn(earned))
    assert (rc(half), tags(half)["RD"], points_balance(half)) == ("00", "5", -5)
    if restart:
        sh.restart(NOW)
    _, rest = ret(sh, T1, A, 50_000, rrn(earned))
    assert (rc(rest), tags(rest)["RD"], points_balance(rest)) == ("00", "5", -10)
    assert sh.moves(rrn(rest)) == [(lot, -5)]
    assert sh.lots(A)[lot][3] == -10
    assert sh.store.check(full=True).problems == []
    sh.close()


def test_a_days_first_message_a_return_keeps_the_tier_until_the_night(db: Path) -> None:
    """docs/programs.md "Tiers": a return changes the spend from the next night; the tier of
    the day's cut-over is fixed before the return's own change, also when the return is the
    card's first message of the day. 60,000,000 IRR on 1 November is SILVER (50,000,000);
    returning half on 2 November leaves 30,000,000: SILVER all of 2 November (the return, an
    inquiry after it, and after a restart), BLUE from 3 November."""
    cfg = example_config(db)
    sh = Shell(db, cfg=cfg, rules=program_rules(cfg))
    first, second, third = tehran(2026, 11, 1), tehran(2026, 11, 2), tehran(2026, 11, 3)
    earned = sh.send(earn(T1, sh.next_stan(), A, 60_000_000, now=first), first)
    assert tags(earned)["TR"] == "SILVER"
    _, back = ret(sh, T1, A, 30_000_000, rrn(earned), now=second)
    assert (rc(back), tags(back)["TR"]) == ("00", "SILVER")
    shown = sh.send(inquiry(T1, sh.next_stan(), A, now=second), second)
    assert tags(shown)["TR"] == "SILVER"
    sh.restart(second)
    shown = sh.send(inquiry(T1, sh.next_stan(), A, now=second), second)
    assert tags(shown)["TR"] == "SILVER"
    shown = sh.send(inquiry(T1, sh.next_stan(), A, now=third), third)
    assert tags(shown)["TR"] == "BLUE"
    sh.close()


MEMBER = card(71)


def _tags(d: Decision) -> dict[str, str]:
    assert d.response is not None and d.response.fields[39] == "00", d.reason
    return parse_tlv(str(d.response.fields.get(48, "")))


def test_a_return_takes_no_spend_its_earn_did_not_count(tmp_path: Path) -> None:
    """docs/programs.md "Tiers": the 12-month spend is the earns' DE4 net of returns. The base
    rules count no spend, but a return subtracted its amount from a card a paid membership had
    given club state to: a spend below 0 qualifies for no tier, and the next day the card had
    none (no `TR` on a discount of a coalition with tiers)."""
    j = Journaled(tmp_path)  # the base rules, as in the simulations
    j.send(sign_on(T1))
    j.send(sign_on(T2))
    purchase = j.send(earn(T1, 1, MEMBER, 100_000)).response
    assert purchase is not None
    sold = build("0200", T1, 2, pan=MEMBER, pc="950000", amount=4_000_000,
                 tags={"ML": "silver"})
    assert j.rc(sold) == "00" and j.rc(reversal_of(sold, 3)) == "00"
    back = build("0200", T1, 4, pan=MEMBER, pc="200000", amount=1,
                 tags={"OR": str(purchase.fields[37])})
    assert j.rc(back) == "00"
    j.restart()
    day2 = NOW + dt.timedelta(days=1)
    discount = build("0200", T2, 5, pan=MEMBER, pc="940000", amount=5_000_000, now=day2)
    assert _tags(j.send(discount, day2))["TR"] == "BLUE"
    j.restart(day2)
