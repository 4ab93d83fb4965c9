"""`apply` refuses each kind of decision that does not fit its state, and says which.

docs/switch.md, "The request path", step 6: before installing anything `apply` checks that
the journal id is the next one and carries its one entry, that new lots take the next lot ids,
that each changed card is the one enrolled (or newly enrolled) and its balances move by exactly
what its entry says, that no lot is another card's, empty or of another kind, that no limit is
passed further (the batch counts against the count limit, the amounts against the amount limit,
docs/protocol.md §10), that a remembered key is new and a reversed original is remembered
unreversed, that a mobile account's card is the virtual card the decision enrolls
(docs/customers.md "Mobile numbers at the POS") and that new programs change programs only
(docs/programs.md "Changing programs while the switch runs"). A failed check stops the switch:
its message is all an operator has to find the bug, so each test pins the whole message, and
the state must be exactly as it was. Each decision is one the core made on this state, broken
by hand in one fact; the decisions that do fit (a profile with no journal row, a reload, two
mobile numbers enrolled in one group commit) are installed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TypeVar

import pytest

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90
from switch.core import Decision, MoneyLimits, State, apply, handle
from switch.core.admin import decide_profile
from switch.core.model import STORED_VALUE, TerminalState, Totals
from switch.core.outcome import Changes, ProgramSwap
from switch.core.program_change import decide_programs
from switch.core.programs.club import Profile
from switch.core.programs.rules import program_rules
from tests.customers.support import VIRTUAL_BIN, by_mobile
from tests.money.support import Shell, rc, scratch_dir
from tests.money.test_apply_checks import PAN, everything, overdrawn, two_lots
from tests.switch.support import NOW, T1, T2, T3, burn, card, decided, earn, request, sign_on

KEY = (T1, "000001")
T = TypeVar("T")


def refused_with(state: State, decision: Decision, message: str) -> None:
    """`apply` raises `AssertionError(message)`, word for word, and changes nothing."""
    before = everything(state)
    with pytest.raises(AssertionError) as failed:
        apply(state, decision)
    assert str(failed.value) == message
    assert everything(state) == before


def an_earn(state: State, stan: int = 3) -> Decision:
    d = decided(state, earn(T1, stan, PAN, 100_000))
    assert d.changes is not None and d.changes.journal_id == state.next_journal_id
    return d


def a_redemption(state: State, stan: int = 3) -> Decision:
    d = decided(state, burn(T1, stan, PAN, 5_000, tags={"RP": "5"}))
    assert d.response is not None and d.response.fields[39] == "00"
    assert d.changes is not None and d.changes.card is not None
    return d


# -- journal ids ------------------------------------------------------------------------------

def test_a_journal_id_that_is_not_next_is_refused() -> None:
    state = two_lots()
    n = state.next_journal_id
    d = an_earn(state)
    assert d.changes is not None
    d.changes.journal_id = d.entries[0].id = n + 1
    refused_with(state, d, f"journal id {n + 1} does not follow {n - 1}")


@pytest.mark.parametrize("broken", ["another id", "no entry", "two entries"])
def test_a_journal_id_carries_exactly_its_one_entry(broken: str) -> None:
    state = two_lots()
    n = state.next_journal_id
    d = an_earn(state)
    if broken == "another id":
        d.entries[0].id = n + 1
    elif broken == "no entry":
        d.entries = []
    else:
        d.entries.append(dataclasses.replace(d.entries[0]))
    refused_with(state, d, f"decision #{n} does not carry its one entry")


def test_an_entry_needs_a_journal_id_and_changes() -> None:
    state = two_lots()
    entry = an_earn(state).entries[0]
    refused_with(state, Decision(None, [entry], changes=Changes()),
                 "an entry without a journal id")
    refused_with(state, Decision(None, [entry]), "a decision with an entry but no changes")


def test_new_lots_need_new_lot_ids() -> None:
    state = two_lots()
    d = an_earn(state)
    assert d.changes is not None and d.entries[0].new_lots
    d.changes.lots_upto = None
    refused_with(state, d, "new lots without new lot ids")
    d.changes.lots_upto = state.next_lot_id + 2
    refused_with(state, d, f"lot ids [{state.next_lot_id}] do not follow "
                           f"{state.next_lot_id - 1}")


# -- cards ------------------------------------------------------------------------------------

@pytest.mark.parametrize("moves", ["points", "stored value", "lot moves"])
def test_an_entry_moving_lots_must_change_its_card(moves: str) -> None:
    """Each of the entry's balance columns and its lot moves counts on its own."""
    state = two_lots()
    d = a_redemption(state)
    assert d.changes is not None
    entry = d.entries[0]
    deltas = entry.lot_deltas
    assert entry.points == -5 and deltas and not entry.new_lots
    entry.points, entry.sv, entry.lot_deltas = 0, 0, []
    if moves == "points":
        entry.points = -5
    elif moves == "stored value":
        entry.sv = -5
    else:
        entry.lot_deltas = deltas
    d.changes.card = None
    refused_with(state, d, f"entry #{entry.id} moves lots but changes no card")


def test_a_new_card_must_not_be_enrolled_and_a_changed_one_must() -> None:
    state = two_lots()
    d = an_earn(state)
    assert d.changes is not None and d.changes.card is not None
    d.changes.new_card = True
    refused_with(state, d, "the card is enrolled already")
    d.changes.new_card = False
    d.changes.card = dataclasses.replace(d.changes.card, pan=card(802))
    refused_with(state, d, "the card is not enrolled")


def test_lots_left_as_they_were_while_the_entry_moves_them_are_refused() -> None:
    state = two_lots()
    d = a_redemption(state)
    assert d.changes is not None and d.changes.card is not None
    d.changes.card = dataclasses.replace(d.changes.card, lots=state.cards[PAN].lots)
    refused_with(state, d, "the card's points lots are unchanged, its entry moves -5")


def test_a_purse_is_checked_when_the_points_are_unchanged() -> None:
    """A top-up leaves the points as they are; a purse moving by other than its entry's `sv`
    is refused all the same."""
    state = two_lots()
    d = decided(state, request("0200", T3, 3, pan=PAN, pc="210060", amount=50_000))
    assert d.response is not None and d.response.fields[39] == "00"
    assert d.changes is not None and d.changes.card is not None
    entry = d.entries[0]
    assert entry.sv > 0 and entry.points == 0
    d.changes.card = dataclasses.replace(d.changes.card, lots=state.cards[PAN].lots)
    entry.sv -= 1
    refused_with(state, d, f"the card's {STORED_VALUE} change by {entry.sv + 1}, its entry "
                           f"says {entry.sv}")


def test_the_message_counts_debts_on_both_sides() -> None:
    """A card owing 5 on lot 2 (a return's claw-back) redeems 5 from lot 1: its points move
    by -5 (10 - 5 before, 5 - 5 after), not by what the entry is made to say."""
    state = two_lots()
    apply(state, overdrawn(state, "return"))
    d = a_redemption(state, stan=4)
    d.entries[0].points = -4
    refused_with(state, d, "the card's points change by -5, its entry says -4")


@pytest.mark.parametrize("stray", ["empty", "another card's", "a purse lot"])
def test_a_lot_that_is_not_a_live_lot_of_the_card_is_refused(stray: str) -> None:
    """Balances still add up in each case: the lot itself does not belong."""
    state = two_lots()
    d = a_redemption(state)
    assert d.changes is not None and d.changes.card is not None
    lots = sorted(d.changes.card.lots, key=lambda lot: lot.id)
    lot = lots[-1]
    if stray == "empty":
        lots.append(dataclasses.replace(lot, id=state.next_lot_id, remaining=0))
        message = (f"lot {state.next_lot_id} does not belong in the card's points lots "
                   "(remaining 0)")
    else:
        lots[-1] = (dataclasses.replace(lot, pan=card(802)) if stray == "another card's"
                    else dataclasses.replace(lot, kind=STORED_VALUE))
        message = (f"lot {lot.id} does not belong in the card's points lots "
                   f"(remaining {lot.remaining})")
    d.changes.card = dataclasses.replace(d.changes.card, lots=lots)
    refused_with(state, d, message)


def test_a_profile_changes_the_card_and_nothing_else() -> None:
    """A customer profile held on the card (docs/customers.md) is a change without a journal
    row: installed, and refused when the card's lots move with it."""
    state = two_lots()
    name = "مریم\u200cسادات"
    d = decide_profile(state, PAN, Profile(name=name))
    assert not d.entries
    apply(state, d)
    club = state.cards[PAN].club
    assert club is not None and club.profile is not None and club.profile.name == name
    assert sorted((lot.id, lot.remaining) for lot in state.cards[PAN].lots) == \
        [(1, 10), (2, 10)]
    d = decide_profile(state, PAN, None)
    assert d.changes is not None and d.changes.card is not None
    d.changes.card = dataclasses.replace(d.changes.card, lots=state.cards[PAN].lots[:1])
    refused_with(state, d, "the card's points change by -10, its entry says 0")


# -- mobile accounts --------------------------------------------------------------------------

MOBILE_CARD = "a mobile account's card is not the virtual card this decision enrolls"


def _by_mobile(state: State, stan: int, mobile: str) -> Decision:
    d = decided(state, by_mobile("0200", T1, stan, mobile, "000000", 100_000))
    assert d.response is not None and d.response.fields[39] == "00", d.reason
    assert d.changes is not None and d.changes.account is not None and d.changes.new_card
    return d


@pytest.mark.parametrize("broken", ["not virtual", "another card", "not new"])
def test_a_mobile_account_gets_the_virtual_card_its_decision_enrolls(broken: str) -> None:
    state = two_lots()
    d = _by_mobile(state, 3, "09121234567")
    ch = d.changes
    assert ch is not None and ch.card is not None and ch.account is not None
    if broken == "not virtual":
        ch.card = dataclasses.replace(ch.card, virtual=False)
    elif broken == "another card":
        ch.account = dataclasses.replace(ch.account, pan=PAN)
    else:
        # The account names a card enrolled already and left as it is.
        ch.new_card, ch.card = False, state.cards[PAN]
        ch.account = dataclasses.replace(ch.account, pan=PAN)
        entry = d.entries[0]
        entry.points, entry.new_lots, ch.lots_upto = 0, [], None
    refused_with(state, d, MOBILE_CARD)


def test_a_mobile_number_whose_card_is_being_made_is_refused_another() -> None:
    state = two_lots()
    first = _by_mobile(state, 3, "09121234567")
    assert first.changes is not None and first.changes.account is not None
    apply(state, first)
    d = _by_mobile(state, 4, "09351112222")
    assert d.changes is not None and d.changes.account is not None
    d.changes.account = dataclasses.replace(d.changes.account,
                                            mobile=first.changes.account.mobile)
    refused_with(state, d, MOBILE_CARD)


def test_numbers_enrolled_in_one_group_commit_get_the_next_virtual_cards() -> None:
    """Before their commit, a number's second request finds the card its first made, and the
    next number gets the next serial of the range (docs/customers.md)."""
    with scratch_dir() as tmp:
        sh = Shell(tmp / "j.db")
        with sh.group_commit():
            first = [sh.send(by_mobile("0200", T1, sh.next_stan(), number, "000000", 100_000))
                     for number in ("09121234567", "09121234567", "09351112222",
                                    "09351112222")]
        assert [rc(r) for r in first] == ["00"] * 4
        pans = [str(p) for p, in sh.sql(
            "SELECT pan FROM account_cards WHERE virtual = TRUE ORDER BY pan")]
        assert len(pans) == 2 and all(p.startswith(VIRTUAL_BIN) for p in pans)
        serials = [int(p[len(VIRTUAL_BIN):-1]) for p in pans]
        assert serials[1] == serials[0] + 1
        assert [int(str(n)) for n, in sh.sql(
            "SELECT COUNT(*) FROM journal WHERE pan IN (?, ?) GROUP BY pan ORDER BY pan",
            tuple(pans))] == [2, 2]
        sh.restart(NOW)
        third = sh.send(by_mobile("0200", T1, sh.next_stan(), "09127654321", "000000",
                                  100_000))
        assert rc(third) == "00"
        (latest,), = sh.sql("SELECT MAX(pan) FROM account_cards WHERE virtual = TRUE")
        assert int(str(latest)[len(VIRTUAL_BIN):-1]) == serials[1] + 1
        sh.close()


# -- terminals, memory, reversals -------------------------------------------------------------

def test_an_unknown_terminal_is_refused() -> None:
    state = two_lots()
    stranger = TerminalState(id="T0000099", store="STORE0000000001", signed_on=True)
    refused_with(state, Decision(None, changes=Changes(terminal=stranger)),
                 "unknown terminal 'T0000099'")


def test_the_message_names_the_key_remembered_already() -> None:
    state = two_lots()
    d = a_redemption(state)
    assert d.changes is not None and d.changes.remember is not None
    first_earn = next(k for k in state.txns if k.startswith(f"{T1}|000001|"))
    d.changes.remember = (first_earn, d.changes.remember[1])
    refused_with(state, d, f"request {first_earn} is remembered already")


def _reversal_of_first_earn(state: State) -> Decision:
    original = earn(T1, 1, PAN, 100_000)
    d = decided(state, request("0400", T1, 7, pan=PAN, pc="000000", amount=100_000,
                               extra={90: _de90(original)}, batch=None))
    assert d.response is not None and d.response.fields[39] == "00", d.reason
    assert d.changes is not None and d.changes.reversed is not None
    return d


def _de90(original: Message) -> str:
    return build_de90(OriginalData(original.mti, original.text(11), original.text(7)))


@pytest.mark.parametrize("broken", ["reversed already", "another row"])
def test_only_a_remembered_unreversed_original_is_reversed(broken: str) -> None:
    state = two_lots()
    d = _reversal_of_first_earn(state)
    assert d.changes is not None and d.changes.reversed is not None
    key, record = d.changes.reversed
    if broken == "reversed already":
        apply(state, d)
    else:
        record = record._replace(journal_id=record.journal_id + 1)
    refused_with(state, Decision(None, changes=Changes(reversed=(key, record))),
                 f"#{record.journal_id} is not a remembered, unreversed original")


# -- batch totals (docs/protocol.md §4, §10) --------------------------------------------------

def test_totals_without_an_entry_counting_them_are_refused() -> None:
    state = two_lots()
    refused_with(state, Decision(None, changes=Changes(totals=(KEY, Totals(credits=3)))),
                 f"batch totals {KEY} change without an entry counting in them")
    d = an_earn(state)
    counted = d.entries[0].totals
    assert counted is not None
    d.entries[0].totals = dataclasses.replace(counted, batch="000002")
    refused_with(state, d, f"batch totals {KEY} change without an entry counting in them")


def test_batch_amounts_are_held_to_the_amount_limit_not_the_count_limit() -> None:
    """Under a count limit of 1 an earn of 100,000 IRR and a redemption of 5,000 are each
    counted: their amounts are far above 1."""
    state = two_lots()
    state.limits = MoneyLimits(max_batch_count=1)
    d = handle(state, burn(T1, 3, PAN, 5_000, tags={"RP": "5"}), NOW)
    assert d.response is not None and d.response.fields[39] == "00"
    assert state.totals[KEY].as_tuple() == (1, 100_000, 0, 0, 1, 5_000, 0, 0)


def test_a_batch_amount_is_held_to_the_amount_limit_beside_a_count_beyond_its_own() -> None:
    """A count limit lowered below the batch's two credits leaves them where they are
    (docs/protocol.md §10); a redemption then adds one debit and 5,000 IRR, far above the
    count limit of 1 and within the amount limit: approved and installed."""
    state = two_lots()
    first = handle(state, earn(T1, 3, PAN, 100_000), NOW).response
    assert first is not None and rc(first) == "00"
    state.limits = MoneyLimits(max_batch_count=1)
    d = handle(state, burn(T1, 4, PAN, 5_000, tags={"RP": "5"}), NOW)
    assert d.response is not None and rc(d.response) == "00"
    assert state.totals[KEY].as_tuple() == (2, 200_000, 0, 0, 1, 5_000, 0, 0)


def _lowered(state: State, d: Decision, **limits: int) -> str:
    assert d.changes is not None and d.changes.totals is not None
    state.limits = MoneyLimits(**limits)
    return f"batch totals {KEY} out of bounds: {d.changes.totals[1].as_tuple()}"


def test_a_batch_count_past_a_lowered_limit_is_refused() -> None:
    """The debit count (the fifth of the totals) is held to the count limit."""
    state = two_lots()
    d = a_redemption(state)
    refused_with(state, d, _lowered(state, d, max_batch_count=0))


def test_a_batch_amount_past_a_lowered_limit_is_refused() -> None:
    state = two_lots()
    d = an_earn(state)
    refused_with(state, d, _lowered(state, d, max_batch_amount=199_999))


def _alone(state: State, **limits: int) -> tuple[Decision, str]:
    """A redemption at T2, whose batch holds nothing else (no credits, no reversals), then
    the limits lowered under it: the batch's other counts and amounts stay 0, within any."""
    assert handle(state, sign_on(T2), NOW).response is not None
    d = decided(state, burn(T2, 3, PAN, 5_000, tags={"RP": "5"}))
    assert d.changes is not None and d.changes.totals is not None
    key, after = d.changes.totals
    assert key == (T2, "000001") and after.as_tuple() == (0, 0, 0, 0, 1, 5_000, 0, 0)
    state.limits = MoneyLimits(**limits)
    return d, f"batch totals {key} out of bounds: {after.as_tuple()}"


def test_a_debit_count_alone_past_a_lowered_limit_is_refused() -> None:
    """docs/protocol.md §10: every count of the batch is held to the count limit, the debit
    count too when it is the only count above 0."""
    state = two_lots()
    refused_with(state, *_alone(state, max_batch_count=0))


def test_a_debit_amount_alone_past_a_lowered_limit_is_refused() -> None:
    """Every amount is held to the amount limit, the debit amount too when the batch holds no
    other amount and its one count is within the count limit."""
    state = two_lots()
    refused_with(state, *_alone(state, max_batch_amount=4_999))


def test_a_batch_total_may_not_shrink_by_a_count() -> None:
    """An entry counting -1 credits and totals that follow it: counts only grow."""
    state = two_lots()
    d = an_earn(state)
    assert d.changes is not None and d.changes.totals is not None
    counted = d.entries[0].totals
    assert counted is not None
    d.entries[0].totals = dataclasses.replace(counted, credits=-1)
    after = dataclasses.replace(d.changes.totals[1], credits=state.totals[KEY].credits - 1)
    d.changes.totals = (KEY, after)
    refused_with(state, d, f"batch totals {KEY} out of bounds: {after.as_tuple()}")


@pytest.mark.parametrize("field", ["credits", "credit_amount", "debit_amount"])
def test_totals_that_do_not_add_up_to_the_entry_are_refused(field: str) -> None:
    state = two_lots()
    d = an_earn(state)
    assert d.changes is not None and d.changes.totals is not None
    before = state.totals[KEY]
    after = dataclasses.replace(d.changes.totals[1],
                                **{field: getattr(d.changes.totals[1], field) + 1})
    d.changes.totals = (KEY, after)
    refused_with(state, d, f"batch totals {KEY} go from {before.as_tuple()} to "
                           f"{after.as_tuple()}, their entry counts "
                           f"{d.entries[0].totals.as_tuple() if d.entries[0].totals else ()}")


# -- programs (docs/programs.md "Changing programs while the switch runs") --------------------

def _reload(state: State) -> Decision:
    return decide_programs(state, state.config, program_rules(state.config), "ab" * 32,
                           "lps.toml", "", NOW)


def test_new_programs_are_installed_and_decide_what_follows() -> None:
    state = two_lots()
    version = state.program_version
    apply(state, _reload(state))
    apply(state, _reload(state))
    assert state.program_version == version + 2
    d = handle(state, earn(T1, 3, PAN, 100_000), NOW)
    assert d.response is not None and d.response.fields[39] == "00"
    assert d.entries[0].program_version == version + 2


def _swap(d: Decision, change: Callable[[ProgramSwap], ProgramSwap]) -> Decision:
    assert d.changes is not None and d.changes.programs is not None
    d.changes.programs = change(d.changes.programs)
    return d


def test_a_program_version_must_follow_the_one_in_force() -> None:
    state = two_lots()
    v = state.program_version
    d = _swap(_reload(state), lambda p: dataclasses.replace(p, version=v + 2))
    refused_with(state, d, f"program version {v + 2} does not follow {v}")


def _less(mapping: Mapping[str, T]) -> dict[str, T]:
    """`mapping` without its first key."""
    return {k: v for k, v in mapping.items() if k != next(iter(mapping))}


@pytest.mark.parametrize("part", ["switch", "stores", "terminals", "coalitions"])
def test_new_programs_may_not_change_what_is_not_a_program(part: str) -> None:
    state = two_lots()
    cfg = state.config
    if part == "switch":
        other = dataclasses.replace(cfg, switch=dataclasses.replace(
            cfg.switch, return_window_days=cfg.switch.return_window_days + 1))
    elif part == "stores":
        other = dataclasses.replace(cfg, stores=_less(cfg.stores))
    elif part == "terminals":
        other = dataclasses.replace(cfg, terminals=_less(cfg.terminals))
    else:
        other = dataclasses.replace(cfg, coalitions=_less(cfg.coalitions))
    d = _swap(_reload(state), lambda p: dataclasses.replace(p, config=other))
    refused_with(state, d, "new programs would change more than the programs")

