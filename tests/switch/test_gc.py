"""The switch freezes what survives each second and never collects old generations
(`switch.server.tune_gc`). That is only safe while serving requests makes no reference cycles:
a cycle would be frozen and kept for the life of the process. These tests serve every kind of
request, the error paths and connection churn, and look for cyclic garbage the switch made.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iso8583 import frame, load_profile
from switch.server import Switch, tune_gc, untune_gc
from tests.switch.support import (
    T1,
    T2,
    T3,
    batch_close,
    burn,
    card,
    earn,
    inquiry,
    request,
    reversal,
)
from tests.switch.test_server import client, raw_exchange, run, signed_on
from tests.waits import EVENT

OURS = ("switch", "iso8583", "hsm_sim")


def made_by_us(obj: Any) -> bool:
    """An object of our packages, or a frame/function of their code."""
    code = getattr(obj, "f_code", None) or getattr(obj, "__code__", None)
    if code is not None:
        return any(f"/{pkg}/" in code.co_filename for pkg in OURS)
    module = getattr(type(obj), "__module__", "") or ""
    return module.split(".")[0] in OURS


async def traffic(sw: Switch, round_: int) -> None:
    """One of everything, on fresh connections each round (connection churn included)."""
    base = 1000 * round_
    c = await signed_on(sw, "ascii")
    pan = card(round_ + 7)
    e = earn(T1, base + 1, pan, 250_000)
    assert (await c.send(e)).fields[39] == "00"
    assert (await c.send(e)).fields[39] == "00"  # retransmission
    reused = earn(T1, base + 1, pan, 1_000)
    assert (await c.send(reused)).fields[39] == "94"
    b = burn(T2, base + 2, pan, 1_000)
    assert (await c.send(b)).fields[39] == "00"
    assert (await c.send(burn(T2, base + 3, pan, 10**9))).fields[39] == "51"
    assert (await c.send(inquiry(T3, base + 4, pan))).fields[39] == "00"
    assert (await c.send(reversal(b, base + 5))).fields[39] == "00"
    assert (await c.send(reversal(earn(T1, base + 6, pan, 5), base + 7))).fields[39] == "25"
    assert (await c.send(request("0200", "T0000099", base + 8, pan=pan, pc="000000",
                                 amount=1_000))).fields[39] == "03"
    good = card(round_ + 8)
    bad_luhn = good[:-1] + str((int(good[-1]) + 1) % 10)
    assert (await c.send(earn(T1, base + 9, bad_luhn, 1_000))).fields[39] == "14"
    advice = earn(T1, base + 10, pan, 30_000)
    advice.mti = "0220"
    assert (await c.send(advice)).fields[39] == "00"
    r = await c.send(batch_close(T1, base + 11, "000001", {}))
    assert r.fields[39] in ("00", "95")
    ascii_ = load_profile("ascii")
    bad = ascii_.encode(earn(T1, base + 12, pan, 1_000))[:-9] + b"0X6000001"
    assert ascii_.decode(await raw_exchange(sw, "ascii", bad)).fields[39] == "30"
    addr = sw.addresses["ascii"]
    reader, writer = await asyncio.open_connection(addr.host, addr.port)
    writer.write(frame(b"\xff\xfe"))  # garbage: the switch closes the connection
    assert await reader.read() == b""
    writer.close()
    other = await client(sw, "bcd")  # a terminal that goes away without a word
    assert other.writer is not None
    other.writer.transport.abort()
    await c.close()
    # the round ends when the switch has let go of every connection (their objects are then
    # garbage or gone, which is what the caller looks at)
    deadline = asyncio.get_running_loop().time() + EVENT
    while sw.connections:
        assert asyncio.get_running_loop().time() < deadline, f"{len(sw.connections)} left open"
        await asyncio.sleep(0.01)


def test_serving_makes_no_reference_cycles(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Looked for with nothing frozen while the rounds run: the switch freezes at every
    request it hands to the writer and every second (`tune_gc`), which would hide a cycle
    from the collection below."""
    async def body(sw: Switch) -> None:
        await traffic(sw, 0)  # warm up: first-use caches, lazily built objects
        assert sw.writer.freeze is gc.freeze
        sw.writer.freeze = None
        monkeypatch.setattr(gc, "freeze", lambda: None)  # the sweeper's
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for round_ in range(1, 4):
                await traffic(sw, round_)
            gc.collect()
            ours = [o for o in gc.garbage if made_by_us(o)]
            kinds = Counter(type(o).__qualname__ for o in ours)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert not ours, f"the switch made reference cycles: {kinds.most_common(10)}"
    run(tmp_path, body)


def test_tune_gc_freezes_and_untune_restores() -> None:
    before = gc.get_threshold()
    saved = tune_gc()
    try:
        assert saved == before
        assert gc.get_threshold()[0] == 2_000 and gc.get_threshold()[1] >= 1_000_000
        assert gc.get_freeze_count() > 0
    finally:
        untune_gc(saved)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
