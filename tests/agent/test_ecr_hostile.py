"""A hostile register line against the whole agent (docs/agent.md, "Register link"): a real pty,
the agent's own loop, a scripted switch that counts what reaches it. Every bad frame is NAKed
and reaches nothing; noise outside a frame is never answered; the next good frame is served.
The card source is the one thing stubbed: a card is always there (tests/agent/test_card.py and
test_e2e.py read real ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from iso8583 import Message
from terminal_agent.agent import Agent
from terminal_agent.card.apdu import LoyaltyCard
from terminal_agent.config import from_mapping
from terminal_agent.ecr.link import MAX_WAITING
from terminal_agent.fleet import Fleet
from tests.waits import EVENT

from .register import ACK, NAK, STX, Register, fields, frame
from .scripted_switch import ScriptedSwitch

CARD = LoyaltyCard("6280001234567895", "3012", "NADERI/SARA", "071")
CardSource = Callable[[], Awaitable[tuple[LoyaltyCard | None, str | None]]]


async def card_at_once() -> tuple[LoyaltyCard | None, str | None]:
    return CARD, None


@contextlib.asynccontextmanager
async def agent_with_register(tmp: Path, monkeypatch: pytest.MonkeyPatch,
                              card: CardSource = card_at_once,
                              ) -> AsyncIterator[tuple[Register, ScriptedSwitch]]:
    """The agent in this loop, its register on a pty and its switch scripted; `card` stands
    for the card reader."""
    switch = ScriptedSwitch()
    await switch.start()
    register = Register()
    agent = Agent(from_mapping({
        "terminal_id": "T0000001", "store_id": "STORE0000000001", "switch": switch.address,
        "ecr_port": register.port, "data_dir": str(tmp / "data"),
        "request_timeout_seconds": EVENT, "reconnect_max_seconds": 0.5}, "test"))
    monkeypatch.setattr(agent, "wait_card", card)
    await agent.start()
    try:
        assert await agent.switch.ready(EVENT), agent.switch.last_error
        while agent.ecr is None or not agent.ecr.is_open:
            await asyncio.sleep(0.01)
        yield register, switch
    finally:
        await agent.stop()
        register.close()
        await switch.stop()


async def byte(register: Register) -> bytes:
    return await asyncio.to_thread(register.read_byte, EVENT)


async def answer(register: Register) -> list[str]:
    payload = await asyncio.to_thread(register.read_frame, EVENT)
    return payload.decode("utf-8").split("\x1c")


def financial(switch: ScriptedSwitch) -> list[Message]:
    return [m for m in switch.received if m.mti == "0200"]


PERSIAN = "(digits must be ASCII 0-9, not Persian or Arabic-Indic)"
#: Payloads in a good frame that are not requests of docs/protocol.md §8, and the reason the
#: agent's log gives for each NAK.
NOT_REQUESTS: dict[str, tuple[bytes, str]] = {
    "Persian digits": (fields("EARN", "۱۰۰۰", "INV1"), f"in the amount {PERSIAN}"),
    "Arabic-Indic digits": (fields("BURN", "١٠٠٠", "INV1"), f"in the amount {PERSIAN}"),
    "full-width digits": (fields("TOPUP", "１０", "INV1"), "digits must be ASCII 0-9"),
    "minus zero": (fields("EARN", "-0", "INV1"), "not 1-12 digits"),
    "a plus sign": (fields("EARN", "+5", "INV1"), "not 1-12 digits"),
    "an exponent": (fields("EARN", "1e3", "INV1"), "not 1-12 digits"),
    "10**30": (fields("EARN", str(10**30), "INV1"), "not 1-12 digits"),
    "an empty amount": (fields("EARN", "", "INV1"), "not 1-12 digits"),
    "a space in the amount": (fields("EARN", " 5", "INV1"), "not 1-12 digits"),
    "zero": (fields("EARN", "000000000000", "INV1"), "zero"),
    "an unknown command": (fields("PAY", "5", "INV1"), "unknown request"),
    "a lower-case command": (fields("earn", "5", "INV1"), "unknown request"),
    "an empty payload": (b"", "unknown request"),
    "a control character in the invoice": (fields("EARN", "5", "IN\x01V"), "control character"),
    "a tab in the amount": (fields("EARN", "5\t", "INV1"), "control character"),
    "a byte that is not UTF-8": (fields("EARN", "5", "INV") + b"\xff", "non-ASCII"),
    "Latin-1 text": (fields("EARN", "5", "caf") + b"\xe9", "non-ASCII"),
    "too few fields": (fields("EARN", "5"), "takes 3 fields"),
    "too many fields": (fields("BAL", ""), "takes 1 fields"),
    "an invoice of 21 characters": (fields("EARN", "5", "I" * 21), "invoice longer"),
    "a refund without its RRN": (fields("REFUND", "5", "I", ""), "original RRN"),
}


def test_requests_that_are_not_requests_are_naked_and_reach_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "lps.agent.ecr")

    async def run() -> None:
        async with agent_with_register(tmp_path, monkeypatch) as (register, switch):
            for case, (payload, reason) in NOT_REQUESTS.items():
                caplog.clear()
                register.write(frame(payload))
                assert await byte(register) == NAK, case
                assert reason in caplog.text, (case, caplog.text)
            assert financial(switch) == []
            register.write(frame(fields("EARN", "1000", "INV1")))
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "00"]
            assert len(financial(switch)) == 1

    asyncio.run(run())


def test_broken_frames_are_naked_and_noise_is_never_answered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = frame(fields("BAL"))

    async def run() -> None:
        async with agent_with_register(tmp_path, monkeypatch) as (register, switch):
            bad_lrc = good[:-1] + bytes([good[-1] ^ 0x55])
            for case, wire in {"a bad LRC": bad_lrc,
                               "a runaway frame": STX + b"A" * 3000,
                               "cut short (the line goes quiet)": good[:3]}.items():
                await asyncio.to_thread(register.write, wire)
                assert await byte(register) == NAK, case
            # a frame abandoned by the next STX is NAKed, the next one served
            register.write(STX + b"EARN\x1c5" + good)
            assert [await byte(register), await byte(register)] == [NAK, ACK]
            assert (await answer(register))[:2] == ["RESP", "00"]
            # bytes outside a frame, however many, are dropped unanswered: the first byte the
            # agent sends after them is the ACK of the next frame
            await asyncio.to_thread(register.write, b"\x00\x7f\xff" * 30_000
                                    + b"EARN\x1c5\x1cINV1\x03\x03" + good)
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "00"]
            assert [m.fields[3] for m in financial(switch)] == ["310000", "310000"]

    asyncio.run(run())


def test_split_and_batched_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        async with agent_with_register(tmp_path, monkeypatch) as (register, switch):
            for b in frame(fields("EARN", "700", "ONE")):
                register.write(bytes([b]))
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "00"]
            # four frames in one write: bad, good, bad, good
            register.write(frame(b"PAY") + frame(fields("EARN", "800", "TWO"))
                           + frame(fields("EARN", "-1", "X")) + frame(fields("BAL")))
            assert [await byte(register) for _ in range(4)] == [NAK, ACK, NAK, ACK]
            assert (await answer(register))[:2] == ["RESP", "00"]
            assert (await answer(register))[:2] == ["RESP", "00"]
            assert [(m.fields[3], m.fields.get(4)) for m in financial(switch)] == [
                ("000000", "000000000700"), ("000000", "000000000800"), ("310000", None)]

    asyncio.run(run())


@contextlib.asynccontextmanager
async def serving_a(tmp: Path, monkeypatch: pytest.MonkeyPatch,
                    ) -> AsyncIterator[tuple[Register, ScriptedSwitch, asyncio.Event]]:
    """The agent serving request A (EARN 100), ACKed and held at its card until the gate is
    set: what the register sends meanwhile waits its turn."""
    gate = asyncio.Event()

    async def card_when_let() -> tuple[LoyaltyCard | None, str | None]:
        await gate.wait()
        return CARD, None

    async with agent_with_register(tmp, monkeypatch, card_when_let) as (register, switch):
        register.write(frame(fields("EARN", "100", "A")))
        assert await byte(register) == ACK
        yield register, switch, gate


def test_a_request_resent_while_another_is_served_is_served_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The register sends B while A is served and, hearing no ACK (lost on the line), B again:
    both copies arrive before B is taken. B is one sale (docs/agent.md, "Register link")."""
    async def run() -> None:
        async with serving_a(tmp_path, monkeypatch) as (register, switch, gate):
            b = frame(fields("EARN", "200", "B"))
            register.write(b + b)
            assert [await byte(register), await byte(register)] == [ACK, ACK]
            gate.set()
            first, second = await answer(register), await answer(register)
            register.write(frame(fields("BAL")))
            assert await byte(register) == ACK
            third = await answer(register)
            assert [r[:3] for r in (first, second, third)] == [
                ["RESP", "00", f"000000{m.text(11)}"] for m in financial(switch)]
            assert [m.fields.get(4) for m in financial(switch)] == [
                "000000000100", "000000000200", None]

    asyncio.run(run())


def test_a_register_that_does_not_wait_for_its_answers_is_naked_past_the_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While A is served, `MAX_WAITING` more requests are queued and served in order; the next
    one is NAKed and never reaches the switch (docs/agent.md, "Register link (§8)")."""
    async def run() -> None:
        async with serving_a(tmp_path, monkeypatch) as (register, switch, gate):
            for n in range(MAX_WAITING):
                register.write(frame(fields("EARN", str(101 + n), f"W{n}")))
                assert await byte(register) == ACK
            register.write(frame(fields("EARN", "999", "OVER")))
            assert await byte(register) == NAK
            gate.set()
            for _ in range(MAX_WAITING + 1):
                assert (await answer(register))[1] == "00"
            assert [m.fields[4] for m in financial(switch)] == [
                f"{100 + n:012d}" for n in range(MAX_WAITING + 1)]

    asyncio.run(run())


def test_a_card_number_on_the_register_line_is_never_logged_in_clear(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A barcode scanner plugged into the register's port sends card numbers as noise; a
    register may put one where it does not belong. The log quotes what it drops, masked
    (docs/protocol.md §6)."""
    caplog.set_level(logging.INFO, "lps.agent.ecr")
    pan = CARD.pan

    async def run() -> None:
        async with agent_with_register(tmp_path, monkeypatch) as (register, _switch):
            register.write(f"{pan}\r\n".encode())
            register.write(frame(fields("EARN", "5", f"{pan}X" * 2)))  # invoice too long
            assert await byte(register) == NAK
            register.write(frame(fields("EARN", pan, "INV1")))  # scanned into the amount
            assert await byte(register) == NAK
            register.write(frame(pan.encode()))
            assert await byte(register) == NAK
            register.write(frame(fields("BAL")))
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "00"]

    asyncio.run(run())
    assert "noise" in caplog.text and "invoice longer" in caplog.text
    assert "not 1-12 digits" in caplog.text and "unknown request" in caplog.text
    assert pan not in caplog.text and "628000******7895" in caplog.text


def test_a_card_number_in_the_invoice_is_masked_in_events_and_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A card scanned into the invoice field fits its 20 characters: the request is served, as
    the invoice is the register's own, but the `transaction` event and the line logging a
    request the agent failed on quote it masked, as every card number (docs/protocol.md §6)."""
    caplog.set_level(logging.INFO, "lps.agent")
    pan = CARD.pan
    events: list[dict[str, object]] = []
    monkeypatch.setattr(Fleet, "event", lambda _self, payload: events.append(payload))
    served: list[bool] = []

    async def card_then_failure() -> tuple[LoyaltyCard | None, str | None]:
        if served:
            raise RuntimeError("a fault of the agent's own")
        served.append(True)
        return CARD, None

    async def run() -> None:
        async with agent_with_register(tmp_path, monkeypatch, card_then_failure) as (
                register, switch):
            register.write(frame(fields("EARN", "5", pan)))
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "00"]
            register.write(frame(fields("BURN", "5", pan)))
            assert await byte(register) == ACK
            assert (await answer(register))[:2] == ["RESP", "96"]
            assert len(financial(switch)) == 1

    asyncio.run(run())
    sale = [e for e in events if e["type"] == "transaction"]
    assert [e["invoice"] for e in sale] == ["628000******7895"], sale
    assert "request" in caplog.text and "failed" in caplog.text
    assert pan not in caplog.text and all(pan not in json.dumps(e) for e in events)
