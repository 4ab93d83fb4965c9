"""The packed card store (switch/core/card_store.py): a card reads the same packed or not,
a card that cannot be packed stays an object, recovery packs what it reads, and a card whose
lots a lazy recovery left in the journal cannot be read for empty."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from switch.core.card_store import (
    _NAMES_MAX,
    UNREAD,
    Cards,
    Names,
    Unread,
    UnreadCard,
    day_number,
    reading_lots,
)
from switch.core.model import POINTS, STORED_VALUE, Card, Lot
from switch.core.programs.club import Club
from switch.journal.reports import RecoveryReport
from switch.journal.sql.common import card_lots
from switch.journal.sql.recover import load_cache
from switch.journal.sqlite.journal import SqliteJournal
from tests.switch.support import NOW, example_config

DAY = dt.date(2026, 11, 20)


def values(card: Card) -> tuple[object, ...]:
    lots = tuple((x.id, x.pan, x.kind, x.store, x.coalition, x.earned_on, x.expires_on,
                  x.initial, x.remaining) for x in (*card.lots, *card.purse))
    return (card.pan, card.coalition, card.status, card.enrolled_on, card.pin_ref,
            card.pin_tries, card.club, card.virtual, len(card.lots), lots)


def random_card(rng: random.Random, n: int) -> Card:
    pan = f"628000{n:010d}"
    wide = rng.random() < 0.2
    big = 1 << 40 if wide else 1000

    def lot(kind: str) -> Lot:
        initial = rng.randrange(1, big)
        return Lot(rng.randrange(1, big * 1000), pan, kind, rng.choice(("S1", "S2")),
                   "tehran-mall", DAY - dt.timedelta(days=rng.randrange(400)),
                   rng.choice((None, DAY + dt.timedelta(days=rng.randrange(1, 400)))), initial,
                   rng.randrange(-initial, initial + 1))

    card = Card(pan, "tehran-mall", rng.choice(("active", "blocked")),
                DAY - dt.timedelta(days=rng.randrange(3000)),
                [lot(POINTS) for _ in range(rng.randrange(5))],
                [lot(STORED_VALUE) for _ in range(rng.randrange(2))])
    if rng.random() < 0.2:
        card.pin_ref, card.pin_tries = "PINREF", rng.randrange(3)
    if rng.random() < 0.2:
        card.club = Club(tier="gold")
    card.virtual = rng.random() < 0.1
    return card


def test_a_packed_card_reads_as_it_was_written() -> None:
    rng = random.Random(7)
    cards = Cards()
    made = [random_card(rng, n) for n in range(400)]
    for card in made:
        cards[card.pan] = card
    expected = {c.pan: values(c) for c in made}
    assert cards.pack() == 400 and not cards.live
    assert len(cards) == 400 and set(cards) == set(expected)
    assert {pan: values(card) for pan, card in cards.items()} == expected
    assert not cards.live  # reading every card does not unpack the store
    some = made[3].pan
    card = cards[some]
    assert card is cards.get(some) is cards[some] and some in cards.live
    assert values(card) == expected[some]
    card.lots = [*card.lots, Lot(99, some, POINTS, "S1", "tehran-mall", DAY, None, 5, 5)]
    cards.pack()
    assert cards[some].lots[-1].id == 99 and len(cards) == 400


def test_cards_that_do_not_fit_stay_objects() -> None:
    cards = Cards()
    early = Card("6280000000000001", "tehran-mall", enrolled_on=dt.date(1969, 12, 31))
    huge = Card("6280000000000002", "tehran-mall",
                lots=[Lot(1, "6280000000000002", POINTS, "S1", "c", DAY, None, 1 << 70, 1)])
    foreign = Card("6280000000000003", "tehran-mall",
                   lots=[Lot(2, "6280000000000099", POINTS, "S1", "c", DAY, None, 5, 5)])
    misplaced = Card("6280000000000004", "tehran-mall",
                     purse=[Lot(3, "6280000000000004", POINTS, "S1", "c", DAY, None, 5, 5)])
    renamed = Card("6280000000000005", "tehran-mall")
    for card in (early, huge, foreign, misplaced):
        cards[card.pan] = card
    cards["6280000000000006"] = renamed
    assert cards.pack() == 0
    for card in (early, huge, foreign, misplaced):
        assert cards[card.pan] is card
    assert cards["6280000000000006"] is renamed


def test_a_mapping_like_a_dict() -> None:
    cards = Cards()
    a = Card("6280000000000011", "tehran-mall")
    cards[a.pan] = a
    cards.pack()
    assert cards.get("nope") is None and "nope" not in cards and a.pan in cards
    with pytest.raises(KeyError) as missing:
        cards["nope"]
    assert missing.value.args == ("nope",)
    assert cards.get("nope", a) is a
    replaced = Card(a.pan, "other")
    cards[a.pan] = replaced
    assert cards[a.pan] is replaced and len(cards) == 1
    cards.pack()
    del cards[a.pan]
    assert a.pan not in cards and len(cards) == 0
    live = Card("6280000000000012", "tehran-mall")
    cards[live.pan] = live
    cards.pack()
    assert cards[live.pan].pan == live.pan and live.pan in cards.live  # read: an object again
    del cards[live.pan]
    assert live.pan not in cards and len(cards) == 0 and not cards.live and not cards.packed
    try:
        cards[a.pan]
    except KeyError:
        pass
    else:
        raise AssertionError("a deleted card is still there")


SMALL, WIDE_PAN, EARLY, ODD = ("6280000000000021", "6280000000000022", "6280000000000023",
                                "6280000000000024")


def test_recovery_packs_narrow_and_wide_cards(tmp_path: Path) -> None:
    conn, path = _four_cards(tmp_path)
    report = RecoveryReport()
    state = load_cache(conn, example_config(path), None, NOW, report)
    conn.close()
    _check_four(state.cards, report, lazy=False)


def test_lazy_recovery_leaves_every_cards_lots_unread(tmp_path: Path) -> None:
    conn, path = _four_cards(tmp_path)
    report = RecoveryReport()
    state = load_cache(conn, example_config(path), None, NOW, report, lazy=True)
    cards = state.cards
    assert report.lots == 0 and report.cards == 4
    assert set(cards.packed) == {SMALL, WIDE_PAN, EARLY} and set(cards.live) == {ODD}
    assert cards.packed[SMALL][0] == UNREAD and cards.packed[WIDE_PAN][0] == UNREAD
    assert cards.packed[EARLY][0] == UNREAD | 1  # before 1970: a wide head
    assert all(cards.unread(pan) for pan in cards) and not cards.unread("6280000000000099")
    # What a head holds reads without the lots; the lots raise, naming the card, masked.
    assert cards[WIDE_PAN].status == "blocked" and cards[ODD].enrolled_on.year == 1969
    with pytest.raises(UnreadCard) as raised:
        _ = cards[SMALL].points
    assert raised.value.pan == SMALL and SMALL not in str(raised.value)
    cards.pack()  # read and never filled: packed unread again
    assert cards.unread(SMALL) and set(cards.live) == {ODD}
    for pan in (SMALL, WIDE_PAN, EARLY, ODD):
        cards.fill(pan, *card_lots(conn, pan))
    conn.close()
    _check_four(cards, RecoveryReport(lots=6, cards=4), lazy=True)
    assert not any(cards.unread(pan) for pan in cards)
    cards.pack()
    assert cards.packed[SMALL][0] == 0 and cards.packed[WIDE_PAN][0] == 1
    assert not any(cards.unread(pan) for pan in cards)
    _check_four(cards, RecoveryReport(lots=6, cards=4), lazy=True)


def _check_four(cards: Cards, report: RecoveryReport, *, lazy: bool) -> None:
    small, wide, early, odd = SMALL, WIDE_PAN, EARLY, ODD
    assert report.lots == 6 and report.cards == 4
    if not lazy:
        assert set(cards.packed) == {small, wide, early} and set(cards.live) == {odd}
        assert cards.packed[small][0] == 0 and cards.packed[wide][0] == 1  # narrow, wide
    assert [(x.id, x.remaining) for x in cards[small].lots] == [(1, 4)]
    assert [(x.id, x.kind) for x in cards[small].purse] == [(3, "stored_value")]
    assert cards[wide].status == "blocked" and cards[wide].purse[0].remaining == 1 << 39
    assert cards[wide].lots[0].expires_on == dt.date(2027, 2, 1)
    assert cards[early].enrolled_on == dt.date(1960, 5, 6) and cards[early].points == -2
    assert cards[odd].points == 9


def _four_cards(tmp_path: Path) -> tuple[sqlite3.Connection, Path]:
    path = tmp_path / "j.db"
    SqliteJournal(path).close()
    conn = sqlite3.connect(path)
    small, wide, early, odd = SMALL, WIDE_PAN, EARLY, ODD
    # ODD's enrolment is the one day a narrow record cannot hold: an object
    conn.executemany("INSERT INTO cards VALUES (?,?,?,?)", [
        (small, "tehran-mall", "active", "2026-01-02"),
        (wide, "tehran-mall", "blocked", "2026-01-02"),
        (early, "tehran-mall", "active", "1960-05-06"),
        (odd, "tehran-mall", "active", "1969-12-31")])
    lots = [(1, small, "points", "S1", "tehran-mall", "2026-02-01", None, 10, 4, 1),
            (2, wide, "points", "S1", "tehran-mall", "2026-02-01", "2027-02-01", 10, 10, 2),
            (3, small, "stored_value", "S2", "tehran-mall", "2026-02-01", None, 7, 7, 3),
            (4, wide, "stored_value", "S2", "tehran-mall", "2026-03-01", None, 1 << 40,
             1 << 39, 4),
            (5, early, "points", "S1", "tehran-mall", "2026-02-01", None, 3, -2, 5),
            (6, small, "points", "S1", "tehran-mall", "2026-02-02", None, 9, 0, 6),
            (7, "6280000000000099", "points", "S1", "tehran-mall", "2026-02-01", None, 9, 9, 7),
            (8, odd, "points", "S1", "tehran-mall", "2026-02-01", None, 9, 9, 8)]
    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
    conn.commit()
    return conn, path


def test_unread_lots_refuse_every_read() -> None:
    unread = Unread("6280000000000021")
    other: list[Lot] = []
    reads: list[Callable[[Any], object]] = [
        iter, len, bool, list, sorted, sum, reversed, lambda x: x[0],
        lambda x: 1 in x, lambda x: x + other, lambda x: other + x, lambda x: [*x],
        lambda x: x == other, lambda x: x.append(1), lambda x: x.copy(),
        lambda x: other.extend(x), lambda x: x * 2]
    for read in reads:
        with pytest.raises(UnreadCard):
            read(unread)
    assert repr(unread) == "Unread()"
    with pytest.raises(TypeError):
        hash(unread)


def test_fill_takes_only_an_unread_cards_own_lots() -> None:
    pan = "6280000000000021"
    cards = Cards()
    cards[pan] = Card(pan, "tehran-mall", "active", DAY)
    mine = Lot(1, pan, POINTS, "S1", "tehran-mall", DAY, None, 5, 5)
    with pytest.raises(ValueError, match="not waiting"):
        cards.fill(pan, [mine], [])
    unread: list[Lot] = Unread(pan)  # type: ignore[assignment]
    cards[pan] = Card(pan, "tehran-mall", "active", DAY, unread, unread)
    theirs = Lot(2, "6280000000000022", POINTS, "S1", "tehran-mall", DAY, None, 5, 5)
    stored = Lot(3, pan, STORED_VALUE, "S1", "tehran-mall", DAY, None, 5, 5)
    for lots, purse in (([theirs], []), ([stored], []), ([], [mine])):
        with pytest.raises(ValueError, match="not its own"):
            cards.fill(pan, lots, purse)
        assert cards.unread(pan)
    with pytest.raises(ValueError, match="not waiting"):
        cards.fill("6280000000000099", [], [])
    cards.fill(pan, [mine], [stored])
    assert cards[pan].points == 5 and cards[pan].stored_value == 5


def test_reading_lots_decides_again_once_per_card() -> None:
    pans = ["6280000000000021", "6280000000000022"]
    cards = Cards()
    for pan in pans:
        unread: list[Lot] = Unread(pan)  # type: ignore[assignment]
        cards[pan] = Card(pan, "tehran-mall", "active", DAY, unread, unread)
    filled: list[str] = []

    def fill(pan: str) -> None:
        filled.append(pan)
        cards.fill(pan, [Lot(len(filled), pan, POINTS, "S1", "tehran-mall", DAY, None, 3, 3)],
                   [])

    assert reading_lots(lambda: sum(cards[p].points for p in pans), fill) == 6
    assert filled == pans
    # A fill that leaves the card unread must not loop: the second miss raises.
    cards["6280000000000023"] = Card("6280000000000023", "m", "active", DAY,
                                     Unread("6280000000000023"),  # type: ignore[arg-type]
                                     Unread("6280000000000023"))  # type: ignore[arg-type]
    with pytest.raises(UnreadCard):
        reading_lots(lambda: cards["6280000000000023"].points, lambda pan: None)


def test_names_hold_each_value_once_up_to_what_an_index_can_hold() -> None:
    names = Names()
    head = ("tehran-mall", "active", False)
    assert names.index(head) == names.index(head) == 1 and names.values == [None, head]
    for n in range(2, _NAMES_MAX):
        assert names.index(n) == n
    assert len(names.values) == _NAMES_MAX  # indexes 1..65535: an unsigned short each
    with pytest.raises(ValueError, match=r"^the names table is full$"):
        names.index("one more")
    assert names.index(head) == 1 and names.index(_NAMES_MAX - 1) == _NAMES_MAX - 1


def test_a_stored_day_is_one_object_and_zero_is_none() -> None:
    names = Names()
    number = day_number(DAY)
    assert number == DAY.toordinal() - dt.date(1970, 1, 1).toordinal() + 1
    assert names.day(number) == DAY and names.day(number) is names.day(number)
    assert names.day(0) is None and day_number(None) == 0
    with pytest.raises(ValueError, match=r"^1969-12-31 cannot be stored$"):
        day_number(dt.date(1969, 12, 31))  # its number would be 0, "no day"


def test_an_unread_cards_error_names_it_masked() -> None:
    pan = "6280000000000021"
    message = str(UnreadCard(pan))
    assert message == "the lots of card 628000******0021 are not read yet"
    assert pan not in message


def test_a_cards_lots_by_id_split_and_scoped_to_stores(tmp_path: Path) -> None:
    conn, _ = _four_cards(tmp_path)
    try:
        ids = {stores: tuple([x.id for x in part] for part in card_lots(conn, SMALL, stores))
               for stores in (None, frozenset({"S1"}), frozenset({"S2"}),
                              frozenset({"S1", "S2"}), frozenset({"S3"}))}
    finally:
        conn.close()
    # Lot 6 is spent (remaining 0): never a live lot.
    assert ids == {None: ([1], [3]), frozenset({"S1"}): ([1], []),
                   frozenset({"S2"}): ([], [3]), frozenset({"S1", "S2"}): ([1], [3]),
                   frozenset({"S3"}): ([], [])}
