"""Live lots by card: a card's live lots read through `lots_live` or as SQLite plans it alone.

    .venv/bin/python benches/bench_live_lots.py [--cards 2000] [--spent 500] [--tail 200]
        [--rounds 3]

A SQLite journal of `--cards` cards, each with `--spent` spent points lots and one live lot
(written straight into `cards` and `lots`), then alternating rounds of the two reads the
switch makes while it serves, each as it is (`common.live_lots`, the partial index named) and
with the plain table (which SQLite plans on `lots_pan`, every lot the card ever had, when
there is such an index):

- `card_lots`: one card's live lots (after a lazy recovery, on the event loop), µs a card;
- the verified checkpoint's tail: the live lots of the `--tail` cards a tail of as many
  journal rows touched (`verify._TAIL_CARDS`, ten times a second), ms a tail.

The journal has no `lots_pan` since migration 17; the bench makes it again, as it was (every
lot by card), which is what the named index keeps SQLite from taking.

It prints each round's figures and the load average before it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from switch.journal.sql import verify  # noqa: E402
from switch.journal.sql.common import LOT_COLUMNS, live_lots  # noqa: E402
from switch.journal.sql.db import SQLITE  # noqa: E402
from switch.journal.sqlite.journal import SqliteJournal  # noqa: E402


def fill(path: Path, cards: int, spent: int, tail: int) -> sqlite3.Connection:
    """The journal: its schema, the cards and their lots, and a tail of journal rows that
    earned on the first `tail` cards (after a verified checkpoint at 0)."""
    SqliteJournal(path).close()
    conn = sqlite3.connect(path)
    pans = [f"628000{n:010d}" for n in range(1, cards + 1)]
    conn.executemany("INSERT INTO cards VALUES (?, 'tehran-mall', 'active', '2024-01-01')",
                     [(p,) for p in pans])
    lot_id = 0
    for pan in pans:
        rows = []
        for n in range(spent + 1):
            lot_id += 1
            rows.append((lot_id, pan, "points", "S1", "tehran-mall", "2024-01-01", None, 10,
                         10 if n == spent else 0, lot_id))
        conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany(
        "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
        "coalition_id, pan, stan, transmission, amount, points, sv, response_code) VALUES "
        "(?, '2026-12-05T10:00:00+00:00', '2026-12-05', 'earn', '0200', '000000', "
        "'T0000001', 'S1', 'tehran-mall', ?, '000001', '1205100000', 1000, 10, 0, '00')",
        [(n, pans[n - 1]) for n in range(1, tail + 1)])
    conn.execute("CREATE INDEX lots_pan ON lots (pan)")
    conn.commit()
    return conn


def timed(conn: sqlite3.Connection, sql: str, args: object, times: int) -> float:
    started = time.perf_counter()
    for _ in range(times):
        conn.execute(sql, args).fetchall()  # type: ignore[arg-type]
    return (time.perf_counter() - started) / times


def main() -> None:
    p = argparse.ArgumentParser(prog="benches/bench_live_lots.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cards", type=int, default=2000)
    p.add_argument("--spent", type=int, default=500, help="spent lots per card")
    p.add_argument("--tail", type=int, default=200, help="cards the verified tail touched")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lps-live-lots-") as tmp:
        conn = fill(Path(tmp) / "j.db", args.cards, args.spent, args.tail)
        card = f"SELECT {LOT_COLUMNS} FROM {{}} WHERE pan = ? AND remaining != 0 ORDER BY id"
        tail = verify._TAIL_CARDS.format(lots=live_lots(SQLITE))
        reads = {
            "card_lots": (card.format(live_lots(SQLITE)), card.format("lots"),
                          ("6280000000000001",), 200, 1e6, "µs a card"),
            "tail": (tail, tail.replace("lots INDEXED BY lots_live", "lots"),
                     {"after": 0, "upto": args.tail}, 10, 1e3, "ms a tail"),
        }
        print(f"{args.cards} cards, {args.spent} spent lots and 1 live each; "
              f"a tail of {args.tail} cards")
        for n in range(1, args.rounds + 1):
            for name, (hinted, plain, params, times, scale, unit) in reads.items():
                load = os.getloadavg()[0]
                with_index = timed(conn, hinted, params, times) * scale
                as_planned = timed(conn, plain, params, times) * scale
                print(f"round {n} {name}: lots_live {with_index:.1f}, SQLite's own plan "
                      f"{as_planned:.1f} {unit} (load {load:.2f})", flush=True)
        conn.close()


if __name__ == "__main__":
    main()
