"""A card's lots at the edges of docs/protocol.md §10 and of a gift card's expiry.

§10: a card's positive lots hold at most `max_points` and its debts at most minus it, each on
its own; a card already beyond a lowered limit may stay there or move back, never go further.
docs/programs.md "Gift cards": each sale's value lapses on its own expiry day, the card's other
value stays spendable. Figures are worked by hand from the example configuration: STORE1
earns 1 point per 10,000, a point is worth 1,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from iso8583.loyalty import parse_de54
from switch.core import MoneyLimits
from tests.money.support import Shell, points_balance, rc, rrn, scratch_dir, tags, tehran
from tests.rewards.support import gift_card
from tests.switch.support import NOW, T1, T2, burn, card, earn, inquiry, request, reversal

A = card(761)
G = gift_card(762)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def test_a_debt_of_exactly_the_limit_is_allowed_and_may_stay_under_a_lower_one(db: Path) -> None:
    """§10: debts may reach minus the limit itself; once the limit is lowered below the debt,
    the card may still earn (its debt stays where it was, its positive lots within the
    limit)."""
    sh = Shell(db, limits=MoneyLimits(max_points=10))
    first = sh.send(earn(T1, sh.next_stan(), A, 100_000))                 # 10 points
    assert (rc(first), tags(first)["EP"]) == ("00", "10")
    assert rc(sh.send(burn(T2, sh.next_stan(), A, 10_000, tags={"RP": "10"}))) == "00"
    back = sh.send(request("0200", T1, sh.next_stan(), pan=A, pc="200000", amount=100_000,
                           tags={"OR": rrn(first)}))
    assert (rc(back), points_balance(back)) == ("00", -10)                # exactly -10
    sh.restart(NOW, limits=MoneyLimits(max_points=5))
    again = sh.send(earn(T1, sh.next_stan(), A, 10_000))                  # 1 point more
    assert (rc(again), tags(again)["EP"]) == ("00", "1")
    assert sh.journal_points(A) == -9
    sh.close()


def test_an_earn_of_no_points_on_a_card_beyond_a_lowered_limit_is_approved(db: Path) -> None:
    """§10: a card holding 100 points under a lowered limit of 50 stays where it is on an
    earn too small for a point (5,000 at STORE1: 0 points), which is approved."""
    sh = Shell(db)
    assert tags(sh.send(earn(T1, sh.next_stan(), A, 1_000_000)))["EP"] == "100"
    sh.restart(NOW, limits=MoneyLimits(max_points=50))
    small = sh.send(earn(T1, sh.next_stan(), A, 5_000))
    assert (rc(small), points_balance(small)) == ("00", 100)
    assert sh.moves(rrn(small)) == []
    sh.close()


def test_a_card_beyond_a_lowered_limit_pays_off_its_debt(db: Path) -> None:
    """§10: a card beyond a lowered limit may move back. 100 points earned and spent, the earn
    reversed (a debt of 100), 100 points earned again; the limit lowered to 50; the
    redemption's reversal then gives the spent points back to the debt: the positive lots stay
    at 100, the debt goes from -100 to 0, and it is approved."""
    sh = Shell(db)
    first = earn(T1, sh.next_stan(), A, 1_000_000)
    assert tags(sh.send(first))["EP"] == "100"
    spend = burn(T2, sh.next_stan(), A, 100_000, tags={"RP": "100"})
    assert rc(sh.send(spend)) == "00"
    assert (rc(undone := sh.send(reversal(first, sh.next_stan()))),
            points_balance(undone)) == ("00", -100)
    assert points_balance(sh.send(earn(T1, sh.next_stan(), A, 1_000_000))) == 0
    sh.restart(NOW, limits=MoneyLimits(max_points=50))
    back = sh.send(reversal(spend, sh.next_stan()))
    assert (rc(back), points_balance(back)) == ("00", 100)
    assert sh.journal_points(A) == 100
    sh.close()


def purse(resp: Message) -> int:
    """DE54's stored-value entry (`60`): what the card can spend here."""
    return next(e.amount for e in parse_de54(str(resp.fields[54])) if e.account_type == "60")


def test_a_lapsed_sale_leaves_the_later_sales_value_spendable(db: Path) -> None:
    """docs/programs.md "Gift cards": a sale of 23 November 2026 lapses on 23 November 2027; a
    second sale of 10 January 2027 is spendable until 10 January 2028. On 23 November 2027
    the card holds (and spends) the second sale's value only."""
    sh = Shell(db)
    sell = request("0200", T1, sh.next_stan(), pan=G, pc="210060", amount=100_000)
    assert rc(sh.send(sell)) == "00"
    january = tehran(2027, 1, 10)
    assert rc(sh.send(request("0200", T1, sh.next_stan(), pan=G, pc="210060",
                              amount=200_000, now=january), january)) == "00"
    lapse = tehran(2027, 11, 23)
    asked = sh.send(inquiry(T2, sh.next_stan(), G, now=lapse), lapse)
    assert (rc(asked), purse(asked)) == ("00", 200_000)
    spent = sh.send(request("0200", T2, sh.next_stan(), pan=G, pc="006000", amount=150_000,
                            now=lapse), lapse)
    assert (rc(spent), purse(spent)) == ("00", 50_000)
    assert sh.sql("SELECT initial, remaining FROM lots WHERE pan = ? ORDER BY id", (G,)) == [
        (100_000, 100_000), (200_000, 50_000)]
    sh.close()
