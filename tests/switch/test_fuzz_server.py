"""A fuzzer against the real switch: `lps serve` in its own process, hostile frames over TCP.

Seeded frames over loopback, in both wire profiles (docs/protocol.md §1-§2): valid requests of
every MTI, the same truncated, oversize, with bits flipped, with random bitmaps, with fields
outside the profile or LPS-87, with non-ASCII digits, with response MTIs, MTI 0290 and other
odd MTIs, random bytes, keep-alives, frames split across writes. Bounded in count and time.
Frames go in bursts of one to five per connection, each burst followed by a valid echo (0800,
DE70 301): its answer shows that every frame before it was handled; the switch may instead
close the connection (the protocol closes on some faults), but an echo neither answered nor
closed within EVENT (tests/waits.py) fails the test. Afterwards the switch must still be
running, answer a valid request on a new connection, stop cleanly, and its log (stderr,
captured whole) must hold no traceback and no card number in clear. The seed is printed, and
named in every failure: `LPS_FUZZ_SEED=<seed>` replays it, `LPS_FUZZ_FRAMES` sets the count.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, load_profile
from iso8583.loyalty import OriginalData, build_de90, build_tlv
from terminal_agent.testing.services import wait_until
from tests.security.support import write_config
from tests.switch.support import (
    NOW,
    T1,
    T2,
    T3,
    batch_close,
    burn,
    card,
    de7,
    earn,
    inquiry,
    request,
    reversal,
    sign_on,
)
from tests.waits import EVENT, START

ROOT = Path(__file__).resolve().parents[2]
TPDU = bytes.fromhex("6000010002")
PROFILES = {name: load_profile(name) for name in ("ascii", "bcd")}
FRAMES = int(os.environ.get("LPS_FUZZ_FRAMES", "1500"))
TIME_BUDGET = 90.0  # seconds of sending, at most, on a slow machine
# Card numbers and track data whose digit runs appear nowhere else in a log line.
PANS = [card(739_418_265 - 97_531 * i) for i in range(6)]
TRACK = f"{PANS[0]}=29121018375926413"
# A run of 13 or more digits is a card number shape; the log must have none.
CARD_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")


@dataclass
class Switch:
    proc: subprocess.Popen[bytes]
    log: Path
    addresses: dict[str, tuple[str, int]]

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def lps_serve(tmp: Path, journal: dict[str, Any] | None = None) -> Iterator[Switch]:
    """`lps serve` on free ports with its database in `tmp` (or where `journal`, the engine
    fixture's settings, says); its stderr in a file."""
    config = write_config(tmp, journal=journal)
    log = tmp / "switch.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "lps.cli", "serve", "--config",
                                 str(config), "--log-level", "INFO"],
                                stdout=subprocess.DEVNULL, stderr=sink, cwd=ROOT)
    switch = Switch(proc, log, {})
    try:
        def listening() -> bool:
            assert proc.poll() is None, f"lps serve exited:\n{switch.log_text()}"
            found = dict(re.findall(r"event=listening profile=(\w+) address=([\d.]+:\d+)",
                                    switch.log_text()))
            for name, address in found.items():
                host, port = address.rsplit(":", 1)
                switch.addresses[name] = (host, int(port))
            return set(PROFILES) <= set(switch.addresses)

        wait_until(listening, START, "lps serve's listeners")
        yield switch
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(EVENT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(EVENT)


# -- the frames ---------------------------------------------------------------------------------


def valid_messages(rng: random.Random) -> list[Message]:
    """One of each request LPS-87 knows, on the example's terminals and cards."""
    tid = rng.choice([T1, T2, T3])
    pan = rng.choice(PANS)
    stan = rng.randrange(1, 999_999)
    amount = rng.choice([1, 100_000, 999_999_999_999, rng.randrange(1, 10**12)])
    original = earn(tid, stan, pan, amount)
    return [
        sign_on(tid, stan),
        request("0800", tid, stan, extra={70: rng.choice(["002", "101", "301", "999"])}),
        original,
        burn(tid, stan, pan, amount),
        inquiry(tid, stan, pan),
        request("0200", tid, stan, pan=pan, pc="200000", amount=amount,
                tags={"OR": f"{rng.randrange(10**12):012d}"}),
        request("0200", tid, stan, pan=pan, pc="210060", amount=amount),
        request("0200", tid, stan, pan=pan, pc="006000", amount=amount),
        request("0200", tid, stan, pan=pan, pc="930000"),
        request("0200", tid, stan, pc="000000", amount=amount, extra={35: TRACK}),
        request("0200", tid, stan, pan=pan, pc="900000", amount=amount,
                tags={"RP": str(rng.randrange(10**6)), "IN": "INV-1", "CS": "C1"}),
        request("0220", tid, stan, pan=pan, pc="000000", amount=amount),
        reversal(original, stan + 1),
        reversal(original, stan + 1, mti="0401"),
        reversal(original, stan + 1, mti="0420"),
        reversal(original, stan + 1, mti="0421"),
        batch_close(tid, stan, "000001", {74: 1, 86: amount}),
    ]


def encode(profile_name: str, message: Message) -> bytes:
    profile = PROFILES[profile_name]
    return profile.encode(Message(message.mti, dict(message.fields),
                                  TPDU if profile.tpdu_size else None))


def _header_size(profile_name: str) -> int:
    """TPDU + MTI: where the bitmap starts."""
    return 7 if profile_name == "bcd" else 4


def mutate(rng: random.Random, profile_name: str) -> bytes:
    """One hostile payload (without its length header) for `profile_name`."""
    base = rng.choice(valid_messages(rng))
    raw = encode(profile_name, base)
    kind = rng.randrange(12)
    if kind == 0:  # valid, as it is: keeps terminals signed on and the core busy
        return raw
    if kind == 1:  # truncated anywhere
        return raw[:rng.randrange(1, len(raw))]
    if kind == 2:  # bits flipped
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 9)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind == 3:  # a random bitmap (primary, sometimes a secondary too)
        at = _header_size(profile_name)
        size = rng.choice([8, 16])
        return raw[:at] + rng.randbytes(size) + raw[at + 8:]
    if kind == 4:  # fields the profile knows but LPS-87 does not carry
        extra: dict[int, str | bytes] = {5: "000000000100", 43: "SOMEWHERE" + " " * 31,
                                         100: "12345", 127: "X" * rng.randrange(0, 50),
                                         28: "D00000100", 53: "1" * 16,
                                         55: "ICC", 64: rng.randbytes(8)}
        chosen = dict(rng.sample(sorted(extra.items()), rng.randrange(1, 4)))
        return encode(profile_name, Message(base.mti, {**base.fields, **chosen}))
    if kind == 5:  # a digit of an `n` field replaced by a non-ASCII digit
        if profile_name == "ascii":
            digits = [m.start() for m in re.finditer(rb"\d", raw[4 + 8:])]
            if digits:
                at = 12 + rng.choice(digits)
                other = rng.choice(["٥", "۵", "５", "²"]).encode("utf-8")
                return raw[:at] + other[:1] + raw[at + 1:]
        data = bytearray(raw)
        at = rng.randrange(_header_size(profile_name) + 8, len(data))
        data[at] = rng.choice([0xB2, 0xD9, 0xDB, 0xEF, 0xAA, 0xFF])
        return bytes(data)
    if kind == 6:  # a response MTI, decodable or not
        mti = rng.choice(["0210", "0230", "0410", "0430", "0510", "0810", "0290", "0299"])
        fields = dict(base.fields)
        if mti in ("0290", "0299") or rng.random() < 0.5:
            fields[39] = "00"
        message = encode(profile_name, Message(mti, fields))
        return message if rng.random() < 0.7 else message[:rng.randrange(1, len(message))]
    if kind == 7:  # odd MTIs
        mti = rng.choice(["0290", "0100", "0000", "9999", "0201", "0800"])
        return encode(profile_name, Message(mti, dict(base.fields)))
    if kind == 8:  # odd MTI bytes: not digits at all
        at = 5 if profile_name == "bcd" else 0
        return raw[:at] + rng.randbytes(2 if profile_name == "bcd" else 4) + raw[at + (
            2 if profile_name == "bcd" else 4):]
    if kind == 9:  # garbage of any size up to the maximum frame
        return rng.randbytes(rng.choice([1, 2, 7, 20, 200, rng.randrange(1, 4097)]))
    if kind == 10:  # malformed card data: DE2 or DE35 with a wrong character or length
        pan = PANS[3]
        field = rng.choice([2, 35])
        fields = {k: v for k, v in base.fields.items() if k not in (2, 35)}
        good = encode(profile_name, Message(base.mti, {**fields, field: pan}))
        target = pan.encode() if profile_name == "ascii" else bytes.fromhex(pan)
        at = good.find(target)
        if at < 0:
            return good
        bad = rng.choice([b"X", b"^", b"=", b"\xd9", b"\xab", b"\xdd"])
        where = at + rng.randrange(len(target))
        return good[:where] + bad + good[where + 1:]
    # kind 11: a valid message with DE90 or DE48 garbled
    fields = dict(base.fields)
    fields[48] = rng.choice(["RP", "RP00", "RP003١٢٣", "XX999", build_tlv({"RP": "²"})])
    if base.mti.startswith("04"):
        # an original that never was, with digits where LPS-87 wants the 22 zeros
        fields[90] = build_de90(OriginalData("0200", "000001", de7(NOW)))[:40] + "99"
    return encode(profile_name, Message(base.mti, fields))


@dataclass
class Burst:
    """Frames for one connection. `framing_broken`: the last one breaks the framing itself (a
    header above the maximum, or one announcing more bytes than follow), so nothing follows."""

    profile: str
    chunks: list[bytes]
    framing_broken: bool = False


def bursts(seed: int, count: int) -> list[Burst]:
    """About `count` frames in bursts of 1 to 5, all from `seed`."""
    rng = random.Random(seed)
    out: list[Burst] = []
    made = 0
    while made < count:
        burst = Burst(rng.choice(sorted(PROFILES)), [])
        for _ in range(rng.randrange(1, 6)):
            roll = rng.random()
            made += 1
            if roll < 0.03:
                burst.chunks.append(b"\x00\x00")  # keep-alive: never answered
            elif roll < 0.05:  # a header announcing more than the maximum frame
                size = rng.randrange(4097, 65536)
                burst.chunks.append(struct.pack(">H", size) + rng.randbytes(64))
                burst.framing_broken = True
                break
            elif roll < 0.06:  # a header that promises more than follows
                payload = mutate(rng, burst.profile)[:4000]
                burst.chunks.append(struct.pack(">H", len(payload) + rng.randrange(1, 9))
                                    + payload)
                burst.framing_broken = True
                break
            else:
                payload = mutate(rng, burst.profile)[:4096]
                burst.chunks.append(struct.pack(">H", len(payload)) + payload)
        out.append(burst)
    return out


@dataclass
class Tally:
    bursts: int = 0
    answers: int = 0
    closed_by_switch: int = 0
    stuck: int = 0


async def run_burst(switch: Switch, burst: Burst, sentinel_stan: int, split: bool,
                    tally: Tally) -> None:
    """Send a burst, then a valid echo (0800, DE70 301) as a sentinel, and read until the
    sentinel's answer (every frame before it was handled) or until the switch closes."""
    profile = PROFILES[burst.profile]
    reader, writer = await asyncio.open_connection(*switch.addresses[burst.profile])
    try:
        for chunk in burst.chunks:
            if split and len(chunk) > 3:
                writer.write(chunk[:3])
                await writer.drain()
                chunk = chunk[3:]
            writer.write(chunk)
        if burst.framing_broken:
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return  # nothing after it can be framed: hang up
        stan = f"{sentinel_stan:06d}"
        echo = request("0800", T1, sentinel_stan, extra={70: "301"})
        payload = encode(burst.profile, echo)
        writer.write(struct.pack(">H", len(payload)) + payload)
        await writer.drain()

        async def until_sentinel() -> None:
            while True:
                size = struct.unpack(">H", await reader.readexactly(2))[0]
                answer = profile.decode(await reader.readexactly(size))
                tally.answers += 1
                if answer.mti == "0810" and answer.fields.get(11) == stan:
                    return

        await asyncio.wait_for(until_sentinel(), EVENT)
    except (ConnectionError, asyncio.IncompleteReadError):
        tally.closed_by_switch += 1  # allowed: the protocol closes on some faults
    except TimeoutError:
        tally.stuck += 1
    finally:
        tally.bursts += 1
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def fuzz(switch: Switch, seed: int, count: int, workers: int = 4) -> Tally:
    """Run the seed's bursts on a few concurrent connections, within the time budget."""
    rng = random.Random(seed ^ 0x5EED)
    todo = [(burst, 700_000 + n, rng.random() < 0.1) for n, burst in enumerate(bursts(seed,
                                                                                     count))]
    tally = Tally()
    started = time.monotonic()

    async def worker(mine: list[tuple[Burst, int, bool]]) -> None:
        for burst, stan, split in mine:
            if time.monotonic() - started > TIME_BUDGET:
                return
            await run_burst(switch, burst, stan, split, tally)
            assert switch.proc.poll() is None, f"seed {seed}: the switch died"

    await asyncio.gather(*(worker(todo[i::workers]) for i in range(workers)))
    return tally


async def exchange(address: tuple[str, int], payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(struct.pack(">H", len(payload)) + payload)
        await writer.drain()
        size = struct.unpack(">H", await asyncio.wait_for(reader.readexactly(2), EVENT))[0]
        return await asyncio.wait_for(reader.readexactly(size), EVENT)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def still_answers(switch: Switch) -> None:
    """A fresh connection per profile: sign-on and a balance inquiry are approved."""
    for n, (profile_name, profile) in enumerate(PROFILES.items()):
        tid = T3
        for message in (sign_on(tid, 990001 + 10 * n), inquiry(tid, 990002 + 10 * n, PANS[1])):
            raw = await exchange(switch.addresses[profile_name], encode(profile_name, message))
            reply = profile.decode(raw)
            assert reply.fields.get(39) == "00", (profile_name, message.mti, reply)


def assert_clean_log(text: str, seed: int) -> None:
    assert "Traceback" not in text, f"seed {seed}: the switch logged a traceback:\n" + \
        "\n".join(_around(text, "Traceback"))
    assert "Exception in callback" not in text, f"seed {seed}: an unhandled exception:\n{text}"
    cards = CARD_RUN.findall(text)
    assert not cards, f"seed {seed}: card-number-like digits in the log: {cards[:5]}"


def _around(text: str, needle: str, lines: int = 12) -> list[str]:
    rows = text.splitlines()
    hits = [i for i, row in enumerate(rows) if needle in row]
    return rows[max(0, hits[0] - 2):hits[0] + lines] if hits else []


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("LPS_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))
    print(f"fuzz seed {value} (replay: LPS_FUZZ_SEED={value})")
    return value


def test_hostile_frames_leave_the_switch_up_answering_and_its_log_clean(
        tmp_path: Path, seed: int, journal_settings: dict[str, Any]) -> None:
    with lps_serve(tmp_path, journal_settings) as switch:
        tally = asyncio.run(fuzz(switch, seed, FRAMES))
        print(f"fuzz seed {seed}: {tally}")
        assert switch.proc.poll() is None, f"seed {seed}: the switch is gone:\n" \
            + switch.log_text()[-4000:]
        asyncio.run(still_answers(switch))
        assert tally.answers > 0, f"seed {seed}: no frame was ever answered"
        assert tally.stuck == 0, f"seed {seed}: {tally.stuck} connections got no answer " \
            "to a valid echo and were not closed"
        switch.proc.send_signal(signal.SIGTERM)
        assert switch.proc.wait(EVENT) == 0, f"seed {seed}: lps serve did not stop cleanly"
        assert_clean_log(switch.log_text(), seed)


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
def test_malformed_card_data_is_answered_30_and_logged_masked(tmp_path: Path,
                                                             profile_name: str) -> None:
    """Format errors in DE2/DE35 reach the log as masked card numbers at most (docs/protocol.md
    §6), whatever is wrong in them."""
    pan = PANS[2]
    assert "0000000" not in pan + TRACK
    good = encode(profile_name, inquiry(T1, 1, pan))
    target = pan.encode() if profile_name == "ascii" else bytes.fromhex(pan)
    at = good.index(target)
    bad_bytes = {"ascii": [b"X", b"=", b"\xd9", b"^"], "bcd": [b"\xab", b"\xdd", b"\xfa"]}
    payloads = [good[:at + 3] + b + good[at + 3 + len(b):] for b in bad_bytes[profile_name]]
    track = encode(profile_name, request("0200", T1, 2, pc="310000", extra={35: TRACK}))
    t_at = track.index(TRACK.encode() if profile_name == "ascii" else bytes.fromhex(
        TRACK[:16]))
    payloads.append(track[:t_at + 5] + (b"Z" if profile_name == "ascii" else b"\xee")
                    + track[t_at + 6:])
    with lps_serve(tmp_path) as switch:
        async def send_all() -> None:
            await exchange(switch.addresses[profile_name], encode(profile_name, sign_on(T1)))
            for payload in payloads:
                raw = await exchange(switch.addresses[profile_name], payload)
                reply = PROFILES[profile_name].decode(raw)
                assert reply.fields.get(39) == "30", reply
        asyncio.run(send_all())
        switch.proc.send_signal(signal.SIGTERM)
        switch.proc.wait(EVENT)
        text = switch.log_text()
    assert text.count("event=format_error") >= len(payloads)
    for secret in (pan, TRACK.split("=")[1]):
        for start in range(len(secret) - 6):
            assert secret[start:start + 7] not in text, (secret[start:start + 7], text)
    assert_clean_log(text, 0)
