"""Terminal agent benchmarks (pytest-benchmark): the register framing, the card record parse,
the durable outbox step every financial request pays, a card read through a real pcscd/vpcd,
and the whole register -> agent -> card -> switch -> register round trip.

    .venv/bin/pytest benches/bench_agent.py --benchmark-only

The service benchmarks start pcscd (root) and the switch like tests/agent does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package (fixtures)

from terminal_agent.card.apdu import parse_record
from terminal_agent.card.pcsc import read_card_blocking
from terminal_agent.ecr.frames import FrameReader, FrameReceived, encode_frame
from terminal_agent.ecr.messages import EcrRequest, parse_request
from terminal_agent.store import Outbox
from terminal_agent.testing.vicc import VPCD_READERS, VirtualLoyaltyCard
from tests.agent.conftest import pcscd, vcard, vpcd_slots  # noqa: F401  (fixtures)
from tests.agent.harness import AgentProc, Switch

PAN = "6280001234567895"


def test_ecr_frame_in(benchmark: Any) -> None:
    wire = encode_frame(b"EARN\x1c250000\x1cINV-000123")

    def run() -> EcrRequest:
        (event,) = FrameReader().feed(wire)
        assert isinstance(event, FrameReceived)
        return parse_request(event.payload)

    assert benchmark(run).amount == 250000


def test_card_record_parse(benchmark: Any) -> None:
    record = VirtualLoyaltyCard(pan=PAN).record()
    assert benchmark(parse_record, record, "071").pan == PAN


def test_outbox_inflight_step(benchmark: Any, tmp_path: Path) -> None:
    """What a 0200 costs the agent on disk: the in-flight row written, then deleted (two
    synchronous=FULL commits)."""
    box = Outbox(tmp_path)
    fields = {2: PAN, 3: "000000", 4: "000000250000", 7: "1123120000", 41: "T0000001"}

    def run() -> None:
        entry = box.add("inflight", "0200", fields, {"request": "EARN"})
        box.remove(entry.id)

    benchmark(run)
    assert box.count("inflight") == 0


def test_card_read_pcscd_vpcd(benchmark: Any,
                              vcard: Callable[..., VirtualLoyaltyCard]) -> None:  # noqa: F811
    vcard(pan=PAN)
    card = benchmark(read_card_blocking, VPCD_READERS[0])
    assert card.pan == PAN


@pytest.fixture
def running(tmp_path: Path,
            vcard: Callable[..., VirtualLoyaltyCard]) -> Iterator[AgentProc]:  # noqa: F811
    switch = Switch(tmp_path / "switch")
    switch.start()
    vcard(pan=PAN)
    agent = AgentProc(tmp_path / "agent", switch.address, reader=VPCD_READERS[0])
    agent.start()
    agent.wait_signed_on()
    yield agent
    agent.close()
    switch.stop()


def test_register_round_trip(benchmark: Any, running: AgentProc) -> None:
    """EARN frame in, RESP frame out, through the real card reader and the real switch."""

    def run() -> list[str]:
        return running.ask("EARN", "10000", "BENCH")

    parts = benchmark.pedantic(run, rounds=60, warmup_rounds=3)
    assert parts[1] == "00"
