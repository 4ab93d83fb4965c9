"""Hostile payloads on the agent's `config` and `cmd` topics, through a real mosquitto: each is
refused with its event (`config-rejected`, or a failed `cmd-result`), the live configuration
is left as it was, and the link goes on (a good command after them is answered). A card number
pasted into the wrong place is quoted masked, in the events and in the log."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from terminal_agent.agent import Agent
from terminal_agent.fleet import MAX_INCOMING, MAX_PAYLOAD
from tests.waits import EVENT

from .conftest import Mosquitto
from .mqttwatch import Watch, check_schemas
from .scripted_switch import ScriptedSwitch
from .test_fleet import BASE, _cfg

PAN = "6280001234567895"
#: Bodies as bytes: not JSON, not UTF-8, JSON of every wrong shape, numbers JSON cannot hold
#: exactly (Python's json reads NaN and 1e309), keys that are not live, very long values, a
#: card number as a value and as a key.
CONFIG = [b'{"card_wait_seconds": "%s"}' % PAN.encode(), b'{"%s": 1}' % PAN.encode(),
          b"", b"{", b"\xff\xfe\x00", b"[]", b"null", b"7", b'"card_wait_seconds"',
          b'{"card_wait_seconds": NaN}', b'{"card_wait_seconds": 1e309}',
          b'{"card_wait_seconds": -1}', b'{"card_wait_seconds": true}',
          b'{"card_wait_seconds": "7"}', b'{"card_wait_seconds": [7]}',
          b'{"profile": {"ascii": 1}}', b'{"switch": "127.0.0.1:99999"}',
          b'{"switch": "\\u0000:1"}', b'{"hosts": []}', b'{"hosts": "127.0.0.1:1"}',
          b'{"hosts": [["127.0.0.1", 1]]}', b'{"store_id": "S\\n1"}',
          b'{"store_id": "' + b"9" * 5000 + b'"}', b'{"data_dir": "/"}',
          b'{"mqtt": "mqtt://evil"}', b'{"' + b"k" * 5000 + b'": 1}',
          b'{"switch": "127.0.0.1:1", "hosts": ["127.0.0.1:1"]}',
          b"[" * 100_000 + b"]" * 100_000,
          b'{"store_id": "' + b"9" * MAX_PAYLOAD + b'"}']
COMMANDS = [PAN.encode(), b'{"cmd": "card %s"}' % PAN.encode(), b"", b"\xff", b"[]",
            b'{"cmd": ["sign-on"]}', b'{"cmd": {"a": 1}}',
            b'{"cmd": null}', b'{"cmd": "sign-on\\n"}', b'{"cmd": "' + b"x" * 5000 + b'"}',
            b'{"id": 1}', b"[" * 100_000 + b"]" * 100_000, b"format-disk",
            # ids echoed: one holding a card number (as text and as a number), a long one
            b'{"cmd": "nope", "id": "card %s"}' % PAN.encode(),
            b'{"cmd": "nope", "id": %s}' % PAN.encode(),
            b'{"cmd": "nope", "id": "' + b"i" * 5000 + b'"}',
            # a good command in a message over the bound is refused unread, not run
            b'{"cmd": "sign-on", "id": "' + b"x" * MAX_PAYLOAD + b'"}']


async def _raw(port: int, topic: str, bodies: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for body in bodies:
            await client.publish(topic, body, qos=1)


def test_hostile_config_and_commands_are_refused_and_the_link_goes_on(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "lps.agent")
    cfg = _cfg(tmp_path, mosquitto.url)

    async def run() -> None:
        agent = Agent(cfg)
        # the events only: the watcher reads every payload as JSON, and these are not
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/events") as w, \
                Watch("127.0.0.1", mosquitto.port, f"{BASE}/status") as status:
            await agent.start()
            try:
                await status.wait(lambda t, d: d["state"] == "online")
                before = agent.cfg
                await _raw(mosquitto.port, f"{BASE}/config", CONFIG)
                await _raw(mosquitto.port, f"{BASE}/cmd", COMMANDS)
                await w.publish(f"{BASE}/cmd", {"cmd": "flush-saf", "id": "after"})
                ev = await w.wait(lambda t, d: t.endswith("/events") and d.get("id") == "after",
                                  timeout=EVENT)
                assert ev["ok"] is True
                events = [d for t, d, _ in w.seen if t.endswith("/events")]
                applied = [e for e in events if e["type"] == "config-applied"]
                rejected = [e for e in events if e["type"] == "config-rejected"]
                failed = [e for e in events if e["type"] == "cmd-result" and not e["ok"]]
                assert applied == [], applied
                assert agent.cfg == before
                # every config body but the empty one (a retained config cleared) is refused
                assert len(rejected) == len(CONFIG) - 1, [e["error"][:60] for e in rejected]
                assert len(failed) == len(COMMANDS), failed
                assert all(len(json.dumps(e)) < 2000 for e in events)
                assert all(PAN not in json.dumps(e, ensure_ascii=False) for e in events)
                assert "628000******7895" in json.dumps(rejected + failed)
            finally:
                await agent.stop()
            assert check_schemas(w.seen) == len(w.seen)

    asyncio.run(run())
    assert "config from MQTT rejected" in caplog.text and PAN not in caplog.text


def test_a_flood_of_commands_while_one_waits_is_bounded(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """Commands are served one at a time; while a sign-on waits for a silent switch, a flood
    on `cmd` is not queued without end: what the bound leaves out is dropped and counted in
    one log line, and the link goes on once the sign-on ends."""
    caplog.set_level(logging.INFO, "lps.agent")

    async def run() -> None:
        switch = ScriptedSwitch()
        await switch.start()
        agent = Agent(_cfg(tmp_path, mosquitto.url, switch=switch.address,
                           request_timeout_seconds=EVENT))
        subscribed, dropped = asyncio.Event(), asyncio.Event()
        fleet_log = logging.getLogger("lps.agent.fleet")
        handlers = [_On("MQTT connected", subscribed), _On("dropped", dropped)]
        for handler in handlers:
            fleet_log.addHandler(handler)
        async with Watch("127.0.0.1", mosquitto.port, f"{BASE}/events") as w:
            await agent.start()
            try:
                assert await agent.switch.ready(EVENT), agent.switch.last_error
                await asyncio.wait_for(subscribed.wait(), EVENT)
                switch.script["0800"] = lambda _r: None  # signed on, then silent
                switch.arrived("0800").clear()
                await w.publish(f"{BASE}/cmd", {"cmd": "sign-on", "id": "waits"})
                await asyncio.wait_for(switch.arrived("0800").wait(), EVENT)
                await _raw(mosquitto.port, f"{BASE}/cmd", [b"flush-saf"] * (4 * MAX_INCOMING))
                await asyncio.wait_for(dropped.wait(), EVENT)
                await switch.stop()  # the sign-on ends: its connection is lost
                ev = await w.wait(lambda t, d: d.get("id") == "waits")
                assert ev["ok"] is False
                # what the broker still delivers of the flood may fill the queue again for a
                # moment: the operator's next command is sent until one is answered
                for n in itertools.count():
                    await w.publish(f"{BASE}/cmd", {"cmd": "flush-saf", "id": f"after-{n}"})
                    with contextlib.suppress(TimeoutError):
                        await w.wait(lambda t, d: str(d.get("id")).startswith("after-"), 1.0)
                        break
                    assert n < EVENT, "no command answered after the flood"
            finally:
                await agent.stop()
                await switch.stop()
                for handler in handlers:
                    fleet_log.removeHandler(handler)

    asyncio.run(run())
    drops = [r for r in caplog.records if "dropped" in r.getMessage()
             and r.name.startswith("lps.agent.fleet")]
    assert len(drops) == 1, [r.getMessage() for r in drops]


class _On(logging.Handler):
    """Sets `event` on the first record that says `text`."""

    def __init__(self, text: str, event: asyncio.Event) -> None:
        super().__init__(logging.INFO)
        self.text, self.event = text, event

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()
