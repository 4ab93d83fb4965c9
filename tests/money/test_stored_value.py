"""Stored value: top-ups with the store's bonus, purse purchases, where a purse is spendable.

docs/switch.md ("Decisions", Stored value), docs/protocol.md §3 (DE54), §4 (`210060`,
`006000`, the 0500 counts), §6 (PIN on a spend) and §10 (the largest top-up). In the example
STORE3 sells stored value with a 15 % bonus, its purse spendable at STORE3 only; STORE1 sells
none. Every figure is worked by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54
from switch.core import Checks, MoneyLimits
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.programs.support import config_with
from tests.switch.support import NOW, T1, T2, T3, batch_close, card, request

A = card(901)
S2, S3 = "STORE0000000002", "STORE0000000003"
PIN_BLOCK = {52: b"\x00" * 8}


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def topup(sh: Shell, tid: str, amount: int, pan: str = A, **kw: Any) -> Message:
    return sh.send(request("0200", tid, sh.next_stan(), pan=pan, pc="210060", amount=amount),
                   **kw)


def pay(sh: Shell, tid: str, amount: int, pan: str = A, checks: Checks | None = None,
        extra: dict[int, Any] | None = None) -> Message:
    msg = request("0200", tid, sh.next_stan(), pan=pan, pc="006000", amount=amount,
                  extra=extra)
    return sh.send(msg, checks=checks or Checks())


def de54(resp: Message) -> list[tuple[str, str, str, int]]:
    """(account type, amount type, currency, signed amount) of each DE54 entry."""
    return [(e.account_type, e.amount_type, e.currency, e.amount)
            for e in parse_de54(str(resp.fields[54]))]


def purse(sh: Shell, pan: str = A) -> dict[int, tuple[str, str, str | None, int, int]]:
    """Lot id -> (issuing store, coalition, expires_on, initial, remaining) of the purse."""
    return {int(str(i)): (str(s), str(c), None if e is None else str(e), int(str(n)),
                          int(str(r)))
            for i, s, c, e, n, r in sh.sql(
                "SELECT id, store_id, coalition_id, expires_on, initial, remaining FROM lots "
                "WHERE pan = ? AND kind = 'sv' ORDER BY id", (pan,))}


def test_a_topup_credits_the_amount_and_the_stores_bonus_as_a_purse_lot(db: Path) -> None:
    """`210060` credits DE4 + `topup_bonus_percent` % rounded down (99 + 14) as a purse lot
    of the store that never expires; DE54 shows the points and `60 02 364 C` the purse."""
    sh = Shell(db)
    first = topup(sh, T3, 100_000)
    assert rc(first) == "00"
    assert de54(first) == [("00", "02", "999", 0), ("60", "02", "364", 115_000)]
    odd = topup(sh, T3, 99)
    assert de54(odd)[1] == ("60", "02", "364", 115_113)
    one = topup(sh, T3, 1)                                           # 1 + 0 bonus
    assert rc(one) == "00"
    assert list(purse(sh).values()) == [(S3, "tehran-mall", None, 115_000, 115_000),
                                        (S3, "tehran-mall", None, 113, 113),
                                        (S3, "tehran-mall", None, 1, 1)]
    (sv,), = sh.sql("SELECT SUM(sv) FROM journal WHERE pan = ?", (A,))
    assert sv == 115_114
    sh.close()


def test_a_topup_of_nothing_or_where_no_purse_is_sold_is_declined(db: Path) -> None:
    """`13` for DE4 = 0; `58` at a store without `stored_value`. Neither credits anything; a
    card met first by such a top-up is enrolled all the same (first use), and recovery
    agrees with the live state (the restart checks it)."""
    sh = Shell(db)
    zero = topup(sh, T3, 0)
    newcomer = card(902)
    elsewhere = topup(sh, T1, 50_000, pan=newcomer)
    assert (rc(zero), rc(elsewhere)) == ("13", "58")
    assert sh.moves(rrn(zero)) == sh.moves(rrn(elsewhere)) == []
    assert purse(sh) == {} and purse(sh, newcomer) == {}
    assert sh.sql("SELECT status FROM cards WHERE pan = ?", (newcomer,)) == [("active",)]
    sh.restart(NOW)
    sh.close()


def test_the_largest_topup_is_credited_and_one_more_is_not(db: Path) -> None:
    """docs/protocol.md §10: DE4 plus the bonus may reach the largest top-up, not pass it."""
    sh = Shell(db, limits=MoneyLimits(max_topup=115_000))
    assert rc(topup(sh, T3, 100_000)) == "00"                        # exactly 115,000
    over = topup(sh, T3, 100_001)                                    # 115,001
    assert rc(over) == "61" and sh.moves(rrn(over)) == []
    assert [lot[4] for lot in purse(sh).values()] == [115_000]
    sh.close()


def test_a_purchase_draws_the_oldest_purse_lot_first_and_is_counted_as_a_debit(
        db: Path) -> None:
    """`006000` pays from the purse lots usable here, oldest first (docs/switch.md, Redeem's
    order: no expiry, then earn date, then lot ID); `51` when short, nothing moved; DE4 = 0 is
    `13`; the last unit of a lot can be spent. The 0500 counts it among the debits (§4)."""
    sh = Shell(db)
    topup(sh, T3, 100_000)                                           # lot 1: 115,000
    topup(sh, T3, 50_000)                                            # lot 2: 57,500
    first, second = sorted(purse(sh))
    short = pay(sh, T3, 172_501)
    assert rc(short) == "51" and sh.moves(rrn(short)) == []
    assert rc(pay(sh, T3, 0)) == "13"
    spent = pay(sh, T3, 120_000)
    assert rc(spent) == "00"
    assert sh.moves(rrn(spent)) == [(first, -115_000), (second, -5_000)]
    assert de54(spent)[1] == ("60", "02", "364", 52_500)
    assert rc(pay(sh, T3, 52_499)) == "00"
    last = pay(sh, T3, 1)                                            # the lot's last unit
    assert rc(last) == "00" and sh.moves(rrn(last)) == [(second, -1)]
    assert rc(pay(sh, T3, 1)) == "51"
    close = sh.send(batch_close(T3, sh.next_stan(), "000001", {76: 3, 88: 172_500}))
    assert rc(close) == "00"
    sh.close()


def test_a_store_only_purse_is_not_spent_at_another_store(db: Path) -> None:
    """STORE3's purse is not `coalition_wide`: at STORE1 the card has nothing to pay with."""
    sh = Shell(db)
    topup(sh, T3, 100_000)
    refused = pay(sh, T1, 1_000)
    assert rc(refused) == "51" and sh.moves(rrn(refused)) == []
    sh.close()


def test_a_coalition_wide_purse_is_spent_wherever_the_card_is_taken(db: Path) -> None:
    """docs/switch.md: a purchase pays from this store's purse lots and those of stores whose
    purse is `coalition_wide`: at STORE3, its own lot and then STORE2's."""
    def change(data: dict[str, Any]) -> None:
        data["store"][S2]["stored_value"] = {"topup_bonus_percent": 0, "coalition_wide": True}
    sh = Shell(db, config_with(change))
    topup(sh, T3, 10_000)                                            # lot 1: 11,500, STORE3
    topup(sh, T2, 20_000)                                            # lot 2: 20,000, STORE2
    own, wide = sorted(purse(sh))
    spent = pay(sh, T3, 30_000)
    assert rc(spent) == "00"
    assert sh.moves(rrn(spent)) == [(own, -11_500), (wide, -18_500)]
    assert rc(pay(sh, T2, 1_500)) == "00"                            # STORE3's lot: spent
    assert rc(pay(sh, T2, 1)) == "51"
    sh.close()


def test_a_purse_purchase_needs_the_cards_pin(db: Path) -> None:
    """docs/protocol.md §6: a spend on a card with a PIN needs DE52, checked by the HSM; a
    wrong one is `55` and counted, the third in a row `75`, and then even the right one is
    refused until an operator resets it. Nothing is paid by a refusal."""
    sh = Shell(db)
    topup(sh, T3, 100_000)
    sh.operator({"cmd": "set-pin", "pan": A, "pin": "F" * 16})
    assert rc(pay(sh, T3, 1_000)) == "55"                            # no DE52
    wrong = Checks(pin_ok=False)
    answers = [rc(pay(sh, T3, 1_000, checks=wrong, extra=PIN_BLOCK)) for _ in range(3)]
    assert answers == ["55", "55", "75"]
    assert rc(pay(sh, T3, 1_000, checks=Checks(pin_ok=True), extra=PIN_BLOCK)) == "75"
    assert [lot[4] for lot in purse(sh).values()] == [115_000]
    sh.restart(NOW)
    assert rc(pay(sh, T3, 1_000, checks=Checks(pin_ok=True), extra=PIN_BLOCK)) == "75"
    sh.close()


def test_a_purse_purchase_by_a_card_met_first_is_declined_and_enrols_it(db: Path) -> None:
    """A card first seen paying from a purse it does not have: `13` for DE4 = 0, `51` for an
    amount; nothing is paid, and the card is enrolled all the same (docs/switch.md, Card:
    enrolled on first use, whatever the answer). Recovery agrees (the restart checks it)."""
    sh = Shell(db)
    nothing, short = card(903), card(904)
    assert rc(pay(sh, T3, 0, pan=nothing)) == "13"
    refused = pay(sh, T3, 1_000, pan=short)
    assert rc(refused) == "51" and sh.moves(rrn(refused)) == []
    for pan in (nothing, short):
        assert sh.sql("SELECT status FROM cards WHERE pan = ?", (pan,)) == [("active",)]
    sh.restart(NOW)
    sh.close()


@pytest.mark.parametrize("refusal", ["short", "batch"])
def test_a_right_pin_ends_a_run_of_wrong_ones_even_when_the_purchase_is_declined(
        db: Path, refusal: str) -> None:
    """docs/protocol.md §6: `75` comes with the third wrong PIN *in a row*. A right PIN on a
    purchase declined for another reason (`51` short of money, `61` past the batch's amount,
    §10) still ends the run: two more wrong PINs are `55`, not `75`."""
    sh = Shell(db, limits=MoneyLimits(max_batch_amount=10_000))
    topup(sh, T3, 100_000)                                           # 115,000 in the purse
    sh.operator({"cmd": "set-pin", "pan": A, "pin": "F" * 16})
    wrong, right = Checks(pin_ok=False), Checks(pin_ok=True)
    assert rc(pay(sh, T3, 1_000, checks=wrong, extra=PIN_BLOCK)) == "55"
    amount = 115_001 if refusal == "short" else 10_001
    declined = pay(sh, T3, amount, checks=right, extra=PIN_BLOCK)
    assert rc(declined) == ("51" if refusal == "short" else "61")
    assert sh.moves(rrn(declined)) == []
    answers = [rc(pay(sh, T3, 1_000, checks=wrong, extra=PIN_BLOCK)) for _ in range(2)]
    assert answers == ["55", "55"]
    sh.restart(NOW)
    assert rc(pay(sh, T3, 1_000, checks=right, extra=PIN_BLOCK)) == "00"
    sh.close()


def test_a_purse_purchase_past_the_batchs_amount_is_declined_and_not_counted(
        db: Path) -> None:
    """docs/protocol.md §10: a purchase that would take its batch's debit amount past the
    limit is `61`, pays nothing and is not counted; exactly at the limit is approved, and the
    0500 (§4) balances with what was counted."""
    sh = Shell(db, limits=MoneyLimits(max_batch_amount=150_000))
    topup(sh, T3, 100_000)                                           # 115,000
    topup(sh, T3, 100_000)                                           # 230,000
    assert rc(pay(sh, T3, 100_000)) == "00"
    over = pay(sh, T3, 50_001)
    assert rc(over) == "61" and sh.moves(rrn(over)) == []
    assert rc(pay(sh, T3, 50_000)) == "00"                            # 150,000: the limit
    assert sum(lot[4] for lot in purse(sh).values()) == 80_000
    close = sh.send(batch_close(T3, sh.next_stan(), "000001", {76: 2, 88: 150_000}))
    assert rc(close) == "00"
    sh.close()
