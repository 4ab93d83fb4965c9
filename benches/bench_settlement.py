"""Settlement speed: a generated business day written straight into the switch's SQLite schema.

    .venv/bin/pytest benches/bench_settlement.py --benchmark-only       # 200,000 entries
    LPS_BENCH_SETTLE_BIG=1 .venv/bin/pytest benches/bench_settlement.py --benchmark-only -s
        # + 1,000,000 and 10,000,000 entries over 1,000,000 cards and 500 stores, each settled
        #   in a fresh process (time, peak RSS), and the 10M/1M time ratio (10 = linear)
    .venv/bin/python benches/bench_settlement.py 1000000 10000000      # the same, no pytest

Generated databases are cached in $LPS_BENCH_DIR (default /tmp/lps-bench), keyed by size.
The day's mix: 55% earns (a new lot each), 22% burns drawing 1-3 lots of any store, 5%
declined burns, 4% reversals (a fifth of them of the previous day's burns: across midnight),
5% inquiries, 3% coalition-wide purse spends, 2% top-ups, 4% other; 1,000 terminal batches
closed (1% of them short by a transaction); 2% of the older lots lapse on the day.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from settlement.day import DayBook  # noqa: E402
from settlement.journal import Journal, settle_journal  # noqa: E402
from settlement.netting import StoreInfo  # noqa: E402
from switch.journal.sqlite.schema import migrate  # noqa: E402

DAY = dt.date(2026, 6, 15)
STORES = 500
CARDS = 1_000_000
COALITION = "bench"
BENCH_DIR = Path(os.environ.get("LPS_BENCH_DIR", "/tmp/lps-bench"))
DEFAULT_N = int(os.environ.get("LPS_BENCH_SETTLE_N", "200000"))

#: The columns written, named: a column a later migration adds keeps its default.
JOURNAL_COLUMNS = (
    "id, at, business_day, kind, mti, pc, terminal_id, store_id, coalition_id, pan, stan, "
    "transmission, rrn, amount, points, sv, response_code, batch, digest, original_id, "
    "original_stan, original_transmission, response, detail"
)
JOURNAL_SQL = f"INSERT INTO journal ({JOURNAL_COLUMNS}) VALUES ({','.join('?' * 24)})"


def store_ids() -> list[str]:
    return [f"BENCH{i:010d}" for i in range(STORES)]


def stores() -> dict[str, StoreInfo]:
    return {s: StoreInfo(s, f"Store {s[-4:]}", COALITION, 1000, "364") for s in store_ids()}


def generate(path: Path, n: int, seed: int = 1) -> None:
    """Write a day of about `n` journal entries (plus a small previous day) into `path`."""
    rng = random.Random(seed)
    rand = rng.random
    randrange = rng.randrange
    sids = store_ids()
    terms = [(f"B{i:07d}", sids[i // 2]) for i in range(2 * STORES)]
    tmp = path.with_suffix(".tmp")
    for file in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        file.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    migrate(conn)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    d, prev = DAY.isoformat(), (DAY - dt.timedelta(days=1)).isoformat()
    at = f"{d}T10:00:00+00:00"
    # Older lots to burn from: issued by every store before the day.
    pool = max(n // 4, 1000)
    lot_store = [randrange(STORES) for _ in range(pool)]
    lapsing = set(rng.sample(range(pool), pool // 50))
    conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", (
        (lid + 1, f"628000{randrange(CARDS):010d}", "points", sids[lot_store[lid]], COALITION,
         "2025-06-15", d if lid in lapsing else "2027-01-01", 10_000, 10_000, 0)
        for lid in range(pool)))
    live = [lid for lid in range(pool) if lid not in lapsing]
    next_lot = pool + 1
    journal: list[tuple[Any, ...]] = []
    moves: list[tuple[Any, ...]] = []
    lots: list[tuple[Any, ...]] = []
    totals = {t: [0] * 8 for t, _ in terms}  # DE74,75,76,77,86,87,88,89
    burns: list[tuple[int, str, str, int, list[tuple[int, int]]]] = []
    jid = 0

    def flush() -> None:
        conn.executemany(JOURNAL_SQL, journal)
        conn.executemany("INSERT INTO lot_moves VALUES (?,?,?,?,?,?)", moves)
        conn.executemany("INSERT INTO lots VALUES (?,?,?,?,?,?,?,?,?,?)", lots)
        journal.clear()
        moves.clear()
        lots.clear()

    def row(day: str, kind: str, pc: str, term: tuple[str, str], pan: str, amount: int,
            points: int, sv: int, rc: str, original: int | None = None) -> int:
        nonlocal jid
        jid += 1
        journal.append((jid, at, day, kind, "0400" if kind == "reversal" else "0200", pc,
                        term[0], term[1], COALITION, pan, f"{jid % 999999:06d}", "0615100000",
                        f"{jid:012d}", amount, points, sv, rc, "000001" if day == d else "000000",
                        "", original, None, None, None,
                        '{"undone":true}' if kind == "reversal" else None))
        return jid

    def burn(day: str) -> None:
        term = terms[randrange(len(terms))]
        pan = f"628000{randrange(CARDS):010d}"
        drawn = [(live[randrange(len(live))], randrange(1, 40)) for _ in range(randrange(1, 4))]
        pts = sum(p for _, p in drawn)
        j = row(day, "redeem", "900000", term, pan, pts * 1000, -pts, 0, "00")
        for lid, p in drawn:
            moves.append((j, lid + 1, pan, "points", sids[lot_store[lid]], -p))
        burns.append((j, term[0], term[1], pts * 1000, drawn))
        if day == d:
            t = totals[term[0]]
            t[2] += 1
            t[6] += pts * 1000

    for _ in range(max(n // 100, 10)):  # the previous day: burns a reversal may undo
        burn(prev)
    previous = list(burns)
    burns.clear()
    for _ in range(n):
        x = rand()
        if x < 0.55:
            term = terms[randrange(len(terms))]
            pan = f"628000{randrange(CARDS):010d}"
            amount = randrange(10, 2000) * 1000
            pts = amount // 10_000
            j = row(d, "earn", "000000", term, pan, amount, pts, 0, "00")
            lots.append((next_lot, pan, "points", term[1], COALITION, d, "2027-06-15", pts, pts,
                         j))
            moves.append((j, next_lot, pan, "points", term[1], pts))
            next_lot += 1
            t = totals[term[0]]
            t[0] += 1
            t[4] += amount
        elif x < 0.77:
            burn(d)
        elif x < 0.82:
            term = terms[randrange(len(terms))]
            row(d, "redeem", "900000", term, f"628000{randrange(CARDS):010d}", 50_000, 0, 0,
                "51")
        elif x < 0.86 and burns:
            src = previous if rand() < 0.2 else burns
            k = randrange(len(src))
            oj, tid, sid, amount, drawn = src[k]
            src[k] = src[-1]
            src.pop()
            pan = f"628000{randrange(CARDS):010d}"
            j = row(d, "reversal", "900000", (tid, sid), pan, amount,
                    sum(p for _, p in drawn), 0, "00", oj)
            for lid, p in drawn:
                moves.append((j, lid + 1, pan, "points", sids[lot_store[lid]], p))
            if src is burns:
                t = totals[tid]
                t[3] += 1
                t[7] += amount
        elif x < 0.91:
            row(d, "inquiry", "310000", terms[randrange(len(terms))],
                f"628000{randrange(CARDS):010d}", 0, 0, 0, "00")
        elif x < 0.94:
            term = terms[randrange(len(terms))]
            pan = f"628000{randrange(CARDS):010d}"
            issuer = sids[randrange(STORES)]
            amount = randrange(1, 200) * 1000
            j = row(d, "sv_purchase", "006000", term, pan, amount, 0, -amount, "00")
            moves.append((j, 1, pan, "sv", issuer, -amount))
            t = totals[term[0]]
            t[2] += 1
            t[6] += amount
        elif x < 0.96:
            term = terms[randrange(len(terms))]
            row(d, "topup", "210060", term, f"628000{randrange(CARDS):010d}", 100_000, 0,
                115_000, "00")
        else:
            row(d, "network", "", terms[randrange(len(terms))], "", 0, 0, 0, "00")
        if len(journal) >= 100_000:
            flush()
    des = ("74", "75", "76", "77", "86", "87", "88", "89")
    for k, (tid, sid) in enumerate(terms):
        t = list(totals[tid])
        short = k % 100 == 7 and t[2] > 0
        if short:
            t[2] -= 1
        # As the switch records a close: the terminal's totals and its own (switch/core).
        detail = {"terminal": dict(zip(des, t, strict=True)),
                  "switch": dict(zip(des, totals[tid], strict=True))}
        j = row(d, "batch_close", "920000", (tid, sid), "", 0, 0, 0, "95" if short else "00")
        journal[-1] = (*journal[-1][:23], json.dumps(detail))
        del j
    flush()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(tmp, path)


def database(n: int) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"settle-{n}.db"
    if not path.exists():
        started = time.perf_counter()
        generate(path, n)
        print(f"generated {n:,} entries into {path} in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    path.chmod(0o600)  # the switch's database is 0600 (switch/filemode.py), or it is refused
    return path


def settle(path: Path) -> Any:
    journal = Journal(path)
    try:
        with journal:
            return settle_journal(journal, DayBook(DAY, stores()))
    finally:
        journal.close()


def measure(n: int) -> dict[str, float]:
    """Settle in a fresh process: wall time and that process's peak RSS."""
    path = database(n)
    out = subprocess.run([sys.executable, __file__, "--settle", str(path)], check=True,
                         capture_output=True, text=True, timeout=1800)
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


def _child(path: Path) -> None:
    started = time.perf_counter()
    day = settle(path)
    seconds = time.perf_counter() - started
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the reader processes, joined
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"entries": day.entries, "seconds": round(seconds, 2),
                      "cpu_seconds": round(cpu, 2),
                      "peak_rss_mb": round(me.ru_maxrss / 1024, 1),
                      "worker_peak_rss_mb": round(kids.ru_maxrss / 1024, 1),
                      "us_per_entry": round(seconds / max(day.entries, 1) * 1e6, 3),
                      "load_average": round(os.getloadavg()[0], 2)}))


def report(sizes: list[int]) -> list[dict[str, float]]:
    rows = [measure(n) for n in sizes]
    for r in rows:
        print(f"settle {r['entries']:>12,.0f} entries: {r['seconds']:7.2f} s wall "
              f"({r['us_per_entry']:6.2f} us/entry), {r['cpu_seconds']:7.2f} s CPU, "
              f"peak RSS {r['peak_rss_mb']:7.1f} MB (readers {r['worker_peak_rss_mb']:.1f} MB), "
              f"load average {r['load_average']}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"time ratio {b['seconds'] / a['seconds']:.2f} for {b['entries'] / a['entries']:.2f}"
              f"x the entries (linear: equal)")
    return rows


# -- pytest-benchmark -------------------------------------------------------------------------


def test_settle_day(benchmark: Any) -> None:
    path = database(DEFAULT_N)
    day = benchmark.pedantic(settle, args=(path,), rounds=3, iterations=1)
    assert day.entries > DEFAULT_N
    for side in (day.points, day.stored_value):
        assert sum(p.net for p in side.positions) == 0
    benchmark.extra_info["entries"] = day.entries
    benchmark.extra_info["obligations"] = len(day.points.obligations)


def test_settle_linearity_1m_10m(benchmark: Any) -> None:
    """1M and 10M entries in the same run, each settled in a fresh process."""
    import pytest

    if os.environ.get("LPS_BENCH_SETTLE_BIG") != "1":
        pytest.skip("set LPS_BENCH_SETTLE_BIG=1 for the 1M and 10M entry days")
    small, big = benchmark.pedantic(report, args=([1_000_000, 10_000_000],), rounds=1,
                                    iterations=1)
    benchmark.extra_info.update({"1M": small, "10M": big,
                                 "time_ratio": big["seconds"] / small["seconds"]})
    assert big["seconds"] <= 60, "10M entries must settle within 60 s"
    assert big["peak_rss_mb"] <= 1024, "10M entries must settle within 1 GB"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--settle"]:
        _child(Path(sys.argv[2]))
    else:
        report([int(a) for a in sys.argv[1:]] or [1_000_000])
