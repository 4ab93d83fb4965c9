"""The birthday bonus once per customer (docs/programs.md "Birthday bonus"): an account with two
printed cards gets it on the first earn in the window on either, not again on the other (also
after a restart, which reads the cards' years back), and a reversal of the earn that gave it
lets the other card have it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.customers.support import customer_with_cards, mobile_config, run_through_switch
from tests.rewards.support import tag
from tests.switch.support import T1, T2, card, earn, reversal

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_two_cards_of_one_customer_get_one_birthday_bonus(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _port = mobile_config(tmp_path)
    cfg = str(path)
    first_card, second_card = card(981), card(982)
    customer_with_cards(capsys, cfg, (first_card, second_card), "09351119900", "پریا",
                        "1990-11-22")
    bought = earn(T1, 1, first_card, 100_000, now=NOW)
    [given] = run_through_switch(path, [bought], NOW)
    later = NOW + dt.timedelta(hours=2)
    # A restart later: the first card's year is read back; the second card gets no bonus, at
    # a store without a birthday bonus either; until the first earn is reversed.
    replies = run_through_switch(path, [
        earn(T1, 2, second_card, 100_000, now=later),
        earn(T2, 3, second_card, 1_000_000, now=later),
        reversal(bought, 4, now=later),
        earn(T1, 5, second_card, 100_000, now=later),
        earn(T1, 6, first_card, 100_000, now=later),
    ], later)
    assert [r.text(39) for r in [given, *replies]] == ["00"] * 6
    points = [int(tag(r, "EP") or 0) for r in [given, *replies]]
    base = points[1]
    assert points[0] == base + 50        # [store.STORE0000000001] birthday_bonus = 50
    assert points[2] > 0                 # the bookshop gives none
    assert points[4] == base + 50        # the first one's was taken back: now the second's
    assert points[5] == base             # and the first card gets none again
