"""Start-up recovery from the verified checkpoint (migration 6).

Start-up adds up only the journal rows and lot moves after the checkpoint, and compares every
lot and card with the sums the checkpoint recorded. These tests break the invariants in rows
after the checkpoint (and in lots the tail never touched) and expect recovery to refuse the
database; they check that the checkpoint the running switch moves (checkpoint thread verifies,
writer applies) always equals what the history adds up to, across crashes; that a database
from before the migration recovers and gets its first checkpoint; and what only the full check
(`lps check --full`) sees.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import switch.journal.sql.verify as verify_module
import switch.journal.sqlite.schema
from iso8583 import Message
from lps.cli import main
from switch.config import Config
from switch.core import entries as E
from switch.core import handle
from switch.core.state import State
from switch.journal import Journal, JournalError, RecoveryError, open_journal
from switch.journal.postgres.connect import open_db
from switch.journal.receipts import Receipt
from switch.journal.sql.db import dialect_of
from switch.journal.sql.journal import SqlJournal
from switch.journal.sql.verify import check_checkpoint, check_invariants, verified_upto, verify
from switch.journal.sqlite.connect import connect
from switch.journal.sqlite.journal import SqliteJournal
from switch.journal.sqlite.schema import MIGRATIONS
from tests.engines import raw
from tests.switch.support import NOW, T1, T2, burn, card, earn, example_config, sign_on

PAN, OTHER = card(41), card(42)


def decide(state: State, *msgs: Message) -> list[E.Entry]:
    entries: list[E.Entry] = []
    for msg in msgs:
        d = handle(state, msg, NOW)
        assert d.response is not None and d.response.fields[39] == "00", d.response
        entries += d.entries
    return entries


def q(store: Journal, sql: str, *args: Any) -> Any:
    return raw(store).execute(sql, args).fetchone()[0]


def checkpointed(tmp_path: Path, journal: dict[str, Any] | None = None
                 ) -> tuple[Config, Journal, State, int]:
    """Earns for two cards, the checkpoint moved past them; then a tail the checkpoint does
    not cover: a burn drawing on two of PAN's lots and another earn. On the engine of
    `journal` (tests/engines.py), SQLite by default."""
    cfg = example_config(tmp_path / "r.db", journal_url=(journal or {}).get("journal_url"))
    store = open_journal(cfg.switch.journal)
    state = store.load(cfg, None, NOW)
    store.append(decide(state, sign_on(T1), sign_on(T2), earn(T1, 1, PAN, 100_000),
                        earn(T1, 2, PAN, 50_000), earn(T2, 3, OTHER, 200_000),
                        earn(T2, 4, OTHER, 100_000)))
    assert isinstance(store, SqlJournal)
    v = store.verify_and_advance()
    assert v.problems == [] and v.after == 0 and v.upto == verified_upto(raw(store)) > 0
    store.append(decide(state, burn(T1, 5, PAN, 12_000), earn(T1, 6, PAN, 30_000)))
    assert q(store, "SELECT MAX(id) FROM journal") > v.upto
    return cfg, store, state, v.upto


def config_file(tmp_path: Path, database: Path) -> Path:
    text = (Path(__file__).resolve().parents[2] / "examples" / "lps.toml").read_text()
    path = tmp_path / "lps.toml"
    path.write_text(text.replace('"var/lps.db"', f'"{database}"'))
    return path


def refused(cfg: Config, store: Journal, match: str) -> None:
    with pytest.raises(RecoveryError, match=match):
        store.load(cfg, None, NOW)
    assert check_invariants(raw(store)) != []  # the full check agrees


def test_the_checkpoint_records_what_the_history_adds_up_to(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, upto = checkpointed(tmp_path, journal_settings)
    assert check_checkpoint(raw(store)) == []
    rows = dict(raw(store).execute(
        "SELECT pan || '/' || kind, total FROM verified_cards").fetchall())
    assert rows == {f"{PAN}/points": 15, f"{OTHER}/points": 60}  # 10 + 5; 40 + 20 (store 2)
    state = store.load(cfg, None, NOW)  # checks the tail, then moves the checkpoint past it
    assert verified_upto(raw(store)) == q(store, "SELECT MAX(id) FROM journal") > upto
    assert check_checkpoint(raw(store)) == [] and check_invariants(raw(store)) == []
    assert sum(lot.remaining for lot in state.cards[PAN].lots) == 15 - 12 + 3
    assert q(store, "SELECT total FROM verified_cards WHERE pan = ?", PAN) == 6
    # Spent lots leave the checkpoint (absent = 0): only live lots are recorded.
    live = {r[0] for r in raw(store).execute("SELECT id FROM lots WHERE remaining != 0")}
    assert {r[0] for r in raw(store).execute("SELECT lot_id FROM verified_lots")} == live
    store.close()


def test_a_lot_disagreeing_with_its_moves_after_the_checkpoint_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, upto = checkpointed(tmp_path, journal_settings)
    moved = [r[0] for r in raw(store).execute(
        "SELECT DISTINCT lot_id FROM lot_moves WHERE journal_id > ? ORDER BY lot_id", (upto,))]
    # One point from one of PAN's lots to another: the card's sum stays right, the lots not.
    raw(store).execute("UPDATE lots SET remaining = remaining - 1 WHERE id = ?", (moved[0],))
    raw(store).execute("UPDATE lots SET remaining = remaining + 1 WHERE id = ?", (moved[1],))
    refused(cfg, store, f"lot {moved[0]}: remaining -1 but its moves sum to 0")
    store.close()


def test_a_move_changed_after_the_checkpoint_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, upto = checkpointed(tmp_path, journal_settings)
    raw(store).execute("UPDATE lot_moves SET delta = delta + 2 WHERE rowid = "
                       "(SELECT MAX(rowid) FROM lot_moves WHERE journal_id > ?)", (upto,))
    refused(cfg, store, "invariants broken: lot ")
    store.close()


def test_a_card_whose_lots_disagree_with_its_journal_after_the_checkpoint_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, _upto = checkpointed(tmp_path, journal_settings)
    raw(store).execute("UPDATE journal SET points = points + 1 WHERE id = ?",
                       (q(store, "SELECT MAX(id) FROM journal"),))
    refused(cfg, store, f"card {PAN[:6]}...{PAN[-4:]}: points lots sum to 6 but its journal "
                        "entries to 7")
    store.close()


def test_a_lot_and_its_card_changed_together_after_the_checkpoint_are_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """The journal row and the lot row agree with each other, the lot's moves do not."""
    cfg, store, _, _ = checkpointed(tmp_path, journal_settings)
    last = q(store, "SELECT MAX(id) FROM journal")
    raw(store).execute("UPDATE journal SET points = points + 4 WHERE id = ?", (last,))
    raw(store).execute("UPDATE lots SET remaining = remaining + 4 WHERE journal_id = ?", (last,))
    refused(cfg, store, "lot .*: remaining 7 but its moves sum to 3")
    store.close()


def test_a_lot_the_tail_never_touched_is_still_checked(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, _ = checkpointed(tmp_path, journal_settings)
    lot = q(store, "SELECT MIN(id) FROM lots WHERE pan = ?", OTHER)
    raw(store).execute("UPDATE lots SET remaining = remaining + 5 WHERE id = ?", (lot,))
    refused(cfg, store, f"lot {lot}: remaining 45 but its moves sum to 40")
    store.close()


def test_a_spent_lot_coming_back_to_life_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, _ = checkpointed(tmp_path, journal_settings)
    store.load(cfg, None, NOW)  # the burn is verified too: PAN's first lot is spent
    lot = q(store, "SELECT MIN(id) FROM lots WHERE pan = ?", PAN)
    assert q(store, "SELECT remaining FROM lots WHERE id = ?", lot) == 0
    raw(store).execute("UPDATE lots SET remaining = 3 WHERE id = ?", (lot,))
    refused(cfg, store, f"lot {lot}: remaining 3 but its moves sum to 0")
    store.close()


def test_a_lot_handed_to_another_card_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """The lot still matches its moves; the two cards' sums no longer match their journals
    (what the full check sees); start-up sees the lot's card differ from its checkpoint's."""
    cfg, store, _, _ = checkpointed(tmp_path, journal_settings)
    lot = q(store, "SELECT MIN(id) FROM lots WHERE pan = ?", OTHER)
    raw(store).execute("UPDATE lots SET pan = ? WHERE id = ?", (PAN, lot))
    refused(cfg, store, f"lot {lot}: belongs to card {PAN[:6]}...{PAN[-4:]} \\(points\\) but "
                        f"its moves name card {OTHER[:6]}...{OTHER[-4:]} \\(points\\)")
    assert f"card {OTHER[:6]}...{OTHER[-4:]}: points lots sum to 20 but its journal entries " \
           "to 60" in check_invariants(raw(store))[1]
    store.close()


def test_a_lot_handed_to_another_card_and_moved_after_the_checkpoint_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, upto = checkpointed(tmp_path, journal_settings)
    lot = q(store, "SELECT MIN(lot_id) FROM lot_moves WHERE journal_id > ? AND lot_id IN "
                   "(SELECT id FROM lots WHERE remaining != 0)", upto)
    raw(store).execute("UPDATE lots SET pan = ? WHERE id = ?", (OTHER, lot))
    refused(cfg, store, f"lot {lot}: belongs to card {OTHER[:6]}...{OTHER[-4:]} "
                        "\\(points\\) but its moves name")
    store.close()


def test_a_journal_cut_below_its_checkpoint_is_refused(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, _, _ = checkpointed(tmp_path, journal_settings)
    store.load(cfg, None, NOW)
    last = verified_upto(raw(store))
    raw(store).execute("DELETE FROM lot_moves WHERE journal_id = ?", (last,))
    raw(store).execute("DELETE FROM lots WHERE journal_id = ?", (last,))
    raw(store).execute("DELETE FROM journal WHERE id = ?", (last,))
    with pytest.raises(RecoveryError, match=f"journal: ends at #{last - 1}, before its "
                                            f"verified checkpoint #{last}"):
        store.load(cfg, None, NOW)
    store.close()


def test_history_changed_under_the_checkpoint_needs_the_full_check(
        tmp_path: Path, capsys: Any) -> None:
    """What start-up does not re-add: verified rows edited later, lots left as they were.
    `lps check --full` (the full check, and the checkpoint against the history) finds it."""
    cfg, store, _, upto = checkpointed(tmp_path)
    assert isinstance(store, SqliteJournal)
    store.conn.execute("UPDATE journal SET points = points + 1 WHERE id = "
                       "(SELECT MIN(id) FROM journal WHERE points != 0)")
    assert verify(store.conn, everything=True).problems == []
    assert check_invariants(store.conn) != []
    assert check_checkpoint(store.conn) == [
        f"verified card {PAN[:6]}...{PAN[-4:]}: checkpoint records points 15 but its journal "
        f"up to #{upto} sums to 16"]
    config = config_file(tmp_path, cfg.switch.database)
    assert main(["check", "--config", str(config)]) == 0
    assert f"journal rows {upto + 1}.." in capsys.readouterr().out
    assert main(["check", "--full", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "points lots sum to 6 but its journal entries to 7" in out
    assert "checkpoint records points 15" in out and "BROKEN" in out
    store.close()


def test_lps_check_on_a_sound_database(tmp_path: Path, capsys: Any) -> None:
    cfg, store, _, _ = checkpointed(tmp_path)
    store.close()
    config = config_file(tmp_path, cfg.switch.database)
    assert main(["check", "--config", str(config)]) == 0
    assert main(["check", "--full", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == 2 and "verified checkpoint" in out


# -- the checkpoint the running switch moves -----------------------------------------------------


def test_checkpoint_thread_verifies_and_the_writer_applies(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    cfg, store, state, upto = checkpointed(tmp_path, journal_settings)
    store.checkpoint_in_background()
    store.checkpoint()  # verifies the tail on its own connection and hands the advance over
    assert verified_upto(raw(store)) == upto  # not yet: the writer applies it
    last = q(store, "SELECT MAX(id) FROM journal")
    store.append(decide(state, burn(T2, 7, OTHER, 5_000)))  # ...in its next transaction
    assert verified_upto(raw(store)) == last
    assert check_checkpoint(raw(store)) == []
    # A crash before the writer commits the next advance loses only the advance.
    store.checkpoint()
    store.close()
    store = open_journal(cfg.switch.journal)
    assert verified_upto(raw(store)) == last
    store.load(cfg, None, NOW)
    assert verified_upto(raw(store)) == q(store, "SELECT MAX(id) FROM journal")
    assert check_checkpoint(raw(store)) == []
    store.close()


def test_a_batch_that_fails_takes_its_advance_with_it(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    _cfg, store, state, upto = checkpointed(tmp_path, journal_settings)
    store.checkpoint_in_background()
    store.checkpoint()
    entries = decide(state, burn(T2, 7, OTHER, 5_000))
    postgres = "journal_url" in journal_settings
    if postgres:
        raw(store).execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                           "$$BEGIN RAISE EXCEPTION 'disk on fire'; END$$")
        raw(store).execute("CREATE TRIGGER refuse BEFORE INSERT ON lot_moves "
                           "FOR EACH ROW EXECUTE FUNCTION refuse()")
    else:
        raw(store).execute("CREATE TRIGGER refuse BEFORE INSERT ON lot_moves "
                           "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
    with pytest.raises(JournalError, match="disk on fire"):
        store.append(entries)
    assert verified_upto(raw(store)) == upto
    raw(store).execute("DROP TRIGGER refuse ON lot_moves" if postgres else "DROP TRIGGER refuse")
    store.checkpoint()  # the lost advance is verified again
    store.append(entries)
    assert verified_upto(raw(store)) > upto and check_checkpoint(raw(store)) == []
    store.close()


def test_a_violation_seen_by_the_checkpoint_thread_stops_the_checkpoint(
        tmp_path: Path, caplog: Any) -> None:
    cfg, store, state, upto = checkpointed(tmp_path)
    assert isinstance(store, SqliteJournal)
    store.checkpoint_in_background()
    store.conn.execute("UPDATE journal SET points = points + 1 WHERE id = "
                       "(SELECT MAX(id) FROM journal)")
    with caplog.at_level(logging.ERROR, logger="lps.journal"):
        store.checkpoint()  # logs, does not raise: WAL checkpoints go on
    assert "invariants_broken" in caplog.text
    store.append(decide(state, burn(T2, 7, OTHER, 5_000)))
    store.checkpoint()
    store.append(decide(state, burn(T2, 8, OTHER, 5_000)))
    assert verified_upto(store.conn) == upto  # never moved past the broken rows
    refused(cfg, store, "points lots sum to 6 but its journal entries to 7")
    store.close()


def test_a_stale_advance_is_not_applied(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    _cfg, store, _, upto = checkpointed(tmp_path, journal_settings)
    last = q(store, "SELECT MAX(id) FROM journal")
    conn = raw(store)
    conn.execute(dialect_of(conn).begin_write)
    assert verify_module.advance(conn, upto - 1, last) is False  # someone moved it since
    assert verify_module.advance(conn, upto, last) is True
    conn.execute("COMMIT")
    assert verified_upto(conn) == last and check_checkpoint(conn) == []
    store.close()


def test_journal_ids_must_follow_the_last_committed_one(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """The checkpoint rests on it: no row may appear below a verified id."""
    _cfg, store, state, _ = checkpointed(tmp_path, journal_settings)
    entries = decide(state, burn(T2, 7, OTHER, 5_000))
    low = [E.Entry(id=3, at=NOW, business_day=NOW.date(), kind=E.CARD_ADMIN, mti="")]
    with pytest.raises(JournalError, match="do not follow the last committed id"):
        store.append(low)
    with pytest.raises(JournalError, match="do not follow"):
        store.append(list(reversed(entries + decide(state, burn(T2, 8, OTHER, 5_000)))))
    store.close()


# -- databases from before the checkpoint ---------------------------------------------------------


def test_a_database_from_before_the_migration_recovers_and_gets_its_checkpoint(
        tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    cfg = example_config(tmp_path / "old.db")
    with monkeypatch.context() as m:
        m.setattr(switch.journal.sqlite.schema, "MIGRATIONS", [x for x in MIGRATIONS if x[0] <= 5])
        store = open_journal(cfg.switch.journal)
        assert isinstance(store, SqliteJournal)
        assert store.version == 5
        state = _old_state(store, cfg)
        store.close()
    # `lps check` reads it without migrating it: the full check.
    assert main(["check", "--config", str(config_file(tmp_path, cfg.switch.database))]) == 0
    assert "full check of journal rows 1..5: ok" in capsys.readouterr().out
    store = open_journal(cfg.switch.journal)
    assert isinstance(store, SqliteJournal)
    assert store.version == MIGRATIONS[-1][0] >= 6
    assert verified_upto(store.conn) == 0  # nothing verified yet: start-up checks every row
    recovered = store.load(cfg, None, NOW)
    for pan in (PAN, OTHER):
        assert sum(x.remaining for x in recovered.cards[pan].lots) == \
            sum(x.remaining for x in state.cards[pan].lots)
    assert verified_upto(store.conn) == q(store, "SELECT MAX(id) FROM journal")
    assert check_checkpoint(store.conn) == [] and check_invariants(store.conn) == []
    store.close()


def test_a_broken_database_from_before_the_migration_is_refused(
        tmp_path: Path, monkeypatch: Any) -> None:
    cfg = example_config(tmp_path / "old.db")
    with monkeypatch.context() as m:
        m.setattr(switch.journal.sqlite.schema, "MIGRATIONS", [x for x in MIGRATIONS if x[0] <= 5])
        store = open_journal(cfg.switch.journal)
        assert isinstance(store, SqliteJournal)
        _old_state(store, cfg)
        store.conn.execute("UPDATE lots SET remaining = remaining + 5 WHERE id = 1")
        store.close()
    store = open_journal(cfg.switch.journal)
    assert isinstance(store, SqliteJournal)
    refused(cfg, store, "lot 1: remaining 11 but its moves sum to 6")
    assert verified_upto(store.conn) == 0
    store.close()


def _old_state(store: SqliteJournal, cfg: Config) -> State:
    """A journal written without the checkpoint tables (the state comes from the core)."""
    from switch.core import new_state

    state = new_state(cfg)
    for batch in ((sign_on(T1), earn(T1, 1, PAN, 100_000), earn(T1, 2, OTHER, 300_000)),
                  (burn(T1, 3, PAN, 4_000), earn(T1, 4, PAN, 20_000))):
        entries = decide(state, *batch)
        for e in entries:
            e.totals = None  # before migration 7 the switch kept no batch totals
        store.append(entries)
    return state


# -- the checkpoint under richer traffic -----------------------------------------------------------


class Checkpointing(SqliteJournal):
    """The running switch's pattern: every few commits the checkpoint thread's turn."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.checkpoint_in_background()
        self.commits = 0

    def append(self, entries: Sequence[E.Entry], receipts: Sequence[Receipt] = ()) -> None:
        super().append(entries, receipts)
        self.commits += 1
        if self.commits % 3 == 0:
            self.checkpoint()


@pytest.mark.parametrize("seed", [7, 8])
def test_the_checkpoint_follows_returns_reversals_and_purses(
        tmp_path: Path, monkeypatch: Any, seed: int) -> None:
    """The settlement simulation's traffic (cross-store burns, purse top-ups and spends,
    returns, reversals across midnight), with advances between commits."""
    from tests.settlement import simulation

    monkeypatch.setattr(simulation, "SqliteJournal", Checkpointing)
    db = tmp_path / "sim.db"
    simulation.run(db, seed, days=3, events=150)
    conn = connect(db, readonly=True)
    upto = verified_upto(conn)
    last = conn.execute("SELECT MAX(id) FROM journal").fetchone()[0]
    assert 0 < upto <= last
    assert conn.execute("SELECT COUNT(*) FROM verified_cards WHERE kind = 'sv'").fetchone()[0]
    assert check_checkpoint(conn) == [] and check_invariants(conn) == []
    assert verify(conn, everything=True).problems == []
    conn.close()
    # And after a clean start-up, the checkpoint is at the end, still equal to the history.
    store = SqliteJournal(db)
    store.load(simulation.sim_config(db), None,
               dt.datetime.combine(simulation.FIRST_DAY + dt.timedelta(days=3), dt.time(9),
                                   dt.UTC))
    assert verified_upto(store.conn) == last and check_checkpoint(store.conn) == []
    store.close()


def test_a_read_only_check_while_another_connection_writes(
        tmp_path: Path, journal_settings: dict[str, Any]) -> None:
    """`verify` reads one snapshot: rows committed meanwhile belong to the next check."""
    cfg, store, state, _upto = checkpointed(tmp_path, journal_settings)
    if "journal_url" in journal_settings:
        reader: Any = open_db(journal_settings["journal_url"])
    else:
        reader = sqlite3.connect(f"file:{cfg.switch.database}?mode=ro", uri=True,
                                 isolation_level=None)
    v = verify(reader, everything=False)
    store.append(decide(state, burn(T2, 7, OTHER, 5_000)))
    assert v.problems == [] and v.upto < q(store, "SELECT MAX(id) FROM journal")
    reader.close()
    store.close()
