"""Terminals online on the dashboard, from the agents' retained status on a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Iterator

import aiomqtt
import pytest

from lps.console.fleet import parse_status
from tests.agent.conftest import Mosquitto
from tests.console.support import Client, Console, Env, add_staff
from tests.ports import free_port
from tests.waits import EVENT


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                        if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is required under CI=true")
        pytest.skip("mosquitto is not installed")
    b = Mosquitto(exe)
    b.start()
    yield b
    b.stop()
    shutil.rmtree(b.dir, ignore_errors=True)


def _publish(port: int, statuses: dict[str, dict[str, object]]) -> None:
    async def go() -> None:
        async with aiomqtt.Client("127.0.0.1", port) as client:
            for tid, payload in statuses.items():
                await client.publish(f"lps/v1/terminals/{tid}/status", json.dumps(payload),
                                     qos=1, retain=True)

    asyncio.run(go())


def _until(client: Client, needle: str) -> str:
    deadline = time.monotonic() + EVENT  # readiness wait for the subscriber, not a duration
    while True:
        text = " ".join(client.get("/").text().split())
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_dashboard_shows_the_agents_retained_status(env: Env, broker: Mosquitto) -> None:
    online = {"state": "online", "terminal_id": "T0000001", "updated": "2026-11-23T10:00:00Z",
              "link": "signed-on", "saf_depth": 3, "pending_reversals": 0}
    _publish(broker.port, {"T0000001": online, "T0000002": {"state": "offline"}})
    add_staff(env, "ann", "admin")
    with Console(env, mqtt=broker.url) as console:
        client = Client(console.url)
        client.login("ann")
        text = _until(client, "Terminals online (MQTT) 1 of 3")
        assert "Terminals online (MQTT) 1 of 3" in text
        assert "T0000001 STORE0000000001 yes online signed-on 3" in text
        assert "T0000002 STORE0000000002 yes offline" in text
        assert "T0000003 STORE0000000003 no unknown" in text
        _publish(broker.port, {"T0000002": {**online, "terminal_id": "T0000002",
                                            "saf_depth": 0}})
        # the wait looks for the assertion's whole text: "2 of 3" alone is on the page from
        # the start ("Terminals signed on 2 of 3") and would not wait for the status at all
        assert "Terminals online (MQTT) 2 of 3" in _until(client,
                                                          "Terminals online (MQTT) 2 of 3")


def test_the_dashboard_follows_the_broker_through_a_restart(env: Env, broker: Mosquitto) -> None:
    """The broker restarts without persistence (its retained statuses gone): the console says
    it is unreachable meanwhile, connects again and shows what agents publish after."""
    online = {"state": "online", "terminal_id": "T0000001", "updated": "2026-11-23T10:00:00Z",
              "link": "signed-on", "saf_depth": 0, "pending_reversals": 0}
    _publish(broker.port, {"T0000001": online})
    add_staff(env, "ann", "admin")
    with Console(env, mqtt=broker.url) as console:
        client = Client(console.url)
        client.login("ann")
        assert "Terminals online (MQTT) 1 of 3" in _until(client, "Terminals online (MQTT) 1 of 3")
        broker.stop()
        assert "unreachable" in _until(client, "unreachable")
        broker.start()
        _publish(broker.port, {"T0000003": {**online, "terminal_id": "T0000003"}})
        text = _until(client, "T0000003 STORE0000000003 no online")
        assert "T0000003 STORE0000000003 no online signed-on 0" in text


def test_an_unreachable_broker_is_said_and_the_page_still_works(env: Env) -> None:
    add_staff(env, "ann", "admin")
    with Console(env, mqtt=f"mqtt://127.0.0.1:{free_port()}") as console:
        client = Client(console.url)
        client.login("ann")
        text = _until(client, "unreachable")
        assert "unreachable" in text and "Terminals online (MQTT) 0 of 3" in text


def test_a_status_nested_too_deep_leaves_the_dashboard_following(env: Env,
                                                                  broker: Mosquitto) -> None:
    """Anyone on the broker can publish a status: one nested 100,000 deep made the parser
    raise `RecursionError`, which ended the console's subscriber, and no later status showed."""
    online = {"state": "online", "terminal_id": "T0000001", "updated": "2026-11-23T10:00:00Z",
              "link": "signed-on", "saf_depth": 0, "pending_reversals": 0}

    async def deep() -> None:
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish("lps/v1/terminals/T0000002/status",
                                 b"[" * 100_000 + b"]" * 100_000, qos=1, retain=True)

    asyncio.run(deep())
    add_staff(env, "ann", "admin")
    with Console(env, mqtt=broker.url) as console:
        client = Client(console.url)
        client.login("ann")
        _publish(broker.port, {"T0000001": online})
        assert "Terminals online (MQTT) 1 of 3" in _until(client, "Terminals online (MQTT) 1 of 3")


@pytest.mark.parametrize("payload", [b"", b"not json", b"[]", b'{"state": "sleeping"}',
                                     b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000])
def test_payloads_that_are_not_a_status_are_ignored(payload: bytes) -> None:
    assert parse_status(payload) is None
