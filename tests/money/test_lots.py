"""Lot order and attribution: which lots a burn draws, and so which store netting pays.

docs/switch.md ("Decisions", Redeem; "The journal", `lot_moves`) and docs/settlement.md
("Obligations from provenance", "Multilateral netting"). Expected moves are worked by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.core.programs.rules import program_rules
from tests.money.support import Shell, points_balance, rc, rrn, scratch_dir, tags
from tests.programs.support import config_with
from tests.switch.support import NOW, T1, T2, T3, burn, card, earn, request, reversal

S1, S2, S3 = "STORE0000000001", "STORE0000000002", "STORE0000000003"
PAN = card(301)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def spend(sh: Shell, tid: str, pan: str, points: int, now: dt.datetime = NOW) -> Any:
    return sh.send(burn(tid, sh.next_stan(), pan, points * 1_000, tags={"RP": str(points)},
                        now=now), now)


def test_a_burn_spanning_a_partly_spent_lot_moves_and_pays_the_right_stores(db: Path) -> None:
    """docs/switch.md, Redeem: lots are consumed soonest expiry first, then oldest earn, then
    lowest lot ID, each lot touched a `lot_moves` row. Lots of 10 (STORE1) and 20 (STORE2)
    earned the same day: burning 5 then 8 moves (1, -5), then (1, -5), (2, -3).
    docs/settlement.md: a draw of p points from a lot of A by a redemption at B is "A owes B
    p": STORE1 owes STORE3 10 points and STORE2 owes STORE3 3, netted per store."""
    sh = Shell(db)
    assert tags(sh.send(earn(T1, sh.next_stan(), PAN, 100_000)))["EP"] == "10"
    assert tags(sh.send(earn(T2, sh.next_stan(), PAN, 100_000)))["EP"] == "20"
    first, second = sorted(sh.lots(PAN))
    five = spend(sh, T3, PAN, 5)
    eight = spend(sh, T3, PAN, 8)
    assert sh.moves(rrn(five)) == [(first, -5)]
    assert sh.moves(rrn(eight)) == [(first, -5), (second, -3)]
    assert sh.move_stores(rrn(eight)) == [(first, S1, -5), (second, S2, -3)]
    assert points_balance(eight) == 17
    assert {i: lot[3] for i, lot in sh.lots(PAN).items()} == {first: 0, second: 17}

    result = sh.settle(NOW.date())
    owed = {(o.payer, o.payee): (o.units, o.amount) for o in result.points.obligations}
    assert owed == {(S1, S3): (10, 10_000), (S2, S3): (3, 3_000)}    # point_value 1000 IRR
    nets = {p.store_id: (p.net, p.net_amount) for p in result.points.positions}
    assert nets == {S1: (-10, -10_000), S2: (-3, -3_000), S3: (13, 13_000)}
    sh.close()


def test_a_burn_at_the_issuing_store_moves_no_value(db: Path) -> None:
    """docs/settlement.md: a draw on a lot the accepting store issued itself moves nothing."""
    sh = Shell(db)
    sh.send(earn(T1, sh.next_stan(), PAN, 100_000))
    sh.send(earn(T2, sh.next_stan(), PAN, 100_000))
    spend(sh, T1, PAN, 12)                              # 10 of STORE1's own, 2 of STORE2's
    result = sh.settle(NOW.date())
    owed = {(o.payer, o.payee): o.units for o in result.points.obligations}
    assert owed == {(S2, S1): 2}
    sh.close()


def _campaign_config(expire_after_days: int) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["store"][S2]["campaigns"] = [
            {"name": "flash", "from": "2026-01-01", "to": "2027-12-31", "bonus": 40,
             "expire_after_days": expire_after_days}]
    return config_with(change)


def test_a_lot_earned_later_but_expiring_sooner_burns_first(db: Path) -> None:
    """docs/programs.md: a campaign with its own `expire_after_days` puts its bonus into a lot
    of its own with that expiry; docs/switch.md, Redeem: soonest expiry burns first, whatever
    the earn date. A's 10 points (day 0, expiring day 365) and, ten days later, STORE2's 20
    (expiring day 375) and its 40 bonus (expiring day 40): burning 45 takes the bonus lot's 40,
    then 5 of A's, and none of the later-earned but later-expiring main lot."""
    cfg = _campaign_config(30)
    sh = Shell(db, cfg, program_rules(cfg))
    day0 = NOW
    day10 = NOW + dt.timedelta(days=10)
    sh.send(earn(T1, sh.next_stan(), PAN, 100_000, now=day0), day0)
    r = sh.send(earn(T2, sh.next_stan(), PAN, 100_000, now=day10), day10)
    assert tags(r)["EP"] == "60"
    lots = sh.lots(PAN)
    a, main, bonus = sorted(lots)
    d0, d10 = day0.date(), day10.date()
    assert lots[a][1] == str(d0 + dt.timedelta(days=365))
    assert lots[main][1] == str(d10 + dt.timedelta(days=365))
    assert (lots[bonus][1], lots[bonus][2]) == (str(d10 + dt.timedelta(days=30)), 40)
    used = spend(sh, T3, PAN, 45, now=day10)
    assert sh.moves(rrn(used)) == [(bonus, -40), (a, -5)]
    assert points_balance(used) == 25
    sh.close()


def test_points_on_their_expiry_day_are_not_drawn(db: Path) -> None:
    """docs/programs.md: a lot is unusable from its `expires_on`: on the bonus lot's expiry day
    a burn passes it by and its points are not available."""
    cfg = _campaign_config(30)
    sh = Shell(db, cfg, program_rules(cfg))
    sh.send(earn(T2, sh.next_stan(), PAN, 100_000))                 # 20 main + 40 bonus
    main, bonus = sorted(sh.lots(PAN))
    day30 = NOW + dt.timedelta(days=30)
    day29 = NOW + dt.timedelta(days=29)
    used = spend(sh, T3, PAN, 1, now=day29)
    assert sh.moves(rrn(used)) == [(bonus, -1)]
    too_much = spend(sh, T3, PAN, 21, now=day30)
    assert rc(too_much) == "51"
    used = spend(sh, T3, PAN, 20, now=day30)
    assert sh.moves(rrn(used)) == [(main, -20)]
    assert points_balance(used) == 0
    sh.close()


def test_a_return_claws_its_own_last_point_before_a_lot_expiring_sooner(db: Path) -> None:
    """docs/switch.md, Return: the earn's own lot comes first even when another lot would burn
    before it: own lot spent down to 1, a campaign bonus lot expiring sooner; the full return
    takes the own lot's 1, then 9 of the bonus lot."""
    cfg = _campaign_config(30)
    sh = Shell(db, cfg, program_rules(cfg))
    first = sh.send(earn(T1, sh.next_stan(), PAN, 100_000))          # own lot: 10
    spend(sh, T1, PAN, 9)
    day1 = NOW + dt.timedelta(days=1)
    sh.send(earn(T2, sh.next_stan(), PAN, 100_000, now=day1), day1)  # 20 + bonus 40 (30 days)
    own, _main, bonus = sorted(sh.lots(PAN))
    back = sh.send(request("0200", T1, sh.next_stan(), pan=PAN, pc="200000", amount=100_000,
                           tags={"OR": rrn(first)}, now=day1), day1)
    assert rc(back) == "00"
    assert sh.moves(rrn(back)) == [(own, -1), (bonus, -9)]
    sh.close()


def test_a_reversed_return_gives_its_spend_back(db: Path) -> None:
    """docs/programs.md, Tiers: the 12-month spend is net of returns (a return subtracts its
    amount from the original earn's day); a reversal takes back exactly what its original did,
    so reversing the return restores the spend (`card_spend`, migration 4)."""
    cfg = config_with()
    sh = Shell(db, cfg, program_rules(cfg))
    first = sh.send(earn(T1, sh.next_stan(), PAN, 100_000))

    def spend_rows() -> list[tuple[object, ...]]:
        return sh.sql("SELECT business_day, amount FROM card_spend WHERE pan = ?", (PAN,))

    assert spend_rows() == [(str(NOW.date()), 100_000)]
    ret_msg = request("0200", T1, sh.next_stan(), pan=PAN, pc="200000", amount=40_000,
                      tags={"OR": rrn(first)})
    assert rc(sh.send(ret_msg)) == "00"
    assert spend_rows() == [(str(NOW.date()), 60_000)]
    assert rc(sh.send(reversal(ret_msg, sh.next_stan()))) == "00"
    assert spend_rows() == [(str(NOW.date()), 100_000)]
    sh.close()


def test_a_return_of_an_earn_read_from_the_journal_lowers_that_days_spend(db: Path) -> None:
    """docs/programs.md, Tiers: a return subtracts its amount from the original earn's
    business day, also for an earn older than the cache (read back from the journal)."""
    cfg = config_with()
    then = NOW - dt.timedelta(days=40)
    sh = Shell(db, cfg, program_rules(cfg), now=then)
    first = sh.send(earn(T1, sh.next_stan(), PAN, 100_000, now=then), then)
    sh.restart(NOW)
    back = sh.send(request("0200", T1, sh.next_stan(), pan=PAN, pc="200000", amount=30_000,
                           tags={"OR": rrn(first)}))
    assert rc(back) == "00"
    assert sh.sql("SELECT business_day, amount FROM card_spend WHERE pan = ?", (PAN,)) == \
        [(str(then.date()), 70_000)]
    sh.close()
