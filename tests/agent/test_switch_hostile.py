"""A broken or hostile switch (tests/agent/scripted_switch.py) against the agent's real switch
link and outbox: no wrong answer is ever taken for the switch's answer (docs/agent.md, "Switch
link and the outbox"). A burn whose answer is not trustworthy is told `XO` and reversed on the
next sign-on; a queued advice or reversal stays on disk until a real answer settles it; no card
number appears in clear in a log line or an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from iso8583 import Message, frame, load_profile
from iso8583.loyalty import build_tlv
from terminal_agent.agent import Agent
from terminal_agent.card.apdu import LoyaltyCard
from terminal_agent.config import from_mapping
from terminal_agent.ecr.messages import EcrRequest
from terminal_agent.iso import Fields, outcome_of, reversal_fields
from terminal_agent.reach import probe_sign_on
from tests.waits import EVENT

from .scripted_switch import Close, Drip, Reply, ScriptedSwitch, answer_mti

PAN = "6280001234567895"
CARD = LoyaltyCard(PAN, "3012", "NADERI/SARA", "071")
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
BURN = EcrRequest("BURN", 5000, "INV-7")
#: What the one request a test waits out on purpose waits (`short_once`): short, so the
#: suite stays quick; every other exchange has EVENT, so a busy machine never fails a test.
SHORT = 1.0
TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")

Events = asyncio.Queue[dict[str, Any]]


@contextlib.asynccontextmanager
async def agent_on(switch: ScriptedSwitch, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                   events: Events, **settings: Any) -> AsyncIterator[Agent]:
    """The agent's switch link, signed on to `switch`; its fleet events go to `events`."""
    table = {"terminal_id": "T0000001", "store_id": "STORE0000000001",
             "switch": switch.address, "data_dir": str(tmp / "data"),
             "request_timeout_seconds": EVENT, "reconnect_max_seconds": 0.5, **settings}
    agent = Agent(from_mapping(table, "test"))
    monkeypatch.setattr(agent.fleet, "event", events.put_nowait)
    task = asyncio.create_task(agent.switch.run())
    try:
        assert await agent.switch.ready(EVENT), agent.switch.last_error
        yield agent
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        agent.outbox.close()


@contextlib.asynccontextmanager
async def scripted(tmp: Path, monkeypatch: pytest.MonkeyPatch,
                   switch: ScriptedSwitch | None = None, **settings: Any,
                   ) -> AsyncIterator[tuple[ScriptedSwitch, Agent, Events]]:
    """A scripted switch (`ScriptedSwitch()` unless given), started, and the agent's link
    signed on to it (`agent_on`); the switch is stopped after."""
    switch = switch or ScriptedSwitch()
    await switch.start()
    events: Events = asyncio.Queue()
    try:
        async with agent_on(switch, tmp, monkeypatch, events, **settings) as agent:
            yield switch, agent, events
    finally:
        await switch.stop()


async def next_event(events: Events, kind: str) -> dict[str, Any]:
    while (ev := await asyncio.wait_for(events.get(), EVENT))["type"] != kind:
        pass
    return ev


def once(reply: Reply, switch: ScriptedSwitch, mti: str) -> Reply:
    """`reply` the first time, the switch's own answer after."""
    def first(req: Message) -> bytes | None:
        del switch.script[mti]
        return reply(req)
    return first


def short_once(reply: Reply, switch: ScriptedSwitch, agent: Agent, mti: str) -> None:
    """`reply` to the next `mti`, a request the agent gives up on after SHORT; the switch's own
    answer after. Only that request is short: the timeout is set back to EVENT the moment it
    reaches the switch (after the agent armed its timer, before any answer can reach it), so
    what must come *within* a timeout afterwards (a sign-on, a repeat and their answers) is
    never starved by a busy machine."""
    def timeout(seconds: float) -> None:
        agent.switch.cfg = dataclasses.replace(agent.switch.cfg,
                                               request_timeout_seconds=seconds)

    def first(req: Message) -> bytes | None:
        del switch.script[mti]
        timeout(EVENT)
        return reply(req)

    timeout(SHORT)
    switch.script[mti] = first


def no_card_in_clear(caplog: pytest.LogCaptureFixture, events: list[dict[str, Any]]) -> None:
    assert PAN not in caplog.text
    assert all(PAN not in json.dumps(ev) for ev in events)


Wrong = Callable[[ScriptedSwitch, Message], bytes | None]

#: Answers to a 0200 that are not its answer. The first two are waited out (SHORT); the others
#: are seen as wrong at once.
NOT_THE_ANSWER: dict[str, Wrong] = {
    "another STAN": lambda s, r: s.wire(s.answer(r, de11="999999")),
    "another terminal": lambda s, r: s.wire(s.answer(r, de41="T0000002")),
    "another MTI": lambda s, r: s.wire(Message("0810", {11: r.fields[11], 41: r.fields[41],
                                                        39: "00"})),
    "the request echoed back": lambda s, r: s.wire(Message(r.mti, {**r.fields, 39: "00"})),
    "no response code": lambda s, r: s.wire(Message("0210", {11: r.fields[11],
                                                             41: r.fields[41]})),
    "a blank response code": lambda s, r: s.wire(s.answer(r, de39="  ")),
}


@pytest.mark.parametrize("case", list(NOT_THE_ANSWER))
def test_a_wrong_answer_is_never_an_approval(case: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    seen: list[dict[str, Any]] = []

    async def run() -> None:
        async with scripted(tmp_path, monkeypatch) as (switch, agent, events):
            short_once(lambda r: NOT_THE_ANSWER[case](switch, r), switch, agent, "0200")
            resp = await agent.transact(BURN, CARD)
            assert (resp.code, resp.rrn) == ("XO", ""), resp
            burn = next(m for m in switch.received if m.mti == "0200")
            rev = await next_event(events, "reversal")  # on the next sign-on
            seen.append(rev)
            undone = [m for m in switch.received if m.mti in ("0400", "0401")][-1]
            assert rev["code"] == "00" and str(undone.fields[90])[4:10] == burn.fields[11]
            assert agent.outbox.count("reversal") == 0
        while not events.empty():
            seen.append(events.get_nowait())

    asyncio.run(run())
    no_card_in_clear(caplog, seen)


#: Answers to a queued advice (0220) or reversal (0400) that settle nothing (the first is
#: waited out, SHORT).
UNSETTLED: dict[str, Wrong] = {
    "another STAN": lambda s, r: s.wire(s.answer(r, de11="999999")),
    "closed in the middle of the answer": lambda s, r: Close(s.wire(s.answer(r))[:20]),
    "no response code": lambda s, r: s.wire(Message(s.answer(r).mti, {11: r.fields[11],
                                                                      41: r.fields[41]})),
    "a blank response code": lambda s, r: s.wire(s.answer(r, de39="  ")),
    "another MTI": lambda s, r: s.wire(Message("0210", {11: r.fields[11], 41: r.fields[41],
                                                        39: "00"})),
}


@pytest.mark.parametrize("kind", ["advice", "reversal"])
@pytest.mark.parametrize("case", list(UNSETTLED))
def test_a_queued_message_stays_until_a_real_answer(case: str, kind: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    mti = {"advice": "0220", "reversal": "0400"}[kind]

    async def run() -> None:
        async with scripted(tmp_path, monkeypatch) as (switch, agent, events):
            short_once(lambda r: UNSETTLED[case](switch, r), switch, agent, mti)
            fields: Fields = {2: PAN, 3: "900000", 4: "000000005000", 7: "1206103000",
                              11: "000777", 22: "071", 25: "00", 41: "T0000001",
                              42: "STORE0000000001", 49: "364"}
            if kind == "advice":
                agent.outbox.add("advice", "0220", fields, {"card": CARD.masked})
            else:
                agent.outbox.add("reversal", "0400", reversal_fields("0200", fields, 0.0),
                                 {"card": CARD.masked})
            agent.switch.kick()
            ev = await next_event(events, kind)
            # settled by the switch's own answer to the repeat, not by the wrong one
            assert (ev["code"], ev["mti"]) == ("00", answer_mti(mti))
            repeats = [m.mti for m in switch.received if m.mti[:3] == mti[:3]]
            assert repeats == [mti, mti[:3] + "1"], repeats
            assert agent.outbox.count(kind) == 0

    asyncio.run(run())


#: A stream that breaks the framing or the connection while a burn waits for its answer.
BROKEN: dict[str, Wrong] = {
    "a length header above the maximum": lambda s, r: b"\xff\xff" + bytes(64),
    "closed in the middle of the answer": lambda s, r: Close(s.wire(s.answer(r))[:20]),
    "closed without an answer": lambda s, r: Close(b""),
    "a frame of garbage": lambda s, r: frame(b"\x00\xffnot an ISO 8583 message at all"),
    "a frame cut short by its header": lambda s, r: b"\x00\x08" + s.wire(s.answer(r))[2:],
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_stream_reverses_the_burn(case: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        async with scripted(tmp_path, monkeypatch) as (switch, agent, events):
            short_once(lambda r: BROKEN[case](switch, r), switch, agent, "0200")
            resp = await agent.transact(BURN, CARD)
            assert resp.code == "XO", resp
            rev = await next_event(events, "reversal")
            assert rev["code"] == "00"

    asyncio.run(run())


#: Streams that are odd but carry the right answer: it is taken.
ODD_BUT_RIGHT: dict[str, Wrong] = {
    "a byte at a time": lambda s, r: Drip(s.wire(s.answer(r))),
    "after a keep-alive and a stray answer": lambda s, r: (
        b"\x00\x00" + s.wire(s.answer(r, de11="999999")) + s.wire(s.answer(r))),
}


@pytest.mark.parametrize("case", list(ODD_BUT_RIGHT))
def test_the_right_answer_in_an_odd_stream_is_taken(case: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        async with scripted(tmp_path, monkeypatch) as (switch, agent, _):
            switch.script["0200"] = lambda r: ODD_BUT_RIGHT[case](switch, r)
            resp = await agent.transact(BURN, CARD)
            stan = next(m for m in switch.received if m.mti == "0200").text(11)
            assert (resp.code, resp.rrn) == ("00", f"000000{stan}"), resp
            assert agent.outbox.count("reversal") == 0

    asyncio.run(run())


@pytest.mark.parametrize("mac", ["right", "wrong", "missing"])
def test_an_answer_whose_mac_does_not_verify_is_not_trusted(
        mac: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def answer(switch: ScriptedSwitch, req: Message) -> bytes:
        msg = switch.answer(req)
        if mac == "missing":
            return frame(switch.profile.encode(msg))
        return switch.wire(msg, mac=bytes(8) if mac == "wrong" else None)

    async def run() -> None:
        async with scripted(tmp_path, monkeypatch, ScriptedSwitch(tmk=TMK),
                            tmk=TMK.hex().upper()) as (switch, agent, events):
            switch.script["0200"] = once(lambda r: answer(switch, r), switch, "0200")
            resp = await agent.transact(BURN, CARD)
            if mac == "right":
                assert resp.code == "00", resp
                return
            assert resp.code == "XO", resp
            rev = await next_event(events, "reversal")
            assert rev["code"] == "00"

    asyncio.run(run())
    assert TMK.hex().upper() not in caplog.text and PAN not in caplog.text


@pytest.mark.parametrize("case", ["another MTI", "the request echoed back"])
def test_failback_probe_takes_only_a_sign_on_answer(case: str, tmp_path: Path) -> None:
    """The failback check (docs/agent.md, "Failback") moves the agent only on a real 0810 `00`."""
    wrong: Wrong = {
        "another MTI": lambda s, r: s.wire(Message("0210", {11: r.fields[11], 41: r.fields[41],
                                                            39: "00"})),
        "the request echoed back": NOT_THE_ANSWER["the request echoed back"]}[case]

    async def run() -> None:
        switch = ScriptedSwitch()
        await switch.start()
        try:
            switch.script["0800"] = lambda r: wrong(switch, r)
            # a wrong answer is refused as one, at once: a timeout would be no proof of that
            cfg = from_mapping({"terminal_id": "T0000001", "store_id": "S1",
                                "switch": switch.address, "request_timeout_seconds": EVENT},
                               "test")
            problem = await probe_sign_on(cfg, load_profile("ascii"), switch.address, "000123")
            assert problem is not None and "is not an answer to 0800" in problem, problem
        finally:
            await switch.stop()

    asyncio.run(run())


@pytest.mark.parametrize("text", [f"card {PAN} thanks", "card ۶۲۸۰۰۰۱۲۳۴۵۶۷۸۹۵ thanks",
                                  "card 6280-0012-3456-7895 thanks"])
def test_a_card_number_in_the_receipt_text_is_masked(text: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch's DE48 `MS` goes to the register and into the `transaction` event: a card
    number in it (a broken switch template, a hostile switch) is masked as in every log line."""
    async def run() -> None:
        async with scripted(tmp_path, monkeypatch) as (switch, agent, _):
            switch.script["0200"] = lambda r: switch.wire(
                switch.answer(r, de48=build_tlv({"MS": text})))
            resp = await agent.transact(BURN, CARD)
            assert resp.code == "00"
            shown = resp.message.translate(TO_ASCII).replace("-", "")
            assert shown == "card 628000******7895 thanks", resp

    asyncio.run(run())


def test_points_beyond_12_digits_are_unknown() -> None:
    """DE48 `EP`/`RD` may hold up to 999 digits. Passed on, such a count would overflow any
    register's integer: a count longer than DE4's 12 digits is unknown, an empty field (§8)."""
    huge = "9" * 400
    outcome = outcome_of(Message("0210", {11: "000001", 41: "T0000001", 39: "00",
                                          48: build_tlv({"EP": huge, "RD": huge[:13]})}))
    assert (outcome.earned, outcome.redeemed) == (None, None)
    assert outcome.to_ecr().encode().split(b"\x1c")[3:5] == [b"", b""]
    assert outcome_of(Message("0210", {39: "00", 48: build_tlv({"EP": "9" * 12})})).earned == (
        10**12 - 1)
