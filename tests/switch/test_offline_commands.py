"""Operator commands with the switch stopped append to the journal themselves (docs/cli.md):
they recover as `lps serve` does, each card's lots read from the journal when the command
first needs them (docs/switch.md, "The balance cache"), so what they move is what the card
holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lps.cli import main
from switch.config import load_config
from switch.core import handle, journaled
from switch.core.ledger import available_points
from switch.journal.sqlite.journal import SqliteJournal
from tests.security.support import write_config
from tests.switch.support import T1, card, earn, sign_on

OLD, NEW, OTHER = card(7301), card(7302), card(7303)


def test_a_replacement_with_the_switch_stopped_moves_the_lots_it_reads_first(
        tmp_path: Path) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    # Today, as the command decides: its lots must still be live when it runs.
    now = dt.datetime.now(dt.UTC)
    journal = SqliteJournal(config.switch.database)
    state = journal.load(config, None, now)
    for msg in (sign_on(T1), earn(T1, 10, OLD, 400_000), earn(T1, 11, OLD, 250_000),
                earn(T1, 12, OTHER, 300_000)):
        entries = list(handle(state, msg, now, fetch=journal.fetch).entries)
        journal.append(entries)
        journaled(state, entries)
    day = now.date()
    held, other = (available_points(state.cards[pan], day) for pan in (OLD, OTHER))
    assert held > 0 and other > 0
    journal.close()

    assert main(["cards", "replace", OLD, NEW, "--reason", "lost", "--config", str(path)]) == 0

    journal = SqliteJournal(config.switch.database)
    try:
        after = journal.load(config, None, now)  # every lot read: what the journal holds
        assert after.cards[OLD].status == "blocked"
        assert after.cards[OLD].lots == []
        assert available_points(after.cards[NEW], day) == held
        assert available_points(after.cards[OTHER], day) == other
    finally:
        journal.close()
