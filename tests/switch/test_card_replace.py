"""Replacing a lost card (switch/core/card_replace.py, docs/switch.md "Replacing a lost card"):
the lots move keeping store and expiry, settlement sees no change, recovery gives back the live
state, and every refusal changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from settlement.day import DaySettlement
from switch.core import AdminError, journaled, snapshot
from switch.core.card_replace import decide_replace, replace_command
from switch.core.programs.rules import program_rules
from switch.journal.sql.verify import check_invariants
from tests.engines import raw
from tests.money.support import Shell, rc, scratch_dir, tehran
from tests.switch.support import T1, T2, T3, burn, card, earn, example_config, request

OLD, NEW, OTHER = card(701), card(702), card(703)
DAY = dt.date(2026, 11, 23)
MORNING, NOON, EVENING = tehran(2026, 11, 23, 9), tehran(2026, 11, 23, 12), \
    tehran(2026, 11, 23, 18)


@pytest.fixture
def shell() -> Iterator[Shell]:
    with scratch_dir() as path:
        sh = _shell(path / "lps.db")
        yield sh
        sh.close()


def _shell(path: Path) -> Shell:
    """A switch running the example's programs (stamps at the cafe, tiers)."""
    cfg = example_config(path)
    return Shell(path, cfg, rules=program_rules(cfg), now=MORNING)


def _traffic(sh: Shell, pan: str) -> None:
    """Points from three stores, a stamp and a purse of the sports club."""
    for tid, amount in ((T1, 300_000), (T2, 500_000), (T3, 400_000), (T1, 100_000)):
        assert rc(sh.send(earn(tid, sh.next_stan(), pan, amount, now=MORNING), MORNING)) == "00"
    topup = request("0200", T3, sh.next_stan(), pan=pan, pc="210060", amount=1_000_000,
                    now=MORNING)
    assert rc(sh.send(topup, MORNING)) == "00"


def _replace(sh: Shell, old: str, new: str, now: dt.datetime = NOON) -> None:
    entries = replace_command(sh.state, old, new, "lost at the mall", "staff:ann", now)
    sh.store.append(entries)
    journaled(sh.state, entries)


def _positions(result: DaySettlement) -> tuple[object, ...]:
    return (result.points.positions, result.points.obligations, result.stored_value.positions,
            result.stored_value.obligations, result.breakage, result.settling_draws)


def test_lots_move_with_their_store_and_expiry_and_the_old_card_is_blocked(shell: Shell
                                                                             ) -> None:
    _traffic(shell, OLD)
    old = shell.state.cards[OLD]
    before = sorted((lot.kind, lot.store, lot.earned_on, lot.expires_on, lot.remaining)
                    for lot in (*old.lots, *old.purse))
    stamps = dict(old.club.stamps) if old.club is not None else {}
    assert stamps  # the cafe gives a stamp a visit
    _replace(shell, OLD, NEW)
    old, new = shell.state.cards[OLD], shell.state.cards[NEW]
    assert old.status == "blocked" and old.lots == [] and old.purse == []
    assert new.status == "active" and new.coalition == old.coalition
    after = sorted((lot.kind, lot.store, lot.earned_on, lot.expires_on, lot.remaining)
                   for lot in (*new.lots, *new.purse))
    assert after == before
    assert new.club is not None and new.club.stamps == stamps
    assert old.club is not None and set(old.club.stamps.values()) == {0}
    # Each card's journal rows add up to its lots (the per-card invariant).
    assert shell.journal_points(OLD) == 0
    assert shell.journal_points(NEW) == sum(lot.remaining for lot in new.lots)
    rows = shell.sql("SELECT pan, kind, json_extract(detail, '$.action') FROM journal "
                     "ORDER BY id DESC LIMIT 2")
    assert rows == [(NEW, "card_admin", "replaced"), (OLD, "card_admin", "replace")]
    # The old card is refused at the till, the new one spends the points.
    assert rc(shell.send(burn(T2, shell.next_stan(), OLD, 10_000, tags={"RP": "10"},
                              now=EVENING), EVENING)) != "00"
    assert rc(shell.send(burn(T2, shell.next_stan(), NEW, 10_000, tags={"RP": "10"},
                              now=EVENING), EVENING)) == "00"


def test_recovery_gives_back_the_live_state(shell: Shell) -> None:
    _traffic(shell, OLD)
    _replace(shell, OLD, NEW)
    live = snapshot(shell.state).durable()
    assert check_invariants(raw(shell.store)) == []
    shell.restart(EVENING)  # the cards' lots read by their first decision, as lps serve
    assert snapshot(shell.state, shell.store.card_lots).durable() == live


def test_settlement_sees_no_change_of_any_stores_position(shell: Shell) -> None:
    """The day settled before the replacement and after it: each store's position, the
    obligations and the breakage are the same; and a twin journal where the old card spends
    at another store settles exactly as the new card spending there."""
    _traffic(shell, OLD)
    before = _positions(shell.settle(DAY))
    _replace(shell, OLD, NEW)
    assert _positions(shell.settle(DAY)) == before
    spent = shell.send(burn(T2, shell.next_stan(), NEW, 40_000, tags={"RP": "40"}, now=EVENING),
                       EVENING)
    assert rc(spent) == "00"
    with scratch_dir() as path:
        twin = _shell(path / "lps.db")
        try:
            _traffic(twin, OLD)
            assert rc(twin.send(burn(T2, twin.next_stan(), OLD, 40_000, tags={"RP": "40"},
                                     now=EVENING), EVENING)) == "00"
            assert _positions(shell.settle(DAY)) == _positions(twin.settle(DAY))
            assert shell.settle(DAY).points.obligations  # the burn did settle between stores
        finally:
            twin.close()


@pytest.mark.parametrize(("old", "new", "reason", "why"), [
    (OLD, OLD, "lost", "is the card being replaced"),
    (OLD, OTHER, "lost", "already in use"),
    (OLD, NEW[:-1] + str((int(NEW[-1]) + 1) % 10), "lost", "Luhn"),
    (OLD, "6391000000000001", "lost", "Luhn"),
    (card(704), NEW, "lost", "not enrolled"),
    (OLD, NEW, " ", "needs a reason"),
    (OLD, NEW, "lost\u202e", "needs a reason"),
])
def test_refusals_change_nothing(shell: Shell, old: str, new: str, reason: str, why: str
                                 ) -> None:
    _traffic(shell, OLD)
    assert rc(shell.send(earn(T1, shell.next_stan(), OTHER, 100_000, now=MORNING),
                         MORNING)) == "00"
    was = snapshot(shell.state)
    with pytest.raises(AdminError, match=why):
        decide_replace(shell.state, old, new, reason, "staff:ann", NOON)
    assert snapshot(shell.state) == was


def test_a_number_outside_the_coalitions_bins_is_refused(shell: Shell) -> None:
    _traffic(shell, OLD)
    outside = _luhn("4111110000000")
    was = snapshot(shell.state)
    with pytest.raises(AdminError, match="outside coalition tehran-mall's card BINs"):
        decide_replace(shell.state, OLD, outside, "lost", "staff:ann", NOON)
    gift = _luhn("639000000000077")
    with pytest.raises(AdminError, match="gift card"):
        decide_replace(shell.state, OLD, gift, "lost", "staff:ann", NOON)
    assert snapshot(shell.state) == was


def test_lapsed_lots_stay_and_a_debt_refuses(shell: Shell) -> None:
    _traffic(shell, OLD)
    card_ = shell.state.cards[OLD]
    lapsed = dataclasses.replace(card_.lots[0], expires_on=DAY)
    card_.lots = [lapsed, *card_.lots[1:]]
    replacement = decide_replace(shell.state, OLD, NEW, "lost", "staff:ann", NOON)
    assert replacement.lots == len(card_.lots) - 1 + len(card_.purse)
    debt = dataclasses.replace(card_.lots[1], remaining=-5)
    card_.lots = [card_.lots[0], debt, *card_.lots[2:]]
    with pytest.raises(AdminError, match="owes 5"):
        decide_replace(shell.state, OLD, NEW, "lost", "staff:ann", NOON)


def _luhn(body: str) -> str:
    from switch.core.luhn import luhn_ok

    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def test_the_messages_never_carry_a_whole_card_number(shell: Shell) -> None:
    _traffic(shell, OLD)
    for old, new in ((OLD, OLD), (OLD, _luhn("4111110000000")), (card(704), NEW)):
        with pytest.raises(AdminError) as err:
            decide_replace(shell.state, old, new, "lost", "staff:ann", NOON)
        assert old not in str(err.value) and new not in str(err.value)




@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_traffic_with_replacements_settles_as_without(seed: int) -> None:
    """Customers earn, spend and return across the three stores; in one journal some of them
    lose their card on the way and go on with the new one, in the twin they keep theirs. Both
    settle the day alike (positions, obligations, breakage), each card's lots add up to its
    journal rows, and recovery gives back the live state."""
    import random

    rng = random.Random(seed)
    people = [card(800 + i) for i in range(4)]
    with scratch_dir() as path_a, scratch_dir() as path_b:
        replaced, kept = _shell(path_a / "lps.db"), _shell(path_b / "lps.db")
        try:
            holding = {p: p for p in people}  # the card each customer holds in `replaced`
            serial = 900
            for step in range(40):
                who = rng.choice(people)
                tid = rng.choice((T1, T2, T3))
                at = MORNING + dt.timedelta(minutes=step)
                roll = rng.random()
                if roll < 0.15 and holding[who] in replaced.state.cards:
                    serial += 1
                    new = card(serial)
                    _replace(replaced, holding[who], new, at)
                    holding[who] = new
                    continue
                amount, points = rng.randrange(1, 50) * 20_000, rng.randrange(1, 30)
                answers = []
                for sh, pan in ((replaced, holding[who]), (kept, who)):
                    if roll < 0.7:
                        msg = earn(tid, sh.next_stan(), pan, amount, now=at)
                    else:
                        msg = burn(tid, sh.next_stan(), pan, points * 1_000,
                                   tags={"RP": str(points)}, now=at)
                    answers.append(rc(sh.send(msg, at)))
                assert answers[0] == answers[1], (step, answers)
            assert serial > 900  # some customers did replace their card
            for p in people:
                got = replaced.state.cards.get(holding[p])
                want = kept.state.cards.get(p)
                assert (got.points if got else 0) == (want.points if want else 0)
            assert _positions(replaced.settle(DAY)) == _positions(kept.settle(DAY))
            assert check_invariants(raw(replaced.store)) == []
            replaced.restart(EVENING)
        finally:
            replaced.close()
            kept.close()


def test_on_both_engines_recovery_gives_back_the_replacement(
        tmp_path: Path, journal_settings: dict[str, object]) -> None:
    """SQLite and PostgreSQL: the two rows go in one append, the invariants hold, and a state
    recovered from the journal equals the live one (tests/switch/journaled.py)."""
    from tests.switch.journaled import Journaled
    from tests.switch.support import sign_on

    url = journal_settings.get("journal_url")
    cfg = example_config(tmp_path / "lps.db", journal_url=url)
    sw = Journaled(tmp_path, cfg, rules=program_rules(cfg))
    try:
        for n, msg in enumerate((sign_on(T1), sign_on(T2), earn(T1, 1, OLD, 300_000),
                                 earn(T2, 2, OLD, 500_000))):
            assert sw.rc(msg) == "00", n
        entries = replace_command(sw.state, OLD, NEW, "lost", "staff:ann", NOON)
        sw.store.append(entries)
        journaled(sw.state, entries)
        assert sw.points(OLD) == 0 and sw.points(NEW) > 0
        sw.restart(EVENING)
        assert sw.state.cards[OLD].status == "blocked" and sw.points(NEW) > 0
    finally:
        sw.close()
