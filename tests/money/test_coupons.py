"""Coupons at the till: the discount, its limits and what the journal keeps of each use.

docs/programs.md "Coupons" and docs/protocol.md §4 (`900000` with DE48 `CP`, the discount back
in `CD`). The example coalition caps a discount at 5,000,000 IRR; every figure below is worked
by hand from those rules, and every assertion reads a response or the journal's tables
(`coupons`, `coupon_moves`), never the core's objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TypedDict

import pytest

from iso8583 import Message
from switch.config import Config, load_config
from switch.core import DEFAULT_LIMITS, apply, coupon_code, journaled
from switch.core.admin import AdminError
from switch.core.catalog import AT_ISSUER, CouponRules
from switch.core.coupon import decide_void
from switch.core.facts import Needs
from switch.core.rewards import CouponNeed, CouponTerms
from switch.journal import open_journal
from tests.customers.support import (
    by_mobile,
    lps,
    mobile_config,
    run_through_switch,
    three_customers,
)
from tests.engines import query
from tests.money.support import Shell, rc, rrn, tags
from tests.rewards.support import BOOKS, CAFE, issue, redeem_coupon, terms
from tests.switch.support import NOW, T1, T2, card, example_config, reversal

A, B = card(801), card(802)
#: The business day of `NOW` (13:30 in Tehran on 23 November 2026).
TODAY = dt.date(2026, 11, 23)
#: 10:00 UTC that day, when the segment tests' nightly job has run.
SEGMENT_DAY = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def use(sh: Shell, code: str, amount: int, pan: str = A, tid: str = T1,
        now: dt.datetime = NOW) -> Message:
    return sh.send(redeem_coupon(tid, sh.next_stan(), pan, code, amount, now=now), now)


def one(sh: Shell, t: CouponTerms) -> str:
    [code] = issue(sh.store, t)
    return code


def coupon_row(sh: Shell, code: str) -> tuple[object, ...]:
    """(status, redeemed_by, redeemed_pan) of a coupon in the journal."""
    [row] = sh.sql("SELECT status, redeemed_by, redeemed_pan FROM coupons WHERE digest = ?",
                   (coupon_code.digest(code),))
    return row


def coupon_moves(sh: Shell) -> list[tuple[object, ...]]:
    return sh.sql("SELECT journal_id, action, coalition_id, issuer, store_id, pan, discount, "
                  "original_id FROM coupon_moves ORDER BY rowid")


class Offer(TypedDict, total=False):
    """The terms a case of the discount's table sets (`terms` keywords)."""

    percent: int
    amount: int
    max_discount: int


@pytest.mark.parametrize("offer, purchase, off", [
    # percent of DE4, rounded down to the rial
    ({"percent": 15}, 1_000_099, 150_014),
    ({"percent": 100}, 7, 7),
    ({"percent": 1}, 199, 1),
    # at most the coupon's own --max-discount (equal to it is not over it)
    ({"percent": 50, "max_discount": 300_000}, 1_000_000, 300_000),
    ({"percent": 50, "max_discount": 300_000}, 600_000, 300_000),
    ({"percent": 50, "max_discount": 300_000}, 599_999, 299_999),
    ({"amount": 500_000, "max_discount": 400_000}, 1_000_000, 400_000),
    # an amount, at most the purchase
    ({"amount": 200_000}, 200_001, 200_000),
    ({"amount": 200_000}, 200_000, 200_000),
    ({"amount": 200_000}, 150_000, 150_000),
    ({"amount": 200_000}, 1, 1),
    # the coalition's max_discount (5,000,000) over every coupon
    ({"amount": 6_000_000}, 10_000_000, 5_000_000),
    ({"percent": 10}, 49_999_999, 4_999_999),
    ({"percent": 10}, 50_000_010, 5_000_000),
])
def test_the_discount_is_the_offer_rounded_down_and_capped(
        sh: Shell, offer: Offer, purchase: int, off: int) -> None:
    code = one(sh, terms(**offer))
    resp = use(sh, code, purchase)
    assert rc(resp) == "00"
    assert tags(resp)["CD"] == str(off)
    [(journal_id, action, coalition, issuer, store, pan, discount, original)] = coupon_moves(sh)
    assert (journal_id, action, discount, original) == (int(rrn(resp)), "redeem", off, None)
    assert (coalition, issuer, store, pan) == ("tehran-mall", "", "STORE0000000001", A)
    assert coupon_row(sh, code) == ("active", int(rrn(resp)), A)


def test_a_discount_that_rounds_to_nothing_is_declined_13_and_the_coupon_kept(sh: Shell) -> None:
    code = one(sh, terms(percent=1))
    resp = use(sh, code, 99)
    assert rc(resp) == "13" and "CD" not in tags(resp)
    assert coupon_moves(sh) == [] and coupon_row(sh, code) == ("active", None, None)
    assert rc(use(sh, code, 100)) == "00"


def test_the_minimum_purchase_itself_is_enough(sh: Shell) -> None:
    code = one(sh, terms(amount=10_000, min_amount=100_000))
    assert rc(use(sh, code, 99_999)) == "13"
    assert coupon_moves(sh) == []
    resp = use(sh, code, 100_000)
    assert rc(resp) == "00" and tags(resp)["CD"] == "10000"


def test_a_coupon_is_taken_on_its_expiry_day_and_refused_the_day_after(sh: Shell) -> None:
    today, yesterday = one(sh, terms(amount=1_000, expires_on=TODAY)), one(
        sh, terms(amount=1_000, expires_on=TODAY - dt.timedelta(days=1)))
    later = one(sh, terms(amount=1_000, expires_on=TODAY))
    assert rc(use(sh, yesterday, 5_000)) == "54"
    assert rc(use(sh, today, 5_000)) == "00"
    tomorrow = NOW + dt.timedelta(days=1)
    assert rc(use(sh, later, 5_000, now=tomorrow)) == "54"
    assert coupon_row(sh, later) == ("active", None, None)
    assert coupon_row(sh, yesterday) == ("active", None, None)


def test_per_customer_counts_this_cards_uses_of_the_issue_not_reversed_ones(sh: Shell) -> None:
    a, b, c = issue(sh.store, terms(amount=1_000, per_customer=2), 3)
    other = one(sh, terms(amount=1_000, per_customer=2))
    first = redeem_coupon(T1, sh.next_stan(), A, a, 5_000)
    assert rc(sh.send(first)) == "00"
    assert rc(use(sh, b, 5_000)) == "00"
    assert rc(use(sh, c, 5_000)) == "65"  # the third of the issue on card A
    assert rc(use(sh, other, 5_000)) == "00"  # another issue counts apart
    assert rc(sh.send(reversal(first, sh.next_stan()))) == "00"
    assert rc(use(sh, c, 5_000)) == "00"  # the reversed use no longer counts
    sh.restart(NOW)
    assert rc(use(sh, a, 5_000, pan=B)) == "00"  # given back, taken by another card
    [d] = issue(sh.store, terms(amount=1_000, per_customer=2))
    assert rc(use(sh, d, 5_000)) == "00"


def test_per_customer_in_one_group_commit_and_after_a_restart(sh: Shell) -> None:
    a, b, c = issue(sh.store, terms(amount=1_000, per_customer=1), 3)
    with sh.group_commit():
        first = redeem_coupon(T1, sh.next_stan(), A, a, 5_000)
        assert rc(sh.send(first)) == "00"
        assert rc(use(sh, b, 5_000)) == "65"
        assert rc(sh.send(reversal(first, sh.next_stan()))) == "00"
        assert rc(use(sh, b, 5_000)) == "00"
    sh.restart(NOW)
    assert rc(use(sh, c, 5_000)) == "65"
    assert rc(use(sh, c, 5_000, pan=B)) == "00"


def test_a_reversal_gives_back_the_discount_it_took_as_a_release_move(sh: Shell) -> None:
    code = one(sh, terms(percent=20, issuer=CAFE))
    original = redeem_coupon(T2, sh.next_stan(), A, code, 1_234_567)
    taken = sh.send(original)
    assert rc(taken) == "00" and tags(taken)["CD"] == "246913"
    sh.restart(NOW)  # the reversal reads the use back from the journal's row
    back = sh.send(reversal(original, sh.next_stan()))
    assert rc(back) == "00"
    assert coupon_moves(sh) == [
        (int(rrn(taken)), "redeem", "tehran-mall", CAFE, BOOKS, A, 246_913, None),
        (int(rrn(back)), "release", "tehran-mall", CAFE, BOOKS, A, -246_913, int(rrn(taken))),
    ]
    assert coupon_row(sh, code) == ("active", None, None)
    again = use(sh, code, 10_000, pan=B)
    assert rc(again) == "00" and coupon_row(sh, code) == ("active", int(rrn(again)), B)


def test_a_reversal_in_the_same_group_commit_gives_the_coupon_back(sh: Shell) -> None:
    code = one(sh, terms(amount=5_000))
    with sh.group_commit():
        original = redeem_coupon(T1, sh.next_stan(), A, code, 20_000)
        taken = sh.send(original)
        assert rc(use(sh, code, 20_000, pan=B)) == "05"  # used, though not committed yet
        back = sh.send(reversal(original, sh.next_stan()))
        again = use(sh, code, 20_000, pan=B)
        assert rc(again) == "00"
        assert rc(use(sh, code, 20_000)) == "05"
    assert rc(back) == "00"
    assert [m[:2] + m[5:] for m in coupon_moves(sh)] == [
        (int(rrn(taken)), "redeem", A, 5_000, None),
        (int(rrn(back)), "release", A, -5_000, int(rrn(taken))),
        (int(rrn(again)), "redeem", B, 5_000, None),
    ]
    sh.restart(NOW)
    assert coupon_row(sh, code) == ("active", int(rrn(again)), B)


def test_a_store_coupon_where_the_coalition_takes_it_at_its_issuer_only(tmp_path: Path) -> None:
    cfg = example_config(tmp_path / "lps.db")
    co = cfg.coalitions["tehran-mall"]
    cfg = dataclasses.replace(cfg, coalitions={
        co.id: dataclasses.replace(co, coupons=CouponRules(store_coupons=AT_ISSUER))})
    sh = Shell(tmp_path / "lps.db", cfg)
    try:
        mine, coalitions = one(sh, terms(amount=1_000, issuer=CAFE)), one(sh, terms(amount=1_000))
        assert rc(use(sh, mine, 5_000, tid=T2)) == "57"
        assert coupon_row(sh, mine) == ("active", None, None)
        assert rc(use(sh, mine, 5_000, tid=T1)) == "00"
        assert rc(use(sh, coalitions, 5_000, tid=T2)) == "00"  # the operator's: everywhere
    finally:
        sh.close()


def void(sh: Shell, code: str, now: dt.datetime = NOW) -> None:
    """`lps coupons void CODE --by مدیر` as the admin socket runs it: decide, apply, commit."""
    need = CouponNeed(coupon_code.digest(code))
    found = sh.store.fetch(Needs(coupon=need)).coupon(need)
    decision = decide_void(sh.state, need, found, now, "مدیر\u200cفروش")
    apply(sh.state, decision)
    sh.store.append(decision.entries)
    journaled(sh.state, decision.entries)


def test_a_void_coupon_is_refused_62_and_a_use_made_before_is_still_given_back(
        sh: Shell) -> None:
    code = one(sh, terms(amount=3_000, issuer=CAFE))
    original = redeem_coupon(T1, sh.next_stan(), A, code, 10_000)
    taken = sh.send(original)
    assert rc(taken) == "00"
    void(sh, code)
    [(jid, kind, store, coalition, detail)] = sh.sql(
        "SELECT id, kind, store_id, coalition_id, detail FROM journal WHERE kind = 'coupon_admin'")
    assert (kind, store, coalition) == ("coupon_admin", CAFE, "tehran-mall")
    assert json.loads(str(detail)) == {"action": "void", "issue": 1, "by": "مدیر\u200cفروش"}
    assert coupon_moves(sh)[-1] == (jid, "void", "tehran-mall", CAFE, "", "", 0, None)
    assert coupon_row(sh, code)[0] == "void"
    back = sh.send(reversal(original, sh.next_stan()))
    assert rc(back) == "00"
    assert coupon_moves(sh)[-1][1:] == ("release", "tehran-mall", CAFE, CAFE, A, -3_000,
                                        int(rrn(taken)))
    assert rc(use(sh, code, 10_000, pan=B)) == "62"
    sh.restart(NOW)
    assert rc(use(sh, code, 10_000, pan=B)) == "62"


def test_a_void_in_memory_is_seen_by_the_next_decision_and_a_second_void_is_refused(
        sh: Shell) -> None:
    code = one(sh, terms(amount=3_000))
    with sh.group_commit():
        need = CouponNeed(coupon_code.digest(code))
        found = sh.store.fetch(Needs(coupon=need)).coupon(need)
        decision = decide_void(sh.state, need, found, NOW)
        apply(sh.state, decision)
        assert sh.pending is not None
        sh.pending += decision.entries
        assert rc(use(sh, code, 10_000)) == "62"  # the void is not committed yet
        with pytest.raises(AdminError, match="void already"):
            decide_void(sh.state, need, found, NOW)
    with pytest.raises(AdminError, match="void already"):
        void(sh, code)
    with pytest.raises(AdminError, match="no such coupon"):
        decide_void(sh.state, CouponNeed("0" * 64), None, NOW)
    assert [m[1] for m in coupon_moves(sh)] == ["void"]


def test_per_customer_counts_neither_another_cards_uses_nor_another_issue_before_a_commit(
        sh: Shell) -> None:
    x, y = issue(sh.store, terms(amount=1_000, per_customer=1), 2)
    other = one(sh, terms(amount=1_000, per_customer=1))
    with sh.group_commit():
        assert rc(use(sh, x, 5_000, pan=B)) == "00"
        assert rc(use(sh, other, 5_000)) == "00"
        assert rc(use(sh, y, 5_000)) == "00"  # B's use and A's of another issue: not A's
    assert [m[5] for m in coupon_moves(sh)] == [B, A, A]


@pytest.mark.parametrize("typed", ["", "7KQ4", "7KQ4-M2XD-9PTR-W3HG", "٧KQ4 M2XD 9PTR W3HF X"])
def test_a_code_that_cannot_be_a_coupon_is_declined_14_and_changes_nothing(
        sh: Shell, typed: str) -> None:
    code = one(sh, terms(amount=1_000))
    resp = sh.send(redeem_coupon(T1, sh.next_stan(), A, code, 5_000, tags={"CP": typed}))
    assert rc(resp) == "14" and "CD" not in tags(resp)
    assert coupon_moves(sh) == [] and coupon_row(sh, code) == ("active", None, None)
    # A card's first use enrols it whatever the answer (docs/switch.md "Decisions", Card).
    assert sh.sql("SELECT pan FROM cards") == [(A,)]


def test_a_coupon_with_rp_is_declined_12_one_reward_per_request(sh: Shell) -> None:
    code = one(sh, terms(amount=1_000))
    resp = sh.send(redeem_coupon(T1, sh.next_stan(), A, code, 5_000,
                                 tags={"CP": code, "RP": "10"}))
    assert rc(resp) == "12" and "CD" not in tags(resp)
    assert coupon_moves(sh) == [] and coupon_row(sh, code) == ("active", None, None)
    assert sh.sql("SELECT pan FROM cards") == [(A,)]
    assert sh.sql("SELECT count(*) FROM lot_moves") == [(0,)]


@pytest.mark.parametrize("case, code", [("unknown", "14"), ("another coalition", "57"),
                                        ("void", "62"), ("used", "05")])
def test_each_refusal_of_a_known_code_keeps_the_coupon_and_a_first_use_enrolment(
        sh: Shell, case: str, code: str) -> None:
    mine = one(sh, terms(amount=1_000))
    theirs = one(sh, terms(amount=1_000, coalition="isfahan-bazaar"))
    typed = {"unknown": coupon_code.new_code(lambda n: 7), "another coalition": theirs,
             "void": mine, "used": mine}[case]
    if case == "void":
        void(sh, mine)
    if case == "used":
        assert rc(use(sh, mine, 5_000, pan=B)) == "00"
    before = coupon_moves(sh)
    resp = use(sh, typed, 5_000)
    assert rc(resp) == code and "CD" not in tags(resp)
    assert coupon_moves(sh) == before
    assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (A,)) == [(A,)]
    assert sh.sql("SELECT count(*) FROM lot_moves") == [(0,)]


@pytest.mark.parametrize("case, code", [
    ("impossible code", "14"), ("expired", "54"), ("used", "05"), ("under minimum", "13"),
    ("discount of nothing", "13"), ("batch full", "61"), ("with RP", "12"), ("unknown", "14"),
    ("another coalition", "57"), ("another store's", "57"), ("another segment's", "57"),
    ("void", "62")])
def test_a_declined_first_use_enrols_the_card_in_memory_as_in_the_journal(
        tmp_path: Path, case: str, code: str) -> None:
    """A decline keeps a first-use card's enrolment (docs/switch.md "Decisions", Card): the
    live state holds the card the journal's `cards` row names, so a restart (which compares
    the recovered state with the live one) finds the same state. (`65` needs a card that has
    used the issue already, so it is never a first use.)"""
    full = dataclasses.replace(DEFAULT_LIMITS, max_batch_amount=4_999)
    cfg = example_config(tmp_path / "lps.db")
    co = cfg.coalitions["tehran-mall"]
    cfg = dataclasses.replace(cfg, coalitions={
        co.id: dataclasses.replace(co, coupons=CouponRules(store_coupons=AT_ISSUER))})
    sh = Shell(tmp_path / "lps.db", cfg,
               limits=full if case == "batch full" else DEFAULT_LIMITS)
    try:
        expires = TODAY - dt.timedelta(days=1) if case == "expired" else TODAY
        coupon = one(sh, terms(amount=1_000, min_amount=5_000, expires_on=expires))
        if case == "used":
            assert rc(use(sh, coupon, 5_000, pan=B)) == "00"
        if case == "void":
            void(sh, coupon)
        typed = {"impossible code": "7KQ4", "discount of nothing": one(sh, terms(percent=1)),
                 "unknown": coupon_code.new_code(lambda n: 7),
                 "another coalition": one(sh, terms(amount=1_000, coalition="isfahan-bazaar")),
                 "another store's": one(sh, terms(amount=1_000, issuer=BOOKS)),
                 "another segment's": one(sh, dataclasses.replace(terms(amount=1_000),
                                                                  segment="new")),
                 }.get(case, coupon)
        amount = {"under minimum": 4_999, "discount of nothing": 99}.get(case, 5_000)
        tags_ = {"CP": typed, "RP": "1"} if case == "with RP" else {"CP": typed}
        msg = redeem_coupon(T1, sh.next_stan(), A, typed, amount, tags=tags_)
        assert rc(sh.send(msg)) == code
        assert sh.sql("SELECT pan FROM cards WHERE pan = ?", (A,)) == [(A,)]
        sh.restart(NOW)
    finally:
        sh.close()


def test_a_segments_coupon_is_taken_from_that_segments_customers_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/programs.md "Coupons", `--segment`: after the nightly job put the newcomer in
    segment `new` (docs/customers.md "Segments"), a coupon of that segment is taken from the
    newcomer's card; the old-timer (another segment) and a card of no account are declined `57`
    and leave the coupon as it was, for the newcomer to take."""
    path, _port = mobile_config(tmp_path)
    cfg = str(path)
    newcomer, old_timer, stranger = three_customers(capsys, cfg, 861, "0935300000", SEGMENT_DAY)
    assert lps(capsys, "customers", "segments", "--day", "2026-11-23", "-c", cfg)[0] == 0
    config = load_config(path)
    code = issued(config, CouponTerms(0, "tehran-mall", "", 0, 100_000, 0, 0, 0, "new", TODAY))
    replies = run_through_switch(path, [
        redeem_coupon(T1, 1, old_timer, code, 1_000_000, now=SEGMENT_DAY),
        redeem_coupon(T1, 2, stranger, code, 1_000_000, now=SEGMENT_DAY),
        redeem_coupon(T1, 3, newcomer, code, 1_000_000, now=SEGMENT_DAY),
    ], SEGMENT_DAY)
    assert [rc(r) for r in replies] == ["57", "57", "00"]
    assert "CD" not in tags(replies[0]) and tags(replies[2])["CD"] == "100000"
    assert query(config.switch.journal, "SELECT action, pan FROM coupon_moves") == [
        ("redeem", newcomer)]


def issued(config: Config, t: CouponTerms) -> str:
    """One code of an issue with terms `t`, recorded in `config`'s journal."""
    code = coupon_code.new_code(lambda n: 5)
    journal = open_journal(config.switch.journal)
    try:
        journal.issue_coupons(t, [coupon_code.digest(code)], "one.csv", SEGMENT_DAY, "test",
                              lambda _issue: None)
    finally:
        journal.close()
    return code


def test_a_coupon_with_a_mobile_number_is_57_and_stays_for_a_card(tmp_path: Path) -> None:
    """docs/protocol.md §4: a coupon (`CP`) is redeemed with a card only, with DE48 `MB` it is
    declined `57`; the coupon stays unused, and the customer's card takes it next."""
    path, _port = mobile_config(tmp_path)
    config = load_config(path)
    code = issued(config, terms(amount=1_000))
    replies = run_through_switch(path, [
        by_mobile("0200", T1, 1, "09121234567", "000000", 100_000, now=SEGMENT_DAY),
        by_mobile("0200", T1, 2, "09121234567", "900000", 5_000, now=SEGMENT_DAY,
                  tags={"CP": code}),
        redeem_coupon(T1, 3, A, code, 5_000, now=SEGMENT_DAY),
    ], SEGMENT_DAY)
    assert [rc(r) for r in replies] == ["00", "57", "00"]
    assert "CD" not in tags(replies[1]) and tags(replies[2])["CD"] == "1000"
    assert query(config.switch.journal, "SELECT action, pan FROM coupon_moves") == [("redeem", A)]


def test_a_coupon_by_a_new_mobile_number_is_57_and_keeps_the_account_it_made(sh: Shell) -> None:
    """docs/protocol.md §4: a coupon with DE48 `MB` is declined `57`; a number no account holds
    gets its account and virtual card at its first use whatever the answer (docs/customers.md
    "Mobile numbers at the POS", docs/switch.md "Decisions", Card), in memory as in the journal:
    the restart compares them, and the number's next purchase is that card's."""
    code = one(sh, terms(amount=1_000))
    resp = sh.send(by_mobile("0200", T1, sh.next_stan(), "09351234568", "900000", 5_000,
                             tags={"CP": code}))
    assert rc(resp) == "57" and "CD" not in tags(resp)
    assert coupon_moves(sh) == [] and coupon_row(sh, code) == ("active", None, None)
    sh.restart(NOW)
    again = sh.send(by_mobile("0200", T1, sh.next_stan(), "09351234568", "000000", 100_000))
    assert rc(again) == "00"
    assert sh.sql("SELECT COUNT(*), COUNT(DISTINCT account_id) FROM account_cards "
                  "WHERE virtual = 1") == [(1, 1)]
