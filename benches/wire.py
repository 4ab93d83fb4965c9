"""`python -m benches.wire`: the wire side of the switch's request path alone, per request.

The steps of switch/connection.py that turn bytes into a `Request` and a decision's reply into
bytes: `FrameDecoder` over chunks of four frames (as a socket delivers them), `read_frame`
(`Profile.decode`, then `parse_request`), and the reply's `Profile.encode` and `frame`. The
requests are the load generator's mix (benches/loadgen/mix.py); their replies are decided by
`core.handle` before anything is measured, so the core's work is not in the figure.

It prints the CPU per request (`time.process_time`). Under `valgrind --tool=callgrind`, two
runs with different `--requests` (the same `--pregen`) give instructions per request as the
difference of their totals divided by the difference of their requests (benches/README.md,
"The wire side, fourth session").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from benches.core import frames
from benches.loadgen.mix import cards, prime_messages, write_config
from iso8583 import FrameDecoder, Message, frame, load_profile
from switch.config import load_config
from switch.connection import read_frame
from switch.core import handle, new_state
from switch.core.programs.rules import program_rules
from switch.core.protocol import lps87

#: Frames per `data_received` chunk (the drive's terminals keep four in flight).
CHUNK = 4


def prepared(args: argparse.Namespace) -> tuple[list[bytes], list[Message]]:
    """`--pregen` request payloads of the mix and the replies the core gives them."""
    now = dt.datetime.now(dt.UTC)
    de7 = now.strftime("%m%d%H%M%S")
    with tempfile.TemporaryDirectory(prefix="lps-wire-") as tmp:
        config = load_config(write_config(Path(tmp), 0, args.connections))
    profile = load_profile("ascii")
    # the mix's frames as benches/core.py makes them
    payloads = frames(argparse.Namespace(cards=args.cards, connections=args.connections,
                                         requests=args.pregen), de7)
    state = new_state(config, program_rules(config))
    for msg in prime_messages(cards(args.cards), de7):
        handle(state, msg, now)
    replies = []
    for payload in payloads:
        reply = handle(state, profile.decode(payload), now).response
        assert reply is not None
        replies.append(reply)
    return payloads, replies


def run(payloads: list[bytes], replies: list[Message], requests: int) -> float:
    """CPU seconds of the wire side of the first `requests` requests."""
    profile = load_profile("ascii")
    protocol = lps87()
    chunks = [b"".join(frame(p) for p in payloads[i:i + CHUNK])
              for i in range(0, requests, CHUNK)]
    decoder = FrameDecoder()
    started = time.process_time()
    for chunk in chunks:
        decoder.feed(chunk)
        for payload in decoder.frames():
            read_frame(profile, payload, protocol)
    for reply in replies[:requests]:
        frame(profile.encode(reply))
    return time.process_time() - started


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benches.wire", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2_500, help="requests measured")
    p.add_argument("--pregen", type=int, default=3_000,
                   help="requests prepared (keep it the same across runs compared by their "
                        "instruction counts)")
    p.add_argument("--connections", type=int, default=100, help="terminals in the mix")
    p.add_argument("--cards", type=int, default=300)
    args = p.parse_args()
    args.pregen = max(args.pregen, args.requests)
    requests = args.requests - args.requests % CHUNK
    payloads, replies = prepared(args)
    spent = run(payloads, replies, requests)
    print(json.dumps({"requests": requests, "us_per_request": round(spent * 1e6 / requests, 2)}))


if __name__ == "__main__":
    main()
