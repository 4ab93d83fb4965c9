"""The ECR link over a real pty pair: ACK, NAK, retries, never crashing on garbage."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

import pytest

from terminal_agent.ecr.link import EcrLink
from terminal_agent.ecr.messages import EcrMessageError, parse_request
from tests.waits import EVENT

from .register import ACK, NAK, Register, fields, frame


def _validate(payload: bytes) -> str | None:
    try:
        parse_request(payload)
    except EcrMessageError as exc:
        return str(exc)
    return None


@pytest.fixture
def register() -> Iterator[Register]:
    reg = Register()
    yield reg
    reg.close()


async def _open(reg: Register) -> EcrLink:
    link = EcrLink(reg.port, 9600, validate=_validate)
    await link.open()
    return link


def test_good_frame_acked_and_delivered(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            ack = await asyncio.to_thread(register.send, fields("EARN", "120000", "INV1"))
            assert ack == ACK
            payload = await asyncio.wait_for(link.take(), EVENT)
            assert parse_request(payload).amount == 120000
        finally:
            link.close()

    asyncio.run(run())


def test_broken_and_unknown_frames_nak_and_link_survives(
        register: Register, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "lps.agent.ecr")

    async def run() -> None:
        link = await _open(register)
        try:
            bad_lrc = b"\x02BAL\x03\x00"
            register.write(bad_lrc)
            assert await asyncio.to_thread(register.read_byte) == NAK
            assert await asyncio.to_thread(register.send, b"HELLO") == NAK
            assert await asyncio.to_thread(register.send, fields("EARN", "x", "I")) == NAK
            register.write(b"\xff\xfe")  # line noise: logged, not answered
            assert await asyncio.to_thread(register.send, b"BAL") == ACK
            assert await asyncio.wait_for(link.take(), EVENT) == b"BAL"
            assert link.naks_sent == 3
        finally:
            link.close()

    asyncio.run(run())
    text = caplog.text
    assert "bad LRC" in text and "unknown request 'HELLO'" in text and "noise" in text


def test_incomplete_frame_naked_after_silence(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            register.write(b"\x02EARN\x1c10")
            assert await asyncio.to_thread(register.read_byte) == NAK
        finally:
            link.close()

    asyncio.run(run())


def test_answer_retried_after_nak_and_silence(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            task = asyncio.create_task(link.send(b"RESP\x1c00\x1c\x1c\x1c\x1c\x1cok"))
            first = await asyncio.to_thread(register.read_frame, EVENT, NAK)
            second = await asyncio.to_thread(register.read_frame, EVENT, None)  # stay silent
            third = await asyncio.to_thread(register.read_frame, EVENT, ACK)  # resent after 1 s
            assert first == second == third
            assert await asyncio.wait_for(task, EVENT) is True
        finally:
            link.close()

    asyncio.run(run())


def test_answer_gives_up_after_three_retries(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            task = asyncio.create_task(link.send(b"RESP\x1cXC\x1c\x1c\x1c\x1c\x1c"))
            for _ in range(4):
                await asyncio.to_thread(register.read_frame, EVENT, NAK)
            assert await asyncio.wait_for(task, EVENT) is False
            # the sender gave up (the task's result is the event): nothing may follow, and a
            # frame it still wrote would already be in the line
            assert await asyncio.to_thread(register.quiet, 0.3)
        finally:
            link.close()

    asyncio.run(run())


def test_resent_request_while_in_progress_not_redone(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            payload = fields("BURN", "5000", "I7")
            assert await asyncio.to_thread(register.send, payload) == ACK
            await asyncio.wait_for(link.take(), EVENT)
            assert await asyncio.to_thread(register.send, payload) == ACK
            # the link ACKs a frame and queues it in one callback: with the ACK read, a queued
            # copy would already be there
            assert link.incoming.empty()
        finally:
            link.close()

    asyncio.run(run())


def test_identical_request_after_the_answer_is_served_again(register: Register) -> None:
    """The register ACKs our answer and at once sends the same sale again (one chunk)."""

    async def run() -> None:
        link = await _open(register)
        try:
            payload = fields("EARN", "1000", "SAME")
            assert await asyncio.to_thread(register.send, payload) == ACK
            await asyncio.wait_for(link.take(), EVENT)
            task = asyncio.create_task(link.send(b"RESP\x1c00\x1c\x1c\x1c\x1c\x1c"))
            await asyncio.to_thread(register.read_frame, EVENT, None)
            register.write(ACK + frame(payload))  # ACK and the next request together
            assert await asyncio.wait_for(task, EVENT) is True
            assert await asyncio.wait_for(link.take(), EVENT) == payload
        finally:
            link.close()

    asyncio.run(run())


def test_line_hangup_closes_the_link_instead_of_spinning(register: Register) -> None:
    async def run() -> None:
        link = await _open(register)
        try:
            os.close(register.master)
            await asyncio.wait_for(link.lost.wait(), EVENT)
            assert not link.is_open
        finally:
            link.close()

    asyncio.run(run())
