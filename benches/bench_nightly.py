"""The club's nightly job for a large synthetic population: segments and the day's messages.

Builds a switch database (SQLite, the journal's own migrations) with CUSTOMERS accounts, one
card each, and a year of purchases (0-12 a customer, some reversed) plus a points lot per
purchase, then runs `switch.customers.nightly.run_nightly` in a fresh process with the
birthday, expiring-points and win-back triggers on (no bonuses: those go through the switch
one by one) and prints the time of each phase, the process's peak memory (ru_maxrss) and the
load average before and after. A second run for the same day shows the cost when everything
is queued already.

    .venv/bin/python benches/bench_nightly.py --customers 1000000 [--dir DIR]

With `--dir` the built database is kept there (`pristine-N.db`) and copied for the next run
of the same size, so a change is measured on the same data.

The figures and the load they were taken under are in benches/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = dt.date(2026, 11, 23)
TEMPLATES = """
[messaging]
[messaging.templates.birthday]
kind = "promotional"
sms = "{name} عزیز، تولدتان مبارک!"
[messaging.templates.expiring]
kind = "promotional"
sms = "{name} عزیز، {points} امتیاز شما {days} روز دیگر منقضی می‌شود."
[messaging.templates.winback]
kind = "promotional"
sms = "{name} عزیز، {days} روز است شما را ندیده‌ایم."
[coalition.tehran-mall.triggers.birthday]
[coalition.tehran-mall.triggers.expiring]
days = 14
[coalition.tehran-mall.triggers.winback]
days = 60
"""


def make(directory: Path, customers: int, seed: int = 7) -> Path:
    """The configuration and its database with `customers` synthetic accounts."""
    from switch.core.luhn import luhn_complete
    from switch.journal.sqlite.journal import SqliteJournal

    db = directory / "lps.db"
    text = (ROOT / "examples" / "lps.toml").read_text(encoding="utf-8")
    text = text.replace('database = "var/lps.db"', f'database = "{db}"')
    config = directory / "lps.toml"
    config.write_text(text + TEMPLATES, encoding="utf-8")
    SqliteJournal(db).close()
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    jid = lot = 0
    chunk = 20_000
    for start in range(1, customers + 1, chunk):
        accounts: list[tuple[Any, ...]] = []
        cards: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        lots: list[tuple[Any, ...]] = []
        for a in range(start, min(start + chunk, customers + 1)):
            pan = luhn_complete(f"628000{a:09d}")
            joined = DAY - dt.timedelta(days=rng.randrange(1, 900))
            born = dt.date(rng.randrange(1950, 2005), rng.randrange(1, 13), rng.randrange(1, 29))
            accounts.append((a, "tehran-mall", f"مشتری {a}", f"مشتری{a}",
                             f"98912{a:07d}", born.isoformat(), "import",
                             f"{joined.isoformat()}T10:00:00+00:00",
                             f"{joined.isoformat()}T10:00:00+00:00"))
            cards.append((pan, "tehran-mall", "active", joined.isoformat()))
            links.append((pan, a, f"{joined.isoformat()}T10:00:00+00:00"))
            for _ in range(rng.choice((0, 0, 1, 2, 3, 5, 8, 12))):
                jid += 1
                day = DAY - dt.timedelta(days=rng.randrange(0, 400))
                amount = rng.randrange(10, 5_000) * 10_000
                rows.append((jid, f"{day.isoformat()}T10:00:00+00:00", day.isoformat(), "earn",
                             "T0000001", "STORE0000000001", "tehran-mall", pan, amount,
                             amount // 10_000, 0, "00", None))
                lot += 1
                lots.append((lot, pan, "points", "STORE0000000001", "tehran-mall",
                             day.isoformat(), (day + dt.timedelta(days=365)).isoformat(),
                             amount // 10_000, amount // 10_000, jid))
                if rng.random() < 0.02:
                    jid += 1
                    rows.append((jid, f"{day.isoformat()}T10:05:00+00:00", day.isoformat(),
                                 "reversal", "T0000001", "STORE0000000001", "tehran-mall", pan,
                                 amount, 0, 0, "00", jid - 1))
        with conn:
            conn.executemany("INSERT INTO accounts (id, coalition_id, name, name_key, mobile, "
                             "birth_date, source, created_at, updated_at) VALUES "
                             "(?,?,?,?,?,?,?,?,?)", accounts)
            conn.executemany("INSERT INTO cards (pan, coalition_id, status, enrolled_on) "
                             "VALUES (?,?,?,?)", cards)
            conn.executemany("INSERT INTO account_cards (pan, account_id, linked_at) "
                             "VALUES (?,?,?)", links)
            conn.executemany("INSERT INTO journal (id, at, business_day, kind, terminal_id, "
                             "store_id, coalition_id, pan, amount, points, sv, response_code, "
                             "original_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO lots (id, pan, kind, store_id, coalition_id, "
                             "earned_on, expires_on, initial, remaining, journal_id) VALUES "
                             "(?,?,?,?,?,?,?,?,?,?)", lots)
    conn.close()
    return config


def run(config_path: Path) -> dict[str, object]:
    """One nightly run for DAY in this process: phases, peak memory, what it did."""
    from switch.config import load_config
    from switch.customers import nightly
    from switch.journal import open_customers

    config = load_config(config_path)
    customers = open_customers(config.switch.journal)
    phases: dict[str, float] = {}
    real_read, real_store, real_queue = nightly._read, nightly.store_segments, nightly._queue

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    nightly._read = timed("read_and_classify", real_read)
    nightly.store_segments = timed("store_segments", real_store)
    nightly._queue = timed("queue_messages", real_queue)
    t0 = time.perf_counter()
    report = nightly.run_nightly(customers, config, DAY, dt.datetime.now(dt.UTC), None)
    total = time.perf_counter() - t0
    customers.close()
    # The read queues the messages due as it goes (by chunks): its own share is the rest.
    if "queue_messages" in phases and "read_and_classify" in phases:
        phases["read_and_classify"] -= phases["queue_messages"]
    return {"seconds": round(total, 2), "phases": {k: round(v, 2) for k, v in phases.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "segments": report.segments, "queued": report.queued, "already": report.already}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--dir", help="build the database here (default: a temporary folder)")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # the child: one run of this config
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(Path(args.run)), ensure_ascii=False))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.dir or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        pristine = directory / f"pristine-{args.customers}.db"
        if pristine.exists():  # built before with --dir: the same database again
            shutil.copyfile(pristine, directory / "lps.db")
            config = directory / "lps.toml"
            print(f"copied the {args.customers:,} customers built before ({pristine})")
        else:
            config = make(directory, args.customers)
            if args.dir:
                shutil.copyfile(directory / "lps.db", pristine)
            print(f"built {args.customers:,} customers in {time.perf_counter() - t:.1f} s")
        size = (directory / "lps.db").stat().st_size
        print(f"database {size / 2**20:.0f} MB; {os.cpu_count()} CPUs")
        for label in ("first run", "second run (all queued already)"):
            before = os.getloadavg()
            done = subprocess.run([sys.executable, __file__, "--run", str(config)],
                                  capture_output=True, text=True, check=True)
            after = os.getloadavg()
            print(f"{label}: {done.stdout.strip()}")
            print(f"  load average before {before[0]:.1f}, after {after[0]:.1f} "
                  f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
