"""The hostile simulation's long run: millions of events, seed after seed (benches/README.md).

The same run as `tests/switch/test_hostile.py` (the core and its SQLite journal against the
reference switch written from the docs, hostile traffic, frames, crashes and recovery), only
longer: `--events` per seed, `--seeds` seeds from `--seed` (a random one when not given,
printed first). Crashes are as frequent; the full `check(full=True)` over the whole journal
runs every `--full-check-every` crashes and at the end of each seed, since it reads
everything. Exit 0 when every seed held, 1 with the first failure (its seed and how to replay
it), so it can run unattended:

    .venv/bin/python -m benches.hostile --events 2000000
    .venv/bin/python -m benches.hostile --events 1000000 --seed 17 --seeds 4
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.switch.test_hostile import CRASH_RATE, configuration, simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benches.hostile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events per seed")
    parser.add_argument("--seed", type=int, default=None,
                        help="the first seed (default: a random one, printed)")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, one after another")
    parser.add_argument("--crash-rate", type=float, default=CRASH_RATE,
                        help=f"chance of a crash per group commit (default {CRASH_RATE})")
    parser.add_argument("--full-check-every", type=int, default=25,
                        help="crashes between two full check(full=True) runs (default 25)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the journal goes (default: /dev/shm when there is one, "
                             "else the system's temporary directory); about 0.6 GB a "
                             "million events")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    print(f"hostile simulation: seeds {first}..{first + args.seeds - 1}, "
          f"{args.events:,} events each", flush=True)
    started = time.perf_counter()
    for seed in range(first, first + args.seeds):
        programs, tight = configuration(seed)
        what = f"{'programs' if programs else 'base rules'}, {'tight' if tight else 'field'} " \
               "limits"
        try:
            with tempfile.TemporaryDirectory(prefix="lps-hostile-", dir=args.dir) as tmp:
                stats = simulate(seed, args.events, Path(tmp), tmpfs=args.dir is None,
                                 crash_rate=args.crash_rate,
                                 full_check_every=args.full_check_every)
        except AssertionError as exc:
            print(f"seed {seed} ({what}): FAILED\n{exc}", flush=True)
            return 1
        rate = stats.events / stats.seconds if stats.seconds else 0.0
        print(f"seed {seed} ({what}): {stats.events:,} events in {stats.seconds:.0f} s "
              f"({rate:,.0f}/s), {stats.commits:,} commits, {stats.crashes} crashes; "
              f"{dict(stats.outcomes.most_common(8))}", flush=True)
    print(f"all held: {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
