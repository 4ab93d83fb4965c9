"""Terminals online, from the agents' retained MQTT status (`lps/v1/terminals/<id>/status`).

Optional: with `lps console --mqtt mqtt://HOST:PORT` a daemon thread keeps the last status of
every terminal (schemas/mqtt/status.schema.json); the dashboard reads a snapshot. A broker that
is down is shown as such, and the thread reconnects; it never holds up a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiomqtt

PREFIX = "lps/v1/terminals"
RETRY_SECONDS = 2.0
#: Seconds between pings to the broker, as the agent's client (terminal_agent/fleet.py): a link
#: that died without a word (a broker restarted under uvloop can leave the client's socket
#: watch refused, "the handler is closed") is given up after 1.5 of them, not aiomqtt's 90 s.
KEEPALIVE_SECONDS = 15


@dataclass(frozen=True, slots=True)
class Status:
    state: str  # online / offline
    link: str
    saf_depth: int
    updated: str


def parse_url(url: str) -> tuple[str, int]:
    u = urllib.parse.urlsplit(url)
    if u.scheme != "mqtt" or not u.hostname:
        raise ValueError(f"an MQTT broker is mqtt://HOST[:PORT], got {url!r}")
    return u.hostname, u.port or 1883


def parse_status(payload: bytes) -> Status | None:
    """A status payload as the agent publishes it; None for anything else (ignored). Any
    device on the broker can publish there: JSON nested deeper than the parser's recursion
    raises `RecursionError`, which would end the subscriber for good."""
    try:
        data: Any = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("state") not in ("online", "offline"):
        return None
    if data["state"] == "offline":
        return Status("offline", "", 0, "")
    saf = data.get("saf_depth")
    return Status("online", str(data.get("link", "")), saf if isinstance(saf, int) else 0,
                  str(data.get("updated", "")))


class Fleet:
    """The last retained status per terminal, kept by a background MQTT subscriber."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.host, self.port = parse_url(url)
        self.prefix = prefix
        self.url = url
        self.connected = False
        self.error = ""
        self._status: dict[str, Status] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="console-mqtt", daemon=True)

    def start(self) -> Fleet:
        self._thread.start()
        return self

    def snapshot(self) -> dict[str, Status]:
        with self._lock:
            return dict(self._status)

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._run())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port,
                                          keepalive=KEEPALIVE_SECONDS) as client:
                    await client.subscribe(f"{self.prefix}/+/status", qos=1)
                    self.connected, self.error = True, ""
                    async for msg in client.messages:
                        self._on(str(msg.topic), msg.payload)
            except aiomqtt.MqttError as exc:
                self.error = str(exc)
            self.connected = False
            await asyncio.sleep(RETRY_SECONDS)

    def _on(self, topic: str, payload: object) -> None:
        parts = topic.split("/")
        if len(parts) < 2 or not isinstance(payload, bytes | bytearray):
            return
        tid = parts[-2]
        status = parse_status(bytes(payload))
        if status is None:
            return
        with self._lock:
            self._status[tid] = status
