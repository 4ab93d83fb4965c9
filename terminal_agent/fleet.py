"""MQTT fleet link (docs/protocol.md §7): retained status with a last will, live config, operator
commands and transaction events, reconnecting whenever the broker goes away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from iso8583.redact import redact

from . import __version__
from .config import AgentConfig

log = logging.getLogger("lps.agent.fleet")
MAX_BACKLOG = 1000
#: Messages from the broker waiting while a command is served (a sign-on may wait for the
#: switch): a flood beyond this is dropped, not queued without end (docs/agent.md, "Fleet").
MAX_INCOMING = 100
#: How often, at most, the dropping is logged.
DROPS_LOGGED_EVERY = 60.0
#: The largest `config` or `cmd` message read: a config is a few keys, a command its name and
#: id; a larger one is refused unread (docs/agent.md, "Fleet").
MAX_PAYLOAD = 64 * 1024
#: The longest command id echoed as sent (its JSON); a longer one, or one holding a card
#: number, comes back as its JSON text, masked and cut to this.
MAX_ID = 200


def _echoed(ident: Any) -> Any:
    """A command's id as its cmd-result carries it: as sent when short and free of card
    numbers, else its JSON text masked and cut (an id is the sender's, echoed to match)."""
    text = json.dumps(ident, ensure_ascii=False)
    safe = redact(text)
    return ident if safe == text and len(text) <= MAX_ID else safe[:MAX_ID]


class _DropsCounted(logging.Filter):
    """aiomqtt logs every message it drops from its full queue; a flood would flood the log.
    The first drop is logged, then one line a minute at most, with the count so far."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0
        self._logged = -DROPS_LOGGED_EVERY

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Message queue is full"):
            return True
        self.dropped += 1
        now = time.monotonic()
        if now - self._logged < DROPS_LOGGED_EVERY:
            return False
        self._logged = now
        record.msg = ("MQTT messages from the broker dropped: %d waiting already (%d dropped "
                      "since the agent started)")
        record.args = (MAX_INCOMING, self.dropped)
        return True


_client_log = logging.getLogger("lps.agent.fleet.mqtt")  # aiomqtt's and paho's lines
_client_log.addFilter(_DropsCounted())
COMMANDS = ("sign-on", "flush-saf", "reload-config")

StatusFn = Callable[[], dict[str, Any]]
ConfigFn = Callable[[Any], Awaitable[str]]  # returns a description; raises ValueError
CommandFn = Callable[[str], Awaitable[tuple[bool, str]]]


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Fleet:
    def __init__(self, cfg: AgentConfig, status: StatusFn, on_config: ConfigFn,
                 on_command: CommandFn) -> None:
        self.cfg = cfg
        self.status = status
        self.on_config = on_config
        self.on_command = on_command
        self.connected = False
        self._client: aiomqtt.Client | None = None
        self._backlog: asyncio.Queue[tuple[str, str, bool]] = asyncio.Queue(MAX_BACKLOG)
        self._status_dirty = asyncio.Event()
        self._wakeup = asyncio.Event()  # new status or events to publish
        self._stop = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.mqtt)

    def topic(self, leaf: str) -> str:
        return f"{self.cfg.topic_base}/{leaf}"

    def event(self, payload: dict[str, Any]) -> None:
        """Queue an event; kept while the broker is away (up to MAX_BACKLOG, oldest dropped)."""
        if not self.enabled:
            return
        body = json.dumps({"ts": now_iso(), "terminal_id": self.cfg.terminal_id, **payload},
                          ensure_ascii=False)
        if self._backlog.full():
            self._backlog.get_nowait()
            log.warning("MQTT event backlog full: oldest event dropped")
        self._backlog.put_nowait((self.topic("events"), body, False))
        self._wakeup.set()

    def status_changed(self) -> None:
        self._status_dirty.set()
        self._wakeup.set()

    def _status_payload(self) -> str:
        return json.dumps({"state": "online", "terminal_id": self.cfg.terminal_id,
                           "version": __version__, "updated": now_iso(), **self.status()},
                          ensure_ascii=False)

    async def run(self) -> None:
        if not self.enabled:
            return
        delay = 0.2
        while not self._stop.is_set():
            will = aiomqtt.Will(self.topic("status"), json.dumps({"state": "offline"}), qos=1,
                                retain=True)
            try:
                async with aiomqtt.Client(self.cfg.mqtt_host, self.cfg.mqtt_port,
                                          identifier=f"lps-agent-{self.cfg.terminal_id}",
                                          will=will, keepalive=15, logger=_client_log,
                                          max_queued_incoming_messages=MAX_INCOMING
                                          ) as client:
                    self._client = client
                    self.connected = True
                    delay = 0.2
                    await client.publish(self.topic("status"), self._status_payload(), qos=1,
                                         retain=True)
                    await client.subscribe(self.topic("config"), qos=1)
                    await client.subscribe(self.topic("cmd"), qos=1)
                    # logged once subscribed: from here on a command sent is served
                    log.info("MQTT connected to %s", self.cfg.mqtt)
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT link to %s down: %s; retrying in %.1f s", self.cfg.mqtt, exc,
                            delay)
            except Exception:
                log.exception("MQTT link failed; retrying in %.1f s", delay)
            finally:
                self._client = None
                self.connected = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, 5.0)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Inbound messages in this task, publications in another; either failing ends both."""
        out = asyncio.create_task(self._outbound(client))
        inbound = asyncio.create_task(self._inbound(client))
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait({out, inbound, stop},
                                         return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                await client.publish(self.topic("status"), json.dumps({"state": "offline"}),
                                     qos=1, retain=True)
                return
            for t in done:
                exc = t.exception()
                if exc is not None:
                    raise exc
            raise aiomqtt.MqttError("MQTT session ended")
        finally:
            for t in (out, inbound, stop):
                t.cancel()
            await asyncio.wait({out, inbound, stop}, timeout=5)

    async def _outbound(self, client: aiomqtt.Client) -> None:
        while True:
            # cleared before looking, so that a change made while we publish wakes us again
            self._wakeup.clear()
            if self._status_dirty.is_set():
                self._status_dirty.clear()
                await client.publish(self.topic("status"), self._status_payload(), qos=1,
                                     retain=True)
            while not self._backlog.empty():
                topic, body, retain = self._backlog.get_nowait()
                try:
                    await client.publish(topic, body, qos=1, retain=retain)
                except aiomqtt.MqttError:
                    self._backlog.put_nowait((topic, body, retain))  # resend after reconnect
                    raise
            await self._wakeup.wait()

    async def _inbound(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            raw = message.payload
            size = len(raw) if isinstance(raw, bytes | bytearray) else 0
            if size > MAX_PAYLOAD:
                self._oversized(topic, size)
                continue
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray) else str(
                raw or "")
            if topic == self.topic("config"):
                await self._config(text)
            elif topic == self.topic("cmd"):
                await self._command(text)

    def _oversized(self, topic: str, size: int) -> None:
        """A message over MAX_PAYLOAD, refused with its event and not read."""
        why = f"a message of {size} bytes, more than {MAX_PAYLOAD}: not read"
        if topic == self.topic("config"):
            log.error("config from MQTT rejected: %s", why)
            self.event({"type": "config-rejected", "error": why})
        elif topic == self.topic("cmd"):
            log.error("command from MQTT refused: %s", why)
            self.event({"type": "cmd-result", "cmd": "", "id": None, "ok": False,
                        "detail": why})

    async def _config(self, text: str) -> None:
        if not text:
            return  # retained config cleared
        try:
            update = _json(text)
            detail = await self.on_config(update)
        except (ValueError, TypeError) as exc:
            # the error quotes what was sent, which may be a card number pasted into the
            # wrong place: masked, as in every log line and message (docs/protocol.md §6)
            error = redact(str(exc))
            log.error("config from MQTT rejected: %s", error)
            self.event({"type": "config-rejected", "error": error})
            return
        self.event({"type": "config-applied", "detail": detail})
        self.status_changed()

    async def _command(self, text: str) -> None:
        ident: Any = None
        try:
            doc = _json(text)
        except ValueError:
            doc = text.strip()
        if isinstance(doc, dict):
            name, ident = doc.get("cmd"), _echoed(doc.get("id"))
        else:
            name = doc
        if name not in COMMANDS:
            self.event({"type": "cmd-result", "cmd": redact(str(name))[:40], "id": ident,
                        "ok": False,
                        "detail": f"unknown command (known: {', '.join(COMMANDS)})"})
            return
        ok, detail = await self.on_command(str(name))
        # a reload-config refused quotes the file's value, masked as above
        self.event({"type": "cmd-result", "cmd": name, "id": ident, "ok": ok,
                    "detail": redact(detail)})
        self.status_changed()

    def close(self) -> None:
        """Clean shutdown: the run loop says offline itself (the will only fires on a lost
        connection), disconnects and returns."""
        self._stop.set()


def _json(text: str) -> Any:
    """`text` as JSON; `ValueError` also for nesting deeper than the parser's recursion
    (`json.loads` raises `RecursionError` there, which ended the MQTT link)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
