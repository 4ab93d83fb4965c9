"""What a restart is compared on (docs/switch.md, "Comparing states"): everything a decision
can read, and nothing it cannot.

A card's spend older than any window a decision reads (`spend_horizon`, 13 months) is not
loaded by recovery, and a live card keeps it until its next `prune_spend`: a card with no
purchase for over a year differed there, and only there, after a restart. Whether some
requests of the idempotency window left memory decides whether a key missing from memory is
looked up in the journal, so it is compared.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import pytest

from switch.core import prune, snapshot
from switch.core.calendar import business_day
from switch.core.programs.club import spend_horizon
from switch.core.programs.rules import program_rules
from switch.core.snapshot import Snapshot
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.switch.support import NOW, T1, card, earn, example_config, request, reversal

A = card(731)


@pytest.fixture
def club_shell() -> Iterator[Shell]:
    """The example's switch with its programs: an earn keeps the card's spend by day."""
    with scratch_dir() as path:
        cfg = example_config(path / "lps.db")
        shell = Shell(path / "lps.db", cfg, program_rules(cfg))
        yield shell
        shell.close()


def spend_of(sh: Shell, pan: str) -> list[tuple[dt.date, int]]:
    card_ = sh.state.cards.get(pan)
    assert card_ is not None and card_.club is not None
    return list(card_.club.spend.items())


def test_a_card_without_purchases_for_over_a_year_restarts_to_the_same_state(
        club_shell: Shell) -> None:
    """An earn, then 400 days of nothing: the live card still holds that day's spend, the
    recovered one does not, and the restart's comparison (`Shell.restart`) passes because
    neither can be read any more; an earn after it decides the same on both."""
    sh = club_shell
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000_000), NOW)) == "00"
    later = NOW + dt.timedelta(days=400)
    spent = spend_of(sh, A)
    assert [day for day, _ in spent] == [NOW.date()]
    prune(sh.state, later)  # as the restart does first
    live = snapshot(sh.state)
    sh.restart(later)  # asserts the two equal as of `later`'s business day
    recovered = snapshot(sh.state, sh.store.card_lots)
    assert recovered.durable() != live.durable()  # the spend alone tells them apart
    assert dataclasses.replace(recovered.durable(), clubs=()) == \
        dataclasses.replace(live.durable(), clubs=())
    assert spend_of(sh, A) == []
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 1_000_000, now=later), later)) == "00"
    sh.restart(later)


def test_durable_drops_the_spend_on_the_horizon_and_keeps_the_day_after() -> None:
    day = dt.date(2027, 12, 24)
    horizon = spend_horizon(day)
    assert horizon == dt.date(2026, 11, 23)
    club = ("6280000000007312", "BLUE", None, None, 0, 0,
            ((horizon - dt.timedelta(days=1), 5), (horizon, 7),
             (horizon + dt.timedelta(days=1), 11), (day, 13)), (), (), None, "", None)
    shot = Snapshot((), (), (club,), (), (), (), (), (0, 0))
    kept = shot.durable(day).clubs[0]
    assert kept[6] == ((horizon + dt.timedelta(days=1), 11), (day, 13))
    assert kept[:6] == club[:6] and kept[7:] == club[7:]
    assert shot.durable().clubs == (club,)


def test_whether_requests_left_memory_is_compared(club_shell: Shell) -> None:
    """`forgot_day` (and the tombstones' day) say that a key missing from memory must be looked
    up in the journal: two states that differ there decide a retransmission differently."""
    sh = club_shell
    before = snapshot(sh.state).durable()
    day = business_day(NOW, sh.cfg.switch.zone, sh.cfg.switch.business_day_cutover)
    sh.state.forgot_day = day
    assert snapshot(sh.state).durable() != before
    assert snapshot(sh.state).durable().forgotten == (day, None)
    sh.state.forgot_day, sh.state.forgot_tombstone_day = None, day
    assert snapshot(sh.state).durable().forgotten == (None, day)


@pytest.mark.parametrize("undo", ["return", "reversal"])
def test_an_old_earn_undone_leaves_the_same_journal_with_or_without_a_restart(
        undo: str) -> None:
    """docs/switch.md "Comparing states": with windows longer than the spend horizon (here
    800 days for returns and for the idempotency that reversals need), an earn taken back 500
    days later touches a day's spend no window reads. The switch that kept the card in memory
    since and one that recovered it before must write the same row for that day (nothing), as
    each restart of them must recover the same state."""
    later = NOW + dt.timedelta(days=500)
    tables = []
    for restart in (False, True):
        with scratch_dir() as path:
            cfg = example_config(path / "lps.db", return_window_days=800,
                                 idempotency_days=800)
            sh = Shell(path / "lps.db", cfg, program_rules(cfg))
            bought = earn(T1, sh.next_stan(), A, 1_000_000)
            response = sh.send(bought, NOW)
            assert rc(response) == "00"
            if restart:
                sh.restart(later)
            else:
                prune(sh.state, later)
                assert spend_of(sh, A) == [(NOW.date(), 1_000_000)]  # kept in memory
            if undo == "return":
                back = request("0200", T1, sh.next_stan(), pan=A, pc="200000",
                               amount=1_000_000, tags={"OR": rrn(response)}, now=later)
            else:
                back = reversal(bought, sh.next_stan(), now=later)
            assert rc(sh.send(back, later)) == "00"
            assert spend_of(sh, A) == []
            tables.append(sh.sql("SELECT pan, business_day, amount FROM card_spend"))
            sh.restart(later)
            sh.close()
    assert tables[0] == tables[1] == [(A, NOW.date().isoformat(), 0)]
