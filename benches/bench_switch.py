"""Switch benchmarks (pytest-benchmark): decision cost, the whole message path, group commit,
and recovery of a large journal with the cache's resident memory.

    .venv/bin/pytest benches/bench_switch.py --benchmark-only
    LPS_BENCH_CARDS=1000000 LPS_BENCH_ENTRIES=10000000 .venv/bin/pytest benches/bench_switch.py \
        -k recovery --benchmark-only -s        # the issue's full size (generation takes minutes)

The recovery bench's database carries the verified checkpoint as the running switch leaves it,
with the last `LPS_BENCH_UNVERIFIED` entries (default 100,000) after it for start-up to check;
`LPS_BENCH_UNVERIFIED` = the entries gives a database with no checkpoint yet (the first start
after migration 6: everything checked, then the checkpoint written).

Socket throughput and latency are measured by `python -m benches.loadgen`, not here.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import frame, load_profile
from switch.core import handle, new_state
from switch.core.luhn import luhn_complete
from switch.journal.sql.verify import verified_upto
from switch.journal.sqlite.journal import SqliteJournal

# The repository root, so that the test builders are importable when pytest runs benches/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.switch.support import NOW, T1, burn, card, earn, example_config, sign_on

PROFILE = load_profile("ascii")


def _state_with_cards(n: int = 2000) -> Any:
    state = new_state(example_config())
    handle(state, sign_on(T1), NOW)
    for i in range(n):
        handle(state, earn(T1, i + 1, card(i), 1_000_000), NOW)
    return state


def test_decision_earn(benchmark: Any) -> None:
    """One earn through `core.handle` (validation, idempotency, rules, lot, response)."""
    state = _state_with_cards()
    msgs = iter([earn(T1, 100_000 + i, card(i % 2000), 150_000) for i in range(400_000)])
    gc.freeze()
    benchmark.pedantic(lambda: handle(state, next(msgs), NOW), rounds=50_000, iterations=1)
    benchmark.extra_info["unit"] = "one decision"


def test_decision_burn(benchmark: Any) -> None:
    state = _state_with_cards()
    msgs = iter([burn(T1, 100_000 + i, card(i % 2000), 1_000) for i in range(400_000)])
    gc.freeze()
    benchmark.pedantic(lambda: handle(state, next(msgs), NOW), rounds=50_000, iterations=1)


def test_message_path(benchmark: Any) -> None:
    """decode + decide + encode + frame: the switch's CPU per request, without I/O."""
    state = _state_with_cards()
    raw = iter([PROFILE.encode(earn(T1, 100_000 + i, card(i % 2000), 150_000))
                for i in range(400_000)])

    def one() -> bytes:
        d = handle(state, PROFILE.decode(next(raw)), NOW)
        assert d.response is not None
        return frame(PROFILE.encode(d.response))

    gc.freeze()
    benchmark.pedantic(one, rounds=50_000, iterations=1)


def test_group_commit_500(benchmark: Any, tmp_path: Path) -> None:
    """One durable commit (fsync) of 500 decisions: divide by 500 for the per-request cost."""
    cfg = example_config(tmp_path / "gc.db")
    store = SqliteJournal(cfg.switch.database)
    state = store.load(cfg, None, NOW)
    store.append(handle(state, sign_on(T1), NOW).entries)
    stan = itertools.count(1)

    def batch() -> tuple[tuple[Any, ...], dict[str, Any]]:
        entries = []
        for _ in range(500):
            s = next(stan)
            entries += handle(state, earn(T1, s % 999_999 + 1, card(s % 5000), 150_000,
                                          now=NOW + dt.timedelta(seconds=s // 999_999)),
                              NOW).entries
        return (entries,), {}

    benchmark.pedantic(store.append, setup=batch, rounds=30)
    store.close()


# -- recovery ------------------------------------------------------------------------------------

STORES = ("STORE0000000001", "STORE0000000002", "STORE0000000003")
# Per card: 6 earns of 10 points, then 4 burns of 12 points (FIFO over the six lots).
BURN_MOVES = [[(0, -10), (1, -2)], [(1, -8), (2, -4)], [(2, -6), (3, -6)], [(3, -4), (4, -8)]]
REMAINING = [0, 0, 0, 0, 2, 10]  # what the four burns leave of the six lots


def _rows(cards: int, per_card: int) -> Iterator[tuple[list[Any], list[Any], list[Any],
                                                       list[Any]]]:
    """Journal, lots, moves and card rows, one card at a time, all 60 days old."""
    day = (NOW.date() - dt.timedelta(days=60)).isoformat()
    at = (NOW - dt.timedelta(days=60)).isoformat()
    expires = (NOW.date() + dt.timedelta(days=300)).isoformat()
    jid = lid = 0
    for c in range(cards):
        pan = luhn_complete(f"628000{c:09d}")
        store = STORES[c % 3]
        journal, lots, moves = [], [], []
        lot_ids: list[int] = []
        for k in range(per_card):
            jid += 1
            if k < 6 or k >= 10:
                lid += 1
                lot_ids.append(lid)
                left = REMAINING[k] if k < 6 else 10
                lots.append((lid, pan, "points", store, "tehran-mall", day, expires, 10, left,
                             jid))
                moves.append((jid, lid, pan, "points", store, 10))
                points = 10
                kind = "earn"
            else:
                points = 0
                kind = "redeem"
                for idx, delta in BURN_MOVES[k - 6]:
                    moves.append((jid, lot_ids[idx], pan, "points", store, delta))
                    points += delta
            journal.append((jid, at, day, kind, "0200", "000000" if kind == "earn" else "900000",
                            "T0000001", store, "tehran-mall", pan, f"{k + 1:06d}", "0921100000",
                            f"{jid:012d}", 100_000, points, 0, "00", "000001", "", None, None,
                            None, None, None, 0))
        yield journal, lots, moves, [(pan, "tehran-mall", "active", day)]


def _build(path: Path, cards: int, entries: int, unverified: int) -> float:
    """Write the journal in commits of about 200,000 entries and, after each, verify them and
    move the verified checkpoint the way the running switch does (its checkpoint thread each
    second; `SqliteJournal.verify_and_advance` is the same check and advance in one call), except
    for the last `unverified` entries: what a crash leaves for start-up to check. Returns the
    seconds spent verifying."""
    store = SqliteJournal(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    per_card = max(10, entries // cards)
    tail_cards = min(cards, -(-unverified // per_card))  # whole cards: rounded up
    verifying = 0.0
    jb: list[Any] = []
    lb: list[Any] = []
    mb: list[Any] = []
    cb: list[Any] = []
    for n, (j, lots, m, c) in enumerate(_rows(cards, per_card)):
        if n == cards - tail_cards and jb:  # the checkpoint's last advance before the crash
            _flush(conn, jb, lb, mb, cb)
            jb, lb, mb, cb = [], [], [], []
            verifying += _advance(store)
        jb += j
        lb += lots
        mb += m
        cb += c
        if len(jb) > 200_000:
            _flush(conn, jb, lb, mb, cb)
            jb, lb, mb, cb = [], [], [], []
            if n < cards - tail_cards:
                verifying += _advance(store)
    _flush(conn, jb, lb, mb, cb)
    conn.close()
    store.close()
    return verifying


def _advance(store: SqliteJournal) -> float:
    started = time.perf_counter()
    v = store.verify_and_advance()
    assert not v.problems, v.problems
    return time.perf_counter() - started


def _flush(conn: sqlite3.Connection, j: list[Any], lots: list[Any], m: list[Any],
           c: list[Any]) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO journal VALUES (" + ",".join("?" * 25) + ")", j)
    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
    conn.executemany("INSERT INTO lot_moves VALUES (?,?,?,?,?,?)", m)
    conn.executemany("INSERT INTO cards VALUES (?,?,?,?)", c)
    conn.execute("COMMIT")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.timeout(3600)  # generating 10M entries takes minutes
def test_recovery(benchmark: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    cards = int(os.environ.get("LPS_BENCH_CARDS", "100000"))
    entries = int(os.environ.get("LPS_BENCH_ENTRIES", "1000000"))
    # Entries after the verified checkpoint, for start-up to check (a running switch keeps
    # this to about a second of traffic; 100,000 is some 20 s at full load).
    unverified = int(os.environ.get("LPS_BENCH_UNVERIFIED", "100000"))
    path = tmp_path_factory.mktemp("recovery") / "big.db"
    started = time.perf_counter()
    verifying = _build(path, cards, entries, unverified)
    built = time.perf_counter() - started
    conn = sqlite3.connect(path)
    tail = conn.execute("SELECT MAX(id) FROM journal").fetchone()[0] - verified_upto(conn)
    conn.close()
    cfg = example_config(path)
    held: list[Any] = []

    def recover() -> None:
        held.clear()
        gc.collect()
        before = _rss_mb()
        store = SqliteJournal(path)
        held.append(store.load(cfg, None, NOW, lazy=True))  # as `lps serve` recovers
        store.close()
        held.append(_rss_mb() - before)

    benchmark.pedantic(recover, rounds=1, iterations=1)
    state, rss = held
    assert len(state.cards) == cards
    benchmark.extra_info.update({"cards": cards, "journal_entries": entries,
                                 "unverified_entries": tail, "cache_rss_mb": round(rss),
                                 "build_seconds": round(built)})
    print(f"\nrecovery of {cards} cards / {entries} entries ({tail} after the verified "
          f"checkpoint): {benchmark.stats.stats.mean:.2f} s, cache RSS +{rss:.0f} MB "
          f"(built in {built:.0f} s, of which verifying {verifying:.1f} s)")
