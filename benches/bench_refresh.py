"""A node of several's refresh on a large PostgreSQL journal (docs/switch.md, "Several nodes").

    .venv/bin/python benches/bench_refresh.py [--cards 200000] [--lots 2] [--rounds 3]
        [--tree DIR ...]

A temporary cluster of tests/pg (no standby) holds a journal of `--cards` cards with `--lots`
live points lots each, written straight into `cards` and `lots`. Then, for each round, each
tree (`--tree`, this checkout when none is given; several alternate, for before/after pairs)
opens the journal as a node of several in a process of its own and times three
`PgJournal.refresh` calls (what a contested turn reads), printing the seconds, the CPU of that
process and the load average before each.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in each tree's process: its own switch, timed.
_TIMING = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from switch.journal.postgres.journal import PgJournal
from tests.switch.support import NOW, example_config
journal = PgJournal(sys.argv[2], shared=True)
config = example_config()
out = []
for _ in range(3):
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    state = journal.refresh(config, None, NOW)
    out.append(f"{time.perf_counter() - wall:.2f} s (CPU {time.process_time() - cpu:.2f} s, "
               f"load {load:.2f})")
journal.close()
print(f"{sys.argv[1]}: {len(state.cards)} cards; " + ", ".join(out), flush=True)
"""


def fill(url: str, cards: int, lots: int) -> None:
    """The journal's schema (a node opening it), then the cards and their live lots."""
    import psycopg

    from switch.journal.postgres.journal import PgJournal

    PgJournal(url, shared=True).close()
    pan = "'628' || lpad(({})::text, 13, '0')"
    with psycopg.connect(url) as conn:
        conn.execute(f"INSERT INTO cards SELECT {pan.format('g')}, 'tehran-mall', 'active', "
                     "DATE '2026-09-24' FROM generate_series(1, %s) g", (cards,))
        conn.execute(f"INSERT INTO lots SELECT g, {pan.format('(g - 1) / %s::int + 1')}, 'points', "
                     "'STORE0000000001', 'tehran-mall', DATE '2026-09-24', DATE '2027-09-19', "
                     "10, 10, g FROM generate_series(1, %s) g", (lots, cards * lots))
        conn.execute("ANALYZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=int, default=200_000)
    ap.add_argument("--lots", type=int, default=2, help="live lots per card")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", type=Path, action="append", default=[],
                    help="a checkout to time (repeat to alternate); this one by default")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.pg.cluster import pg_cluster

    trees = [t.resolve() for t in args.tree] or [ROOT]
    with pg_cluster() as cluster:
        url = cluster.url()
        fill(url, args.cards, args.lots)
        print(f"{args.cards} cards, {args.cards * args.lots} live lots; load "
              "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
        for _ in range(args.rounds):
            for tree in trees:
                subprocess.run([sys.executable, "-c", _TIMING, str(tree), url], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
