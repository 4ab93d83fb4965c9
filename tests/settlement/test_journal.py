"""End to end: the real switch core and journal (SQLite, PostgreSQL), then settlement read from
the database, checked against an independent computation from what the switch decided in
memory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from settlement.day import DayBook, DaySettlement, settle_rows, stores_from_config
from settlement.journal import Journal, Progress, Scan, scan_windows, settle_journal, windows
from settlement.netting import StoreInfo
from settlement.records import InputError, Row, SettlementError
from switch.journal import JournalReader, open_reader, open_scan_reader
from switch.journal.sqlite.apsw_reader import ApswReader
from tests.pg.cluster import PgCluster
from tests.pg.fixtures import fresh_database
from tests.settlement import simulation

#: The simulated days: where they are journaled (an SQLite file, or a PostgreSQL database's
#: URL) and what the switch decided.
Sim = tuple[Path | str, simulation.Simulation]
#: The simulated days journaled in an SQLite file.
SqliteSim = tuple[Path, simulation.Simulation]
#: What a reader gives of one day: its journal IDs' bounds, its rows to hash, its lot moves,
#: its closes, its club-card sales and the lots lapsed later.
DayReads = tuple[tuple[int, int], list[tuple[Any, ...]], list[tuple[Any, ...]],
                 list[tuple[Any, ...]], list[tuple[Any, ...]], list[int]]


@pytest.fixture(scope="module", params=["sqlite-7", "sqlite-2026", "postgresql-7"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Sim]:
    """The simulated days journaled on an engine (tests/engines.py): the SQLite file's path, or
    the PostgreSQL database's URL, with what the switch decided."""
    engine, seed = request.param.split("-")
    path = tmp_path_factory.mktemp(f"sim{seed}") / "lps.db"
    if engine == "sqlite":
        yield path, simulation.run(path, seed=int(seed))
        return
    cluster: PgCluster = request.getfixturevalue("pg_primary")
    with fresh_database(cluster) as name:
        url = cluster.url(dbname=name)
        yield url, simulation.run(path, seed=int(seed), journal=url)


@pytest.fixture(scope="module", params=[7, 2026])
def sqlite_sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> SqliteSim:
    """For the tests that copy and damage the SQLite file."""
    path = tmp_path_factory.mktemp(f"sqlite{request.param}") / "lps.db"
    return path, simulation.run(path, seed=request.param)


def private_copy(path: Path, copy: Path) -> Path:
    """A copy of the simulated SQLite journal to damage, 0600 as the switch's database is
    (switch/filemode.py)."""
    with sqlite3.connect(path) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    copy.chmod(0o600)
    return copy


def settle(path: Path | str, stores: Mapping[str, StoreInfo], day: dt.date) -> DaySettlement:
    with Journal(path) as j:
        settled: DaySettlement = settle_journal(j, DayBook(day, stores))
        return settled


def approved(sim: simulation.Simulation, day: dt.date
             ) -> Iterator[tuple[simulation.Done, str]]:
    """The switch's decided approved transactions of `day` (not the database), each with the
    kind it counts as: a reversal as its original's."""
    txns = sim.txns
    for t in txns.values():
        if t.business_day != day or t.response_code != "00":
            continue
        kind = t.kind
        if kind == "reversal":
            assert t.original_key is not None
            kind = txns[t.original_key].kind
        yield t, kind


def independent_nets(sim: simulation.Simulation, day: dt.date) -> dict[str, Counter[str]]:
    """Net positions from the switch's in-memory transactions (not the database)."""
    nets: dict[str, Counter[str]] = {"points": Counter(), "sv": Counter()}
    for t, kind in approved(sim, day):
        if kind not in ("redeem", "sv_purchase", "return"):
            continue
        for m in t.moves:
            if m.lot.store != t.store:
                nets[m.lot.kind][t.store] -= m.delta
                nets[m.lot.kind][m.lot.store] += m.delta
    return nets


def independent_activity(sim: simulation.Simulation, day: dt.date) -> Counter[tuple[str, str]]:
    """Points issued (by the lot's store) and redeemed (at the accepting store) on `day`, from
    the switch's in-memory transactions (docs/settlement.md "The coalition's fee")."""
    out: Counter[tuple[str, str]] = Counter()
    for t, kind in approved(sim, day):
        for m in t.moves:
            if m.lot.kind != "points":
                continue
            if kind in ("earn", "advice", "return"):
                out[("issued_points", m.lot.store)] += m.delta
            elif kind == "redeem":
                out[("redeemed_points", t.store)] -= m.delta
    return out


def test_the_fee_counts_what_the_switch_did(sim: Sim) -> None:
    """The per-point fee lines of every day from the database equal the switch's own moves,
    times the example's rates; the fee nets to zero with the operator."""
    path, s = sim
    stores = stores_from_config(s.config)
    charged = 0
    for day in s.days:
        result = settle(path, stores, day)
        got = {(f.fee, f.store_id): (f.quantity, f.amount) for f in result.fee_lines
               if f.fee in ("issued_points", "redeemed_points")}
        rate = {"issued_points": 10, "redeemed_points": 20}
        want = {k: (v, v * rate[k[0]]) for k, v in independent_activity(s, day).items() if v}
        assert got == want, day
        assert result.money is not None
        assert sum(p.net_amount for p in result.money.positions) == 0
        charged += sum(f.amount for f in result.fee_lines)
    assert charged > 0


def independent_breakage(sim: simulation.Simulation, day: dt.date) -> Counter[str]:
    """Positive remaining of every lapsed lot now, minus the same the day before."""
    out: Counter[str] = Counter()
    for when, sign in ((day, 1), (day - dt.timedelta(days=1), -1)):
        for lid, rem in sim.remaining.get(when, {}).items():
            lot = sim.lots[lid]
            if lot.kind == "points" and lot.expires_on is not None and lot.expires_on <= when:
                out[lot.store] += sign * max(rem, 0)
    return out


def test_settlement_of_every_day_matches_an_independent_computation(sim: Sim) -> None:
    path, s = sim
    stores = stores_from_config(s.config)
    moved = 0
    for day in s.days:
        result = settle(path, stores, day)
        assert result.entries == s.entries_per_day[day]
        assert sum(result.counts.values()) == result.entries
        nets = independent_nets(s, day)
        for side, kind in ((result.points, "points"), (result.stored_value, "sv")):
            got = {p.store_id: p.net for p in side.positions if p.net}
            assert got == {k: v for k, v in nets[kind].items() if v}, (day, kind)
            assert sum(p.net for p in side.positions) == 0
            moved += sum(o.units for o in side.obligations)
        expected_breakage = independent_breakage(s, day)
        assert {b.store_id: b.points for b in result.breakage if b.points} == \
            {k: v for k, v in expected_breakage.items() if v}, day
        for line in result.reconciliation:
            key = (line.terminal_id, line.batch)
            assert line.switch_answer == s.closes[key]
            if key in s.short:
                forgot = s.short[key]
                assert line.category == "debits" and line.switch_count - line.terminal_count == 1
                assert [r.amount for r in line.explained_by] == [int(forgot.msg.text(4))]
                assert line.note == "counted by the switch, not by the terminal"
            else:
                assert line.balanced, line
        assert {(r.terminal_id, r.batch) for r in result.reconciliation} == \
            {k for k in s.closes if k[1] == f"{s.days.index(day) + 1:06d}"}
    assert moved > 0  # the stream did move value between stores
    assert any(b.points for d in s.days for b in settle(path, stores, d).breakage)


def test_sql_aggregation_equals_entry_by_entry(sim: Sim) -> None:
    """The production reader (sums in SQLite) and the per-entry core agree, digest included."""
    path, s = sim
    stores = stores_from_config(s.config)
    for day in s.days:
        fast = settle(path, stores, day)
        with Journal(path) as j:
            slow = settle_rows(day, stores, j.rows(day), j.lots_due(day), j.batch_closes(day))
        assert slow == fast


def test_one_worker_or_several_give_the_same_day(sim: Sim) -> None:
    path, s = sim
    stores = stores_from_config(s.config)
    for day in s.days:
        with Journal(path) as j:
            alone: DaySettlement = settle_journal(j, DayBook(day, stores), workers=1)
        with Journal(path) as j:
            assert settle_journal(j, DayBook(day, stores), workers=2) == alone


def test_many_chunks_read_in_parallel_equal_entry_by_entry(sim: Sim,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Small chunks (64 IDs) so the day is read by several worker processes."""
    import settlement.digest
    import settlement.journal

    path, s = sim
    stores = stores_from_config(s.config)
    day = s.days[1]
    with Journal(path) as j:
        default: DaySettlement = settle_journal(j, DayBook(day, stores), workers=1)
    monkeypatch.setattr(settlement.digest, "CHUNK_BITS", 6)
    monkeypatch.setattr(settlement.journal, "CHUNK_BITS", 6)
    with Journal(path) as j:
        book = DayBook(day, stores)
        parallel: DaySettlement = settle_journal(j, book, workers=2)
        assert len(book.digest.chunks["entries"]) > 2
        slow = settle_rows(day, stores, j.rows(day), j.lots_due(day), j.batch_closes(day))
    assert parallel == slow
    assert dataclasses.replace(parallel, inputs_digest="") == \
        dataclasses.replace(default, inputs_digest="")


def original(sim: simulation.Simulation, t: simulation.Done) -> simulation.Done:
    """The transaction the reversal `t` reverses, as the switch decided it."""
    assert t.original_key is not None
    return sim.txns[t.original_key]


def test_reversal_across_midnight_is_netted_the_day_it_happens(sim: Sim) -> None:
    path, s = sim
    stores = stores_from_config(s.config)
    crossing = [t for t in s.txns.values()
                if t.kind == "reversal" and t.response_code == "00" and t.moves
                and original(s, t).business_day < t.business_day]
    assert crossing, "the seeded stream has reversals of the previous day"
    t = crossing[0]
    with Journal(path) as j:
        rows = {r.id: r for r in j.rows(t.business_day)}
    assert rows[t.journal_id].original_kind == original(s, t).kind
    assert settle(path, stores, t.business_day).entries == len(rows)


def declined_with_moves(path: Path, tmp_path: Path) -> tuple[Path, int, dt.date]:
    """A copy of the journal whose first entry with lot moves is made declined: the copy, that
    entry's id and its business day."""
    copy = private_copy(path, tmp_path / "bad.db")
    with sqlite3.connect(copy) as db:
        jid = db.execute("SELECT journal_id FROM lot_moves ORDER BY journal_id LIMIT 1"
                         ).fetchone()[0]
        db.execute("UPDATE journal SET response_code = '05' WHERE id = ?", (jid,))
        day = dt.date.fromisoformat(db.execute(
            "SELECT business_day FROM journal WHERE id = ?", (jid,)).fetchone()[0])
    return copy, jid, day


def test_declined_entry_with_lot_moves_is_refused(sqlite_sim: SqliteSim, tmp_path: Path) -> None:
    path, s = sqlite_sim
    copy, jid, day = declined_with_moves(path, tmp_path)
    with pytest.raises(InputError, match=f"journal entry {jid}: declined"):
        settle(copy, stores_from_config(s.config), day)


def test_settling_gives_the_garbage_collector_back_as_it_found_it(
        sqlite_sim: SqliteSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/settlement.md, "Tests and benchmark": the cyclic GC is paused while a day is
    settled, then enabled again if it was, after a refused day too; a caller that had it
    paused keeps it paused."""
    path, s = sqlite_sim
    stores = stores_from_config(s.config)
    day = s.days[0]
    seen: list[bool] = []
    real = Journal.feed

    def feed(self: Journal, book: DayBook, progress: Progress, workers: int) -> Scan:
        seen.append(gc.isenabled())
        return real(self, book, progress, workers)

    copy, _, bad_day = declined_with_moves(path, tmp_path)
    monkeypatch.setattr(Journal, "feed", feed)
    assert gc.isenabled()
    try:
        with Journal(path) as j:
            settle_journal(j, DayBook(day, stores), workers=1)
        assert gc.isenabled()
        with pytest.raises(InputError), Journal(copy) as j:
            settle_journal(j, DayBook(bad_day, stores), workers=1)
        assert gc.isenabled()
        gc.disable()
        with Journal(path) as j:
            settle_journal(j, DayBook(day, stores), workers=1)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert seen == [False, False, False]


def test_a_readers_store_pairs_hold_one_object_per_name(sqlite_sim: SqliteSim) -> None:
    """docs/settlement.md, "Reading the journal": the pairs a reader sums keep names of their
    own, one object per name, not the strings of the rows they were first seen in (which
    would keep those rows' memory and pickle each name once per pair)."""
    path, s = sqlite_sim
    with Journal(path) as j:
        spans = [(day, j.bounds(day)) for day in s.days]
    part = max((scan_windows((str(path), day.isoformat(), windows(*bounds), False))
                for day, bounds in spans if bounds is not None), key=lambda p: len(p.pairs))
    names = [name for key in part.pairs for name in key]
    assert len(part.pairs) > 1
    assert len({id(name) for name in names}) == len(set(names))


def test_a_reader_process_reads_through_apsw_what_sqlite3_reads(sqlite_sim: SqliteSim,
                                                                 tmp_path: Path) -> None:
    """`open_scan_reader` (apsw) gives the scan's reads the rows `open_reader` (sqlite3)
    gives, value for value; the two opened one after the other, never at once in one process
    (switch/journal/sqlite/apsw_reader.py)."""
    path, s = sqlite_sim
    copy = private_copy(path, tmp_path / "scan.db")

    def reads(reader: JournalReader) -> list[DayReads]:
        out: list[DayReads] = []
        try:
            for day in s.days:
                bounds = reader.day_bounds(day)
                assert bounds is not None
                rows, moves = reader.digest_rows(day, *bounds), reader.moves(*bounds)
                closes = [r[0] for r in rows if r[1] == "batch_close"]
                later = day + dt.timedelta(days=800)  # every points lot has lapsed by then
                out.append((bounds, rows, moves, reader.closes(closes),
                            reader.membership_sales(*bounds),
                            reader.lapsed({m[1] for m in moves}, later)))
        finally:
            reader.close()
        return out

    plain = reads(open_reader(copy))
    scanner = open_scan_reader(copy)
    assert isinstance(scanner, ApswReader)
    assert reads(scanner) == plain
    assert all(rows and moves and closes and lapsed
               for _, rows, moves, closes, _, lapsed in plain)


def test_only_reader_processes_read_through_apsw(sqlite_sim: SqliteSim,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A settlement read in this process (one worker) keeps sqlite3, as its `Journal` holds
    the file open with it; the reader processes (several workers) use `open_scan_reader`."""
    import settlement.digest
    import settlement.journal

    path, s = sqlite_sim
    stores = stores_from_config(s.config)
    day = s.days[1]

    def refused(database: str | Path) -> NoReturn:
        raise SettlementError("open_scan_reader called")

    monkeypatch.setattr(settlement.journal, "open_scan_reader", refused)
    with Journal(path) as j:
        settle_journal(j, DayBook(day, stores), workers=1)
    monkeypatch.setattr(settlement.digest, "CHUNK_BITS", 6)
    monkeypatch.setattr(settlement.journal, "CHUNK_BITS", 6)
    with pytest.raises(SettlementError, match="open_scan_reader called"), Journal(path) as j:
        settle_journal(j, DayBook(day, stores), workers=2)


def test_a_redemption_drawing_the_wrong_way_is_refused_by_the_reader(sqlite_sim: SqliteSim,
                                                                      tmp_path: Path) -> None:
    """The chunked reader checks each value-moving draw's sign, as the per-entry path does."""
    path, s = sqlite_sim
    copy = private_copy(path, tmp_path / "wrong.db")
    with sqlite3.connect(copy) as db:
        jid, lot, delta, day = db.execute(
            "SELECT m.journal_id, m.lot_id, m.delta, j.business_day FROM lot_moves m "
            "JOIN journal j ON j.id = m.journal_id WHERE j.kind = 'redeem' "
            "AND j.response_code = '00' AND m.delta < 0 ORDER BY m.journal_id LIMIT 1"
        ).fetchone()
        db.execute("UPDATE lot_moves SET delta = -delta WHERE journal_id = ? AND lot_id = ?",
                   (jid, lot))
    with pytest.raises(InputError, match=f"journal entry {jid}: lot {lot} moved by {-delta}, "
                                         "the wrong way"):
        settle(copy, stores_from_config(s.config), dt.date.fromisoformat(day))


def test_the_scan_reads_the_membership_sales_a_read_of_every_chunk_does(
        sqlite_sim: SqliteSim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's readers read club-card sales only in the chunks whose entries hold one (or
    IDs of other days): the same sales, in the same order, as reading every chunk."""
    import settlement.digest
    import settlement.journal

    path, s = sqlite_sim
    copy = private_copy(path, tmp_path / "sale.db")
    day = s.days[1]
    with sqlite3.connect(copy) as db:  # an approved entry without lot moves becomes a sale
        db.execute(
            "UPDATE journal SET kind = 'membership', amount = 3000000 WHERE id = (SELECT id "
            "FROM journal WHERE business_day = ? AND response_code = '00' AND kind != "
            "'batch_close' AND id NOT IN (SELECT journal_id FROM lot_moves) ORDER BY id "
            "LIMIT 1 OFFSET 3)", (day.isoformat(),))
        assert db.total_changes == 1
    monkeypatch.setattr(settlement.digest, "CHUNK_BITS", 6)
    monkeypatch.setattr(settlement.journal, "CHUNK_BITS", 6)
    with Journal(copy) as j:
        scan = j.feed(DayBook(day, stores_from_config(s.config)), workers=2)
        every = list(j.membership_sales(day))
        assert 3_000_000 in [sale.price for sale in every]
        assert list(j.membership_sales(day, scan)) == every


def test_not_a_journal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such journal"):
        Journal(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.close()
    other.chmod(0o600)
    with pytest.raises(InputError, match="not an LPS journal"):
        Journal(other)


def test_a_journal_that_cannot_be_read_midway_fails_the_settlement(sqlite_sim: SqliteSim,
                                                                    tmp_path: Path) -> None:
    """An SQL error while the day is read (a damaged table) is one line naming the database,
    and the settlement fails with nothing written (exit 1), as before the read API."""
    path, s = sqlite_sim
    copy = private_copy(path, tmp_path / "damaged.db")
    with sqlite3.connect(copy) as db:
        db.execute("ALTER TABLE lot_moves RENAME TO lot_moves_gone")
        db.execute("CREATE TABLE lot_moves (x)")
    with pytest.raises(SettlementError, match=f"^{copy}: no such column") as info:
        settle(copy, stores_from_config(s.config), s.days[0])
    assert not isinstance(info.value, InputError) and "\n" not in str(info.value)


def test_unknown_store_in_the_journal_is_refused(sim: Sim) -> None:
    path, s = sim
    stores = stores_from_config(s.config)
    fewer = {k: v for k, v in stores.items() if k != "STORE0000000002"}
    days = [d for d in s.days if any(
        o.payer == "STORE0000000002" or o.payee == "STORE0000000002"
        for o in settle(path, stores, d).points.obligations)]
    with pytest.raises(InputError, match="STORE0000000002"):
        settle(path, fewer, days[0])
    assert dataclasses.is_dataclass(s)


def a_day_with_a_differing_close(path: Path, s: simulation.Simulation) -> dt.date:
    with Journal(path) as j:
        return next(day for day in s.days
                    if any(c.switch != c.terminal for c in j.batch_closes(day, workers=1)))


def test_the_differing_batches_rows_are_read_when_the_closes_are_used(
        sqlite_sim: SqliteSim, monkeypatch: pytest.MonkeyPatch) -> None:
    """`closes_pending` hands the closes over before their batches' rows are read (the day is
    netted meanwhile); using them waits for the reads, once, and gives what `batch_closes`
    gives."""
    import settlement.journal

    path, s = sqlite_sim
    day = a_day_with_a_differing_close(path, s)
    read: list[tuple[str, int, int, list[tuple[str, str]], bool]] = []
    real = settlement.journal.batch_window

    def batch_window(task: tuple[str, int, int, list[tuple[str, str]], bool]) -> list[Row]:
        read.append(task)
        return real(task)

    monkeypatch.setattr(settlement.journal, "batch_window", batch_window)
    with Journal(path) as j:
        eager = j.batch_closes(day, workers=1)
        assert read
        read.clear()
        with j.closes_pending(day, workers=1) as pending:
            assert read == []
            assert list(pending) == eager
            reads = len(read)
            assert reads and list(pending) == eager and len(read) == reads
    assert any(c.rows for c in eager)


def test_the_closes_read_in_parallel_equal_those_read_in_turn(sqlite_sim: SqliteSim,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """Small chunks, so the differing batches' rows are read by worker processes in many
    windows while the block runs."""
    import settlement.digest
    import settlement.journal

    path, s = sqlite_sim
    day = a_day_with_a_differing_close(path, s)
    with Journal(path) as j:
        alone = j.batch_closes(day, workers=1)
    monkeypatch.setattr(settlement.digest, "CHUNK_BITS", 6)
    monkeypatch.setattr(settlement.journal, "CHUNK_BITS", 6)
    with Journal(path) as j:
        span = j.bounds(day)
        assert span is not None and len(windows(*span)) > 2  # so the worker processes read
        with j.closes_pending(day, workers=2) as pending:
            assert list(pending) == alone


def test_the_day_is_netted_before_the_lots_and_closes_are_used(sqlite_sim: SqliteSim) -> None:
    """`finish` takes the lots due and the closes last, so the lots table and their batches'
    rows have the netting's time to be read (`settle_journal`)."""
    path, s = sqlite_sim
    stores = stores_from_config(s.config)
    day = a_day_with_a_differing_close(path, s)
    used: list[str] = []

    class Spy:
        def __init__(self, name: str, items: list[Any]) -> None:
            self.name, self.items = name, items

        def __iter__(self) -> Iterator[Any]:
            used.append(self.name)
            return iter(self.items)

    with Journal(path) as j:
        book = DayBook(day, stores)
        scan = j.feed(book)
        book.finish(Spy("lots", list(j.lots_due(day, scan))),
                    Spy("closes", j.batch_closes(day, scan=scan)),
                    Spy("downgrades", []), Spy("gift lots", []), {})
    assert used[-2:] == ["lots", "closes"] and len(used) == 4


def test_the_lots_due_are_read_when_they_are_used(sqlite_sim: SqliteSim,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`lots_pending` hands the lots due over before the lots table is read; using them waits
    for the read, once, and gives what `lots_due` gives, read here or by a process of its
    own."""
    import settlement.journal

    path, s = sqlite_sim
    stores = stores_from_config(s.config)
    read: list[dt.date] = []
    real = settlement.journal.lots_window

    def lots_window(reader: JournalReader, day: dt.date, last_id: int, touched: Collection[int]
                    ) -> tuple[dict[int, int], dict[int, tuple[str, dt.date, int]]]:
        read.append(day)
        return real(reader, day, last_id, touched)

    monkeypatch.setattr(settlement.journal, "lots_window", lots_window)
    due = []
    with Journal(path) as j:
        for day in s.days:
            scan = j.feed(DayBook(day, stores), workers=1)
            read.clear()
            eager = list(j.lots_due(day, scan))
            assert read == [day]
            read.clear()
            with j.lots_pending(day, scan, workers=1) as pending:
                assert read == []
                assert list(pending) == eager and list(pending) == eager and read == [day]
            with j.lots_pending(day, scan, workers=2) as parallel:
                assert list(parallel) == eager
            due += eager
    assert due
