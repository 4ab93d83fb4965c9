"""A node of several reads its state again when another node appended (docs/switch.md,
"Several nodes"): taking its remembered requests over and adding the newer rows gives the
same state as reading everything again, which is what recovery gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from iso8583 import Message
from switch.core import handle, journaled
from switch.core.card_store import is_unread
from switch.core.ledger import available_points
from switch.core.snapshot import snapshot
from switch.core.state import State
from switch.journal.postgres.journal import PgJournal
from tests.switch.support import NOW, T1, T2, burn, card, earn, example_config, reversal, sign_on

CARDS = [card(8100 + n) for n in range(4)]


@pytest.fixture
def two_nodes(pg_journal_url: str) -> Iterator[tuple[PgJournal, PgJournal]]:
    a, b = PgJournal(pg_journal_url, shared=True), PgJournal(pg_journal_url, shared=True)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def run(journal: PgJournal, state: State, messages: list[Message]) -> None:
    for msg in messages:
        entries = list(handle(state, msg, NOW, fetch=journal.fetch).entries)
        journal.append(entries)
        journaled(state, entries)


@pytest.mark.parametrize("memory", [1_000_000, 5])
def test_a_carried_refresh_equals_reading_everything_again(
        two_nodes: tuple[PgJournal, PgJournal], memory: int) -> None:
    a, b = two_nodes
    config = example_config(replay_memory=memory)
    state_b = b.load(config, None, NOW)
    first = [sign_on(T1), sign_on(T2, 900002)] + [earn(T1, 10 + n, pan, 400_000)
                                                  for n, pan in enumerate(CARDS)]
    run(b, state_b, first)
    state_a = a.refresh(config, None, NOW)
    upto = state_a.next_journal_id - 1
    # Node B goes on: earns, a burn, a reversal of an original node A remembers, one of an
    # original B made after, one of an original nobody saw (a tombstone), a repeat.
    early = earn(T1, 10, CARDS[0], 400_000)
    late = earn(T2, 40, CARDS[1], 300_000)
    unseen = earn(T2, 41, CARDS[2], 100_000)
    run(b, state_b, [late, burn(T1, 42, CARDS[3], 5_000), reversal(early, 43),
                     reversal(late, 44), reversal(unseen, 45), late,
                     earn(T1, 46, card(8200), 250_000)])
    carried = a.refresh(config, None, NOW, carry=(state_a, upto))
    whole = a.refresh(config, None, NOW)
    # The lots stay in the journal until a decision reads them.
    assert all(is_unread(carried.cards[pan].lots) for pan in CARDS)
    assert snapshot(carried, a.card_lots).durable() == snapshot(whole, a.card_lots).durable()
    assert snapshot(carried, a.card_lots).durable() == snapshot(state_b).durable()
    assert (carried.forgot_day, carried.forgot_tombstone_day) == \
        (whole.forgot_day, whole.forgot_tombstone_day)
    # Node A decides on what node B left, reading the card's lots at its first decision: one
    # point more than node B's state holds is short, exactly that is approved.
    day = NOW.date()
    have = available_points(state_b.cards[CARDS[1]], day)
    assert have > 0
    value = config.coalitions[state_b.cards[CARDS[1]].coalition].point_value
    short = handle(carried, burn(T1, 60, CARDS[1], (have + 1) * value), NOW, fetch=a.fetch,
                   fill=a.fill)
    assert short.response is not None and short.response.text(39) == "51"
    assert not is_unread(carried.cards[CARDS[1]].lots)
    spent = handle(carried, burn(T1, 61, CARDS[1], have * value), NOW, fetch=a.fetch,
                   fill=a.fill)
    assert spent.response is not None and spent.response.text(39) == "00"
    assert available_points(carried.cards[CARDS[1]], day) == 0


def test_a_state_with_uncommitted_entries_is_not_carried(
        two_nodes: tuple[PgJournal, PgJournal]) -> None:
    a, _ = two_nodes
    config = example_config()
    state = a.load(config, None, NOW)
    run(a, state, [sign_on(T1)])
    handle(state, earn(T1, 50, CARDS[0], 100_000), NOW, fetch=a.fetch)  # applied, not written
    with pytest.raises(AssertionError, match="uncommitted"):
        a.refresh(config, None, NOW, carry=(state, state.next_journal_id - 1))
