"""The balance cache: bytes per card as recovery builds it (docs/switch.md, "Memory").

    .venv/bin/python benches/bench_cache.py --cards 100000            # tracemalloc, by line
    .venv/bin/python benches/bench_cache.py --cards 1000000 --rss     # RSS delta only (fast)
    .venv/bin/python benches/bench_cache.py --cards 100000 --lazy     # as `lps serve` recovers

Writes N cards with a realistic mix of live lots straight into the tables recovery reads
(`cards`, `lots`; no journal rows: the idempotency window's records are measured by
tests/switch/test_money_safety.py), then runs recovery's cache build (`load_cache`) on them
and reports the bytes it holds per card: with tracemalloc (every Python allocation the state
still holds after the build, grouped by the line that made it, and by kind of object), or as
the process's resident-set growth (`--rss`, without tracemalloc's own cost and slowdown).
By default every card's lots are read, as they are once each card has been used and packed
again; `--lazy` recovers as `lps serve` does, each card its head alone until a decision reads
its lots (docs/switch.md, "The balance cache").

The mix (seeded): 0-6 live points lots per card (20 % none, most 1-3), one purse lot on
10 % of the cards, 30 % of the points lots without an expiry, three stores, earn days over a
year, lot sizes 1-50,000 points, a few lots left in debt (negative remaining).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switch.core.luhn import luhn_complete
from switch.journal.reports import RecoveryReport
from switch.journal.sql.recover import load_cache
from switch.journal.sqlite.journal import SqliteJournal
from tests.switch.support import NOW, example_config

STORES = ("STORE0000000001", "STORE0000000002", "STORE0000000003")
LOTS_PER_CARD = (0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6)


def rows(cards: int, seed: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """One card row and its live lot rows at a time."""
    rng = random.Random(seed)
    today = NOW.date()
    lid = 0
    for c in range(cards):
        pan = luhn_complete(f"628000{c:09d}")
        enrolled = (today - dt.timedelta(days=rng.randrange(30, 2000))).isoformat()
        lots = []
        kinds = ["points"] * rng.choice(LOTS_PER_CARD)
        if rng.random() < 0.1:
            kinds.append("stored_value")
        for kind in kinds:
            lid += 1
            earned = today - dt.timedelta(days=rng.randrange(0, 365))
            expires = None if kind != "points" or rng.random() < 0.3 else \
                (earned + dt.timedelta(days=365)).isoformat()
            initial = rng.randrange(1, 50_000)
            remaining = initial if rng.random() < 0.6 else rng.randrange(1, initial + 1)
            if rng.random() < 0.005:
                remaining = -rng.randrange(1, initial + 1)
            lots.append((lid, pan, kind, rng.choice(STORES), "tehran-mall", earned.isoformat(),
                         expires, initial, remaining, lid))
        yield (pan, "tehran-mall", "active", enrolled), lots


def build(path: Path, cards: int, seed: int) -> tuple[int, int]:
    SqliteJournal(path).close()  # the schema
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    n_lots = 0
    card_rows: list[tuple[Any, ...]] = []
    lot_rows: list[tuple[Any, ...]] = []
    for card, lots in rows(cards, seed):
        card_rows.append(card)
        lot_rows += lots
        if len(card_rows) >= 50_000:
            n_lots += _flush(conn, card_rows, lot_rows)
    n_lots += _flush(conn, card_rows, lot_rows)
    conn.execute("COMMIT")
    conn.close()
    return cards, n_lots


def _flush(conn: sqlite3.Connection, cards: list[Any], lots: list[Any]) -> int:
    conn.executemany("INSERT INTO cards VALUES (?,?,?,?)", cards)
    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
    n = len(lots)
    cards.clear()
    lots.clear()
    return n


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(path: Path, lazy: bool) -> Any:
    conn = sqlite3.connect(path)
    try:
        if lazy:
            return load_cache(conn, example_config(path), None, NOW, RecoveryReport(),
                              lazy=True)
        return load_cache(conn, example_config(path), None, NOW, RecoveryReport())
    finally:
        conn.close()


def by_kind(state: Any) -> Counter[str]:
    """Bytes the cards hold, by type of object (each object counted once)."""
    seen: set[int] = set()
    out: Counter[str] = Counter()

    def walk(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        out[type(obj).__name__] += sys.getsizeof(obj)
        if isinstance(obj, (str, bytes, int, float, dt.date)) or obj is None:
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)
        else:
            for name in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, name):
                    walk(getattr(obj, name))

    walk(state.cards)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=int, default=100_000, help="cards to build (100000)")
    ap.add_argument("--seed", type=int, default=1, help="the mix's random seed (1)")
    ap.add_argument("--rss", action="store_true", help="RSS growth only, no tracemalloc")
    ap.add_argument("--dir", default=None, help="where the database goes (a temporary dir)")
    ap.add_argument("--lazy", action="store_true",
                    help="the cards' lots left in the journal, as lps serve recovers")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "cache.db"
        started = time.perf_counter()
        cards, lots = build(path, args.cards, args.seed)
        print(f"{cards} cards, {lots} live lots ({lots / cards:.2f} per card), "
              f"built in {time.perf_counter() - started:.1f} s")
        gc.collect()
        if args.rss:
            before = _rss()
            started = time.perf_counter()
            state = load(path, args.lazy)
            took = time.perf_counter() - started
            grew = _rss() - before
            print(f"load_cache {took:.2f} s; RSS +{grew / 2**20:.1f} MB: "
                  f"{grew / cards:.0f} bytes per card")
            if hasattr(state.cards, "pack") and not args.lazy:  # the packed store
                started = time.perf_counter()
                for pan in list(state.cards):
                    state.cards.get(pan)
                unpacked = time.perf_counter() - started
                started = time.perf_counter()
                state.cards.pack()
                packed = time.perf_counter() - started
                print(f"every card read once: {unpacked / cards * 1e6:.2f} µs per card; "
                      f"packed again (prune): {packed / cards * 1e6:.2f} µs per card")
            del state
            return 0
        tracemalloc.start(1)
        base = tracemalloc.take_snapshot()
        started = time.perf_counter()
        state = load(path, args.lazy)
        took = time.perf_counter() - started
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = after.compare_to(base, "lineno")
        held = sum(s.size_diff for s in stats)
        print(f"load_cache {took:.2f} s under tracemalloc; the state holds "
              f"{held / 2**20:.1f} MB: {held / cards:.1f} bytes per card")
        print("by line (bytes per card):")
        for s in stats[:12]:
            if s.size_diff / cards >= 0.5:
                frame = s.traceback[0]
                print(f"  {s.size_diff / cards:8.1f}  {Path(frame.filename).name}:{frame.lineno}")
        print("by type of object reachable from state.cards (sys.getsizeof, bytes per card):")
        for name, size in by_kind(state).most_common():
            if size / cards >= 0.5:
                print(f"  {size / cards:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
