"""The switch against `lps-hsm serve` in its own process (`hsm = "tcp://..."`): the HSM calls
are awaited, pipelined, and the decisions still follow the order the requests arrived in."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sqlite3
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import frame
from iso8583.loyalty import parse_de54
from switch.config import load_config
from switch.server import Switch
from tests.security.support import (
    Terminal,
    hsm_server,
    lps,
    new_terminal,
    running,
    write_config,
)
from tests.switch.support import T1, burn, card, earn, inquiry, request, reversal
from tests.waits import EVENT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hsm_proc(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with hsm_server(tmp_path / "hsm") as served:
        yield served


def test_pipelined_maced_requests_are_decided_in_arrival_order(
        tmp_path: Path, hsm_proc: tuple[str, subprocess.Popen[str]]) -> None:
    cfg = write_config(tmp_path, hsm=hsm_proc[0])
    tmk = new_terminal(cfg, T1)
    pan = card(31)

    # A small per-connection limit: requests waiting for the HSM count against it.
    config = load_config(cfg)
    config = dataclasses.replace(config, switch=dataclasses.replace(
        config.switch, limits=dataclasses.replace(config.switch.limits,
                                                  max_inflight_per_connection=4)))

    async def body() -> None:
        async with running(config) as sw:
            assert not sw.security.inline
            term = await Terminal(T1, "ascii", tmk).connect(sw)
            await term.key_exchange()
            assert (await term.send(request("0800", T1, 900001, extra={70: "001"}))
                    ).fields[39] == "00"
            assert (await term.send(earn(T1, 1, pan, 100_000))).fields[39] == "00"
            code, _, err = await asyncio.to_thread(lps, "pin", "set", pan, "--config", str(cfg),
                                                   stdin="8080\n")
            assert code == 0, err
            # Written back to back, before any answer: a burn with a PIN (MAC + PIN calls),
            # its reversal (one MAC call, answered sooner by the HSM), 20 earns, an inquiry.
            b = burn(T1, 2, pan, 3_000, extra={52: term.pin_block("8080", pan)})
            msgs = [b, reversal(burn(T1, 2, pan, 3_000), 3)]
            msgs += [earn(T1, 10 + i, pan, 10_000) for i in range(20)]
            msgs.append(inquiry(T1, 40, pan))
            assert term.writer is not None and term.reader is not None
            term.writer.write(b"".join(frame(term.encode(m)) for m in msgs))
            answers = {}
            for _ in msgs:
                size = struct.unpack(">H", await asyncio.wait_for(
                    term.reader.readexactly(2), EVENT))[0]
                r = term.check_response(await term.reader.readexactly(size))
                answers[r.fields[11]] = r
            assert answers["000002"].fields[39] == "00"
            # Decided after the burn, so it found and undid it (not 25 + a tombstone).
            assert answers["000003"].fields[39] == "00"
            assert all(answers[f"{10 + i:06d}"].fields[39] == "00" for i in range(20))
            assert parse_de54(str(answers["000040"].fields[54]))[0].amount == 10 + 20
            assert sw.inflight == 0 and not sw.security.sequencer.busy
            # A tampered request is still refused over TCP.
            bad = bytearray(term.encode(earn(T1, 50, pan, 10_000)))
            bad[-3] ^= 4
            assert term.check_response(await term.exchange(bytes(bad))).fields[39] == "63"
            await term.close()
    asyncio.run(body())


async def earning_terminal(sw: Switch, tmk: bytes, pan: str) -> Terminal:
    """T1 connected over BCD with its session keys, signed on, its first MACed earn for
    `pan` approved: the HSM answers before a test takes it away."""
    term = await Terminal(T1, "bcd", tmk).connect(sw)
    await term.key_exchange()
    assert (await term.send(request("0800", T1, 900001, extra={70: "001"}))).fields[39] == "00"
    assert (await term.send(earn(T1, 1, pan, 100_000))).fields[39] == "00"
    return term


def test_hsm_down_is_91_with_no_effect(
        tmp_path: Path, hsm_proc: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = hsm_proc
    cfg = write_config(tmp_path, hsm=url)
    tmk = new_terminal(cfg, T1)
    pan = card(32)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await earning_terminal(sw, tmk, pan)
            proc.terminate()
            proc.wait(EVENT)
            # The answer cannot carry a MAC either (no HSM): read it without checking one.
            raw = await term.exchange(term.encode(earn(T1, 2, pan, 100_000)))
            assert term.profile.decode(raw).fields[39] == "91"
            raw = await term.exchange(term.encode(request("0800", T1, 3, extra={70: "101"}),
                                                  mac=False))
            assert term.profile.decode(raw).fields[39] == "96"
            await term.close()
        conn = sqlite3.connect(tmp_path / "lps.db")
        assert conn.execute("SELECT kind, response_code FROM journal WHERE stan = '000002'"
                            ).fetchall() == [("reject", "91")]
        assert conn.execute("SELECT count(*) FROM lots").fetchone() == (1,)
        conn.close()
    asyncio.run(body())


def test_a_silent_hsm_fails_the_call_after_hsm_timeout_and_is_reconnected(
        tmp_path: Path, hsm_proc: tuple[str, subprocess.Popen[str]]) -> None:
    """`[switch] hsm_timeout` bounds a call to the HSM: a stopped HSM (SIGSTOP: connected,
    silent) makes the MACed earn `91` with no effect well before the 5 s default would; once
    it runs again the next call reconnects and is approved."""
    url, proc = hsm_proc
    cfg = write_config(tmp_path, hsm=url)
    cfg.write_text(cfg.read_text().replace(f'hsm = "{url}"', f'hsm = "{url}"\nhsm_timeout = 0.3'))
    assert load_config(cfg).switch.hsm_timeout == 0.3
    tmk = new_terminal(cfg, T1)
    pan = card(33)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await earning_terminal(sw, tmk, pan)
            proc.send_signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                raw = await term.exchange(term.encode(earn(T1, 2, pan, 100_000)))
                waited = time.monotonic() - started
            finally:
                proc.send_signal(signal.SIGCONT)
            assert term.profile.decode(raw).fields[39] == "91"
            assert waited < 4.0, waited  # the 0.3 s given, not the 5 s default
            assert (await term.send(earn(T1, 3, pan, 100_000))).fields[39] == "00"
            await term.close()
        conn = sqlite3.connect(tmp_path / "lps.db")
        assert conn.execute("SELECT stan, response_code FROM journal WHERE mti = '0200' "
                            "ORDER BY id").fetchall() == [("000001", "00"), ("000002", "91"),
                                                          ("000003", "00")]
        conn.close()
    asyncio.run(body())
