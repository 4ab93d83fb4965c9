"""Builders shared by the switch tests: the example configuration, cards, requests."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv
from switch.client import TerminalClient
from switch.config import Config, load_config
from switch.core import (
    NO_CHECKS,
    Decision,
    Request,
    State,
    decide,
    in_memory,
    needs,
    parse_request,
)
from switch.core.luhn import luhn_complete
from switch.server import Switch, release_lock, untune_gc
from tests.waits import EVENT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "lps.toml"
T1, T2, T3 = "T0000001", "T0000002", "T0000003"
STORES = {T1: "STORE0000000001", T2: "STORE0000000002", T3: "STORE0000000003"}
NOW = dt.datetime(2026, 11, 23, 10, 0, 0, tzinfo=dt.UTC)


def example_config(database: Path | None = None, **switch: Any) -> Config:
    cfg = load_config(EXAMPLE)
    changes: dict[str, Any] = dict(switch)
    if database is not None:
        changes["database"] = database
    if changes:
        cfg = dataclasses.replace(cfg, switch=dataclasses.replace(cfg.switch, **changes))
    return cfg


class PatientClient(TerminalClient):
    """The terminal client, waiting EVENT seconds for each answer: its own default is a
    terminal's patience, too short to tell a slow machine from a switch that does not answer."""

    async def send(self, msg: Message, timeout: float = EVENT) -> Message:
        return await super().send(msg, timeout)


def card(n: int, bin_: str = "628000") -> str:
    """A Luhn-valid 16-digit PAN in the coalition's BIN range."""
    return luhn_complete(f"{bin_}{n:09d}")


def de7(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%m%d%H%M%S")


def request(
    mti: str, tid: str, stan: int, *, pan: str | None = None, pc: str | None = None,
    amount: int | None = None, now: dt.datetime = NOW, tags: dict[str, str] | None = None,
    batch: str | None = "000001", extra: dict[int, Any] | None = None,
    tpdu: bytes | None = None,
) -> Message:
    fields: dict[int, Any] = {7: de7(now), 11: f"{stan:06d}", 41: tid}
    if mti != "0800":
        fields[42] = STORES.get(tid, "STORE0000000009")
    if pan is not None:
        fields[2] = pan
    if pc is not None:
        fields[3] = pc
    if amount is not None:
        fields[4] = f"{amount:012d}"
    if tags:
        fields[48] = build_tlv(tags)
    if batch is not None and mti in ("0200", "0220"):
        fields[62] = batch
    if extra:
        fields.update(extra)
    return Message(mti=mti, fields=fields, tpdu=tpdu)


def sign_on(tid: str, stan: int = 900000, now: dt.datetime = NOW) -> Message:
    return request("0800", tid, stan, now=now, extra={70: "001"})


def earn(tid: str, stan: int, pan: str, amount: int, **kw: Any) -> Message:
    return request("0200", tid, stan, pan=pan, pc="000000", amount=amount, **kw)


def burn(tid: str, stan: int, pan: str, amount: int, **kw: Any) -> Message:
    return request("0200", tid, stan, pan=pan, pc="900000", amount=amount, **kw)


def inquiry(tid: str, stan: int, pan: str, **kw: Any) -> Message:
    return request("0200", tid, stan, pan=pan, pc="310000", **kw)


def reversal(original: Message, stan: int, *, mti: str = "0400", **kw: Any) -> Message:
    od = OriginalData(original.mti, original.text(11), original.text(7))
    extra = {90: build_de90(od)}
    return request(mti, original.text(41), stan, pan=original.text(2), pc=original.text(3),
                   amount=int(original.text(4) or "0") if 4 in original.fields else None,
                   extra=extra, batch=None, **kw)


def batch_close(tid: str, stan: int, batch: str, totals: dict[int, int], **kw: Any) -> Message:
    extra: dict[int, Any] = {62: batch}
    for n in (74, 75, 76, 77):
        extra[n] = f"{totals.get(n, 0):010d}"
    for n in (86, 87, 88, 89):
        extra[n] = f"{totals.get(n, 0):016d}"
    return request("0500", tid, stan, pc="920000", extra=extra, batch=None, **kw)


def decided(state: State, msg: Message, now: dt.datetime = NOW) -> Decision:
    """The core's decision of `msg` on `state` from what memory holds, not applied."""
    req = parse_request(msg, state.protocol)
    assert isinstance(req, Request)
    return decide(state, req, in_memory(state, needs(state, req), NO_CHECKS), now)


async def dismantle(sw: Switch) -> None:
    """Take apart a switch that stopped itself (fail-stop), whose `stop` would wait for a
    writer that failed. The checkpoint thread may be inside a verification: its task ends
    it first."""
    for task in sw._tasks:
        task.cancel()
    await asyncio.gather(*sw._tasks, return_exceptions=True)
    sw.writer.close()
    sw.journal.close()
    sw.metrics.unwatch_gc()
    sw.metrics.shutdown()
    untune_gc(sw._gc_thresholds)
    release_lock(sw._lock_fd)
    for server in sw.servers.values():
        server.close()
