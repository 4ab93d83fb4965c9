"""The register's line while it is away (docs/agent.md, "Fleet"): the agent tries it again in
the background, says so once when the outage starts and once when it ends, and reads the line
as soon as it is back."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from terminal_agent.agent import Agent
from terminal_agent.config import from_mapping
from tests.waits import EVENT

from .records import recording
from .register import ACK, Register, fields
from .scripted_switch import ScriptedSwitch


def test_a_register_plugged_in_late_is_logged_once_down_and_once_back(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lps.agent")
    link = tmp_path / "register"   # as /dev/serial/by-id names a USB adapter, not there yet
    reg: Register | None = None
    published: list[str] = []

    async def run() -> None:
        nonlocal reg
        switch = ScriptedSwitch()
        await switch.start()
        agent = Agent(from_mapping({
            "terminal_id": "T0000001", "store_id": "STORE0000000001",
            "switch": switch.address, "data_dir": str(tmp_path / "data"),
            "ecr_port": str(link), "reader": "none", "card_wait_seconds": EVENT,
            "request_timeout_seconds": EVENT}, "test"))
        status_changed = agent.fleet.status_changed

        def counted() -> None:
            published.append(agent.ecr_error)
            status_changed()

        agent.fleet.status_changed = counted  # type: ignore[method-assign]
        await agent.start()
        try:
            await records.wait("cannot open register line")
            await records.wait("still cannot be opened")
            await records.wait("still cannot be opened")
            reg = Register()
            link.symlink_to(reg.port)
            await records.wait("back after")
            assert await asyncio.to_thread(reg.send, fields("EARN", "250000", "INV-9")) == ACK
        finally:
            await agent.stop()
            await switch.stop()

    with recording("lps.agent") as records:
        try:
            asyncio.run(run())
        finally:
            if reg is not None:
                reg.close()
    said = [(r.levelname, r.getMessage()) for r in records.all
            if r.levelno > logging.DEBUG and "register line" in r.getMessage()]
    assert [level for level, _ in said] == ["ERROR", "INFO"], said
    assert "back after" in said[1][1], said
    # the outage published once when it began and once when it ended, not at every try
    outage = [e for e in published if "register line" in e]
    assert len(outage) == 1 and published[published.index(outage[0]) + 1] == "", published
