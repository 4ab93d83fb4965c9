"""The outbox drain (docs/agent.md "Switch link and the outbox"): on the switch the link is
signed on to, pending reversals first, then store-and-forward advices, one at a time, oldest
first. Repeats reuse DE11 + DE7, which the switch treats as retransmissions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from iso8583 import Message

from .config import AgentConfig
from .failover import ORIGINAL_SWITCH, note_not_found, orphaned, reversal_due, settles_reversal
from .iso import Fields
from .linkerrors import LinkDown, NoAnswer
from .store import Entry, Outbox

log = logging.getLogger("lps.agent.switch")

# Answers that settle nothing: the switch could not decide (91, 96) or has forgotten our sign-on
# (58). A queued advice or reversal answered so stays on disk and is sent again.
TRANSIENT = frozenset({"58", "91", "96"})

SettledFn = Callable[[Entry, Message, str, bool], None]  # entry, answer, switch, kept


class Link(Protocol):
    """What the drain needs of the switch link."""

    cfg: AgentConfig

    @property
    def host(self) -> str: ...

    async def request(self, mti: str, fields: Fields, *, signed: bool = True,
                      timeout: float | None = None) -> Message: ...

    def outbox_changed(self) -> None: ...


class OutboxDrain:
    def __init__(self, link: Link, outbox: Outbox, on_settled: SettledFn) -> None:
        self.link = link
        self.outbox = outbox
        self.on_settled = on_settled
        self._kick = asyncio.Event()

    def kick(self) -> None:
        """New outbox work (or an operator's flush-saf): drain now."""
        self._kick.set()

    def reversals_due(self) -> bool:
        """A reversal still to be sent on the switch in use (docs/protocol.md §4: before
        anything new)."""
        host, hosts = self.link.host, self.link.cfg.hosts
        return any(reversal_due(e.context, host) and not orphaned(e.context, hosts)
                   for e in self.outbox.entries("reversal"))

    def due(self) -> list[Entry]:
        """What to send on this switch, in order: reversals due here, then advices. A reversal
        kept for a switch that has left the list is settled by the `25` it already got."""
        host, hosts = self.link.host, self.link.cfg.hosts
        reversals: list[Entry] = []
        for entry in self.outbox.entries("reversal"):
            if orphaned(entry.context, hosts):
                self.outbox.remove(entry.id)
                log.warning("0400 STAN %s: its switch %s has left the list; settled by the 25 "
                            "already received", entry.fields.get(11),
                            entry.context.get(ORIGINAL_SWITCH))
                self.link.outbox_changed()
            elif reversal_due(entry.context, host):
                reversals.append(entry)
        return reversals + self.outbox.entries("advice")

    async def run(self) -> None:
        """Send entries one at a time until the session ends."""
        backoff = 0.5
        while True:
            self._kick.clear()
            pending = self.due()
            if not pending:
                await self._kick.wait()
                continue
            for entry in pending:
                try:
                    settled = await self.settle(entry)
                except LinkDown:
                    return  # the session ends; the next one drains again
                if not settled:
                    # unanswered or undecided: back off, the next pass repeats it (0401/0221)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._kick.wait(), backoff)
                    backoff = min(backoff * 2, self.link.cfg.reconnect_max_seconds)
                    break
                backoff = 0.5

    async def settle(self, entry: Entry) -> bool:
        """Send one outbox entry; on an answer that settles it remove it. False when unanswered
        or undecided."""
        host = self.link.host
        self.outbox.bump(entry.id)
        try:
            resp = await self.link.request(entry.wire_mti, entry.fields)
        except NoAnswer as exc:
            log.warning("%s", exc)
            return False
        code = resp.text(39, "").strip()
        stan = entry.fields[11]
        if code in TRANSIENT:
            log.warning("%s STAN %s answered %s by %s: kept, sent again later", entry.wire_mti,
                        stan, code, host)
            return False
        kept = entry.kind == "reversal" and not settles_reversal(entry.context, host, code,
                                                                 self.link.cfg.hosts)
        if kept:
            self.outbox.set_context(entry.id, note_not_found(entry.context, host))
            log.warning("%s STAN %s answered %s by %s, but its original went to %s: kept until "
                        "that switch answers", entry.wire_mti, stan, code, host,
                        entry.context.get(ORIGINAL_SWITCH))
        else:
            self.outbox.remove(entry.id)
            log.info("%s STAN %s answered %s by %s", entry.wire_mti, stan, code, host)
        self.on_settled(entry, resp, host, kept)
        self.link.outbox_changed()
        return True
