"""pyiso8583's decode and encode throughput on the benchmark corpus, printed as JSON.

Run by benches/bench_codec.py with the .venv-peer python (pyiso8583 is also named `iso8583`):

    .venv-peer/bin/python tools/pyiso8583_peer/bench_peer.py [--seconds 1.0]

Reads the messages named by `bench_ids` from tests/vectors/pyiso8583_corpus.json: pyiso8583's
own documents (to encode) and its own bytes (to decode). One round handles the whole corpus
once; rounds repeat for `--seconds` per case and the median round time is reported, the way
pytest-benchmark reports ours, as messages per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = ROOT / "tests" / "vectors" / "pyiso8583_corpus.json"


def _import_peer() -> Any:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    import iso8583

    if hasattr(iso8583, "load_profile") or not hasattr(iso8583, "decode"):
        sys.exit(f"`iso8583` resolves to {iso8583.__file__}, not pyiso8583")
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return iso8583


def _median_round(func: Callable[[], object], seconds: float) -> tuple[float, int]:
    for _ in range(50):  # warm-up
        func()
    times: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    while clock() < deadline or len(times) < 5:
        start = clock()
        func()
        times.append(clock() - start)
    return statistics.median(times), len(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per case")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    pyiso = _import_peer()
    import peer_specs

    corpus = json.loads(args.corpus.read_text(encoding="utf-8"))
    wanted = corpus["bench_ids"]
    result: dict[str, Any] = {"pyiso8583_version": pyiso.__version__, "python": sys.version,
                              "profiles": {}}
    for profile in peer_specs.PROFILES:
        spec = peer_specs.spec_for(profile)
        chosen = [m for m in corpus["messages"] if m["profile"] == profile and m["id"] in wanted]
        if len(chosen) != len(wanted):
            sys.exit(f"corpus lacks some of {wanted} for {profile}")
        wires = [bytes.fromhex(m["pyiso8583_wire"]) for m in chosen]
        docs = [dict(m["pyiso8583_doc"]) for m in chosen]
        for doc, wire in zip(docs, wires, strict=True):  # same bytes as the corpus says
            if bytes(pyiso.encode(dict(doc), spec)[0]) != wire:
                sys.exit(f"pyiso8583 no longer writes the corpus bytes ({profile})")

        def decode_all(wires: list[bytes] = wires, spec: Any = spec) -> None:
            for wire in wires:
                pyiso.decode(wire, spec)

        def encode_all(docs: list[dict[str, str]] = docs, spec: Any = spec) -> None:
            for doc in docs:
                pyiso.encode(doc, spec)

        figures = {}
        for name, func in (("decode", decode_all), ("encode", encode_all)):
            median, rounds = _median_round(func, args.seconds)
            figures[name] = {"messages_per_s": len(chosen) / median,
                             "median_round_s": median, "rounds": rounds,
                             "messages_per_round": len(chosen)}
        result["profiles"][profile] = figures
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
