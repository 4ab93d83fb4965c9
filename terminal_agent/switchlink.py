"""The link to the switch: LPS-87 framing, sign-on, key exchange, echo keepalive, request
matching, and failover between the configured switch addresses (docs/agent.md "Switch link and
the outbox", "Switch failover"). Reaching one address is reach.py; the outbox drain, run in
each signed-on session, is drain.py.

One module, past 400 lines, on purpose: sign-on, key exchange, keepalive and failover change the
same connection state, and their order is the protocol (docs/protocol.md §4, §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable

from iso8583 import CodecError, FrameDecoder, Message, Profile, frame, load_profile
from iso8583.loyalty import parse_tlv

from .config import AgentConfig
from .drain import OutboxDrain, SettledFn
from .failover import HostRing
from .iso import Fields, network_fields, not_an_answer
from .linkerrors import LinkDown, NoAnswer, NotSent
from .reach import ConnectFailed, open_switch, probe_sign_on
from .security import MAC_MTIS, KeyError_, parse_key, retail_mac, unwrap
from .store import Outbox

log = logging.getLogger("lps.agent.switch")

# The link's states; the fleet status shows CONNECTING and DOWN both as "down".
DOWN = "down"  # every address failed in a row: backing off before the next round
CONNECTING = "connecting"  # on the way to an address (start, failover, failback, reconnect)
CONNECTED = "connected"  # TCP (and TLS) up, signing on
SIGNED_ON = "signed-on"

# Where the next connection goes when a session ends.
SAME, NEXT, FIRST = "same", "next", "first"

MovedFn = Callable[[str, str, str, str], None]  # "failover" | "failback", from, to, reason


class SwitchLink:
    def __init__(self, cfg: AgentConfig, outbox: Outbox,
                 on_change: Callable[[], None] = lambda: None,
                 on_settled: SettledFn = lambda _e, _m, _s, _k: None,
                 on_move: MovedFn = lambda _k, _f, _t, _r: None) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.on_change = on_change  # connection state changed (status for the fleet)
        self.on_move = on_move  # signed on to another address than the last one
        self.ring = HostRing(cfg.hosts)
        self.last_error = ""
        self._state = CONNECTING
        self._changed = asyncio.Event()  # replaced on every state change (see ready)
        self._config_changed = asyncio.Event()  # replaced on every reconfigure
        self._profile: Profile = load_profile(cfg.profile)
        self._writer: asyncio.StreamWriter | None = None
        self._dropping = False  # the current connection is being closed: send nothing more
        self._next = NEXT
        self._failing_back = False
        self.drain = OutboxDrain(self, outbox, on_settled)
        self._last_host = cfg.hosts[0]  # the address of the last sign-on (at first: the first)
        self._left_because = ""
        self._signed_at = 0.0
        self._waiting: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._asked: dict[tuple[str, str], str] = {}  # the MTI of each waiting request
        self._idle = asyncio.Event()
        self._idle.set()
        self._restart = asyncio.Event()
        self._last_traffic = 0.0
        self._mac_key: bytes | None = None  # session MAC key, in memory only
        self._mac_expected: set[tuple[str, str]] = set()

    # -- state ----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address in use, or being tried."""
        return self.ring.current

    @property
    def state(self) -> str:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == CONNECTED

    @property
    def signed_on(self) -> bool:
        return self._state == SIGNED_ON

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._notify()
            self.on_change()

    def _notify(self) -> None:
        """Wake every `ready` waiter to look again."""
        self._changed.set()
        self._changed = asyncio.Event()

    # -- public ---------------------------------------------------------------------------

    def reconfigure(self, cfg: AgentConfig) -> None:
        """Apply a new config live. A new wire setting (profile, TPDU, TLS) reconnects from the
        first address; a new host list reconnects only when the address in use left it."""
        old, self.cfg = self.cfg, cfg
        moved = self.ring.replace(cfg.hosts)
        wire = (old.profile, old.tpdu, old.tls_ca, old.tls_server_name) != (
            cfg.profile, cfg.tpdu, cfg.tls_ca, cfg.tls_server_name)
        if wire:
            self._profile = load_profile(cfg.profile)
            self.ring.back_to_first()
        if moved or wire:
            self._last_host = self.ring.current  # an operator's move, not a failover
            log.info("switch settings changed to %s (%s): reconnecting to %s",
                     ", ".join(cfg.hosts), cfg.profile, self.ring.current)
            self._restart.set()
            self._drop("reconfigured", SAME)
        self._config_changed.set()
        self._config_changed = asyncio.Event()
        self.kick()

    def kick(self) -> None:
        """New outbox work (or an operator's flush-saf): drain now."""
        self.drain.kick()

    def outbox_changed(self) -> None:
        """An entry was settled or kept: `ready` waiters look again, the status is redone."""
        self._notify()
        self.on_change()

    async def sign_on(self) -> str:
        """0800/001; returns DE39."""
        resp = await self.request("0800", network_fields(
            "001", self.outbox.next_stan(), self.cfg.terminal_id, time.time()), signed=False)
        return resp.text(39, "96").strip()

    async def ready(self, timeout: float) -> bool:
        """Whether a new financial request may go now: signed on, and no reversal due on this
        switch (docs/protocol.md §4: a reversal goes before anything new). Waits while the link
        is on its way to a switch or draining reversals, at most `timeout`; False at once when
        every address failed and the link is backing off."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._state == SIGNED_ON and not self.drain.reversals_due():
                return True
            left = deadline - loop.time()
            if self._state == DOWN or left <= 0:
                return False
            self.kick()
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    async def request(self, mti: str, fields: Fields, *, signed: bool = True,
                      timeout: float | None = None) -> Message:
        """Send one request and wait for its response (matched on DE11 + DE41). An unanswered
        request ends the session: the link moves to the next address."""
        if self._writer is None or self._dropping or (signed and self._state != SIGNED_ON):
            raise NotSent(self.last_error or "switch not connected")
        wait = timeout or self.cfg.request_timeout_seconds
        tpdu = bytes.fromhex(self.cfg.tpdu) if self.cfg.profile == "bcd" else None
        msg = Message(mti=mti, fields=dict(fields), tpdu=tpdu)
        key = (str(fields[11]), str(fields[41]).strip())
        mac_key = self._mac_key if mti in MAC_MTIS else None
        if mac_key is not None:
            msg.fields[msg.mac_field] = bytes(8)
        payload = self._profile.encode(msg)
        if mac_key is not None:
            payload = self._profile.replace_mac(
                payload, retail_mac(mac_key, self._profile.mac_span(payload)))
            self._mac_expected.add(key)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        self._asked[key] = mti
        self._idle.clear()
        writer = self._writer

        async def exchange() -> Message:
            await writer.drain()  # a switch that reads nothing can fill the socket's buffer
            return await fut

        try:
            writer.write(frame(payload))
            self._last_traffic = time.monotonic()
            return await asyncio.wait_for(exchange(), wait)
        except TimeoutError:
            why = f"no answer to {mti} STAN {key[0]} from {self.host} in {wait:g} s"
            self._fail(why)
            raise NoAnswer(why) from None
        except (ConnectionError, OSError) as exc:
            raise LinkDown(f"connection lost: {exc}") from None
        finally:
            self._waiting.pop(key, None)
            self._asked.pop(key, None)
            self._mac_expected.discard(key)
            if not self._waiting:
                self._idle.set()

    # -- connection loop ----------------------------------------------------------------

    async def run(self) -> None:
        delay = 0.5
        while True:
            self._restart.clear()
            host = self.host
            self._set_state(CONNECTING)
            try:
                reader, writer = await open_switch(self.cfg, host)
            except ConnectFailed as exc:
                self.last_error = f"cannot connect to {host}: {exc}"
                if not self._restart.is_set():
                    delay = await self._next_address(delay)
                continue
            if self._restart.is_set():  # reconfigured while connecting: start again
                writer.close()
                continue
            self._writer = writer
            self._dropping = False
            self._next = NEXT  # a failure before sign-on moves on
            log.info("connected to switch %s", host)
            self._set_state(CONNECTED)
            try:
                signed = await self._session(reader, writer, host)
            finally:
                self._close(writer, host)
            if signed:
                delay = 0.5
            if self._next == NEXT:
                delay = await self._next_address(delay)
            elif self._next == FIRST:
                self.ring.back_to_first()

    async def _next_address(self, delay: float) -> float:
        """The address in use failed: try the next one at once, or, when that completes a round
        of failures, wait `delay` (doubling up to reconnect_max_seconds) and start again."""
        failed = self.host
        self._left_because = self.last_error
        if not self.ring.failed():
            log.warning("%s; trying the next switch %s", self.last_error, self.host)
            return delay
        self._set_state(DOWN)
        if len(self.cfg.hosts) > 1:
            log.warning("%s; no switch answered (%s): retrying in %.1f s", self.last_error,
                        ", ".join(self.cfg.hosts), delay)
        else:
            log.warning("%s; retrying %s in %.1f s", self.last_error, failed, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._restart.wait(), delay)
        return min(delay * 2, self.cfg.reconnect_max_seconds)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       host: str) -> bool:
        """Sign on (and exchange keys), then serve until the connection ends. True when it
        signed on."""
        read_task = asyncio.create_task(self._read_loop(reader))
        try:
            if not await self._handshake(host):
                return False
            self.ring.signed_on()
            self._next = SAME  # a connection lost from now on is tried again first
            self.last_error = ""
            self._signed_at = time.monotonic()
            self._set_state(SIGNED_ON)
            log.info("signed on to %s as %s", host, self.cfg.terminal_id)
            self._announce(host)
            tasks = {asyncio.create_task(self.drain.run()),
                     asyncio.create_task(self._echo_loop()),
                     asyncio.create_task(self._failback_loop())}
            await asyncio.wait(tasks | {read_task}, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
                if task.done() and not task.cancelled() and task.exception():
                    log.error("switch link task failed: %r", task.exception())
            return True
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task

    async def _handshake(self, host: str) -> bool:
        """Sign-on, then the key exchange when the terminal has a TMK (docs/protocol.md §4, §6),
        on every new connection: a switch node knows nothing of our session on another."""
        try:
            code = await self.sign_on()
        except (LinkDown, NoAnswer) as exc:
            self.last_error = f"sign-on to {host} failed: {exc}"
            log.warning("%s", self.last_error)
            return False
        if code != "00":
            self.last_error = f"sign-on to {host} declined with {code}"
            log.error("%s", self.last_error)
            return False
        if self.cfg.tmk:
            try:
                await self.key_exchange()
            except (LinkDown, NoAnswer) as exc:
                self.last_error = f"key exchange with {host} failed: {exc}"
                log.error("%s", self.last_error)
                return False
        return True

    def _announce(self, host: str) -> None:
        """Signed on to another address than last time: say so (log, fleet event)."""
        previous, self._last_host = self._last_host, host
        kind = "failback" if self._failing_back else "failover"
        self._failing_back = False
        if previous == host:
            return
        reason = self._left_because or f"{previous} unreachable"
        log.warning("%s: switch %s -> %s (%s)", kind, previous, host, reason)
        self.on_move(kind, previous, host, reason)

    def _fail(self, why: str) -> None:
        """The switch in use failed us (no answer, untrusted answer): move to the next one."""
        self.last_error = why
        self._drop(why, NEXT)

    def _drop(self, why: str, move: str) -> None:
        """Close the connection; `move` says where the next one goes. The first reason of a
        session wins (a late 58 must not turn a failover into a reconnect)."""
        if self._writer is None or self._dropping:
            return
        self._dropping = True
        self._next = move
        log.warning("dropping switch connection to %s: %s", self.host, why)
        self._set_state(CONNECTING)
        self._writer.close()

    def _close(self, writer: asyncio.StreamWriter, host: str) -> None:
        writer.close()
        self._writer = None
        self._mac_key = None
        self._fail_waiting(f"connection to switch {host} closed")
        log.warning("disconnected from switch %s", host)
        self._set_state(CONNECTING)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Dispatch the switch's messages; when the connection ends, every request still
        waiting fails at once (a sign-on must not wait out its timeout on a reset socket)."""
        decoder = FrameDecoder(max_size=4096)
        why = f"connection to switch {self.host} ended"
        try:
            while True:
                try:
                    chunk = await reader.read(65536)
                except OSError as exc:
                    chunk, why = b"", f"connection to switch {self.host} lost: {exc}"
                if not chunk:
                    if why.endswith("ended"):
                        why = f"switch {self.host} closed the connection"
                    if not self._dropping:
                        self.last_error = self._left_because = why
                    return
                try:
                    decoder.feed(chunk)
                    payloads = list(decoder.frames())
                except CodecError as exc:
                    self.last_error = f"framing error from switch {self.host}: {exc}"
                    log.error("%s", self.last_error)
                    self._fail(self.last_error)
                    return
                for payload in payloads:
                    self._dispatch(payload)
        finally:
            self._fail_waiting(why)

    def _fail_waiting(self, why: str) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(LinkDown(why))

    def _dispatch(self, payload: bytes) -> None:
        try:
            msg = self._profile.decode(payload)
        except CodecError as exc:
            log.error("undecodable message from switch dropped: %s", exc)
            return
        key = (msg.text(11, ""), msg.text(41, "").strip())
        fut = self._waiting.get(key)
        if fut is None or fut.done():
            log.warning("unmatched %s STAN %s from switch dropped", msg.mti, key[0])
            return
        problem = not_an_answer(self._asked[key], msg)
        if problem is None and key in self._mac_expected and not self._mac_ok(payload, msg):
            problem = f"{msg.mti} failed MAC verification"
        if problem is not None:
            why = f"STAN {key[0]} from {self.host}: {problem}"
            log.error("%s: not trusted", why)
            fut.set_exception(NoAnswer(why))
            self._fail(why)
            return
        fut.set_result(msg)
        if msg.text(39, "").strip() == "58" and msg.mti != "0810":
            # the switch no longer counts us as signed on (it restarted, or an operator
            # signed us off): reconnect to it, which signs on again
            self._drop("switch answered 58 (not signed on)", SAME)

    def _mac_ok(self, payload: bytes, msg: Message) -> bool:
        got = msg.get(msg.mac_field)
        if self._mac_key is None or not isinstance(got, bytes):
            return False
        try:
            want = retail_mac(self._mac_key, self._profile.mac_span(payload))
        except CodecError:
            return False
        return hmac.compare_digest(got, want)

    async def key_exchange(self) -> None:
        """0800/101: new session MAC key under our TMK (DE48 MK/MV); raises LinkDown."""
        tmk = parse_key(self.cfg.tmk)
        resp = await self.request("0800", network_fields(
            "101", self.outbox.next_stan(), self.cfg.terminal_id, time.time()), signed=False)
        code = resp.text(39, "96").strip()
        if code != "00":
            raise LinkDown(f"key exchange declined with {code}")
        try:
            tags = parse_tlv(resp.text(48, ""))
            self._mac_key = unwrap(tmk, tags["MK"], tags["MV"])
        except (CodecError, KeyError, KeyError_) as exc:
            raise LinkDown(f"key exchange answer unusable: {exc!r}") from None
        log.info("session MAC key installed (KCV %s)", tags["MV"])

    async def _echo_loop(self) -> None:
        while True:
            idle = time.monotonic() - self._last_traffic
            wait = self.cfg.echo_interval_seconds - idle
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            fields = network_fields("301", self.outbox.next_stan(), self.cfg.terminal_id,
                                    time.time())
            try:
                resp = await self.request("0800", fields)
                log.info("echo answered %s", resp.text(39, "").strip())
            except (LinkDown, NoAnswer) as exc:
                log.warning("echo failed: %s", exc)
                self._fail(f"echo failed: {exc}")
                return

    # -- failback -----------------------------------------------------------------------

    async def _failback_loop(self) -> None:
        """On a later address: every `failback_after_seconds`, ask the first address whether it
        would take us (a sign-on of its own); when it would, move back between two requests."""
        while True:
            changed = self._config_changed
            wait = self.cfg.failback_after_seconds
            if self.ring.on_first or wait <= 0:
                await changed.wait()  # nothing to do until the settings change
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)
                continue  # new settings: count again
            first, here = self.ring.first, self.host
            problem = await probe_sign_on(self.cfg, self._profile, first,
                                          self.outbox.next_stan())
            if problem is not None:
                log.info("failback: the first switch %s is still unavailable (%s); staying on "
                         "%s", first, problem, here)
                continue
            await self._wait_idle()
            if self._dropping:
                return  # the session ends anyway
            if self.ring.on_first:
                continue  # the list changed meanwhile
            stayed = time.monotonic() - self._signed_at
            self._failing_back = True
            self._left_because = f"{first} answers again after {stayed:.0f} s on {here}"
            log.info("failback: the first switch %s answers again after %.0f s on %s: "
                     "moving back", first, stayed, here)
            self._drop(f"failback to {first}", FIRST)
            return

    async def _wait_idle(self) -> None:
        """Until no request waits for an answer on this connection."""
        while self._waiting:
            await self._idle.wait()
