"""One terminal connection and the path of one request through the switch.

The path, in order (docs/switch.md, "The request path"), each step one call:

    frame -> decode + parse_request   (`read_frame`: a `Request`, or `Ignored`)
          -> core.needs               (what the decision reads: HSM verdicts, journal rows)
          -> HSM checks               (`Security.checks`, only what the needs name)
          -> journal.fetch            (only the journal rows the needs name)
          -> core.decide              (the whole outcome; nothing changed yet)
          -> encode + MAC + frame     (`encode`; any failure so far: 96, nothing changed)
          -> core.apply               (the state changes; the next request sees them)
          -> writer.submit            (group commit)
          -> release after COMMIT     (`release`: the reply is written)

In-process HSM calls never suspend, so the whole path runs inside `data_received`. With a TCP
HSM, `Sequencer` starts the checks of later requests while earlier ones are decided, and
runs the rest of the path (`decide`) strictly in arrival order.

One module, past 400 lines, on purpose: the path above read top to bottom in one file, each
step a method of the connection it runs on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from typing import Protocol, cast

from iso8583 import CodecError, FrameDecoder, FramingError, Profile, frame
from switch.config import Config
from switch.core import (
    NO_CHECKS,
    RC,
    Checks,
    Decision,
    Entry,
    Ignored,
    Needs,
    Request,
    apply,
    decide,
    needs,
    parse_request,
    system_error,
    undecodable,
)
from switch.core.card_store import reading_lots
from switch.core.luhn import mask_pan, redact
from switch.core.protocol import Lps87, wire_checked
from switch.core.security import reply_mac_key
from switch.core.state import State
from switch.journal import Journal
from switch.metrics import Metrics
from switch.security import Security, run_now
from switch.writer import Outgoing, SwitchStopped, Writer, kv

log = logging.getLogger("lps.switch")
#: `RC.APPROVED` as a plain `str`: every reply's code is compared with it on the
#: interpreter's fast path for two `str`s, not through `StrEnum`'s comparison.
_APPROVED = RC.APPROVED.value


async def no_checks() -> Checks:
    return NO_CHECKS


def read_frame(profile: Profile, payload: bytes, protocol: Lps87,
               peer: str = "") -> Request | Ignored:
    """Decode and parse one frame. An undecodable one is refused `30` when the codec read
    its MTI, DE11 and DE41 (docs/protocol.md §2), else not answered (its connection is
    closed)."""
    try:
        msg = profile.decode(payload)
    except CodecError as exc:
        partial = exc.partial
        mti, stan, tid, de7 = (partial.get(n) for n in ("mti", 11, 41, 7))
        reason = redact(str(exc))
        if not (isinstance(mti, str) and isinstance(stan, str) and isinstance(tid, str)):
            return Ignored(f"undecodable: {reason}", close=True)
        log.info(kv("format_error", peer=peer, mti=mti, stan=stan, tid=tid, error=reason))
        tpdu = payload[:5] if profile.name == "bcd" and len(payload) >= 5 else None
        return undecodable(mti, stan, tid, de7 if isinstance(de7, str) else "", reason, tpdu)
    return parse_request(msg, protocol, wire_checked=wire_checked(profile))


def drop_self_references(transport: object) -> None:
    """Unset what a transport holds of itself once its connection is lost: asyncio's selector
    transport keeps its read callback as a method bound to itself, a cycle that outlives the
    connection and that the switch's frozen collector would keep for the life of the process
    (`switch.server.tune_gc`). Nothing calls the transport's callbacks after `connection_lost`;
    uvloop's transports keep no such attributes."""
    attrs = getattr(transport, "__dict__", None)
    if attrs is None:
        return
    for name, value in list(attrs.items()):
        if getattr(value, "__self__", None) is transport:
            attrs[name] = None


class Host(Protocol):
    """What a connection uses of the running switch (`switch.server.Switch`): its state and
    the parts of the path, and the counts that backpressure shares across connections."""

    #: Requests in flight across every connection (docs/switch.md, Configuration: limits).
    inflight: int
    #: Why the switch stopped (fail-stop), or None while it serves.
    failure: str | None

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def config(self) -> Config: ...
    @property
    def state(self) -> State: ...
    @property
    def security(self) -> Security: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def writer(self) -> Writer: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def stopping(self) -> bool: ...
    @property
    def connections(self) -> set[Connection]: ...
    @property
    def paused(self) -> set[Connection]: ...
    @property
    def unflushed(self) -> list[Connection]: ...
    def fail(self, reason: str) -> None: ...
    def resume_paused(self) -> None: ...


class Connection(asyncio.Protocol):
    """One terminal connection: many requests outstanding, answers in commit order."""

    def __init__(self, switch: Host, profile: Profile, name: str) -> None:
        self.switch = switch
        self.profile = profile
        self.name = name
        #: The longest frame read or written (docs/switch.md, Configuration: limits).
        self.max_frame = switch.config.switch.limits.max_frame
        self.decoder = FrameDecoder(self.max_frame)
        self.transport: asyncio.Transport | None = None
        self.inflight = 0
        self.paused = False
        self.write_paused = False
        self.closed = False
        self.last_seen = 0.0
        self.peer = ""
        self.outbox: list[bytes] = []  # released (committed) answers not yet written

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses but offer the same API.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = str(transport.get_extra_info("peername"))
        sw = self.switch
        self.last_seen = sw.loop.time()
        full = len(sw.connections) >= sw.config.switch.limits.max_connections
        if full or sw.stopping:
            log.warning(kv("connection_refused", peer=self.peer,
                           reason="stopping" if sw.stopping else "connection limit"))
            self.transport.abort()
            self.closed = True
            return
        sw.connections.add(self)
        sw.metrics.connections.set(len(sw.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.transport is not None:
            drop_self_references(self.transport)
        self.transport = None  # the transport points back at us: no cycle left to collect
        sw = self.switch
        sw.connections.discard(self)
        sw.paused.discard(self)
        sw.metrics.connections.set(len(sw.connections))

    def pause_writing(self) -> None:
        # The terminal does not read its answers: stop reading its requests.
        self.write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.update_reading()

    def data_received(self, data: bytes) -> None:
        sw = self.switch
        self.last_seen = sw.loop.time()
        self.decoder.feed(data)
        try:
            for payload in self.decoder.frames():
                if self.closed or sw.stopping:
                    return
                self.on_frame(payload)
        except FramingError as exc:
            log.warning(kv("frame_too_long", peer=self.peer, listener=self.name, error=exc))
            self.close()

    # -- the request path ---------------------------------------------------------------------

    def on_frame(self, payload: bytes) -> None:
        """One frame: read it, then the HSM checks its needs name, then `decide` (in order)."""
        sw = self.switch
        started, now = time.perf_counter(), dt.datetime.now(dt.UTC)
        request = read_frame(self.profile, payload, sw.state.protocol, self.peer)
        if isinstance(request, Ignored):
            self.ignore(request)
            return
        need = needs(sw.state, request)
        hsm = need.hsm
        sec = sw.security
        # whether the HSM is involved (a check, or a MAC to seal) matters only out of process
        if sec.inline or not (hsm or sec.seals(sw.state, request.tid) or sec.sequencer.busy):
            checks = run_now(sec.checks(sw.state, request, need, payload, self.profile)) \
                if hsm else NO_CHECKS
            if sw.writer.shared:
                run_now(self.decide(request, checks, started=started, now=now, need=need))
                return
            # Nothing waits (an in-process HSM, or no MAC): the rest of the path without a
            # coroutine (three per request cost more than the connection's own work).
            made = self.decided_now(request, checks, now, need)
            if made is not None:
                self.submit(made[0], made[1], request.mti, started)
            return
        self.hold()  # counted in flight from now on: backpressure covers HSM waits too
        prepare = sec.checks(sw.state, request, need, payload, self.profile) if hsm \
            else no_checks()
        sec.sequencer.run(prepare, functools.partial(self.decide, request, started=started,
                                                     now=now), done=self.unhold)

    def ignore(self, ignored: Ignored) -> None:
        if ignored.close:
            log.warning(kv("unanswerable", peer=self.peer, listener=self.name,
                           reason=ignored.reason, action="close"))
            self.close()
        else:
            log.info(kv("ignored", peer=self.peer, listener=self.name, reason=ignored.reason,
                        action="not answered"))

    async def decide(self, request: Request, checks: Checks, *, started: float,
                     now: dt.datetime, need: Needs | None = None) -> None:
        """Fetch, decide, encode, apply, submit: the rest of the path, in arrival order.

        `need` is the one computed on arrival when nothing was decided since; a request that
        waited for the HSM computes it again (earlier decisions may have changed it).
        """
        sw = self.switch
        if sw.writer.shared:  # decided in the node's turn (docs/switch.md, "Several nodes")
            self.hold()
            try:
                sw.writer.defer(functools.partial(self.decide_in_turn, request, checks,
                                                  started, now))
            except SwitchStopped:
                self.unhold()
                self.close()
            return
        made = await self.decided(request, checks, now, need)
        if made is not None:
            self.submit(made[0], made[1], request.mti, started)

    async def decide_in_turn(self, request: Request, checks: Checks, started: float,
                             now: dt.datetime) -> tuple[list[Entry], Outgoing] | None:
        """A node of several: `decided` against the state as of the journal's head, in the
        writer's turn (switch/writer.py); raises `SwitchStopped` when an invariant broke."""
        made = await self.decided(request, checks, now, None)
        if made is None:
            self.unhold()
            if self.switch.failure is not None:
                raise SwitchStopped(self.switch.failure)
            return None
        decision, wire = made
        return decision.entries, self.outgoing(decision, wire, request.mti, started)

    async def decided(self, request: Request, checks: Checks, now: dt.datetime,
                      need: Needs | None) -> tuple[Decision, bytes] | None:
        """Fetch, decide, encode, apply: the decision and its framed reply, or None when the
        connection closed or the switch stopped (nothing to send). The reply's MAC may wait
        for the HSM."""
        try:
            decision = self.decision(request, checks, now, need)
            wire = await self.encode(decision)
        except Exception as exc:  # a bug, or a reply that cannot be encoded: 96, no change
            decision = self.failed(request, exc)
            try:
                wire = await self.encode(decision)
            except Exception:
                self.close()
                return None
        return self.applied(decision, wire)

    def decided_now(self, request: Request, checks: Checks, now: dt.datetime,
                    need: Needs | None) -> tuple[Decision, bytes] | None:
        """`decided` where nothing waits: the HSM is in process, or the reply has no MAC."""
        try:
            decision = self.decision(request, checks, now, need)
            wire = self.encode_now(decision)
        except Exception as exc:  # a bug, or a reply that cannot be encoded: 96, no change
            decision = self.failed(request, exc)
            try:
                wire = self.encode_now(decision)
            except Exception:
                self.close()
                return None
        return self.applied(decision, wire)

    def decision(self, request: Request, checks: Checks, now: dt.datetime,
                 need: Needs | None) -> Decision:
        """Fetch what the needs name, then decide; the lots of a card recovery left in the
        journal are read first for the card DE2 names, and for any other when the decision
        reaches it (`reading_lots`)."""
        state, journal = self.switch.state, self.switch.journal
        facts = journal.fetch(need or needs(state, request), checks)
        if request.pan and state.cards.unread(request.pan):  # read once, not decided twice
            journal.fill(state, request.pan)
        return reading_lots(lambda: decide(state, request, facts, now),
                            functools.partial(journal.fill, state))

    def failed(self, request: Request, exc: Exception) -> Decision:
        """`96` for a request whose decision or reply failed (logged; nothing changed)."""
        decision = system_error(request, redact(f"{type(exc).__name__}: {exc}"))
        log.error(kv("decide_failed", peer=self.peer, mti=request.mti,
                     tid=request.tid.strip(), stan=request.stan, error=decision.reason,
                     action="answered 96, nothing changed"))
        return decision

    def applied(self, decision: Decision, wire: bytes) -> tuple[Decision, bytes] | None:
        """The decision applied to the state; None when an invariant broke (the switch
        stops and recovers from the journal)."""
        try:
            apply(self.switch.state, decision)
        except AssertionError as exc:
            self.switch.fail(f"invariant broken applying a decision: {redact(str(exc))}")
            return None
        return decision, wire

    async def encode(self, decision: Decision) -> bytes:
        """The reply framed, MACed under the key the core names (the HSM may make it wait)."""
        resp = decision.response
        assert resp is not None
        key = reply_mac_key(self.switch.state, decision)
        if key is None:
            return frame(self.profile.encode(resp), self.max_frame)
        raw = await self.switch.security.seal(resp, self.profile, key)
        return frame(raw, self.max_frame)

    def encode_now(self, decision: Decision) -> bytes:
        """`encode` where the MAC, if any, never waits (`Security.inline`, or no key)."""
        resp = decision.response
        assert resp is not None
        key = reply_mac_key(self.switch.state, decision)
        raw = self.profile.encode(resp) if key is None \
            else run_now(self.switch.security.seal(resp, self.profile, key))
        return frame(raw, self.max_frame)

    def submit(self, decision: Decision, wire: bytes, mti: str, started: float) -> None:
        out = self.outgoing(decision, wire, mti, started)
        self.hold()
        try:
            self.switch.writer.submit(decision.entries, out)
        except SwitchStopped:
            self.close()

    def outgoing(self, decision: Decision, wire: bytes, mti: str, started: float) -> Outgoing:
        """The reply waiting for its batch's commit (a decline logged at DEBUG)."""
        assert decision.response is not None
        resp = decision.response
        rc = str(resp.fields.get(39, ""))
        if rc != _APPROVED and rc and log.isEnabledFor(logging.DEBUG):
            pan = resp.fields.get(2)
            log.debug(kv("declined", mti=mti, rc=rc, tid=resp.fields.get(41, ""),
                         stan=resp.fields.get(11, ""),
                         pan=mask_pan(pan) if isinstance(pan, str) else "",
                         reason=decision.reason))
        return Outgoing(self, wire, mti, rc, started)

    def release(self, out: Outgoing) -> None:
        """The reply's batch is committed: queue it for this batch's one write."""
        sw = self.switch
        if not self.closed and self.transport is not None:
            if not self.outbox:
                sw.unflushed.append(self)
            self.outbox.append(out.wire)
        sw.metrics.observe(out.mti, out.rc, time.perf_counter() - out.started)
        self.unhold()

    def flush(self) -> None:
        """Write every answer released by the last commit in one call (one syscall, not N)."""
        out, self.outbox = self.outbox, []
        if out and not self.closed and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    # -- backpressure ---------------------------------------------------------------------------

    def hold(self) -> None:
        self.inflight += 1
        self.switch.inflight += 1
        self.update_reading()

    def unhold(self) -> None:
        self.inflight -= 1
        self.switch.inflight -= 1
        self.update_reading()
        self.switch.resume_paused()

    def update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        limits = self.switch.config.switch.limits
        over_global = self.switch.inflight >= limits.max_inflight
        should_pause = (self.write_paused or self.inflight >= limits.max_inflight_per_connection
                        or over_global)
        if should_pause and not self.paused:
            self.transport.pause_reading()
            self.paused = True
            if over_global:
                self.switch.paused.add(self)
        elif not should_pause and self.paused:
            self.transport.resume_reading()
            self.paused = False
            self.switch.paused.discard(self)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()
