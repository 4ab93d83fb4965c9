"""Rewards benchmark: coupon redemptions and gift-card spends per second beside plain earns in
the same run, and the settlement of a day of coupon and gift-card rows.

    .venv/bin/python benches/bench_rewards.py [--ops 3000] [--day-rows 1000000]

Each kind of request goes through the switch's own path on a real SQLite journal: `handle`
(needs, the journal's `fetch`, decide, apply) and the group commit of 100 entries
(`SqliteJournal.append`), as `tests/switch/journaled.py` runs it. A coupon redemption reads
its coupon from the journal each time (its state may have changed there); a gift-card spend
reads nothing but the card in memory. The day is then settled by `settle_journal` as
`lps settle` does (coupon discounts between stores and the operator, gift-card value between
seller and spender). Figures depend on the machine's load: the run prints the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iso8583 import Message
from settlement.day import DayBook, stores_from_config
from settlement.journal import Journal, settle_journal
from switch.core import coupon_code, handle, journaled
from switch.core.rewards import CouponTerms
from switch.journal.sqlite.journal import SqliteJournal
from tests.switch.support import NOW, T1, T2, T3, card, earn, example_config, request, sign_on

GROUP = 100


class Bench:
    """A switch state on a journal, committing every `GROUP` decisions."""

    def __init__(self, db: Path) -> None:
        self.cfg = example_config(db)
        self.journal = SqliteJournal(db)
        self.state = self.journal.load(self.cfg, None, NOW)
        self.pending: list = []  # type: ignore[type-arg]
        self.stan = 0
        self.wraps = 0
        for tid in (T1, T2, T3):
            self.send(sign_on(tid))
        self.flush()

    def send(self, msg: Message) -> str:
        d = handle(self.state, msg, NOW, fetch=self.journal.fetch)
        self.pending += d.entries
        if len(self.pending) >= GROUP:
            self.flush()
        return str(d.response.fields[39]) if d.response is not None else "-"

    def flush(self) -> None:
        if self.pending:
            self.journal.append(self.pending)
            journaled(self.state, self.pending)
            self.pending = []

    def next_stan(self) -> int:
        self.stan = self.stan % 999_999 + 1
        if self.stan == 1:
            self.wraps += 1
        return self.stan

    def at(self) -> dt.datetime:
        """DE7 of the next request: a STAN used again is a new request at another second."""
        return NOW + dt.timedelta(seconds=self.wraps)


def timed(b: Bench, n: int, make: Callable[[int], Message]) -> tuple[float, int]:
    """Requests per second over `n` requests, and how many were approved."""
    ok = 0
    start = time.perf_counter()
    for i in range(n):
        ok += b.send(make(i)) == "00"
    b.flush()
    return n / (time.perf_counter() - start), ok


def run(ops: int, day_rows: int) -> None:
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        b = Bench(Path(tmp) / "lps.db")
        total = ops + day_rows // 2
        terms = CouponTerms(0, "tehran-mall", "STORE0000000001", 10, 0, 0, 0, 0, "",
                            dt.date(2026, 12, 31))
        codes = [coupon_code.new_code(secrets.randbelow) for _ in range(total)]
        b.journal.issue_coupons(terms, [coupon_code.digest(c) for c in codes], "bench.csv",
                                NOW, "bench", lambda _issue: None)
        gifts = [f"639000{i:09d}" for i in range(1, 1 + total)]
        from switch.core.luhn import luhn_complete

        gifts = [luhn_complete(g[:-1]) for g in gifts]
        for i, g in enumerate(gifts[:max(ops, day_rows // 2)]):
            b.send(request("0200", T1, b.next_stan(), pan=g, pc="210060", amount=1_000_000,
                           now=b.at(), batch=f"{1 + i // 900_000:06d}"))
        b.flush()

        def tid_of(i: int) -> str:
            return (T2, T3)[i % 2]

        figures = {
            "earn": timed(b, ops, lambda i: earn(tid_of(i), b.next_stan(), card(1 + i % 5000),
                                                  150_000, now=b.at(), batch="000100")),
            "coupon": timed(b, ops, lambda i: request(
                "0200", tid_of(i), b.next_stan(), pan=card(1 + i % 5000), pc="900000",
                amount=150_000, tags={"CP": codes[i]}, now=b.at(), batch="000101")),
            "gift spend": timed(b, ops, lambda i: request(
                "0200", tid_of(i), b.next_stan(), pan=gifts[i], pc="006000", amount=10_000,
                now=b.at(), batch="000102")),
        }
        for name, (rate, ok) in figures.items():
            print(f"{name:<11} {rate:8.0f} requests/s  ({ok}/{ops} approved)")
        rest = max(0, day_rows // 2 - ops)
        start = time.perf_counter()
        for i in range(rest):
            j = ops + i
            b.send(request("0200", tid_of(j), b.next_stan(), pan=card(1 + j % 5000),
                           pc="900000", amount=150_000, tags={"CP": codes[j]}, now=b.at(),
                           batch=f"{200 + j // 900_000:06d}"))
            b.send(request("0200", tid_of(j), b.next_stan(), pan=gifts[j], pc="006000",
                           amount=10_000, now=b.at(), batch=f"{300 + j // 900_000:06d}"))
        b.flush()
        if rest:
            print(f"wrote {2 * rest} more rows in {time.perf_counter() - start:.1f} s")
        b.journal.close()
        rows = 2 * max(ops, day_rows // 2)
        start = time.perf_counter()
        with Journal(b.cfg.switch.database) as journal:
            d = settle_journal(journal, DayBook(NOW.date(), stores_from_config(b.cfg)), workers=1,
                               coalitions=b.cfg.coalitions)
        took = time.perf_counter() - start
        assert d.coupons is not None and d.money is not None
        assert sum(p.net_amount for p in d.money.positions) == 0
        print(f"settled a day of {d.entries} entries ({rows} coupon and gift-card rows) in "
              f"{took:.1f} s; coupon obligations {len(d.coupons.obligations)}, stored-value "
              f"obligations {len(d.stored_value.obligations)}")
    print(f"load average after: {os.getloadavg()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=3000, help="requests of each kind timed")
    p.add_argument("--day-rows", type=int, default=20_000,
                   help="coupon and gift-card rows of the settled day (1000000 for the full run)")
    args = p.parse_args()
    run(args.ops, args.day_rows)


if __name__ == "__main__":
    main()
