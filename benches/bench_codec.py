"""Decode and encode throughput of the LPS codec against pyiso8583, on the same corpus.

    .venv/bin/pytest benches/bench_codec.py --benchmark-only

The corpus is the five messages named by `bench_ids` in tests/vectors/pyiso8583_corpus.json
(0200 earn, 0210 with DE48 and DE54, 0400 with DE90, 0500 with the secondary bitmap and
DE128, 0800), in the `ascii` and the `bcd` profile. One benchmark round handles all five.
`fast` is Profile.decode/encode; `construct` is `profile.struct.parse`, the same layout driven
through construct's stream machinery. pyiso8583 runs the same messages in .venv-peer (see
conftest.py) and each benchmark's extra_info carries both figures and the ratio.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, load_profile

CORPUS_PATH = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "pyiso8583_corpus.json"
PROFILES = ("ascii", "bcd")


def _load() -> dict[str, tuple[list[Message], list[bytes]]]:
    corpus = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    out: dict[str, tuple[list[Message], list[bytes]]] = {}
    for profile in PROFILES:
        chosen = [m for m in corpus["messages"]
                  if m["profile"] == profile and m["id"] in corpus["bench_ids"]]
        assert len(chosen) == len(corpus["bench_ids"]), profile
        messages = [
            Message(m["mti"],
                    {int(n): bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                     for n, v in m["fields"].items()},
                    bytes.fromhex(m["tpdu"]) if m["tpdu"] else None)
            for m in chosen
        ]
        out[profile] = (messages, [bytes.fromhex(m["pyiso8583_wire"]) for m in chosen])
    return out


CORPUS = _load()


def _each(func: Callable[[Any], Any], items: list[Any]) -> None:
    for item in items:
        func(item)


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
    profile = load_profile(profile_name)
    messages, wires = CORPUS[profile_name]
    decode = profile.decode if impl == "fast" else profile.struct.parse
    assert [decode(w) for w in wires] == messages
    benchmark.group = f"{profile_name} decode"
    benchmark(_each, decode, wires)
    _record(benchmark, profile_name, "decode", impl, len(wires), peer_figures, results)


@pytest.mark.parametrize("profile_name", PROFILES)
def test_encode(benchmark: Any, profile_name: str, peer_figures: dict[str, Any],
                results: list[tuple[str, str, str, float, float]]) -> None:
    profile = load_profile(profile_name)
    messages, wires = CORPUS[profile_name]
    assert [profile.encode(m) for m in messages] == wires
    benchmark.group = f"{profile_name} encode"
    benchmark(_each, profile.encode, messages)
    _record(benchmark, profile_name, "encode", "fast", len(messages), peer_figures, results)
