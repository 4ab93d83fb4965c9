"""What a restart reads back of the idempotency window when memory holds less than the window.

docs/switch.md, "Memory": only the newest `switch.replay_memory` requests of the window stay in
memory, and "Recovery loads only the newest `replay_memory` requests of the window and notes
whether older ones exist, so a recovered state equals the live one"; "Comparing states": the
live state pruned at the restart's time (`Shell.restart` checks exactly that). Every answer
after the restart must be the one the request would have had in memory (docs/protocol.md:
a retransmission byte for byte, a late original after its reversal's `25` declined `05`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from iso8583 import Message
from switch.core import prune, snapshot
from switch.core.card_store import UnreadCard
from switch.core.replay import forget_over_bound
from switch.core.state import State
from switch.journal.sql.recover import next_ids
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.journal import SqliteJournal
from tests.money.support import Shell, rc, rrn, scratch_dir
from tests.money.test_journal_rules import recovered
from tests.switch.support import NOW, T1, T2, T3, burn, card, earn, example_config, inquiry
from tests.switch.support import request as request_of
from tests.switch.support import reversal as reversal_of

A, B, C = card(711), card(712), card(713)
MEMORY = 3


@pytest.fixture
def small() -> Iterator[Shell]:
    """The example's switch with memory for 3 requests (`switch.replay_memory`)."""
    with scratch_dir() as path:
        shell = Shell(path / "lps.db", example_config(path / "lps.db", replay_memory=MEMORY))
        yield shell
        shell.close()


def same(a: Message, b: Message) -> bool:
    return (a.mti, a.fields) == (b.mti, b.fields)


def earns(sh: Shell) -> int:
    """How many approved earns the journal holds (a retransmission adds none)."""
    return int(str(sh.sql("SELECT COUNT(*) FROM journal WHERE kind = 'earn' "
                          "AND response_code = '00'")[0][0]))


def test_a_restart_with_less_memory_than_the_window_keeps_its_newest_requests(
        small: Shell) -> None:
    """Seven requests in the window, memory for 3: the restart recovers the newest 3, as the
    live state holds them, and knows older ones exist: the first earn sent again is answered
    with its reply byte for byte and earns nothing, and the late original of a reversal
    answered `25` (its tombstone gone from memory with it) is declined `05`."""
    sh = small
    first = earn(T1, sh.next_stan(), A, 100_000)
    answer = sh.send(first)
    assert rc(answer) == "00"
    never = earn(T2, 990_002, B, 50_000)
    assert rc(sh.send(reversal_of(never, sh.next_stan()))) == "25"
    for _ in range(5):
        assert rc(sh.send(inquiry(T1, sh.next_stan(), A))) == "00"
    sh.restart(NOW)   # the recovered state equals the live one
    assert same(sh.send(first), answer)
    assert rc(sh.send(never)) == "05"
    assert earns(sh) == 1
    assert sh.journal_points(A) == 10 and sh.journal_points(B) == 0
    sh.restart(NOW)


LATER = NOW + dt.timedelta(days=3)


def test_a_journal_written_on_a_later_day_is_remembered_by_a_restart_on_an_earlier_one(
) -> None:
    """A switch whose clock went back across a restart (served on 26 November, restarted at
    23 November): the requests of the later business day are inside the window of the earlier
    one (the window ends nowhere), the live state pruned at the earlier time keeps them, and
    so must the recovered one; sent again, the earn is a retransmission (its reply byte for
    byte, no second earn)."""
    with scratch_dir() as path:
        db = path / "lps.db"
        sh = Shell(db, example_config(db), now=LATER)
        try:
            first = earn(T1, sh.next_stan(), A, 100_000, now=LATER)
            answer = sh.send(first, LATER)
            assert rc(answer) == "00"
            assert sh.business_days(answer) == ["2026-11-26"]
            sh.restart(NOW)   # the recovered state equals the live one pruned at NOW
            assert same(sh.send(first, NOW), answer)
            assert earns(sh) == 1 and sh.journal_points(A) == 10
        finally:
            sh.close()


#: 21:00 UTC on 1 December: 00:30 on 2 December in Tehran, the example's `timezone`.
TEHRAN_NEXT_DAY = dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.UTC)


def test_a_restart_counts_the_window_in_the_switchs_own_business_days(sh: Shell) -> None:
    """docs/switch.md: the journal's `business_day` is the day by `business_day_cutover` and
    `timezone`, and the idempotency window is 7 business days. Restarted at 00:30 on 2
    December in Tehran (still 1 December in UTC), the window starts on 24 November: the
    earn of 23 November has left it, the one of 24 November has not, as in the live state
    pruned at that time; sent again, the later one is a retransmission."""
    old = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    day_after = NOW + dt.timedelta(days=1)
    kept = earn(T1, sh.next_stan(), A, 50_000, now=day_after)
    answer = sh.send(kept, day_after)
    assert sh.business_days(old, answer) == ["2026-11-23", "2026-11-24"]
    sh.restart(TEHRAN_NEXT_DAY)   # the recovered state equals the live one
    assert same(sh.send(kept, TEHRAN_NEXT_DAY), answer)
    assert earns(sh) == 2 and sh.journal_points(A) == 15


def test_a_refresh_carrying_memory_reverses_an_original_that_had_left_it(small: Shell) -> None:
    """docs/switch.md, "Several nodes", step 3: a node takes its remembered requests over and
    adds the journal rows after its last id, within `replay_memory`. After that id, a reversal
    of an earn that had left memory (approved, its original read from the journal): the
    refresh adds it, and its newest 3 requests, cards and lots are the live state's and those
    a whole recovery reads; the earn is in none of them."""
    sh = small
    first = earn(T1, sh.next_stan(), A, 100_000)
    answer = sh.send(first)
    assert rc(answer) == "00"
    for _ in range(MEMORY):
        assert rc(sh.send(inquiry(T1, sh.next_stan(), A))) == "00"
    upto = int(str(sh.sql("SELECT MAX(id) FROM journal")[0][0]))
    carried = recovered(sh)
    undo = sh.send(reversal_of(first, sh.next_stan()))
    assert rc(undo) == "00" and sh.journal_points(A) == 0
    refreshed = snapshot(recovered(sh, (carried, upto))).durable()
    prune(sh.state, NOW)
    live = snapshot(sh.state).durable()
    whole = snapshot(recovered(sh)).durable()

    def newest(txns: tuple[tuple[object, ...], ...]) -> list[tuple[object, ...]]:
        return sorted(txns, key=lambda t: int(str(t[2])))[-MEMORY:]   # by journal id

    assert newest(refreshed.txns) == newest(live.txns) == newest(whole.txns)
    assert int(str(newest(refreshed.txns)[-1][2])) == int(rrn(undo))
    assert (refreshed.cards, refreshed.lots) == (live.cards, live.lots) == (whole.cards,
                                                                             whole.lots)
    assert int(rrn(answer)) not in [t[2] for t in (*refreshed.txns, *live.txns)]


def take_over(sh: Shell, state: State) -> None:
    """A node's refreshed state put to serve, as `PgJournal.refresh` leaves it: its next ids
    from the journal, everything up to the head durable, memory within `replay_memory`."""
    conn = connect(sh.path, readonly=True)
    try:
        state.next_journal_id, state.next_lot_id = next_ids(conn)
    finally:
        conn.close()
    state.durable_upto = state.next_journal_id - 1
    forget_over_bound(state)
    state.limits = sh.limits
    sh.state = state


def test_a_node_refreshed_from_its_carried_memory_answers_as_one_that_never_stopped(
        small: Shell) -> None:
    """docs/switch.md, "Several nodes", step 3, with memory for 3: a node whose memory had let
    a tombstone go (a reversal answered `25`) carries it over a refresh that adds another
    node's rows. Serving on, the late original that reversal named is declined `05`
    (docs/protocol.md), requests keep leaving memory oldest first, and a restart recovers the
    state it serves with ("Comparing states")."""
    sh = small
    never = earn(T2, 990_003, B, 50_000)
    assert rc(sh.send(reversal_of(never, sh.next_stan()))) == "25"
    for _ in range(MEMORY):
        assert rc(sh.send(inquiry(T1, sh.next_stan(), A))) == "00"
    upto = int(str(sh.sql("SELECT MAX(id) FROM journal")[0][0]))
    carried = recovered(sh)
    elsewhere = sh.send(earn(T1, sh.next_stan(), A, 100_000))   # the other node's turn
    take_over(sh, recovered(sh, (carried, upto)))
    assert rc(sh.send(never)) == "05"
    for _ in range(2 * MEMORY):
        assert rc(sh.send(inquiry(T1, sh.next_stan(), A))) == "00"
    assert rc(elsewhere) == "00" and sh.journal_points(A) == 10
    assert sh.journal_points(B) == 0
    sh.restart(NOW)


def test_a_terminal_taken_out_of_the_configuration_while_stopped(sh: Shell) -> None:
    """docs/programs.md: terminals coming or going take a restart; docs/switch.md: sign-on
    state survives a restart. The journal knows T3 (signed on), the configuration at the
    restart no longer does: recovery loads all the same, T1 is still signed on (an earn
    without a new sign-on approved) and T3 is unknown (`03`)."""
    assert rc(sh.send(earn(T3, sh.next_stan(), A, 100_000))) == "00"
    sh.cfg = dataclasses.replace(sh.cfg, terminals={
        tid: term for tid, term in sh.cfg.terminals.items() if tid != T3})
    sh.store.close()
    sh.store = SqliteJournal(sh.path)
    sh.state = sh.store.load(sh.cfg, sh.rules, NOW)
    sh.state.limits = sh.limits
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    points = sh.journal_points(A)
    assert rc(sh.send(earn(T3, sh.next_stan(), A, 100_000))) == "03"
    assert sh.journal_points(A) == points
    sh.restart(NOW)


#: A day past the packed cache's narrow days (docs/switch.md, "The balance cache": 1970-2149).
FAR = dt.datetime(2150, 3, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "eager"])
def test_a_card_enrolled_past_the_narrow_days_is_recovered_whole(lazy: bool) -> None:
    """docs/switch.md, "The balance cache": days outside 1970-2149 make a wide record, and a
    card whose head fits no narrow one is read as an object. A card enrolled (and earning) on
    1 March 2150 is recovered with its coalition, status, enrolment day and lot, as the live
    state holds it, and spends its points after the restart; so are the lots earned after it:
    B's (enrolled in 2026, its lot of 2150 wide) and C's (all of 2026). The same whether the
    cards' lots are read at start-up or by their first decision."""
    with scratch_dir() as path:
        db = path / "lps.db"
        sh = Shell(db, example_config(db))
        try:
            assert rc(sh.send(earn(T1, sh.next_stan(), B, 100_000))) == "00"
            assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000, now=FAR), FAR)) == "00"
            top_up = request_of("0200", T3, sh.next_stan(), pan=A, pc="210060", amount=50_000,
                                now=FAR)
            assert rc(sh.send(top_up, FAR)) == "00"  # a purse lot beside the points
            assert rc(sh.send(earn(T1, sh.next_stan(), B, 100_000, now=FAR), FAR)) == "00"
            assert rc(sh.send(earn(T1, sh.next_stan(), C, 100_000))) == "00"
            assert sh.sql("SELECT enrolled_on, status FROM cards WHERE pan = ?", (A,)) == [
                ("2150-03-01", "active")]
            sh.restart(FAR, lazy=lazy)   # the recovered state equals the live one
            assert sh.state.cards.unread(A) == sh.state.cards.unread(B) == lazy
            if lazy:  # neither the points nor the purse read for empty until they are read
                reads: tuple[Callable[[], int], ...] = (
                    lambda: sh.state.cards[A].points, lambda: sh.state.cards[A].stored_value)
                for read in reads:
                    with pytest.raises(UnreadCard) as unread:
                        read()
                    assert unread.value.pan == A
            purse = sh.store.card_lots(A)[1]
            assert [(x.kind, x.remaining) for x in purse] == [("sv", 57_500)]  # with its bonus
            spend = burn(T1, sh.next_stan(), A, 0, tags={"RP": "10"}, now=FAR)
            assert rc(sh.send(spend, FAR)) == "00" and sh.journal_points(A) == 0
            assert not sh.state.cards.unread(A) and sh.state.cards.unread(B) == lazy
            sh.restart(FAR, lazy=lazy)
        finally:
            sh.close()


def test_lot_ids_follow_on_after_a_restart_without_a_gap(sh: Shell) -> None:
    """docs/switch.md, "Durability and recovery": the next journal and lot ids are the largest
    committed ones plus one (a lot id orders a card's lots in burn order). The first lot of a
    journal that has none is 1; after a restart the next earn's lot is the largest + 1."""
    sh.restart(NOW)  # a journal without lots
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    assert sh.sql("SELECT id FROM lots") == [(1,)]
    assert rc(sh.send(earn(T1, sh.next_stan(), B, 100_000))) == "00"
    sh.restart(NOW)
    assert rc(sh.send(earn(T1, sh.next_stan(), A, 100_000))) == "00"
    assert sh.sql("SELECT id FROM lots ORDER BY id") == [(1,), (2,), (3,)]
    journal = [int(str(jid)) for (jid,) in sh.sql("SELECT id FROM journal ORDER BY id")]
    assert journal == list(range(1, len(journal) + 1))
