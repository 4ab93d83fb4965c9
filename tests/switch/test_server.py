"""The switch end to end over real sockets, in both profiles, with a real journal on each engine
(SQLite, PostgreSQL: tests/engines.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import struct
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, frame, load_profile
from iso8583.loyalty import parse_de54
from lps.cli import main as lps_main
from lps.commands import admin_request
from switch.client import TerminalClient
from switch.config import Config, HostPort
from switch.journal import open_journal, open_reader
from switch.server import Switch
from tests.switch.support import (
    T1,
    T2,
    T3,
    PatientClient,
    burn,
    card,
    earn,
    example_config,
    request,
    reversal,
)
from tests.waits import EVENT

LOCAL0 = HostPort("127.0.0.1", 0)
TPDU = b"\x60\x00\x01\x00\x02"


#: The test's journal (`journal_settings`), set for each test by `_journal`.
JOURNAL: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _journal(journal_settings: dict[str, Any]) -> Iterator[None]:
    JOURNAL.update(journal_settings)
    yield
    JOURNAL.clear()


def config_for(tmp: Path, **limits: Any) -> Config:
    cfg = example_config(tmp / "lps.db", listen_ascii=LOCAL0, listen_bcd=LOCAL0, metrics=LOCAL0,
                         journal_url=JOURNAL.get("journal_url"))
    if limits:
        cfg = dataclasses.replace(cfg, switch=dataclasses.replace(
            cfg.switch, limits=dataclasses.replace(cfg.switch.limits, **limits)))
    return cfg


@contextlib.asynccontextmanager
async def running(cfg: Config) -> AsyncIterator[Switch]:
    sw = Switch(cfg)
    await sw.start()
    try:
        yield sw
    finally:
        await sw.stop()


async def client(sw: Switch, profile: str) -> TerminalClient:
    addr = sw.addresses[profile]
    return await PatientClient(profile, addr.host, addr.port).connect()


def run(tmp: Path, body: Callable[[Switch], Awaitable[None]], **limits: Any) -> None:
    async def main() -> None:
        async with running(config_for(tmp, **limits)) as sw:
            await body(sw)
    asyncio.run(main())


def tp(profile: str) -> bytes | None:
    return TPDU if profile == "bcd" else None


async def signed_on(sw: Switch, profile: str, *tids: str) -> TerminalClient:
    c = await client(sw, profile)
    for i, tid in enumerate(tids or (T1, T2, T3)):
        r = await c.send(request("0800", tid, 990000 + i, extra={70: "001"}, tpdu=tp(profile)))
        assert r.fields[39] == "00"
    return c


PAN = card(42)


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_earn_burn_inquiry_end_to_end(tmp_path: Path, profile: str) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, profile)
        r = await c.send(earn(T1, 1, PAN, 200_000, tpdu=tp(profile)))
        assert r.mti == "0210" and r.fields[39] == "00"
        if profile == "bcd":
            assert r.tpdu == b"\x60\x00\x02\x00\x01"
        r = await c.send(burn(T2, 2, PAN, 5_000, tpdu=tp(profile)))
        assert r.fields[39] == "00"
        r = await c.send(request("0200", T3, 3, pan=PAN, pc="310000", tpdu=tp(profile)))
        assert parse_de54(str(r.fields[54]))[0].amount == 15
        r = await c.send(burn(T2, 4, PAN, 16_000, tpdu=tp(profile)))
        assert r.fields[39] == "51"
        await c.close()
    run(tmp_path, body)


def test_sign_on_required_and_unknown_terminal(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        c = await client(sw, "ascii")
        assert (await c.send(earn(T1, 1, PAN, 10_000))).fields[39] == "58"
        r = await c.send(request("0200", "T0000099", 2, pan=PAN, pc="000000", amount=1))
        assert r.fields[39] == "03"
        await c.close()
    run(tmp_path, body)


async def raw_exchange(sw: Switch, profile: str, payload: bytes) -> bytes:
    addr = sw.addresses[profile]
    reader, writer = await asyncio.open_connection(addr.host, addr.port)
    writer.write(frame(payload))
    size = struct.unpack(">H", await reader.readexactly(2))[0]
    data = await reader.readexactly(size)
    writer.close()
    return data


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_retransmission_is_answered_byte_for_byte(tmp_path: Path, profile: str) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, profile)
        payload = load_profile(profile).encode(earn(T1, 7, PAN, 120_000, tpdu=tp(profile)))
        first = await raw_exchange(sw, profile, payload)
        second = await raw_exchange(sw, profile, payload)
        assert first == second
        r = await c.send(request("0200", T1, 8, pan=PAN, pc="310000", tpdu=tp(profile)))
        assert parse_de54(str(r.fields[54]))[0].amount == 12
        await c.close()
    run(tmp_path, body)


def test_reversal_before_original_then_late_original(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        original = earn(T1, 11, PAN, 100_000)
        assert (await c.send(reversal(original, 12))).fields[39] == "25"
        assert (await c.send(original)).fields[39] == "05"
        b = burn(T1, 13, PAN, 1_000)
        await c.send(earn(T1, 14, PAN, 100_000))
        assert (await c.send(b)).fields[39] == "00"
        r = await c.send(reversal(b, 15))
        assert r.mti == "0410" and r.fields[39] == "00"
        assert (await c.send(reversal(b, 16, mti="0401"))).fields[39] == "00"
        r = await c.send(request("0200", T1, 17, pan=PAN, pc="310000"))
        assert parse_de54(str(r.fields[54]))[0].amount == 10
        await c.close()
    run(tmp_path, body)


def test_bad_frames_affect_only_their_connection(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        good = await signed_on(sw, "ascii")
        ascii_ = load_profile("ascii")
        # MTI, DE11, DE41 readable but DE62's length is not digits: answered 30.
        payload = ascii_.encode(earn(T1, 21, PAN, 1_000))
        assert payload.endswith(b"006000001")
        bad = payload[:-9] + b"0X6000001"
        reply = ascii_.decode(await raw_exchange(sw, "ascii", bad))
        assert reply.fields[39] == "30" and reply.fields[11] == "000021"
        # Garbage: the connection is closed.
        addr = sw.addresses["ascii"]
        reader, writer = await asyncio.open_connection(addr.host, addr.port)
        writer.write(frame(b"\xff\xfe"))
        assert await reader.read() == b""
        # Over 4096 bytes: closed too.
        reader, writer = await asyncio.open_connection(addr.host, addr.port)
        writer.write(b"\x10\x01" + b"0" * 100)
        assert await reader.read() == b""
        # A keep-alive is never answered; the next request is.
        good.write_raw(b"\x00\x00")
        assert (await good.send(earn(T1, 22, PAN, 10_000))).fields[39] == "00"
        await good.close()
    run(tmp_path, body)


def test_many_connections_burning_one_card_never_overdraw(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        setup = await signed_on(sw, "ascii")
        assert (await setup.send(earn(T1, 1, PAN, 1_000_000))).fields[39] == "00"  # 100 points
        clients = [await client(sw, "ascii" if i % 2 else "bcd") for i in range(40)]
        futures = []
        stan = 100
        for round_ in range(6):
            for i, c in enumerate(clients):
                stan += 1
                tid = (T1, T2, T3)[(i + round_) % 3]
                futures.append(c.send_nowait(burn(tid, stan, PAN, 1_000, tpdu=tp(c.profile.name))))
        replies = await asyncio.gather(*futures)
        codes = [r.fields[39] for r in replies]
        assert codes.count("00") == 100 and codes.count("51") == len(codes) - 100
        r = await setup.send(request("0200", T1, 9999, pan=PAN, pc="310000"))
        assert parse_de54(str(r.fields[54]))[0].amount == 0
        for c in clients:
            await c.close()
        await setup.close()
    run(tmp_path, body, max_inflight_per_connection=4)
    journal = config_for(tmp_path).switch.journal
    store = open_journal(journal)
    assert store.check(full=True).problems == []
    store.close()
    reader = open_reader(journal)
    try:
        found = reader.card(PAN)
    finally:
        reader.close()
    assert found is not None and found.points == 0


def test_restart_keeps_effects_and_idempotency(tmp_path: Path) -> None:
    msg = earn(T2, 31, PAN, 300_000)
    seen: dict[str, Message] = {}
    balance: dict[str, int] = {}

    async def first(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        seen["reply"] = await c.send(msg)
        await c.close()

    async def second(sw: Switch) -> None:
        # Recovered lazily: the card's lots are read by the first decision that needs them.
        assert sw.state.cards.unread(PAN)
        c = await client(sw, "ascii")  # terminals stay signed on across a restart
        again = await c.send(msg)  # the card DE2 names is read before its decision
        assert again == seen["reply"] and not sw.state.cards.unread(PAN)
        r = await c.send(burn(T2, 32, PAN, 60_000))
        assert r.fields[39] == "00"
        assert (await c.send(burn(T2, 33, PAN, 1_000))).fields[39] == "51"
        balance["points"] = await points(c, 34)
        await c.close()

    async def third(sw: Switch) -> None:
        # An operator's adjustment is the first to read the card after this restart.
        assert sw.state.cards.unread(PAN)
        reply = await asyncio.get_running_loop().run_in_executor(None, admin_request, sw.config, {
            "cmd": "adjust", "pan": PAN, "points": 7, "store": "STORE0000000002",
            "reason": "goodwill", "by": "test"})
        assert reply == {"ok": True} and not sw.state.cards.unread(PAN)
        c = await client(sw, "ascii")
        assert await points(c, 35) == balance["points"] + 7
        await c.close()

    async def points(c: TerminalClient, stan: int) -> int:
        r = await c.send(request("0200", T2, stan, pan=PAN, pc="310000"))
        return parse_de54(str(r.fields[54]))[0].amount

    run(tmp_path, first)
    run(tmp_path, second)
    run(tmp_path, third)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # its own configuration file
def test_metrics_and_operator_commands_while_running(tmp_path: Path, capsys: Any) -> None:
    cfg_path = tmp_path / "lps.toml"
    example = Path(__file__).resolve().parents[2] / "examples" / "lps.toml"
    cfg_path.write_text(example.read_text().replace('"var/lps.db"', f'"{tmp_path}/lps.db"'))

    async def body(sw: Switch) -> None:
        c = await signed_on(sw, "ascii")
        await c.send(earn(T1, 1, PAN, 50_000))
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, lps_main,
                                          ["cards", "block", PAN, "--config", str(cfg_path)])
        assert code == 0
        assert (await c.send(burn(T1, 2, PAN, 1_000))).fields[39] == "62"
        code = await loop.run_in_executor(None, lps_main,
                                          ["cards", "unblock", PAN, "--config", str(cfg_path)])
        assert code == 0
        assert (await c.send(burn(T1, 3, PAN, 1_000))).fields[39] == "00"
        m = sw.addresses["metrics"]
        text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(
            f"http://{m.host}:{m.port}/metrics", timeout=EVENT).read().decode())
        assert 'lps_requests_total{mti="0200",rc="62"} 1.0' in text
        assert "lps_open_connections 1.0" in text
        gc.collect(0)  # one collection at least, timed by the switch's gc callback
        text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(
            f"http://{m.host}:{m.port}/metrics", timeout=EVENT).read().decode())
        assert 'lps_gc_pause_seconds_count{generation="0"}' in text
        assert "lps_commit_seconds_count 0.0" not in text   # the earn and burns committed
        assert "lps_commit_seconds_bucket" in text
        assert "lps_commit_cpu_seconds_count 0.0" not in text   # the writer's CPU in them
        # The checkpointer's timer (every 100 ms) measures the loop's lag as it fires.
        deadline = time.monotonic() + EVENT
        while "lps_loop_lag_seconds_count 0.0" in text and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(
                f"http://{m.host}:{m.port}/metrics", timeout=EVENT).read().decode())
        assert "lps_loop_lag_seconds_count 0.0" not in text
        assert 'lps_checkpoint_seconds_count{work="verify"}' in text
        # Each second's WAL checkpoint reports the WAL's frames (the commits above wrote some).
        while "lps_wal_frames 0.0" in text and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            text = await loop.run_in_executor(None, lambda: urllib.request.urlopen(
                f"http://{m.host}:{m.port}/metrics", timeout=EVENT).read().decode())
        assert "lps_wal_frames 0.0" not in text and "lps_wal_frames " in text
        assert PAN not in text
        await c.close()
    run(tmp_path, body)
    assert lps_main(["balance", PAN, "--config", str(cfg_path)]) == 0
    out = capsys.readouterr().out
    assert "4 available" in out and PAN not in out
    other = card(77)
    assert lps_main(["cards", "enroll", other, "--config", str(cfg_path)]) == 0
    assert lps_main(["cards", "enroll", other, "--config", str(cfg_path)]) == 1
    assert lps_main(["cards", "show", other, "--config", str(cfg_path)]) == 0


def test_connection_limit(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        a = await client(sw, "ascii")
        addr = sw.addresses["ascii"]
        reader, _writer = await asyncio.open_connection(addr.host, addr.port)
        assert await reader.read() == b""  # over the limit: closed at once
        r = await a.send(request("0800", T1, 1, extra={70: "301"}))
        assert r.fields[39] == "00"
        await a.close()
    run(tmp_path, body, max_connections=1)


def test_idle_connections_are_closed(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        addr = sw.addresses["ascii"]
        reader, _writer = await asyncio.open_connection(addr.host, addr.port)
        assert await asyncio.wait_for(reader.read(), EVENT) == b""
    run(tmp_path, body, idle_timeout=0.2)


def test_second_switch_on_same_database_refused(tmp_path: Path) -> None:
    async def body(sw: Switch) -> None:
        other = Switch(sw.config)
        with pytest.raises(Exception, match="another switch"):
            await other.start()
    run(tmp_path, body)


