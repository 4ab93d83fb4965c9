"""No message may invent value, misapply a reversal or stop a restart (docs/protocol.md §4,
§10; docs/switch.md, "The request path").

One test per defect an attacker reproduced with one unauthenticated connection and the example
configuration; each ends with a restart from the journal that must give every card the balance
it had (`Journaled.restart`: invariants, recovery, the recovered state equal to the live one).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54, parse_tlv
from switch.config import Coalition, Store
from switch.core import (
    BaseRules,
    Card,
    EarnContext,
    EarnResult,
    MoneyLimits,
    State,
    handle,
    journaled,
    new_state,
    snapshot,
)
from switch.core.limits import TWELVE_DIGITS
from tests.programs.support import config_with
from tests.switch.journaled import Journaled
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    batch_close,
    burn,
    card,
    earn,
    example_config,
    request,
    reversal,
    sign_on,
)

A, B, NEW = card(61), card(62), card(63)
MAX = TWELVE_DIGITS


def balances(resp: Message | None) -> list[tuple[str, int]]:
    assert resp is not None
    return [(e.account_type, e.amount) for e in parse_de54(str(resp.fields[54]))]


def code(resp: Message | None) -> str:
    assert resp is not None
    return str(resp.fields[39])


# -- overflow: nothing may grow past what DE54 (12 digits) can show -----------------------------


def test_a_topup_whose_bonus_passes_twelve_digits_is_declined_and_makes_no_value(
        tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T3))
    # 999,999,999,999 + 15 % does not fit DE54: declined before anything is credited.
    topup = request("0200", T3, 1, pan=A, pc="210060", amount=MAX)
    assert j.rc(topup) == "61"
    assert j.state.cards[A].purse == [] and j.state.cards[A].stored_value == 0
    # So there is nothing to spend.
    assert j.rc(request("0200", T3, 2, pan=A, pc="006000", amount=MAX)) == "51"
    # The largest top-up that fits is approved, and its balance shows.
    fits = MAX * 100 // 115
    r = j.send(request("0200", T3, 3, pan=A, pc="210060", amount=fits)).response
    assert code(r) == "00" and balances(r)[1] == ("60", fits + fits * 15 // 100)
    j.restart()


def test_maximal_earns_on_one_card_are_declined_at_the_cap(tmp_path: Path) -> None:
    cfg = config_with(lambda data: data["store"]["STORE0000000001"].__setitem__(
        "earn", {"points_per": 1, "points": 1}))
    cfg = dataclasses.replace(cfg, switch=dataclasses.replace(cfg.switch,
                                                              database=tmp_path / "lps.db"))
    j = Journaled(tmp_path, cfg)
    j.send(sign_on(T1))
    first = j.send(earn(T1, 1, A, MAX)).response
    assert code(first) == "00" and balances(first) == [("00", MAX)]
    assert j.rc(earn(T1, 2, A, MAX)) == "61"
    assert j.rc(earn(T1, 3, A, 1)) == "61"        # exactly at the cap: not one point more
    assert j.points(A) == MAX
    assert j.rc(burn(T1, 4, A, 1, tags={"RP": "1"})) == "00"
    assert j.rc(earn(T1, 5, A, 1)) == "00"
    assert j.points(A) == MAX
    j.restart()


def test_the_limits_are_data(tmp_path: Path) -> None:
    limits = MoneyLimits(max_amount=1_000_000, max_points=100, max_stored_value=200_000,
                         max_topup=150_000)
    j = Journaled(tmp_path, limits=limits)
    for tid in (T1, T3):
        j.send(sign_on(tid))
    assert j.rc(earn(T1, 1, A, 1_000_001)) == "61"          # DE4 over the largest amount
    assert j.rc(earn(T1, 2, A, 1_000_000)) == "00"          # 100 points: the cap
    assert j.rc(earn(T1, 3, A, 10_000)) == "61"
    assert j.rc(request("0200", T3, 4, pan=A, pc="210060", amount=140_000)) == "61"  # +15 %
    assert j.rc(request("0200", T3, 5, pan=A, pc="210060", amount=130_000)) == "00"
    assert j.rc(request("0200", T3, 6, pan=A, pc="210060", amount=60_000)) == "61"  # > 200,000
    assert (j.points(A), j.state.cards[A].stored_value) == (100, 149_500)
    j.restart()


# -- a reversal must match its original -----------------------------------------------------------


def test_a_reversal_naming_another_cards_redemption_is_declined_and_changes_nothing(
        tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    for tid in (T1, T2):
        j.send(sign_on(tid))
    assert j.rc(earn(T1, 1, A, 100_000)) == "00"
    assert j.rc(earn(T1, 2, B, 100_000)) == "00"
    redemption = burn(T1, 3, A, 5_000)
    assert j.rc(redemption) == "00"
    assert (j.points(A), j.points(B)) == (5, 10)
    other_card = reversal(redemption, 4)
    other_card.fields[2] = B
    assert j.rc(other_card) == "12"
    assert j.rc(other_card) == "12"                           # remembered: the same answer
    assert j.rc(reversal(redemption, 4)) == "94"              # its key, other content
    assert (j.points(A), j.points(B)) == (5, 10)
    j.restart()
    # The genuine reversal (its own STAN) is still possible, and undoes the redemption once.
    assert j.rc(reversal(redemption, 5)) == "00"
    assert j.rc(reversal(redemption, 6)) == "00"
    assert (j.points(A), j.points(B)) == (10, 10)
    j.restart()


def _other_amount(rev: Message) -> None:
    rev.fields[4] = f"{4_000:012d}"  # there are no partial reversals


def _other_code(rev: Message) -> None:
    rev.fields[3] = "000000"


def _other_track2(rev: Message) -> None:
    del rev.fields[2]
    rev.fields[35] = f"{B}=2912"


def _advice_in_de90(rev: Message) -> None:
    rev.fields[90] = "0220" + rev.text(90)[4:]


@pytest.mark.parametrize(("change", "why"), [
    (_other_amount, "amount"), (_other_code, "processing code"), (_other_track2, "card"),
    (_advice_in_de90, "MTI"),
])
def test_a_reversal_that_differs_from_its_original_is_declined(
        tmp_path: Path, change: Callable[[Message], None], why: str) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    j.send(earn(T1, 1, A, 100_000))
    redemption = burn(T1, 2, A, 5_000)
    j.send(redemption)
    rev = reversal(redemption, 3)
    change(rev)
    d = j.send(rev)
    assert code(d.response) == "12" and why in d.entries[0].detail["mismatch"]
    assert d.entries[0].lot_deltas == [] and d.entries[0].original_id is None
    assert j.points(A) == 5
    j.restart()
    assert j.rc(reversal(redemption, 4)) == "00" and j.points(A) == 10


# -- numbers are ASCII 0-9 -----------------------------------------------------------------------


@pytest.mark.parametrize("rp", ["002\u00b2", "\u0665", "\uff11\uff12", "-1", "1 "])
def test_rp_with_other_digits_is_a_format_error_and_enrols_nothing(
        tmp_path: Path, rp: str) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    d = j.send(burn(T1, 1, NEW, 1_000, tags={"RP": rp}))
    assert code(d.response) == "30"
    assert NEW not in j.state.cards and d.entries[0].card is None
    j.restart()
    assert NEW not in j.state.cards


@pytest.mark.parametrize(("number", "value"), [
    (4, "\uff10" * 11 + "\uff11"),      # full-width digits
    (4, "\u0660" * 11 + "\u0661"),      # Arabic-Indic digits
    (7, "112310000\u00b2"),
    (14, "29\u06f1\u06f2"),             # Persian digits
    (3, "00000\u0660"),
])
def test_other_digits_in_numeric_fields_are_a_format_error(
        tmp_path: Path, number: int, value: str) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    msg = earn(T1, 1, NEW, 10_000, extra={number: value})
    assert j.rc(msg) == "30"
    assert NEW not in j.state.cards
    j.restart()


def test_a_stan_in_other_digits_cannot_be_answered(tmp_path: Path) -> None:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    d = handle(state, earn(T1, 1, A, 10_000, extra={11: "00000\u0661"}), NOW)
    assert d.response is None and d.close and d.entries == []


# -- protocol rules from schemas/lps87.toml ----------------------------------------------------


def test_a_field_outside_lps87_is_a_format_error(tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    d = j.send(earn(T1, 1, A, 100_000, extra={5: "000000100000"}))
    assert code(d.response) == "30" and "DE5" in d.reason
    assert A not in j.state.cards
    assert j.rc(earn(T1, 2, A, 100_000)) == "00"
    j.restart()


@pytest.mark.parametrize("missing", [11, 41])
def test_a_request_without_de11_or_de41_is_not_answered(missing: int) -> None:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    msg = earn(T1, 1, A, 10_000)
    del msg.fields[missing]
    before = state.next_journal_id
    d = handle(state, msg, NOW)
    assert d.response is None and d.close and state.next_journal_id == before


@pytest.mark.parametrize("mti", ["0210", "0230", "0410", "0430", "0510", "0810", "0290",
                                 "0202", "1200", "02\u0661\u0660"])
def test_a_message_that_is_not_a_request_is_never_answered(mti: str) -> None:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    before = state.next_journal_id
    d = handle(state, dataclasses.replace(earn(T1, 1, A, 10_000), mti=mti), NOW)
    assert d.response is None and not d.close and state.next_journal_id == before


def test_batch_totals_in_other_digits_are_a_format_error(tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    close = batch_close(T1, 1, "000001", {})
    close.fields[74] = "000000000\u0661"
    assert j.rc(close) == "30"
    j.restart()


def test_a_late_reversal_after_restart_reads_its_original_from_the_journal(
        tmp_path: Path) -> None:
    j = Journaled(tmp_path)
    for tid in (T1, T2):
        j.send(sign_on(tid))
    e = earn(T2, 1, A, 300_000)
    rrn = str(j.send(e).response.fields[37])  # type: ignore[union-attr]
    ret = request("0200", T2, 2, pan=A, pc="200000", amount=100_000, tags={"OR": rrn})
    assert j.rc(ret) == "00"
    j.restart(NOW + dt.timedelta(hours=1))
    later = NOW + dt.timedelta(hours=1)
    assert j.rc(reversal(ret, 3, now=later), later) == "00"      # the return's claw-back back
    assert j.points(A) == 60
    r = j.send(request("0200", T2, 4, pan=A, pc="200000", amount=300_000, tags={"OR": rrn},
                       now=later), later).response
    assert code(r) == "00" and parse_tlv(str(r.fields[48]))["RD"] == "60"  # type: ignore[union-attr]
    j.restart(later)


# -- a failure while deciding or encoding answers 96 and changes nothing --------------------------


class ExplodingRules(BaseRules):
    """Rules with a bug: every earn raises."""

    def earn(self, ctx: EarnContext) -> EarnResult:
        raise RuntimeError("a rule broke")


class OversizeReplies(BaseRules):
    """Rules whose DE48 for an earn cannot be encoded (more than 999 bytes)."""

    def reply_tags(self, store: Store, coalition: Coalition, card: Card, business_day: dt.date,
                   kind: str, tags: dict[str, str]) -> dict[str, str]:
        if kind != "earn":
            return tags
        return {**tags, **{f"Z{i}": "y" * 120 for i in range(9)}}


def everything(state: State) -> tuple[object, ...]:
    """The state as data, with the entries on their way to the journal."""
    return snapshot(state), tuple(state.uncommitted), state.durable_upto


@pytest.mark.parametrize("rules", [ExplodingRules(), OversizeReplies()],
                         ids=["decide raises", "encode fails"])
def test_a_failure_answers_96_and_leaves_the_state_as_it_was(tmp_path: Path,
                                                             rules: BaseRules) -> None:
    j = Journaled(tmp_path, rules=rules)
    for tid in (T1, T2):
        j.send(sign_on(tid))
    assert j.rc(burn(T1, 1, A, 1_000)) == "51"               # A is enrolled, with no points
    before = everything(j.state)
    journal = j.sqlite.conn.execute("SELECT MAX(id) FROM journal").fetchone()[0]
    for stan, pan in ((2, A), (3, NEW)):                     # NEW would be enrolled by it
        d = j.send(earn(T1, stan, pan, 100_000))
        assert code(d.response) == "96" and d.entries == [] and d.changes is None
        assert d.response is not None and d.response.mti == "0210"
        assert everything(j.state) == before
    assert NEW not in j.state.cards
    assert j.sqlite.conn.execute("SELECT MAX(id) FROM journal").fetchone()[0] == journal
    # The same key decided again later is a new request, not a retransmission of the 96.
    assert j.rc(burn(T1, 4, A, 1_000)) == "51"
    j.restart()


def test_a_decline_at_a_limit_moves_no_lot(tmp_path: Path) -> None:
    j = Journaled(tmp_path, limits=MoneyLimits(max_points=15))
    j.send(sign_on(T1))
    j.send(earn(T1, 1, A, 100_000))
    lots = snapshot(j.state).lots
    d = j.send(earn(T1, 2, A, 100_000))
    assert code(d.response) == "61" and d.entries[0].lot_deltas == []
    assert d.entries[0].points == 0 and snapshot(j.state).lots == lots
    j.restart()


# -- replay memory -------------------------------------------------------------------------------


def test_a_remembered_request_costs_under_200_bytes(tmp_path: Path) -> None:
    """Measured with tracemalloc over 8,000 inquiries decided, committed and journaled as
    the switch does (docs/switch.md, "Memory"); it was about 2 KB when each kept its reply,
    lot moves and key objects in memory."""
    j = Journaled(tmp_path)
    for tid in (T1, T2, T3):
        j.send(sign_on(tid))
    pans = [card(200 + i) for i in range(50)]

    def inquiries(first: int, count: int) -> None:
        batch = []
        for i in range(first, first + count):
            now = NOW + dt.timedelta(seconds=i // 3)
            tid = (T1, T2, T3)[i % 3]
            msg = request("0200", tid, i + 1, pan=pans[i % 50], pc="310000", now=now)
            d = handle(j.state, msg, now, fetch=j.store.fetch)
            assert code(d.response) == "00"
            batch += d.entries
            if len(batch) >= 500:
                j.store.append(batch)
                journaled(j.state, batch)
                batch = []
        j.store.append(batch)
        journaled(j.state, batch)

    inquiries(0, 1_000)  # warm: first-use caches, the cards
    count = 8_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        inquiries(2_000, count)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(j.state.txns) == 1_000 + count and not j.state.uncommitted
    assert grown / count < 200, f"{grown / count:.0f} bytes per remembered request"
    j.restart(NOW + dt.timedelta(seconds=(1_000 + count) // 3))


@pytest.mark.parametrize(("number", "value"), [
    (4, "64688729829x"),                         # ASCII, but not 12 digits
    (4, "00000001000 "),
    (42, "STORE0000000001-AND-MORE"),            # longer than ans 15
    (42, "\u0641\u0631\u0648\u0634\u06af\u0627\u0647"),  # ans is ASCII (§2)
    (62, "\u06f0\u06f0\u06f1"),
])
def test_a_format_error_answers_30_without_the_field_that_breaks_it(
        tmp_path: Path, number: int, value: str) -> None:
    j = Journaled(tmp_path)
    j.send(sign_on(T1))
    msg = earn(T1, 1, A, 100_000)
    msg.fields[number] = value
    d = j.send(msg)
    assert code(d.response) == "30"
    assert d.response is not None and number not in d.response.fields
    assert A not in j.state.cards
    j.restart()
