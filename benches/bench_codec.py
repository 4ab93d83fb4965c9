"""Decode and encode cost of the LPS codec: against pyiso8583, against an older commit of itself,
and in instructions under callgrind.

    .venv/bin/pytest benches/bench_codec.py --benchmark-only
    LPS_BENCH_CODEC_BASE=fc01138 .venv/bin/pytest benches/bench_codec.py --benchmark-only \
        -k alternating                  # this tree against that commit, in alternating rounds
    .venv/bin/python benches/bench_codec.py callgrind --base fc01138   # instructions per message

The pyiso8583 corpus is the five messages named by `bench_ids` in
tests/vectors/pyiso8583_corpus.json (0200 earn, 0210 with DE48 and DE54, 0400 with DE90, 0500
with the secondary bitmap and DE128, 0800), in the `ascii` and the `bcd` profile. One benchmark
round handles all five. `fast` is Profile.decode/encode; `construct` is `profile.struct.parse`,
the same layout driven through construct's stream machinery. pyiso8583 runs the same messages in
.venv-peer (see conftest.py) and each benchmark's extra_info carries both figures and the ratio.

The mix is every LPS-87 message of that corpus file in one profile (33 each: 0200/0210 of every
processing code, 0220/0230, 0400/0401/0410/0420/0421/0430, 0500/0510, 0800/0810 of every network
code), the one the alternating benchmarks and the callgrind count run. Both load an older commit
of `iso8583` (its `git archive`, imported under another name) next to this tree's, so that one
session or one valgrind invocation compares the two on the same machine in the same minutes.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS_PATH = ROOT / "tests" / "vectors" / "pyiso8583_corpus.json"
PROFILES = ("ascii", "bcd")
BASE_ENV = "LPS_BENCH_CODEC_BASE"

if str(ROOT) not in sys.path:  # run as a script under valgrind
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

import iso8583  # noqa: E402

Corpus = dict[str, tuple[list[Any], list[bytes]]]


def _corpus(codec: ModuleType, ids: list[str] | None) -> Corpus:
    """Per profile: the corpus messages as `codec.Message`s and their wire bytes."""
    corpus = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    out: Corpus = {}
    for profile in PROFILES:
        chosen = [m for m in corpus["messages"]
                  if m["profile"] == profile and (ids is None or m["id"] in ids)]
        assert chosen and (ids is None or len(chosen) == len(ids)), profile
        messages = [
            codec.Message(m["mti"],
                          {int(n): bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                           for n, v in m["fields"].items()},
                          bytes.fromhex(m["tpdu"]) if m["tpdu"] else None)
            for m in chosen
        ]
        out[profile] = (messages, [bytes.fromhex(m["pyiso8583_wire"]) for m in chosen])
    return out


def _bench_ids() -> list[str]:
    ids: list[str] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))["bench_ids"]
    return ids


CORPUS = _corpus(iso8583, _bench_ids())


@functools.cache
def base_codec(revision: str) -> ModuleType:
    """`iso8583` as it was at `revision`, imported as `iso8583_base` from a `git archive` copy
    (its own schemas/ next to it), so that it runs beside this tree's in one process."""
    root = Path(tempfile.mkdtemp(prefix="lps-codec-base-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "iso8583", "schemas"],
                             capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True, timeout=120)
    package = root / "iso8583"
    spec = importlib.util.spec_from_file_location(
        "iso8583_base", package / "__init__.py", submodule_search_locations=[str(package)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["iso8583_base"] = module
    spec.loader.exec_module(module)
    return module


def mix(codec: ModuleType) -> Corpus:
    """The LPS-87 mix (every corpus message of each profile) for `codec`."""
    return _corpus(codec, None)


def _each(func: Callable[[Any], Any], items: list[Any]) -> None:
    for item in items:
        func(item)


# -- pytest-benchmark -----------------------------------------------------------------------------
def _record(benchmark: Any, profile: str, direction: str, impl: str, count: int,
            peer_figures: dict[str, Any], results: list[tuple[str, str, str, float, float]],
            ) -> None:
    if benchmark.stats is None:  # --benchmark-disable
        return
    ours = count / benchmark.stats.stats.median
    peer = float(peer_figures["profiles"][profile][direction]["messages_per_s"])
    benchmark.extra_info.update({
        "messages_per_round": count, "messages_per_s": round(ours),
        "pyiso8583_messages_per_s": round(peer), "ratio_vs_pyiso8583": round(ours / peer, 3),
    })
    results.append((profile, direction, impl, ours, peer))


@pytest.mark.parametrize("profile_name", PROFILES)
@pytest.mark.parametrize("impl", ["fast", "construct"])
def test_decode(benchmark: Any, profile_name: str, impl: str, peer_figures: dict[str, Any],
                results: list[tuple[str, str, str, float, float]]) -> None:
    profile = iso8583.load_profile(profile_name)
    messages, wires = CORPUS[profile_name]
    decode = profile.decode if impl == "fast" else profile.struct.parse
    assert [decode(w) for w in wires] == messages
    benchmark.group = f"{profile_name} decode"
    benchmark(_each, decode, wires)
    _record(benchmark, profile_name, "decode", impl, len(wires), peer_figures, results)


@pytest.mark.parametrize("profile_name", PROFILES)
def test_encode(benchmark: Any, profile_name: str, peer_figures: dict[str, Any],
                results: list[tuple[str, str, str, float, float]]) -> None:
    profile = iso8583.load_profile(profile_name)
    messages, wires = CORPUS[profile_name]
    assert [profile.encode(m) for m in messages] == wires
    benchmark.group = f"{profile_name} encode"
    benchmark(_each, profile.encode, messages)
    _record(benchmark, profile_name, "encode", "fast", len(messages), peer_figures, results)


# Base and new in turn, three pairs per profile and direction, in this order within one session.
ALTERNATING = [(profile, direction, pair, side)
               for profile in PROFILES for direction in ("decode", "encode")
               for pair in (1, 2, 3) for side in ("base", "new")]


@pytest.mark.parametrize(("profile_name", "direction", "pair", "side"), ALTERNATING,
                         ids=[f"{p}-{d}-{n}-{s}" for p, d, n, s in ALTERNATING])
def test_alternating(benchmark: Any, profile_name: str, direction: str, pair: int,
                     side: str) -> None:
    """µs per message of the LPS-87 mix, this tree against $LPS_BENCH_CODEC_BASE."""
    revision = os.environ.get(BASE_ENV)
    if not revision:
        pytest.skip(f"set {BASE_ENV} to a git revision to compare this tree with")
    codec = base_codec(revision) if side == "base" else iso8583
    profile = codec.load_profile(profile_name)
    messages, wires = mix(codec)[profile_name]
    if direction == "decode":
        assert [profile.decode(w) for w in wires] == messages
        func, items = profile.decode, wires
    else:
        assert [profile.encode(m) for m in messages] == wires
        func, items = profile.encode, messages
    benchmark.group = f"{profile_name} {direction} mix"
    benchmark.extra_info.update({"side": side, "pair": pair, "messages_per_round": len(items),
                                 "load_average": os.getloadavg()[0]})
    benchmark(_each, func, items)
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_message"] = round(
            benchmark.stats.stats.median / len(items) * 1e6, 3)


# -- callgrind ------------------------------------------------------------------------------------
def run_mix(codec: ModuleType, direction: str, count: int,
            profiles: tuple[str, ...] = PROFILES) -> None:
    """Decode or encode the mix of `profiles` `count` times (what valgrind counts)."""
    work = []
    for profile_name in profiles:
        messages, wires = mix(codec)[profile_name]
        profile = codec.load_profile(profile_name)
        if direction == "decode":
            assert [profile.decode(w) for w in wires] == messages
            work.append((profile.decode, wires))
        else:
            assert [profile.encode(m) for m in messages] == wires
            work.append((profile.encode, messages))
    for _ in range(count):
        for func, items in work:
            for item in items:
                func(item)


def callgrind_instructions(direction: str, count: int, base: str | None,
                           profiles: tuple[str, ...]) -> int:
    """Instructions (Ir) of one `run` of this script under callgrind."""
    with tempfile.TemporaryDirectory(prefix="lps-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   sys.executable, __file__, "run", direction, "--count", str(count),
                   "--profiles", *profiles]
        if base:
            command += ["--base", base]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, capture_output=True, env=env, timeout=3600)
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
        assert found, "no totals in the callgrind output"
        return int(found.group(1))


def callgrind_report(count: int, base: str | None, profiles: tuple[str, ...]) -> None:
    """Instructions per message: (Ir of `count` rounds - Ir of none) / messages handled."""
    per_round = sum(len(mix(iso8583)[name][1]) for name in profiles)
    sides: list[tuple[str, str | None]] = [("base " + base, base)] if base else []
    sides.append(("this tree", None))
    for direction in ("decode", "encode"):
        for label, revision in sides:
            idle = callgrind_instructions(direction, 0, revision, profiles)
            busy = callgrind_instructions(direction, count, revision, profiles)
            per_message = (busy - idle) / (count * per_round)
            print(f"{direction:<6} {'+'.join(profiles):<9} {label:<20} {per_message:>10,.0f} "
                  f"instructions per message ({count} x {per_round} messages)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="handle the mix COUNT times (the script callgrind counts)")
    run.add_argument("direction", choices=("decode", "encode"))
    run.add_argument("--count", type=int, default=100)
    run.add_argument("--base", help="a git revision: run its iso8583 instead of this tree's")
    run.add_argument("--profiles", nargs="+", choices=PROFILES, default=list(PROFILES))
    report = sub.add_parser("callgrind", help="instructions per message under callgrind")
    report.add_argument("--count", type=int, default=50)
    report.add_argument("--base", help="a git revision to count first, for comparison")
    report.add_argument("--profiles", nargs="+", choices=PROFILES, default=list(PROFILES))
    args = parser.parse_args(argv)
    if args.command == "run":
        run_mix(base_codec(args.base) if args.base else iso8583, args.direction, args.count,
                tuple(args.profiles))
    else:
        callgrind_report(args.count, args.base, tuple(args.profiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
