"""Settlement speed: a generated business day written straight into the switch's SQLite schema.

    .venv/bin/pytest benches/bench_settlement.py --benchmark-only       # 200,000 entries
    LPS_BENCH_SETTLE_BIG=1 .venv/bin/pytest benches/bench_settlement.py --benchmark-only -s
        # + 1,000,000 and 10,000,000 entries over 1,000,000 cards and 500 stores, each settled
        #   in a fresh process (time, peak RSS), and the 10M/1M time ratio (10 = linear)
    .venv/bin/python benches/bench_settlement.py 1000000 10000000      # the same, no pytest
    .venv/bin/python benches/bench_settlement.py --generate 10000000   # only build the day
    .venv/bin/python benches/bench_settlement.py --settle DB           # settle one (figures)

Generated databases are cached in $LPS_BENCH_DIR (default /tmp/lps-bench), keyed by size and
by the generator's version (`settle_gen.VERSION`). The day, its history and why the journal's
full check passes on it: benches/settle_gen.py. `--settle` prints, besides the figures, the
SHA-256 of the settled day's repr: two trees settle a day identically when it is equal.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benches.settle_gen import COALITION, DAY, VERSION, generate, store_ids  # noqa: E402
from settlement.day import DayBook  # noqa: E402
from settlement.journal import Journal, settle_journal  # noqa: E402
from settlement.netting import StoreInfo  # noqa: E402

BENCH_DIR = Path(os.environ.get("LPS_BENCH_DIR", "/tmp/lps-bench"))
DEFAULT_N = int(os.environ.get("LPS_BENCH_SETTLE_N", "200000"))


def stores() -> dict[str, StoreInfo]:
    return {s: StoreInfo(s, f"Store {s[-4:]}", COALITION, 1000, "364") for s in store_ids()}


def database(n: int) -> Path:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"settle-{n}-v{VERSION}.db"
    if not path.exists():
        started, cpu, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        generate(path, n)
        print(f"generated {n:,} entries into {path} in {time.perf_counter() - started:.1f} s "
              f"({time.process_time() - cpu:.1f} s CPU; load average {load:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after)", file=sys.stderr)
    return path


def settle(path: Path) -> Any:
    journal = Journal(path)
    try:
        with journal:
            return settle_journal(journal, DayBook(DAY, stores()))
    finally:
        journal.close()


def measure(n: int) -> dict[str, Any]:
    """Settle in a fresh process: wall time and that process's peak RSS."""
    path = database(n)
    out = subprocess.run([sys.executable, __file__, "--settle", str(path)], check=True,
                         capture_output=True, text=True, timeout=1800)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def _child(path: Path) -> None:
    started = time.perf_counter()
    day = settle(path)
    seconds = time.perf_counter() - started
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the reader processes, joined
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"entries": day.entries, "seconds": round(seconds, 2),
                      "settled_sha256": hashlib.sha256(repr(day).encode()).hexdigest(),
                      "cpu_seconds": round(cpu, 2),
                      # the main process alone: what runs before, between and after the readers
                      "main_cpu_seconds": round(me.ru_utime + me.ru_stime, 2),
                      "peak_rss_mb": round(me.ru_maxrss / 1024, 1),
                      "worker_peak_rss_mb": round(kids.ru_maxrss / 1024, 1),
                      "us_per_entry": round(seconds / max(day.entries, 1) * 1e6, 3),
                      "load_average": round(os.getloadavg()[0], 2)}))


def report(sizes: list[int]) -> list[dict[str, Any]]:
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


def main() -> None:
    import argparse

    def entries(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1_000_000_000:
            raise argparse.ArgumentTypeError(f"entries are 1 to 1,000,000,000, got {text!r}")
        return int(text)

    p = argparse.ArgumentParser(prog="python benches/bench_settlement.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    one = p.add_mutually_exclusive_group()
    one.add_argument("--settle", type=Path, metavar="DB", help="settle one day (its figures)")
    one.add_argument("--generate", type=entries, metavar="N", help="only build the day")
    p.add_argument("sizes", nargs="*", type=entries, default=[1_000_000],
                   help="days to build (cached) and settle, each in a fresh process")
    args = p.parse_args()
    if args.settle is not None:
        if not args.settle.is_file():
            p.error(f"--settle: no database {args.settle}")
        _child(args.settle)
    elif args.generate is not None:
        print(database(args.generate))
    else:
        report(args.sizes)


if __name__ == "__main__":
    main()
