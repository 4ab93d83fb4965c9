"""The MQTT fleet link against a real mosquitto: status and will, live config, commands,
events with masked cards, and reconnection after a broker restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from terminal_agent.agent import Agent
from terminal_agent.config import AgentConfig, from_mapping
from terminal_agent.fleet import Fleet
from tests.ports import free_port
from tests.waits import EVENT

from .conftest import Mosquitto
from .mqttwatch import Watch, check_schemas
from .register import ACK, Register, fields

ROOT = Path(__file__).resolve().parents[2]
BASE = "lps/v1/terminals/T0000009"


def _cfg(tmp_path: Path, broker_url: str, **kw: object) -> AgentConfig:
    table = {"terminal_id": "T0000009", "store_id": "STORE0000000001",
             "switch": f"127.0.0.1:{free_port()}",  # nothing listens: the switch is down
             "data_dir": str(tmp_path / "agent"), "mqtt": broker_url,
             "reconnect_max_seconds": 0.5, "reader": "none", **kw}
    return from_mapping(table, "test")


def test_status_config_commands_and_broker_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    conf = tmp_path / "agent.toml"
    cfg = _cfg(tmp_path, mosquitto.url)
    conf.write_text("[agent]\n" + "".join(
        f"{k} = {json.dumps(getattr(cfg, k))}\n" for k in (
            "terminal_id", "store_id", "data_dir", "mqtt", "reader",
            "reconnect_max_seconds")) + f"switch = {json.dumps(cfg.hosts[0])}\n")

    async def run() -> None:
        agent = Agent(cfg, conf)
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/#") as w:
            await agent.start()
            try:
                st = await w.wait(lambda t, d: t == f"{BASE}/status" and d["state"] == "online")
                assert st["link"] == "down" and st["saf_depth"] == 0
                assert st["hosts"] == list(cfg.hosts) and st["switch"] == cfg.hosts[0]

                await w.publish(f"{BASE}/config", {"card_wait_seconds": 7,
                                                   "request_timeout_seconds": 3}, retain=True)
                ev = await w.wait(lambda t, d: t.endswith("/events")
                                  and d["type"] == "config-applied")
                assert "card_wait_seconds" in ev["detail"]
                assert agent.cfg.card_wait_seconds == 7
                assert agent.switch.cfg.request_timeout_seconds == 3

                n = len(w.seen)
                await w.publish(f"{BASE}/config", {"profile": "ebcdic"})
                ev = await w.wait(lambda t, d: t.endswith("/events")
                                  and d["type"] == "config-rejected", after=n)
                assert "profile" in ev["error"] and agent.cfg.profile == "ascii"

                await w.publish(f"{BASE}/cmd", {"cmd": "flush-saf", "id": "op-1"})
                ev = await w.wait(lambda t, d: t.endswith("/events") and d.get("id") == "op-1")
                assert ev["ok"] is True and ev["cmd"] == "flush-saf"
                await w.publish(f"{BASE}/cmd", "sign-on")
                ev = await w.wait(lambda t, d: t.endswith("/events") and d.get("cmd") == "sign-on")
                assert ev["ok"] is False  # the switch is down
                conf.write_text(conf.read_text() + "card_wait_seconds = 12\n")
                await w.publish(f"{BASE}/cmd", {"cmd": "reload-config", "id": 2})
                ev = await w.wait(lambda t, d: t.endswith("/events") and d.get("id") == 2)
                assert ev["ok"] is True and agent.cfg.card_wait_seconds == 12
                conf.write_text(conf.read_text() + "bogus = 1\n")
                await w.publish(f"{BASE}/cmd", {"cmd": "reload-config", "id": 3})
                ev = await w.wait(lambda t, d: t.endswith("/events") and d.get("id") == 3)
                assert ev["ok"] is False and "[agent].bogus: unknown key" in ev["detail"]
                assert agent.cfg.card_wait_seconds == 12
                await w.publish(f"{BASE}/cmd", {"cmd": "format-disk"})
                ev = await w.wait(lambda t, d: t.endswith("/events")
                                  and d.get("cmd") == "format-disk")
                assert ev["ok"] is False and "unknown command" in ev["detail"]

                # the broker restarts (and, without persistence, forgets every retained message)
                mosquitto.stop()
                mosquitto.start()
                n = len(w.seen)
                st = await w.wait(lambda t, d: t == f"{BASE}/status" and d["state"] == "online",
                                  after=n)
                assert st["terminal_id"] == "T0000009"
            finally:
                await agent.stop()
            st = await w.wait(lambda t, d: t == f"{BASE}/status" and d["state"] == "offline")
            assert check_schemas(w.seen) >= 8

    asyncio.run(run())


def test_last_will_and_offline_earn_event(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A real `lps-agent run` process: an offline earn is queued (XQ) and its event carries the
    masked card; killed with SIGKILL, the broker publishes the will."""
    reg, scanner = Register(), Register()
    conf = tmp_path / "agent.toml"
    conf.write_text(
        "[agent]\n"
        'terminal_id = "T0000009"\nstore_id = "STORE0000000001"\n'
        f'switch = "127.0.0.1:{free_port()}"\nprofile = "ascii"\n'
        f'ecr_port = "{reg.port}"\nbarcode_port = "{scanner.port}"\nreader = "none"\n'
        f'card_wait_seconds = {EVENT}\n'
        f'data_dir = "{tmp_path / "agent"}"\nmqtt = "{mosquitto.url}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "terminal_agent", "run", "--config",
                             str(conf)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)

    async def run() -> None:
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/#") as w:
            await w.wait(lambda t, d: t == f"{BASE}/status" and d["state"] == "online")
            assert await asyncio.to_thread(reg.send, fields("EARN", "250000", "INV-7")) == ACK
            # The agent drops scans from before it starts waiting for a card, a moment nothing
            # shows from outside: the cashier scans again until the register has an answer.
            deadline = time.monotonic() + EVENT
            while True:
                scanner.write(b"6280001234567895\r\n")
                if not await asyncio.to_thread(reg.quiet, 0.5):
                    break
                assert time.monotonic() < deadline, "no answer to a scanned card"
            resp = await asyncio.to_thread(reg.read_frame)
            assert resp.split(b"\x1c")[:2] == [b"RESP", b"XQ"]
            ev = await w.wait(lambda t, d: t.endswith("/events")
                              and d.get("type") == "transaction")
            assert ev["card"] == "628000******7895" and ev["code"] == "XQ"
            assert "6280001234567895" not in str(w.seen)
            st = await w.wait(lambda t, d: t.endswith("/status") and d.get("saf_depth") == 1)
            assert st["link"] == "down"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(EVENT)
            await w.wait(lambda t, d: t.endswith("/status") and d == {"state": "offline"})
            assert check_schemas(w.seen) >= 3

    try:
        asyncio.run(run())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reg.close()
        scanner.close()


def test_a_status_change_while_the_broker_is_slow_to_acknowledge_is_published(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The status changes while the link waits for the broker's PUBACK: the change is
    published once the broker answers, not left until some later change."""
    state = {"link": "down", "saf_depth": 3}

    async def answer(_arg: object) -> NoReturn:
        raise AssertionError("no config or command in this test")

    async def run() -> None:
        fleet = Fleet(_cfg(tmp_path, mosquitto.url), lambda: dict(state), answer, answer)
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/#") as w:
            task = asyncio.create_task(fleet.run())
            try:
                await w.wait(lambda t, d: t == f"{BASE}/status" and d.get("saf_depth") == 3)
                fleet.event({"type": "probe"})  # the publishing side runs
                await w.wait(lambda t, d: t.endswith("/events") and d.get("type") == "probe")
                assert mosquitto.proc is not None
                os.kill(mosquitto.proc.pid, signal.SIGSTOP)  # PUBACKs wait until SIGCONT
                try:
                    state["saf_depth"] = 2
                    fleet.status_changed()
                    # let every task that is ready run (no time passes): the link takes the
                    # change and waits for the broker, unless it already waits for one
                    for _ in range(10):
                        await asyncio.sleep(0)
                    state["saf_depth"] = 1
                    fleet.status_changed()
                finally:
                    os.kill(mosquitto.proc.pid, signal.SIGCONT)
                await w.wait(lambda t, d: t == f"{BASE}/status" and d.get("saf_depth") == 1)
            finally:
                fleet.close()
                await asyncio.wait_for(task, EVENT)

    asyncio.run(run())
