"""Recovery of a large journal, one database for several trees (docs/switch.md, "Figures").

    .venv/bin/python benches/bench_recovery.py build DIR [--cards 100000] [--entries 1000000]
    .venv/bin/python benches/bench_recovery.py run DIR/recovery.db       # this tree
    (cd BASE && .venv/bin/python $OLDPWD/benches/bench_recovery.py run DIR/recovery.db --here)

`build` writes the database of `bench_switch.py -k recovery` (the same rows: per card six earns
and four burns of points, 100,000 entries after the verified checkpoint) once; `run` copies it
to a fresh file next to it (recovery advances the checkpoint, so every run starts from the same
bytes), runs `SqliteJournal.load` on the copy as `lps serve` does (the cards' lots left in the
journal; `--eager` reads them all) and prints the seconds, the cache's RSS growth and the load
average before and after. `--touch N` then reads the lots of N cards spread over the PANs, as
their first decisions would (`Journal.fill`), and prints the time per card. `--here`: import
the switch from the current directory (a checkout of another commit, for alternating base/new
pairs) instead of the tree that holds this file.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def build(folder: Path, cards: int, entries: int, unverified: int) -> None:
    sys.path.insert(0, str(ROOT))
    from benches.bench_switch import _build

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recovery.db"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    verifying = _build(path, cards, entries, unverified)
    print(f"{path}: {cards} cards, {entries} entries, built in "
          f"{time.perf_counter() - started:.0f} s (verifying {verifying:.1f} s)")


def run(database: Path, here: bool, eager: bool, touch: int) -> None:
    sys.path.insert(0, str(Path.cwd() if here else ROOT))
    from switch.journal.sqlite.journal import SqliteJournal
    from tests.switch.support import NOW, example_config

    copy = database.with_name("run-" + database.name)
    for suffix in ("", "-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)
    shutil.copyfile(database, copy)
    copy.chmod(0o600)  # the switch refuses a database others can read
    cfg = example_config(copy)
    gc.collect()
    before_load = _load()
    before = _rss_mb()
    started = time.perf_counter()
    store = SqliteJournal(copy)
    state = store.load(cfg, None, NOW) if eager else store.load(cfg, None, NOW, lazy=True)
    took = time.perf_counter() - started
    grew = _rss_mb() - before
    import switch
    print(f"{Path(switch.__file__).parents[1]}: recovery {took:.2f} s"
          f"{' (eager)' if eager else ''}, {len(state.cards)} cards, "
          f"{store.report.lots} lots, cache RSS +{grew:.0f} MB "
          f"({grew * 2**20 / len(state.cards):.0f} B per card); {before_load} -> {_load()}")
    if touch:
        pans = sorted(state.cards)[::max(1, len(state.cards) // touch)][:touch]
        cpu, started = time.process_time(), time.perf_counter()
        filled = 0
        for pan in pans:
            if state.cards.unread(pan):
                store.fill(state, pan)
                filled += 1
            _ = state.cards[pan].points
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"  first reads of {len(pans)} cards ({filled} filled): {wall / len(pans) * 1e6:.0f}"
              f" us wall, {cpu / len(pans) * 1e6:.0f} us CPU per card; {_load()}")
    store.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(copy) + suffix).unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the database once")
    b.add_argument("folder", type=Path, help="where recovery.db goes")
    b.add_argument("--cards", type=int, default=100_000, help="cards (100000)")
    b.add_argument("--entries", type=int, default=1_000_000, help="journal entries (1000000)")
    b.add_argument("--unverified", type=int, default=100_000,
                   help="entries after the verified checkpoint (100000)")
    r = sub.add_parser("run", help="recover a copy of it")
    r.add_argument("database", type=Path, help="the database `build` wrote")
    r.add_argument("--here", action="store_true",
                   help="import the switch from the current directory")
    r.add_argument("--eager", action="store_true",
                   help="read every card's lots at start-up (before the switch read them lazily)")
    r.add_argument("--touch", type=int, default=0, metavar="N",
                   help="then read the lots of N cards, as their first decisions do")
    args = ap.parse_args()
    if args.command == "build":
        build(args.folder, args.cards, args.entries, args.unverified)
    else:
        run(args.database, args.here, args.eager, args.touch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
