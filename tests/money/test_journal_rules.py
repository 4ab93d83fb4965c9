"""The journal's own rules: what a restart reads back, and the verified checkpoint's advance.

docs/switch.md, "The journal" (a reversal's `detail.undone`, the verified checkpoint) and
"Comparing states" (a recovered state equals the live one): each test runs through the
request path (`Shell`) on a real SQLite journal and reads the journal's public schema.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from switch.core import apply, journaled, prune, snapshot
from switch.core import entries as E
from switch.core.program_change import decide_programs
from switch.core.programs.rules import program_rules
from switch.core.state import State
from switch.journal.errors import JournalError
from switch.journal.reports import RecoveryReport
from switch.journal.sql.recover import load_cache
from switch.journal.sqlite.connect import connect
from tests.money.support import Shell, rc, rrn
from tests.switch.support import NOW, T1, T3, burn, card, earn, request
from tests.switch.support import reversal as reversal_of

A = card(701)


def ddl(path: Path, statement: str) -> None:
    """A schema change made beside the switch (as an operator's `sqlite3` would)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def verified(sh: Shell) -> int:
    """J, the verified checkpoint's journal id (0: none recorded yet)."""
    rows = sh.sql("SELECT journal_id FROM verified WHERE id = 1")
    return int(str(rows[0][0])) if rows else 0


def test_a_reversal_of_a_declined_original_undoes_nothing_across_a_restart(sh: Shell) -> None:
    """docs/switch.md, the journal's `detail`: a reversal says `{"undone": true}` only when it
    undid its original. One of a declined redemption is `00` with no effect (docs/protocol.md
    §4), names its original, and says nothing undone; the restart recovers that original as
    not reversed, as the live state holds it ("Comparing states", checked by `restart`)."""
    sh.send(earn(T1, sh.next_stan(), A, 100_000))                       # 10 points
    spend = burn(T1, sh.next_stan(), A, 40_000, tags={"RP": "40"})
    declined = sh.send(spend)
    assert rc(declined) == "51"
    undo = sh.send(reversal_of(spend, sh.next_stan()))
    assert rc(undo) == "00" and sh.moves(rrn(undo)) == []
    (original_id, detail), = sh.sql("SELECT original_id, detail FROM journal WHERE id = ?",
                                    (int(rrn(undo)),))
    assert original_id == int(rrn(declined))
    assert "undone" not in json.loads(str(detail))
    sh.restart(NOW)
    assert sh.store.check(full=True).problems == []


def test_an_advance_the_database_refuses_costs_the_advance_never_the_batch(
        sh: Shell, caplog: pytest.LogCaptureFixture) -> None:
    """docs/switch.md, the verified checkpoint: the writer applies the checkpoint thread's
    advance inside its next transaction. When the database refuses the advance, the batch
    commits all the same, the checkpoint stays where it was, the log says why
    (`event=verify_advance_failed`, the database, the error), and no advance follows until
    the next start-up, which checks those rows and moves the checkpoint past them."""
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    before = verified(sh)
    sh.store.checkpoint_in_background()
    sh.store.checkpoint()        # the rows so far verified; the advance handed to the writer
    ddl(sh.path, "CREATE TRIGGER refuse BEFORE INSERT ON verified "
                 "BEGIN SELECT RAISE(ABORT, 'checkpoint row refused'); END")
    with caplog.at_level(logging.WARNING, logger="lps.journal"):
        answer = sh.send(earn(T1, sh.next_stan(), A, 50_000))
    assert rc(answer) == "00"
    assert sh.sql("SELECT points FROM journal WHERE id = ?", (int(rrn(answer)),)) == [(5,)]
    assert verified(sh) == before
    warning, = (r for r in caplog.records if r.name == "lps.journal")
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith(f"event=verify_advance_failed database={sh.path} ")
    assert "checkpoint row refused" in warning.getMessage()
    ddl(sh.path, "DROP TRIGGER refuse")
    sh.store.checkpoint()
    last = sh.send(earn(T1, sh.next_stan(), A, 20_000))
    assert verified(sh) == before  # the advances stopped
    sh.restart(NOW)
    assert verified(sh) == int(rrn(last))
    assert sh.store.check(full=True).problems == []


def test_each_row_records_the_programs_it_was_decided_under_across_a_restart(
        sh: Shell) -> None:
    """docs/programs.md, "Changing programs while the switch runs": a reload makes version
    N+1, a `programs` row and a `program_versions` row, and each journal row records the
    version it was decided under (`journal.program_version`); a restart takes the newest
    version recorded as the one in force."""
    before = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    reload = decide_programs(sh.state, sh.state.config, program_rules(sh.state.config),
                             "ab" * 32, "lps.toml", "{}", NOW)
    apply(sh.state, reload)
    sh.store.append(reload.entries)
    journaled(sh.state, reload.entries)
    after = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    sh.restart(NOW)
    restarted = sh.send(earn(T1, sh.next_stan(), A, 100_000))
    version = sh.sql("SELECT program_version FROM journal WHERE id = ?",
                     (int(rrn(before)),))[0][0]
    assert sh.sql("SELECT kind, program_version FROM journal WHERE id = ?",
                  (reload.entries[0].id,)) == [("programs", int(str(version)) + 1)]
    assert sh.sql("SELECT version, journal_id, digest, file, document FROM program_versions "
                  "ORDER BY version DESC LIMIT 1") == [
        (int(str(version)) + 1, reload.entries[0].id, "ab" * 32, "lps.toml", "{}")]
    assert [sh.sql("SELECT program_version FROM journal WHERE id = ?", (int(rrn(r)),))[0][0]
            for r in (after, restarted)] == [int(str(version)) + 1] * 2


def recovered(sh: Shell, carry: tuple[State, int] | None = None) -> State:
    """The state the journal's rows give, read as a node's refresh reads it (`load_cache`)."""
    conn = connect(sh.path, readonly=True)
    try:
        return load_cache(conn, sh.cfg, sh.rules, NOW, RecoveryReport(), carry)
    finally:
        conn.close()


def test_a_refresh_carrying_the_remembered_requests_reads_what_recovery_reads(
        sh: Shell) -> None:
    """docs/switch.md, "Several nodes", step 3: a node whose state holds the journal up to
    its last id takes its remembered requests and tombstones over and adds only the rows after
    that id; what it gets equals the state recovery reads whole, and the live one ("Comparing
    states"). After the last id: a reversal of an original before it (flagged reversed), a
    reversal of an unknown original (a tombstone), a new earn."""
    spend = burn(T1, sh.next_stan(), A, 0, tags={"RP": "4"})
    sh.send(earn(T1, sh.next_stan(), A, 100_000))
    assert rc(sh.send(spend)) == "00"
    upto = int(str(sh.sql("SELECT MAX(id) FROM journal")[0][0]))
    carried = recovered(sh)
    assert rc(sh.send(reversal_of(spend, sh.next_stan()))) == "00"
    never = earn(T1, 990_001, A, 10_000)
    assert rc(sh.send(reversal_of(never, sh.next_stan()))) == "25"
    sh.send(earn(T1, sh.next_stan(), A, 30_000))
    refreshed = recovered(sh, (carried, upto))
    prune(sh.state, NOW)
    assert snapshot(refreshed).durable() == snapshot(recovered(sh)).durable()
    assert snapshot(refreshed).durable() == snapshot(sh.state).durable()


def test_the_checkpoint_follows_the_journal_tick_after_tick(sh: Shell) -> None:
    """docs/switch.md, the verified checkpoint: while serving, each tick of the checkpoint
    thread verifies the rows committed since J and the writer's next commit moves J to them;
    the tick after does the same from there."""
    sh.store.checkpoint_in_background()
    for amount in (100_000, 50_000, 20_000):
        answer = sh.send(earn(T1, sh.next_stan(), A, amount))
        sh.store.checkpoint()
        sh.send(earn(T1, sh.next_stan(), A, 10_000))  # its commit carries the advance
        assert verified(sh) == int(rrn(answer))
    assert sh.store.check(full=True).problems == []


def admin_row(journal_id: int) -> E.Entry:
    return E.Entry(id=journal_id, at=NOW, business_day=NOW.date(), kind=E.CARD_ADMIN, mti="")


@pytest.mark.parametrize("ids", [(0, 1), (1, 1)], ids=["the-last-id-again", "one-id-twice"])
def test_a_batch_must_follow_the_last_committed_id_strictly(
        sh: Shell, ids: tuple[int, int]) -> None:
    """docs/switch.md, the verified checkpoint: `append` refuses a batch whose ids do not
    follow the last committed one, in order (append-only in id order is what the checkpoint
    rests on), saying so in one line naming the database (docs/switch.md, `errors.py`), and
    writes none of it: the last id itself again, or one id twice."""
    last = int(str(sh.sql("SELECT MAX(id) FROM journal")[0][0]))
    batch = [admin_row(last + i) for i in ids]
    with pytest.raises(JournalError, match=f"^{re.escape(str(sh.path))}: journal ids "
                                           f"{last + ids[0]}..{last + ids[1]} do not follow "
                                           f"the last committed id {last} in order$"):
        sh.store.append(batch)
    assert sh.sql("SELECT MAX(id), COUNT(*) FROM journal") == [(last, last)]


def test_a_purse_too_wide_for_the_packed_cache_is_recovered_whole(sh: Shell) -> None:
    """docs/switch.md, "Durability and recovery": a restart loads every card and its live lots.
    A purse lot of 3,450,000,000 IRR (a top-up of 3,000,000,000 with STORE3's 15 % bonus,
    within docs/protocol.md §10's twelve digits) does not fit the cache's narrow record: the
    card is read again whole, points and purse, and equals the live one (`restart`), and the
    purse pays to its last rial after it."""
    assert rc(sh.send(earn(T3, sh.next_stan(), A, 100_000))) == "00"
    top = sh.send(request("0200", T3, sh.next_stan(), pan=A, pc="210060",
                          amount=3_000_000_000))
    assert rc(top) == "00"
    sh.restart(NOW)
    assert sh.sql("SELECT kind, initial, remaining FROM lots WHERE pan = ? ORDER BY id",
                  (A,)) == [("points", 5, 5), ("sv", 3_450_000_000, 3_450_000_000)]
    pay = sh.send(request("0200", T3, sh.next_stan(), pan=A, pc="006000",
                          amount=3_450_000_000))
    assert rc(pay) == "00"
    assert sh.sql("SELECT remaining FROM lots WHERE pan = ? AND kind = 'sv'", (A,)) == [(0,)]
    assert sh.store.check(full=True).problems == []
