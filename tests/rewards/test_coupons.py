"""Coupons at the till through `handle` on a real SQLite journal (docs/protocol.md §4 "Coupons",
docs/programs.md "Coupons"): the discount in DE48 `CD`, every decline with no effect, exactly
once across retransmissions, reversals and a restart."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from switch.core import coupon_code
from switch.core.catalog import AT_ISSUER, CouponRules
from switch.core.coupon import decide_void
from switch.core.facts import NO_CHECKS, Needs
from switch.core.rewards import CouponFacts, CouponNeed
from tests.rewards.support import (
    BOOKS,
    CAFE,
    issue,
    redeem_coupon,
    signed_on,
    tag,
    terms,
)
from tests.switch.journaled import Journaled
from tests.switch.support import NOW, T1, T2, card, example_config, reversal

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def sw(tmp_path: Path) -> Iterator[Journaled]:
    j = signed_on(Journaled(tmp_path))
    yield j
    j.close()


def moves(sw: Journaled) -> int:
    return int(sw.sqlite.conn.execute("SELECT count(*) FROM coupon_moves").fetchone()[0])


def state_of(sw: Journaled, code: str) -> tuple[str, int | None]:
    row = sw.sqlite.conn.execute("SELECT status, redeemed_by FROM coupons WHERE digest = ?",
                                 (coupon_code.digest(code),)).fetchone()
    return row[0], row[1]


def test_an_amount_coupon_is_approved_with_its_discount_in_cd(sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=200_000))
    d = sw.send(redeem_coupon(T1, 1, card(1), coupon_code.display(code), 1_000_000))
    assert d.response is not None and d.response.text(39) == "00"
    assert tag(d.response, "CD") == "200000"
    assert state_of(sw, code) == ("active", d.entries[0].id)
    assert d.entries[0].kind == "coupon" and d.entries[0].program_version == 0


def test_percent_is_rounded_down_and_capped_by_the_coupon_the_coalition_and_the_purchase(
        sw: Journaled) -> None:
    a, b, c = issue(sw.store, terms(percent=15), 3)
    d = sw.send(redeem_coupon(T1, 1, card(1), a, 1_000_001))
    assert tag(d.response, "CD") == "150000"
    [capped] = issue(sw.store, terms(percent=50, max_discount=300_000))
    assert tag(sw.send(redeem_coupon(T1, 2, card(1), capped, 1_000_000)).response,
               "CD") == "300000"
    # The example coalition takes no more than 5,000,000 off one purchase.
    assert tag(sw.send(redeem_coupon(T1, 3, card(1), b, 90_000_000)).response,
               "CD") == "5000000"
    [big] = issue(sw.store, terms(amount=900_000))
    assert tag(sw.send(redeem_coupon(T1, 4, card(1), big, 400_000)).response, "CD") == "400000"
    assert c


def test_a_code_typed_in_lower_case_with_spaces_or_persian_digits_is_the_same_coupon(
        sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=10_000))
    typed = " ".join(code[i:i + 4] for i in range(0, 16, 4)).lower().translate(PERSIAN)
    d = sw.send(redeem_coupon(T1, 1, card(1), typed, 50_000))
    assert d.response is not None and d.response.text(39) == "00"


@pytest.mark.parametrize("case, rc", [
    ("typo", "14"), ("unknown", "14"), ("other coalition", "57"), ("expired", "54"),
    ("under minimum", "13"), ("no amount", "30"), ("with RP", "12"),
])
def test_each_refusal_has_its_code_and_changes_nothing(sw: Journaled, case: str,
                                                       rc: str) -> None:
    [code] = issue(sw.store, terms(amount=10_000, min_amount=100_000))
    [other] = issue(sw.store, terms(amount=10_000, coalition="isfahan-bazaar"))
    [old] = issue(sw.store, terms(amount=10_000, expires_on=dt.date(2026, 11, 22)))
    unknown = coupon_code.new_code(lambda n: 7)
    typo = ("1" if code[0] != "1" else "2") + code[1:]
    msg = {
        "typo": redeem_coupon(T1, 1, card(1), typo, 200_000),
        "unknown": redeem_coupon(T1, 1, card(1), unknown, 200_000),
        "other coalition": redeem_coupon(T1, 1, card(1), other, 200_000),
        "expired": redeem_coupon(T1, 1, card(1), old, 200_000),
        "under minimum": redeem_coupon(T1, 1, card(1), code, 99_999),
        "no amount": redeem_coupon(T1, 1, card(1), code, None),
        "with RP": redeem_coupon(T1, 1, card(1), code, 200_000,
                                 tags={"CP": code, "RP": "10"}),
    }[case]
    d = sw.send(msg)
    assert d.response is not None and d.response.text(39) == rc
    assert tag(d.response, "CD") is None
    assert moves(sw) == 0
    assert state_of(sw, code) == ("active", None)
    assert code not in str(d.entries[0].detail)


def test_a_used_coupon_is_declined_and_a_retransmission_gets_the_same_reply(
        sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=10_000))
    first = redeem_coupon(T1, 1, card(1), code, 50_000)
    d1 = sw.send(first)
    d2 = sw.send(first)
    assert d2.response is not None and d1.response is not None
    assert d2.response.fields == d1.response.fields
    assert sw.rc(redeem_coupon(T1, 2, card(2), code, 50_000)) == "05"
    assert moves(sw) == 1


def test_a_reversal_gives_the_coupon_back_and_a_late_original_is_declined(
        sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=10_000))
    original = redeem_coupon(T1, 1, card(1), code, 50_000)
    assert sw.rc(original) == "00"
    assert sw.rc(reversal(original, 2)) == "00"
    assert state_of(sw, code) == ("active", None)
    assert sw.rc(redeem_coupon(T1, 3, card(2), code, 60_000)) == "00"
    sw.restart()
    assert state_of(sw, code)[1] is not None
    # A reversal of an original never seen leaves a tombstone: the late original is declined.
    [late] = issue(sw.store, terms(amount=10_000))
    lost = redeem_coupon(T2, 1, card(3), late, 50_000)
    sw.send(reversal(lost, 2))
    assert sw.rc(lost) == "05"
    assert state_of(sw, late) == ("active", None)


def test_a_reversal_in_the_same_group_commit_and_after_a_restart(sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=10_000))
    original = redeem_coupon(T1, 1, card(1), code, 50_000)
    assert sw.rc(original) == "00"
    sw.restart()
    assert sw.rc(redeem_coupon(T1, 2, card(2), code, 50_000)) == "05"
    assert sw.rc(reversal(original, 3)) == "00"
    sw.restart()
    assert state_of(sw, code) == ("active", None)
    from switch.journal.sql import coupons

    assert coupons.problems(sw.sqlite.conn) == []


def test_per_customer_limit_counts_the_cards_coupons_of_that_issue(sw: Journaled) -> None:
    a, b, c = issue(sw.store, terms(amount=1_000, per_customer=2), 3)
    assert sw.rc(redeem_coupon(T1, 1, card(1), a, 5_000)) == "00"
    assert sw.rc(redeem_coupon(T1, 2, card(1), b, 5_000)) == "00"
    assert sw.rc(redeem_coupon(T1, 3, card(1), c, 5_000)) == "65"
    assert sw.rc(redeem_coupon(T1, 4, card(2), c, 5_000)) == "00"


def test_a_void_coupon_is_declined_62(sw: Journaled) -> None:
    [code] = issue(sw.store, terms(amount=1_000))
    need = CouponNeed(coupon_code.digest(code))
    facts = sw.store.fetch(Needs(coupon=need), NO_CHECKS).coupon(need)
    assert isinstance(facts, CouponFacts)
    decision = decide_void(sw.state, need, facts, NOW, "tester")
    sw.store.append(decision.entries)
    from switch.core import apply, journaled

    apply(sw.state, decision)
    journaled(sw.state, decision.entries)
    assert sw.rc(redeem_coupon(T1, 1, card(1), code, 5_000)) == "62"
    assert state_of(sw, code)[0] == "void"


def test_a_store_coupon_at_another_store_follows_the_coalitions_rule(tmp_path: Path) -> None:
    cfg = example_config(tmp_path / "lps.db")
    sw = signed_on(Journaled(tmp_path, cfg))
    try:
        a, b = issue(sw.store, terms(amount=1_000, issuer=CAFE), 2)
        assert sw.rc(redeem_coupon(T2, 1, card(1), a, 5_000)) == "00"  # "anywhere"
        assert sw.rc(redeem_coupon(T1, 2, card(1), b, 5_000)) == "00"
    finally:
        sw.close()
    co = cfg.coalitions["tehran-mall"]
    strict = dataclasses.replace(cfg, coalitions={
        co.id: dataclasses.replace(co, coupons=CouponRules(store_coupons=AT_ISSUER))})
    (tmp_path / "b").mkdir()
    strict = dataclasses.replace(strict, switch=dataclasses.replace(
        strict.switch, database=tmp_path / "b" / "lps.db"))
    sw = signed_on(Journaled(tmp_path / "b", strict))
    try:
        [c] = issue(sw.store, terms(amount=1_000, issuer=BOOKS))
        assert sw.rc(redeem_coupon(T1, 1, card(1), c, 5_000)) == "57"
        assert sw.rc(redeem_coupon(T2, 2, card(1), c, 5_000)) == "00"
    finally:
        sw.close()


def test_decisions_in_one_group_commit_see_each_others_coupon_moves(sw: Journaled) -> None:
    """The moves decided but not committed yet are replayed over what the journal holds
    (switch/core/coupon.py): a second use in the same group commit is declined, a reversal
    in it gives the coupon back, and the card's limit counts them."""
    from switch.core import handle, journaled

    [code] = issue(sw.store, terms(amount=1_000))
    a, b = issue(sw.store, terms(amount=1_000, per_customer=1), 2)
    first = redeem_coupon(T1, 1, card(1), code, 5_000)
    batch = [
        (first, "00"),
        (redeem_coupon(T2, 2, card(2), code, 5_000), "05"),
        (reversal(first, 3), "00"),
        (redeem_coupon(T2, 4, card(2), code, 5_000), "00"),
        (redeem_coupon(T1, 5, card(3), a, 5_000), "00"),
        (redeem_coupon(T1, 6, card(3), b, 5_000), "65"),
    ]
    pending = []
    for msg, rc in batch:
        d = handle(sw.state, msg, NOW, fetch=sw.store.fetch)
        assert d.response is not None and d.response.text(39) == rc
        pending += d.entries
    sw.store.append(pending)
    journaled(sw.state, pending)
    assert state_of(sw, code)[1] == pending[3].id
    sw.restart()
    assert sw.rc(redeem_coupon(T1, 7, card(4), code, 5_000)) == "05"


@pytest.mark.parametrize("typed", ["A" * 999, "\x00" * 16, "😀" * 16, "۱" * 16, "' OR 1=1 --"])
def test_hostile_codes_are_declined_14_and_change_nothing(sw: Journaled, typed: str) -> None:
    d = sw.send(redeem_coupon(T1, 1, card(1), typed, 5_000))
    assert d.response is not None and d.response.text(39) in ("14", "30")
    assert moves(sw) == 0
