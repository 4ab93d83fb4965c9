"""The security shell: asks the HSM about a request, hands the verdicts to the pure core.

For each request the core says what the HSM must check (`core.needs`: the MAC the request
carries, the PIN of a spend on a card with a PIN, new session keys for a key exchange); the
shell gets those verdicts and hands them to `decide` as `Checks`; the core decides (`63`, `55`,
`75`, the 0810) and counts. After the decision it MACs the response under the key the core
names (`core.security.reply_mac_key`). The switch never sees a clear key or PIN: it passes
the HSM keys under the LMK and gets back booleans, MACs and keys under the LMK or a TMK.

In-process HSM calls never suspend, so they run synchronously inside the connection's
callback (`run_now`). With a TCP HSM the calls are awaited; `Sequencer` keeps decisions and
journal submissions in arrival order while the HSM calls of later requests are in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter

from hsm_sim import AsyncHsm, HsmError, connect_hsm_async
from hsm_sim.aclient import AsyncInProcessHsm
from hsm_sim.errors import PinBlockError
from hsm_sim.lmk import KeyType
from iso8583 import CodecError, Message, Profile
from switch.config import Config, ConfigError
from switch.core.facts import NO_CHECKS, Checks, Needs, SessionKeyRefs
from switch.core.luhn import mask_pan
from switch.core.model import Card, TerminalState
from switch.core.request import Request
from switch.core.state import State

log = logging.getLogger("lps.security")
T = TypeVar("T")

class _Unavailable(Exception):
    """The HSM did not answer (connection refused or broken, timeout)."""


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (in-process HSM calls) to its result, in place."""
    try:
        coro.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coro.close()
    raise RuntimeError("an HSM call suspended on the synchronous path")


def _text(msg: Message, number: int) -> str:
    value = msg.fields.get(number)
    return value if isinstance(value, str) else ""


def request_mac(msg: Message) -> bytes | None:
    """The request's MAC, only where a MAC belongs: DE64 (or DE128), as the last field.

    Returns None when there is no MAC field; `b""` when a MAC field is misplaced or malformed
    (DE64 next to fields above 64 or behind a secondary bitmap, both MAC fields, not 8
    bytes): such a message fails. The same placement as `Message.mac_field`, read with one
    `max` (docs/protocol.md §6).
    """
    fields = msg.fields
    if 128 in fields:
        field = 128
        placed = 64 not in fields
    elif 64 in fields:
        field = 64
        placed = max(fields) == 64 and not msg.secondary_bitmap
    else:
        return None
    value = fields[field]
    if not placed or not isinstance(value, bytes) or len(value) != 8:
        return b""
    return value


def mac_field(msg: Message) -> int:
    """`Message.mac_field` with one `max` over the field numbers (per response)."""
    return 128 if msg.secondary_bitmap or max(msg.fields, default=0) > 64 else 64


#: The verdict of a good MAC on a request that needs no PIN check (most MACed traffic).
MAC_VERIFIED = Checks(mac_ok=True, mac_present=True)


class Security:
    """The switch's HSM client and what it asks of it, per request and per response."""

    def __init__(self, hsm: AsyncHsm, on_event: Callable[[str], None] | None = None) -> None:
        self.hsm = hsm
        #: In-process: every call completes without suspending, so no ordering is needed.
        self.inline = isinstance(hsm, AsyncInProcessHsm)
        self.sequencer = Sequencer()
        self.on_event = on_event or (lambda event: None)

    def _event(self, event: str, msg: Message, **fields: Any) -> None:
        """A security event: logged (PAN masked) and counted."""
        self.on_event(event)
        pan = _text(msg, 2)
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        log.warning("event=security kind=%s mti=%s tid=%s stan=%s pan=%s %s", event, msg.mti,
                    _text(msg, 41).strip() or "-", _text(msg, 11) or "-",
                    mask_pan(pan) if pan else "-", extra)

    # -- the verdicts a request needs -------------------------------------------------------

    async def checks(self, state: State, req: Request, need: Needs, payload: bytes,
                     profile: Profile) -> Checks:
        """The HSM's verdicts `need` names (MAC, PIN, new session keys), for `decide`."""
        term = state.terminals.get(req.tid)
        if need.session_keys:
            if term is None or term.tmk_ref is None:
                return NO_CHECKS
            return Checks(session_keys=await self._session_keys(term, req.msg))
        if not (need.mac or need.pin):
            return NO_CHECKS
        mac_ok, mac_present = True, False
        try:
            if need.mac:
                mac_present = True
                mac_ok = await self._verify_mac(term, req.msg, payload, profile,
                                                request_mac(req.msg) or b"")
            if not mac_ok:
                return Checks(mac_ok=False, mac_present=True)  # refused: no PIN check
            card = state.cards.get(req.pan)
            pin_ref = card.pin_ref if card is not None else None
            if not need.pin and pin_ref is None:
                return MAC_VERIFIED
            pin_ok = await self._verify_pin(term, req, card) if need.pin else None
            return Checks(mac_ok=True, mac_present=mac_present, pin_ok=pin_ok, pin_ref=pin_ref)
        except _Unavailable:
            return Checks(mac_present=mac_present, hsm_unavailable=True)

    async def _verify_mac(self, term: TerminalState | None, msg: Message, payload: bytes,
                          profile: Profile, mac: bytes) -> bool:
        if not mac:
            self._event("mac_malformed", msg)
            return False
        if term is None or term.mac_key_ref is None:
            self._event("mac_without_key", msg)
            return False
        try:
            ok = await self.hsm.verify_mac(term.mac_key_ref, profile.mac_span(payload), mac)
        except OSError as exc:  # ConnectionError, TimeoutError: not the terminal's fault
            self._event("hsm_unavailable", msg, error=type(exc).__name__)
            raise _Unavailable from exc
        except (HsmError, CodecError) as exc:
            self._event("mac_error", msg, error=type(exc).__name__)
            return False
        if not ok:
            self._event("mac_bad", msg)
        return ok

    async def _verify_pin(self, term: TerminalState | None, req: Request,
                          card: Card | None) -> bool | None:
        """True/False from the HSM; None when no PIN could be checked (not counted)."""
        msg = req.msg
        block = msg.fields.get(52)
        if term is None or card is None or card.pin_ref is None or not isinstance(block, bytes):
            return None
        ksn = req.tags.get("KS")
        try:
            if ksn is not None:
                if term.bdk_ref is None or len(ksn) != 20:
                    self._event("pin_dukpt_unusable", msg, reason="no BDK or KSN not 20 hex")
                    return None
                ok = await self.hsm.verify_pin_dukpt(term.bdk_ref, bytes.fromhex(ksn), block,
                                                     req.pan, card.pin_ref)
            else:
                if term.pin_key_ref is None:
                    self._event("pin_without_key", msg)
                    return None
                ok = await self.hsm.verify_pin(term.pin_key_ref, block, req.pan, card.pin_ref)
        except PinBlockError:
            # Not a valid block under this key and PAN: a wrong try (docs/hsm.md §3).
            self._event("pin_block_invalid", msg)
            return False
        except OSError as exc:
            self._event("hsm_unavailable", msg, error=type(exc).__name__)
            raise _Unavailable from exc
        except (HsmError, ValueError) as exc:
            self._event("pin_error", msg, error=type(exc).__name__)
            return None
        if not ok:
            self._event("pin_wrong", msg)
        return ok

    async def _session_keys(self, term: TerminalState, msg: Message) -> SessionKeyRefs | None:
        assert term.tmk_ref is not None
        try:
            keys = await self.hsm.generate_session_keys(term.tmk_ref)
        except (HsmError, OSError) as exc:
            self._event("key_exchange_failed", msg, error=type(exc).__name__)
            return None
        if term.mac_key_ref is not None and isinstance(self.hsm, AsyncInProcessHsm):
            # The terminal's MAC key is being replaced: the HSM need not keep the old one
            # ready (docs/hsm.md §2). A TCP HSM ages it out of its own bounded set.
            self.hsm.forget_working_key(term.mac_key_ref)
        return SessionKeyRefs(
            mac_lmk=keys.mac.key_lmk, mac_tmk=keys.mac.key_kek, mac_kcv=keys.mac.kcv,
            pin_lmk=keys.pin.key_lmk, pin_tmk=keys.pin.key_kek, pin_kcv=keys.pin.kcv)

    # -- responses -----------------------------------------------------------------------------

    def seals(self, state: State, tid: str) -> bool:
        """Whether replies to terminal `tid` are MACed (it has a session MAC key)."""
        term = state.terminals.get(tid)
        return term is not None and term.mac_key_ref is not None

    async def seal(self, resp: Message, profile: Profile, key_ref: str) -> bytes:
        """The encoded response MACed under `key_ref` (plain when the HSM fails to MAC).

        The MAC is written into the response message itself, which the journal keeps: a
        retransmission is answered with the same bytes, MAC included.
        """
        field = mac_field(resp)
        resp.fields[field] = bytes(8)
        raw = profile.encode(resp)
        try:
            mac = await self.hsm.generate_mac(key_ref, profile.mac_span(raw))
        except (HsmError, OSError) as exc:
            del resp.fields[field]
            self._event("mac_generate_failed", resp, error=type(exc).__name__)
            return profile.encode(resp)
        resp.fields[field] = mac
        return profile.replace_mac(raw, mac)

    async def check_lmk(self, stored_tmk: tuple[str, str, str] | None,
                        config_path: str) -> None:
        """Refuse an HSM whose LMK does not unwrap the stored keys (a wrong or new LMK file):
        `stored_tmk` is one terminal's TMK under the LMK with its check value, as the journal
        holds it (`Journal.stored_tmk`).

        Every MAC and PIN would otherwise fail one by one as `63`/`55`; better not to start.
        """
        if stored_tmk is None:
            return
        tid, tmk, stored = stored_tmk
        try:
            kcv: str | None = await self.hsm.kcv(tmk, KeyType.TMK)
        except OSError as exc:
            log.warning("event=hsm_unreachable at=start error=%s note=%s", type(exc).__name__,
                        "LMK not checked; requests that need the HSM are 91 until it answers")
            return
        except HsmError:
            kcv = None
        if kcv != stored:
            raise ConfigError(config_path, "switch.hsm",
                              f"the HSM's LMK does not unwrap the stored keys (TMK of terminal "
                              f"{str(tid).rstrip()}): wrong LMK file or HSM")

    async def close(self) -> None:
        await self.hsm.close()


class Sequencer:
    """Decide in arrival order while the HSM calls of later requests are already in flight.

    `run(prepare, finish)`: `prepare` (the HSM checks) starts at once; `finish` (decide, MAC
    the response, submit to the journal writer) runs only after every earlier `finish`.
    """

    def __init__(self) -> None:
        self.tail: asyncio.Future[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        return self.tail is not None and not self.tail.done()

    async def drain(self) -> None:
        """Wait until everything queued so far has been decided."""
        while self.busy:
            assert self.tail is not None
            await self.tail

    def run(self, prepare: Awaitable[T], finish: Callable[[T], Awaitable[None]],
            done: Callable[[], None] | None = None) -> None:
        """Queue one request; `done` is called when it has been decided (or failed)."""
        prev = self.tail
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.tail = mine

        async def go() -> None:
            try:
                value = await prepare
                if prev is not None:
                    await prev
                await finish(value)
            except Exception:
                log.exception("event=security_pipeline_error")
            finally:
                if done is not None:
                    done()
                mine.set_result(None)

        task = asyncio.get_running_loop().create_task(go())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def ensure_lmk(config: Config, key_rows: int) -> Path:
    """The in-process HSM's LMK file; a new one only while nothing is stored under an LMK.

    Making a new LMK when keys or PINs are stored would silently orphan them all: refuse.
    """
    path = config.switch.lmk_path
    if not path.exists() and key_rows:
        raise ConfigError(config.path, "switch.lmk",
                          f"{path} is missing but {key_rows} keys/PINs are stored under an LMK; "
                          "restore the file (a new LMK cannot read them)")
    return path


def open_security(config: Config, key_rows: int = 0,
                  on_event: Callable[[str], None] | None = None) -> Security:
    """The switch's `Security` over `[switch] hsm` (`inproc` with its LMK, or `tcp://`)."""
    url = config.switch.hsm
    if url == "inproc":
        path = ensure_lmk(config, key_rows)
        hsm = connect_hsm_async(url, lmk_path=path, create_lmk=True)
    else:
        hsm = connect_hsm_async(url, timeout=config.switch.hsm_timeout)
    return Security(hsm, on_event)


def event_counter(registry: CollectorRegistry) -> Callable[[str], None]:
    """`lps_security_events_total{event}` on the switch's registry (no card data in labels)."""
    counter = Counter("lps_security_events", "MAC/PIN/key failures seen by the switch",
                      ["event"], registry=registry)
    return lambda event: counter.labels(event=event).inc()
