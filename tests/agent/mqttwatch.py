"""A test-side MQTT client that records what the agent publishes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from tests.waits import EVENT

#: Seconds between the watch's pings to the broker (`_run`).
WATCH_KEEPALIVE = 3


class Watch:
    def __init__(self, host: str, port: int, topic: str) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.seen: list[tuple[str, Any, bool]] = []  # topic, JSON payload, retained
        self._cond = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def __aenter__(self) -> Watch:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready))
        await asyncio.wait_for(ready.wait(), EVENT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        # aiomqtt's Client.__aexit__ can answer the cancellation with an MqttError (the
        # disconnect's), which `_run` takes for a lost link: the flag ends its loop then.
        self._closing = True
        self._task.cancel()
        done, _ = await asyncio.wait({self._task}, timeout=EVENT)
        assert done, f"the MQTT watch did not stop in {EVENT:g} s"
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            self._task.result()

    async def _run(self, ready: asyncio.Event) -> None:
        # A short keepalive: when the broker restarts, uvloop may refuse the client's write
        # watch on the closed socket (`add_writer`: "the handler is closed", in a callback),
        # and the client then waits on a dead link until a ping goes unanswered, 1.5
        # keepalives (90 s with aiomqtt's 60), past any test's wait. The agent's is 15 s.
        while not self._closing:
            try:
                async with aiomqtt.Client(self.host, self.port,
                                          keepalive=WATCH_KEEPALIVE) as client:
                    await client.subscribe(self.topic, qos=1)
                    ready.set()
                    async for m in client.messages:
                        raw = m.payload
                        body = raw.decode() if isinstance(raw, bytes | bytearray) else raw
                        try:
                            doc = json.loads(body) if body else None
                        except ValueError:
                            doc = body
                        async with self._cond:
                            self.seen.append((str(m.topic), doc, bool(m.retain)))
                            self._cond.notify_all()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    async def wait(self, pred: Callable[[str, Any], bool], timeout: float = EVENT,
                   after: int = 0) -> Any:
        """The first payload (from index `after`) matching pred(topic, payload)."""

        def find() -> Any:
            for topic, doc, _r in self.seen[after:]:
                if pred(topic, doc):
                    return doc
            return None

        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: find() is not None), timeout)
            return find()

    async def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        await publish(self.host, self.port, topic, payload, retain)


async def publish(host: str, port: int, topic: str, payload: Any, retain: bool = False) -> None:
    """One message, QoS 1, as an operator's tool would send it (JSON unless a string)."""
    async with aiomqtt.Client(host, port) as client:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        await client.publish(topic, body, qos=1, retain=retain)


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "mqtt"


def check_schemas(seen: list[tuple[str, Any, bool]], leaves: tuple[str, ...] = ("status",
                                                                                 "events")) -> int:
    """Validate every payload seen on the given topic leaves against schemas/mqtt; returns how
    many were checked. Needs the `jsonschema` package (a test dependency)."""
    import jsonschema  # type: ignore[import-untyped]  # untyped; types-jsonschema not installed

    validators = {leaf: jsonschema.Draft202012Validator(
        json.loads((SCHEMAS / f"{leaf}.schema.json").read_text())) for leaf in leaves}
    checked = 0
    for topic, doc, _retained in seen:
        leaf = topic.rsplit("/", 1)[-1]
        if leaf in validators and doc is not None:
            errors = sorted(validators[leaf].iter_errors(doc), key=str)
            assert not errors, f"{topic}: {doc} breaks {leaf}.schema.json: {errors[0].message}"
            checked += 1
    return checked
