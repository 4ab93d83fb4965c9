"""`python -m benches.core`: the CPU of the core's request path alone, per request.

One frame after another through the same steps as the switch's event loop, minus the
connection, the writer thread and SQLite: `Profile.decode`, then `core.handle` (parse_request,
needs, the in-memory facts, decide, the reply's encode, apply). The world and the mix are the
load generator's (benches/loadgen/mix.py, the switch's configured programs as its rules), so
the figure is the part of `benches.drive`'s loop CPU that switch/core and iso8583 spend.

Each round builds a fresh state (every card primed with an earn, as the load generator does),
then times `--requests` frames with `time.process_time`, the collector tuned as the switch
tunes it (`switch.server.tune_gc`). It prints each round's µs per request and their minimum
and median: on a loaded machine the minimum moves least. To compare two trees, run this file
from each in turn (`cd TREE && .venv/bin/python -m benches.core`), several times alternately
(benches/README.md, "The core alone").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benches.loadgen.mix import Terminal, cards, prime_messages, write_config
from iso8583 import load_profile
from switch.config import load_config
from switch.core import handle, new_state
from switch.core.programs.rules import program_rules
from switch.server import tune_gc, untune_gc


def frames(args: argparse.Namespace, de7: str) -> list[bytes]:
    """The mix's request frames (without length prefixes), terminals interleaved."""
    profile = load_profile("ascii")
    rng = random.Random(1)
    pans = cards(args.cards)
    terminals = [Terminal(f"L{i:07d}", pans, rng, de7, True)
                 for i in range(1, args.connections + 1)]
    out: list[bytes] = []
    while len(out) < args.requests:
        out.extend(profile.encode(t.message()) for t in terminals)
    return out[:args.requests]


def one_round(args: argparse.Namespace, config: Any, raws: list[bytes], de7: str,
              now: dt.datetime) -> tuple[float, dict[str, int]]:
    profile = load_profile("ascii")
    state = new_state(config, program_rules(config))
    for msg in prime_messages(cards(args.cards), de7):
        handle(state, msg, now)
    thresholds = tune_gc()
    try:
        decode = profile.decode
        started = time.process_time()
        codes: dict[str, int] = {}
        for raw in raws:
            decision = handle(state, decode(raw), now)
            resp = decision.response
            rc = str(resp.fields.get(39, "")) if resp is not None else "none"
            codes[rc] = codes.get(rc, 0) + 1
        spent = time.process_time() - started
    finally:
        untune_gc(thresholds)
    return spent * 1e6 / len(raws), codes


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benches.core", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000, help="frames timed per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--connections", type=int, default=100, help="terminals in the mix")
    p.add_argument("--cards", type=int, default=2000)
    args = p.parse_args()
    now = dt.datetime.now(dt.UTC)
    de7 = now.strftime("%m%d%H%M%S")
    with tempfile.TemporaryDirectory(prefix="lps-core-") as tmp:
        config = load_config(write_config(Path(tmp), 0, args.connections))
    raws = frames(args, de7)
    per: list[float] = []
    codes: dict[str, int] = {}
    for _ in range(args.rounds):
        us, codes = one_round(args, config, raws, de7, now)
        per.append(round(us, 2))
    print(json.dumps({"requests": args.requests, "us_per_request": per,
                      "min": min(per), "median": round(statistics.median(per), 2),
                      "response_codes": codes}))


if __name__ == "__main__":
    main()
