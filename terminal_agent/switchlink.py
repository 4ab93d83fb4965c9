"""The link to the switch: TCP with LPS-87 framing, sign-on, echo keepalive, request matching,
and the outbox drain (pending reversals first, then store-and-forward advices in order)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
import time
from collections.abc import Callable

from iso8583 import CodecError, FrameDecoder, Message, Profile, frame, load_profile
from iso8583.loyalty import parse_tlv

from .config import AgentConfig
from .iso import Fields, network_fields
from .security import MAC_MTIS, KeyError_, parse_key, retail_mac, unwrap
from .store import Entry, Outbox

log = logging.getLogger("lps.agent.switch")


# Answers that settle nothing: the switch could not decide (91, 96) or has forgotten our sign-on
# (58). A queued advice or reversal answered so stays on disk and is sent again.
TRANSIENT = frozenset({"58", "91", "96"})


class LinkDown(Exception):
    """Not connected or signed on, or the connection dropped while a request was waiting."""


class NoAnswer(Exception):
    """No response within the request timeout."""


class SwitchLink:
    def __init__(self, cfg: AgentConfig, outbox: Outbox,
                 on_change: Callable[[], None] = lambda: None,
                 on_settled: Callable[[Entry, Message], None] = lambda _e, _m: None) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.on_change = on_change  # connection state changed (status for the fleet)
        self.on_settled = on_settled  # an outbox entry was answered
        self.connected = False
        self.signed_on = False
        self.last_error = ""
        self._profile: Profile = load_profile(cfg.profile)
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._kick = asyncio.Event()
        self._restart = asyncio.Event()
        self._signed = asyncio.Event()
        self._last_traffic = 0.0
        self._mac_key: bytes | None = None  # session MAC key, in memory only
        self._mac_expected: set[tuple[str, str]] = set()

    # -- public ---------------------------------------------------------------------------

    def reconfigure(self, cfg: AgentConfig) -> None:
        """Apply a new config live; a changed address or profile reconnects."""
        old, self.cfg = self.cfg, cfg
        if (old.switch, old.profile, old.tpdu) != (cfg.switch, cfg.profile, cfg.tpdu):
            self._profile = load_profile(cfg.profile)
            log.info("switch settings changed to %s (%s): reconnecting", cfg.switch, cfg.profile)
            self._restart.set()
            self._drop("reconfigured")

    def kick(self) -> None:
        """New outbox work (or an operator's flush-saf): drain now."""
        self._kick.set()

    async def sign_on(self) -> str:
        """0800/001; returns DE39."""
        resp = await self.request("0800", network_fields(
            "001", self.outbox.next_stan(), self.cfg.terminal_id, time.time()), signed=False)
        return resp.text(39, "96").strip()

    async def wait_signed_on(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signed.wait(), timeout)
        return self.signed_on

    async def request(self, mti: str, fields: Fields, *, signed: bool = True,
                      timeout: float | None = None) -> Message:
        """Send one request and wait for its response (matched on DE11 + DE41)."""
        if self._writer is None or (signed and not self.signed_on):
            raise LinkDown(self.last_error or "switch not connected")
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
        try:
            self._writer.write(frame(payload))
            self._last_traffic = time.monotonic()
            await self._writer.drain()
            return await asyncio.wait_for(fut, timeout or self.cfg.request_timeout_seconds)
        except TimeoutError:
            raise NoAnswer(f"no answer to {mti} STAN {key[0]} in "
                           f"{timeout or self.cfg.request_timeout_seconds:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise LinkDown(f"connection lost: {exc}") from None
        finally:
            self._waiting.pop(key, None)
            self._mac_expected.discard(key)

    # -- connection loop ----------------------------------------------------------------

    async def run(self) -> None:
        delay = 0.5
        while True:
            self._restart.clear()
            try:
                ctx, name = self._tls()
                reader, writer = await asyncio.open_connection(
                    self.cfg.switch_host, self.cfg.switch_port, ssl=ctx, server_hostname=name)
            except (OSError, ssl.SSLError) as exc:
                self.last_error = f"cannot connect to {self.cfg.switch}: {exc.strerror or exc}"
                log.warning("%s; retrying in %.1f s", self.last_error, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._restart.wait(), delay)
                delay = min(delay * 2, self.cfg.reconnect_max_seconds)
                continue
            self._writer = writer
            self.connected = True
            log.info("connected to switch %s", self.cfg.switch)
            self.on_change()
            try:
                await self._session(reader, writer)
                delay = 0.5
            finally:
                self._close(writer)

    def _tls(self) -> tuple[ssl.SSLContext | None, str | None]:
        """TLS on the same framing (PROTOCOL.md §1) when `tls_ca` names the CA to trust."""
        if not self.cfg.tls_ca:
            return None, None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cfg.tls_ca)
        return ctx, self.cfg.tls_server_name or self.cfg.switch_host

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        read_task = asyncio.create_task(self._read_loop(reader))
        try:
            try:
                code = await self.sign_on()
            except (LinkDown, NoAnswer) as exc:
                self.last_error = f"sign-on failed: {exc}"
                log.warning("%s", self.last_error)
                await self._pause()
                return
            if code != "00":
                self.last_error = f"sign-on declined with {code}"
                log.error("%s", self.last_error)
                await self._pause()
                return
            if self.cfg.tmk:
                try:
                    await self.key_exchange()
                except (LinkDown, NoAnswer) as exc:
                    self.last_error = str(exc)
                    log.error("%s", self.last_error)
                    await self._pause()
                    return
            self.signed_on = True
            self.last_error = ""
            self._signed.set()
            log.info("signed on to %s as %s", self.cfg.switch, self.cfg.terminal_id)
            self.on_change()
            drain = asyncio.create_task(self._drain_loop())
            echo = asyncio.create_task(self._echo_loop())
            restart = asyncio.create_task(self._restart.wait())
            await asyncio.wait({read_task, drain, echo, restart},
                               return_when=asyncio.FIRST_COMPLETED)
            restart.cancel()
            for task in (drain, echo):
                task.cancel()
                if task.done() and not task.cancelled() and task.exception():
                    log.error("switch link task failed: %r", task.exception())
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._restart.wait(), self.cfg.reconnect_max_seconds)

    def _drop(self, why: str) -> None:
        if self._writer is not None:
            log.warning("dropping switch connection: %s", why)
            self._writer.close()

    def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        self._writer = None
        was = self.connected
        self.connected = False
        self.signed_on = False
        self._mac_key = None
        self._signed.clear()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(LinkDown("connection to the switch lost"))
        if was:
            log.warning("disconnected from switch %s", self.cfg.switch)
            self.on_change()

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(max_size=4096)
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                self.last_error = "switch closed the connection"
                return
            try:
                decoder.feed(chunk)
                payloads = list(decoder.frames())
            except CodecError as exc:
                self.last_error = f"framing error from switch: {exc}"
                log.error("%s", self.last_error)
                return
            for payload in payloads:
                self._dispatch(payload)

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
        if key in self._mac_expected and not self._mac_ok(payload, msg):
            log.error("%s STAN %s from switch has a missing or bad MAC: not trusted", msg.mti,
                      key[0])
            fut.set_exception(NoAnswer(f"{msg.mti} STAN {key[0]} failed MAC verification"))
            return
        fut.set_result(msg)
        if msg.text(39, "").strip() == "58" and msg.mti != "0810":
            # the switch no longer counts us as signed on (it restarted, or an operator
            # signed us off): reconnect, which signs on again
            self.signed_on = False
            self._drop("switch answered 58 (not signed on)")

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
                self.last_error = f"echo failed: {exc}"
                self._drop(self.last_error)
                return

    async def _drain_loop(self) -> None:
        """Send outbox entries one at a time: reversals first, then advices, oldest first."""
        backoff = 0.5
        while True:
            self._kick.clear()
            pending = self.outbox.entries("reversal") + self.outbox.entries("advice")
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
                    backoff = min(backoff * 2, self.cfg.reconnect_max_seconds)
                    break
                backoff = 0.5

    async def settle(self, entry: Entry) -> bool:
        """Send one outbox entry; on any answer remove it. False when unanswered."""
        self.outbox.bump(entry.id)
        try:
            resp = await self.request(entry.wire_mti, entry.fields)
        except NoAnswer as exc:
            log.warning("%s", exc)
            return False
        code = resp.text(39, "").strip()
        if code in TRANSIENT:
            log.warning("%s STAN %s answered %s: kept, sent again later", entry.wire_mti,
                        entry.fields[11], code)
            return False
        self.outbox.remove(entry.id)
        log.info("%s STAN %s answered %s", entry.wire_mti, entry.fields[11], resp.text(39, ""))
        self.on_settled(entry, resp)
        self.on_change()
        return True
