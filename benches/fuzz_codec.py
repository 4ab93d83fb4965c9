"""Fuzz the decoder: damaged and random frames of every profile raise only codec errors.

    .venv/bin/python benches/fuzz_codec.py --count 100000 --seed 1

Valid frames come from tests/vectors/pyiso8583_corpus.json (every LPS-87 message), encoded by
our codec in all four profiles (iso87a/iso87b skip messages their ASCII DE48 cannot carry),
plus a published jPOS ISO87A message. Each fuzzed frame is one of: truncated, extended,
bit-flipped, byte-substituted, length-prefix-corrupted, bitmap-corrupted, random bytes, or a
valid header followed by random bytes; the framing layer also gets random streams. For each:

- anything but an `iso8583.CodecError` subclass is a failure (printed with the input hex);
- every error must carry a non-empty reason and an offset within the frame (0..len);
- a frame that decodes must encode back to the same bytes (decode->encode identity).

Prints frames/s and the slowest decodes; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from iso8583 import CodecError, FrameDecoder, Message, Profile, load_profile  # noqa: E402

CORPUS_PATH = ROOT / "tests" / "vectors" / "pyiso8583_corpus.json"
PROFILES = ("ascii", "bcd", "iso87a", "iso87b")
JPOS_TUTORIAL = (b"0200B2200000001000000000000000800000201234000000010000011072218012345606A5DFGR"
                 b"021ABCDEFGHIJ 1234567890")
INTERESTING = b"0123456789=DFdf \x00\x01\x7f\x80\xff:;A"


class Sample:
    """One valid frame and where its length prefixes and bitmaps sit."""

    def __init__(self, profile: Profile, message: Message, raw: bytes) -> None:
        self.profile = profile
        self.raw = raw
        self.prefixes: list[tuple[int, int, int]] = []  # (offset, size, maximum)
        sizes = [(n, profile.field(n), len(profile.field(n).encode(v)))
                 for n, v in sorted(message.fields.items())]
        pos = len(raw) - sum(size for _, _, size in sizes)
        self.header = pos  # TPDU + MTI + bitmap(s)
        for _, codec, size in sizes:
            if codec.prefix_size:
                self.prefixes.append((pos, codec.prefix_size, codec.length))
            pos += size
        assert pos == len(raw)


def load_samples() -> list[Sample]:
    corpus = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    samples: list[Sample] = []
    skipped: Counter[str] = Counter()
    sources = [m for m in corpus["messages"] if m["profile"] == "bcd"]
    for name in PROFILES:
        profile = load_profile(name)
        for entry in sources:
            fields = {int(n): bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                      for n, v in entry["fields"].items()}
            tpdu = bytes.fromhex(entry["tpdu"]) if profile.tpdu_size else None
            message = Message(entry["mti"], fields, tpdu)
            try:
                raw = profile.encode(message)
            except CodecError:
                skipped[name] += 1
                continue
            samples.append(Sample(profile, message, raw))
    iso87a = load_profile("iso87a")
    samples.append(Sample(iso87a, iso87a.decode(JPOS_TUTORIAL), JPOS_TUTORIAL))
    for name, count in skipped.items():
        print(f"note: {count} corpus messages cannot be written in {name} (ASCII-only DE48)")
    return samples


# -- mutations: each returns (kind, frame) ------------------------------------------------------
def truncate(rng: random.Random, s: Sample) -> bytes:
    return s.raw[:rng.randrange(len(s.raw))]


def extend(rng: random.Random, s: Sample) -> bytes:
    return s.raw + rng.randbytes(rng.randint(1, 16))


def bitflip(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.raw)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def substitute(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.raw)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = (rng.choice(INTERESTING) if rng.random() < 0.5
                                          else rng.randrange(256))
    return bytes(data)


def corrupt_prefix(rng: random.Random, s: Sample) -> bytes:
    if not s.prefixes:
        return substitute(rng, s)
    offset, size, maximum = rng.choice(s.prefixes)
    bcd = s.profile.field(2).prefix_encoding == "bcd"
    digits = size * 2 if bcd else size
    current = s.raw[offset:offset + size]
    value = int(current.hex()) if bcd else int(current)
    choice = rng.randrange(6)
    if choice == 0:
        new = value + rng.choice((-1, 1, 2, 7))
    elif choice == 1:
        new = maximum + 1
    elif choice == 2:
        new = 10 ** digits - 1
    elif choice == 3:
        new = 0
    else:
        new = -1
    if 0 <= new < 10 ** digits:
        text = str(new).zfill(digits)
        body = bytes.fromhex(text) if bcd else text.encode("ascii")
    else:  # not a number at all
        body = rng.randbytes(size) if choice == 4 else bytes([rng.choice(b"AF:/ \xff")]) * size
    return s.raw[:offset] + body + s.raw[offset + size:]


def corrupt_bitmap(rng: random.Random, s: Sample) -> bytes:
    data = bytearray(s.raw)
    size = 16 if s.profile.bitmap_hex else 8
    start = s.profile.tpdu_size + len(s.profile.mti_codec.encode("0200"))
    span = size * (2 if data[start] & (0x08 if s.profile.bitmap_hex else 0x80) else 1)
    for _ in range(rng.randint(1, 3)):
        index = start + rng.randrange(min(span, len(data) - start))
        if s.profile.bitmap_hex:
            data[index] = rng.choice(b"0123456789ABCDEFabcdefG ")
        else:
            data[index] ^= 1 << rng.randrange(8)
    return bytes(data)


def random_frame(rng: random.Random, s: Sample) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 2, 4, 7, 12, 20, 64, 200, 600)))


def header_then_random(rng: random.Random, s: Sample) -> bytes:
    return s.raw[:s.header] + rng.randbytes(rng.randint(0, len(s.raw)))


MUTATIONS: dict[str, Callable[[random.Random, Sample], bytes]] = {
    "truncated": truncate, "extended": extend, "bit-flipped": bitflip,
    "byte-substituted": substitute, "length-prefix": corrupt_prefix,
    "bitmap": corrupt_bitmap, "random": random_frame, "header+random": header_then_random,
}


def check_error(exc: CodecError, frame: bytes) -> str | None:
    """What is wrong with an error's report, or None."""
    if not isinstance(exc.reason, str) or not exc.reason.strip():
        return "empty reason"
    if exc.offset is None or not 0 <= exc.offset <= len(frame):
        return f"offset {exc.offset!r} outside 0..{len(frame)}"
    if exc.field is not None and not 0 <= exc.field <= 128:
        return f"field {exc.field!r} is not a field number"
    if not isinstance(exc.partial, dict):
        return "partial is not a dict"
    str(exc)  # must render
    return None


def _random_value(rng: random.Random, sample_value: object) -> object:
    """A plausible or hostile value for a field: near-valid text/bytes, or the wrong type."""
    roll = rng.random()
    if roll < 0.5 and isinstance(sample_value, str):
        text = list(sample_value)
        for _ in range(rng.randint(1, 3)):
            op = rng.randrange(3)
            if op == 0 and text:
                del text[rng.randrange(len(text))]
            elif op == 1:
                text.insert(rng.randrange(len(text) + 1),
                            rng.choice("0123456789=DA \x00\x7f\u200c\u0645\ud800\u00e9\n"))
            elif text:
                text[rng.randrange(len(text))] = rng.choice("0123456789X ")
        return "".join(text) * rng.choice((1, 1, 1, 40))
    if roll < 0.7 and isinstance(sample_value, bytes):
        return rng.randbytes(rng.choice((0, 7, 8, 9, len(sample_value))))
    return rng.choice((None, 0, 123, 1.5, b"12", "", "0" * 1000, ["1"], bytearray(8), True))


def fuzz_encode(rng: random.Random, samples: list[Sample], rounds: int) -> tuple[list[str], int]:
    """Messages with damaged values, unknown fields, bad MTIs and TPDUs: encode may raise
    only codec errors, and whatever it writes must decode and encode back to the same bytes."""
    problems: list[str] = []
    written = 0
    for _ in range(rounds):
        s = rng.choice(samples)
        message = s.profile.decode(s.raw)
        fields: dict[object, object] = {k: v for k, v in message.fields.items()}
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.7 and fields:
                key = rng.choice(list(fields))
                fields[key] = _random_value(rng, fields[key])
            elif roll < 0.8:
                fields[rng.choice((0, 1, 65, 129, -1, "2", 2.0))] = "1"
            elif roll < 0.9:
                fields[rng.randint(2, 128)] = _random_value(rng, "1234")
            elif fields:
                del fields[rng.choice(list(fields))]
        mti = message.mti if rng.random() < 0.9 else rng.choice(("020", "02000", "02a0", "", 200))
        tpdu = message.tpdu if rng.random() < 0.9 else rng.choice((None, b"\x60", b"1234567"))
        candidate = Message(mti, fields, tpdu)  # type: ignore[arg-type]
        try:
            raw = s.profile.encode(candidate)
        except CodecError as exc:
            if not exc.reason:
                problems.append(f"encode {s.profile.name}: empty reason for {candidate!r}")
            continue
        except Exception as exc:  # the point: report anything else
            problems.append(f"encode {s.profile.name}: {type(exc).__name__}: {exc} "
                            f"for {candidate!r}")
            continue
        written += 1
        try:
            again = s.profile.encode(s.profile.decode(raw))
        except CodecError as exc:
            problems.append(f"encode {s.profile.name}: wrote {raw.hex()} for {candidate!r} "
                            f"but cannot read it back: {exc}")
            continue
        if again != raw:
            problems.append(f"encode {s.profile.name}: {candidate!r} wrote {raw.hex()}, "
                            f"which reads back as {again.hex()}")
    return problems, written


def fuzz_framing(rng: random.Random, rounds: int) -> list[str]:
    """Random streams through FrameDecoder in random chunks: only FramingError may escape."""
    problems = []
    for _ in range(rounds):
        stream = rng.randbytes(rng.randint(0, 64))
        if rng.random() < 0.5:
            size = rng.choice((0, 1, 4096, 4097, 65535, rng.randrange(65536)))
            stream = size.to_bytes(2, "big") + stream
        decoder = FrameDecoder()
        try:
            pos = 0
            while pos < len(stream):
                step = rng.randint(1, 8)
                decoder.feed(stream[pos:pos + step])
                pos += step
                for payload in decoder.frames():
                    assert len(payload) <= decoder.max_size
        except CodecError as exc:
            if not exc.reason:
                problems.append(f"framing: empty reason for {stream.hex()}")
        except Exception as exc:
            problems.append(f"framing: {type(exc).__name__}: {exc} for {stream.hex()}")
    return problems


def _median_decode(profile: Profile, frame: bytes) -> float:
    times = []
    for _ in range(25):
        t0 = time.perf_counter()
        with contextlib.suppress(CodecError):
            profile.decode(frame)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=5, help="slowest decodes to list")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    samples = load_samples()
    kinds = list(MUTATIONS)
    failures: list[str] = []
    outcomes: Counter[tuple[str, str]] = Counter()
    at_end = 0
    slowest: list[tuple[float, str, str, bytes]] = []
    clock = time.perf_counter
    decode_time = 0.0
    started = clock()
    for _ in range(args.count):
        sample = rng.choice(samples)
        kind = rng.choice(kinds)
        frame = MUTATIONS[kind](rng, sample)
        profile = sample.profile
        t0 = clock()
        try:
            message = profile.decode(frame)
        except CodecError as exc:
            elapsed = clock() - t0
            outcomes[(kind, type(exc).__name__)] += 1
            problem = check_error(exc, frame)
            if problem:
                failures.append(f"{profile.name} {kind}: {problem}: {exc!s} input {frame.hex()}")
            elif exc.offset == len(frame):
                at_end += 1
        except Exception as exc:
            elapsed = clock() - t0
            failures.append(f"{profile.name} {kind}: {type(exc).__name__}: {exc} "
                            f"input {frame.hex()}")
        else:
            elapsed = clock() - t0
            outcomes[(kind, "decoded")] += 1
            try:
                again = profile.encode(message)
            except Exception as exc:
                failures.append(f"{profile.name} {kind}: decoded but re-encoding raised "
                                f"{type(exc).__name__}: {exc} input {frame.hex()}")
            else:
                if again != frame:
                    failures.append(f"{profile.name} {kind}: decode->encode changed the bytes: "
                                    f"input {frame.hex()} output {again.hex()}")
        decode_time += elapsed
        if len(slowest) < args.show or elapsed > slowest[-1][0]:
            slowest.append((elapsed, profile.name, kind, frame))
            slowest.sort(key=lambda item: -item[0])
            del slowest[args.show:]
    wall = clock() - started
    failures += fuzz_framing(rng, max(1, args.count // 20))
    encode_rounds = max(1, args.count // 10)
    encode_problems, written = fuzz_encode(rng, samples, encode_rounds)
    failures += encode_problems

    print(f"{args.count} frames (seed {args.seed}) from {len(samples)} valid frames of "
          f"{', '.join(PROFILES)}")
    print(f"decode: {args.count / decode_time:,.0f} frames/s in decode alone, "
          f"{args.count / wall:,.0f} frames/s including mutation and checks ({wall:.1f} s)")
    for kind in kinds:
        row = {k[1]: v for k, v in outcomes.items() if k[0] == kind}
        print(f"  {kind:<17} " + ", ".join(f"{name} {n}" for name, n in sorted(row.items())))
    print(f"encode: {encode_rounds} damaged messages, {written} still valid and written; "
          f"framing: {max(1, args.count // 20)} random streams")
    print(f"errors whose offset is the frame's end (a field missing entirely): {at_end}")
    print("slowest decodes (first time seen; then the median of 25 repeats, which tells a")
    print("slow input from a pause of the interpreter):")
    for elapsed, name, kind, frame in slowest:
        repeat = _median_decode(load_profile(name), frame)
        print(f"  {elapsed * 1e6:8.1f} us (repeat {repeat * 1e6:6.1f} us)  {name:<6} {kind:<17} "
              f"{len(frame):4d} bytes  {frame[:20].hex()}{'...' if len(frame) > 20 else ''}")
    for line in failures[:50]:
        print("FAIL", line)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print("no failures: only codec errors escaped, each with a reason and an offset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
