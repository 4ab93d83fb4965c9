"""SMS over SMPP 3.4 to the operator's SMSC, through python-smpplib.

One transceiver session (bind_transceiver): submit_sm goes out with up to `window` requests
awaiting their submit_sm_resp, deliver_sm comes in (delivery receipts and customers' replies)
and is answered at once, enquire_link keeps an idle session alive, unbind closes it. The
channel reports what happened to each part (`Accepted`, `Refused`, `Unknown`); what that means
for the message is the sender's business (docs/messaging.md §SMPP).
"""

from __future__ import annotations

import logging
import re
import select
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from switch.messaging.ratelimit import RateLimiter
from switch.messaging.settings import SmsSettings

__all__ = ["Accepted", "ChannelError", "Outcome", "Receipt", "Refused", "Reply", "SmppChannel",
           "SmsPart", "Unknown"]

log = logging.getLogger("lps.messaging.smpp")
#: smpplib logs every PDU in hex at DEBUG, the bind's password and customers' numbers among
#: them: its logger never goes below INFO, whatever the switch's log_level.
_LIBRARY_LOG = logging.getLogger("lps.messaging.smpplib")
_LIBRARY_LOG.setLevel(logging.INFO)

#: SMPP 3.4 §5.2.28 message_state values, as the receipt text names them (Appendix B).
MESSAGE_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV",
                  6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}
#: command_status values that no retry can fix (SMPP 3.4 §5.1.3): the message is dead.
PERMANENT = frozenset({0x01, 0x0A, 0x0B, 0x33, 0x43, 0x44, 0x48, 0x49, 0x50, 0x51})
#: esm_class message types that carry a receipt (SMPP 3.4 §5.2.12: bits 5-2).
_RECEIPT_TYPES = frozenset({0x04, 0x08, 0x10, 0x20})
_RECEIPT_ID = re.compile(rb"id:(\S+)")
_RECEIPT_STAT = re.compile(rb"stat:(\w+)")
_RECEIPT_ERR = re.compile(rb"err:(\w+)")
DEST_TON_INTERNATIONAL = 1
DEST_NPI_E164 = 1
#: A PDU's length bounds (SMPP 3.4 §3.2): its header alone is 16 bytes; a deliver_sm's
#: message_payload holds up to 64 KB (§5.3.2.32), and no PDU an SMSC sends needs twice that.
MIN_PDU, MAX_PDU = 16, 1 << 17
#: What smpplib raises parsing bytes that are not an SMPP 3.4 PDU: an unknown command_id,
#: a body shorter than its fields, an unknown TLV or command_status.
_NOT_SMPP = (smpplib.exceptions.UnknownCommandError, smpplib.exceptions.PDUError, struct.error,
             LookupError, ValueError)
#: An SMSC's message_id is a C-Octet String of at most 65 octets (SMPP 3.4 §5.2.23).
_MAX_MESSAGE_ID = 65


class MalformedPdu(Exception):
    """Bytes from the SMSC that are not an SMPP 3.4 PDU (`_Client.read_pdu` says which)."""


class _Client(smpplib.client.Client):  # type: ignore[misc]  # smpplib has no type hints
    """smpplib's client, reading a PDU only within SMPP 3.4's bounds (`MIN_PDU`, `MAX_PDU`).

    Its own `read_pdu` asks the socket for whatever length the SMSC wrote (up to 4 GB, one
    buffer of that size a `recv`) and raises `struct.error`, `KeyError` or
    `UnknownCommandError` on bytes that are not SMPP; each is `MalformedPdu` here. The
    parsing, and the bind state a PDU sets, stay smpplib's (`smpplib.client.Client.read_pdu`).
    """

    def read_pdu(self) -> Any:
        head = self._recv_exact(4)
        length = int.from_bytes(head, "big")
        if not MIN_PDU <= length <= MAX_PDU:
            raise MalformedPdu(f"a PDU of {length} bytes (SMPP 3.4: {MIN_PDU} to {MAX_PDU})")
        raw = head + self._recv_exact(length - 4)
        try:
            pdu = smpplib.smpp.parse_pdu(raw, client=self,
                                         allow_unknown_opt_params=self.allow_unknown_opt_params)
        except _NOT_SMPP as exc:
            raise MalformedPdu(f"a PDU that is not SMPP 3.4 (command_id "
                               f"0x{int.from_bytes(raw[4:8], 'big'):08X}: {str(exc)[:80]})"
                               ) from None
        if not pdu.is_error() and pdu.command in smpplib.consts.STATE_SETTERS:
            self.state = smpplib.consts.STATE_SETTERS[pdu.command]
        return pdu


class ChannelError(RuntimeError):
    """The session could not be opened or was lost: nothing is known about unsent parts."""


@dataclass(frozen=True, slots=True)
class SmsPart:
    outbox_id: int
    part: int
    destination: str
    short_message: bytes
    data_coding: int
    esm_class: int


@dataclass(frozen=True, slots=True)
class Accepted:
    item: SmsPart
    message_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    item: SmsPart
    status: int
    reason: str

    @property
    def permanent(self) -> bool:
        return self.status in PERMANENT


@dataclass(frozen=True, slots=True)
class Unknown:
    """Submitted, but no answer came: the SMSC may or may not have it."""

    item: SmsPart
    reason: str


Outcome = Accepted | Refused | Unknown


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A customer's message to us (mobile originated)."""

    source: str
    text: str


#: command_status -> its SMPP 3.4 name (ESME_RTHROTTLED), from smpplib's constants.
_STATUS_NAMES = {value: name[len("SMPP_"):] for name, value in vars(smpplib.consts).items()
                 if name.startswith("SMPP_ESME_R") and isinstance(value, int)}


def describe_status(status: int) -> str:
    """`ESME_RTHROTTLED (0x00000058): Throttling error ...`, for logs and `last_error`."""
    name = _STATUS_NAMES.get(status, "vendor-specific status")
    text = smpplib.consts.DESCRIPTIONS.get(status, "")
    return f"{name} (0x{status:08X})" + (f": {text}" if text else "")


def _text_of(pdu: Any) -> str:
    data: bytes = getattr(pdu, "message_payload", None) or pdu.short_message or b""
    if int(pdu.esm_class or 0) & 0x40 and data:
        data = data[1 + data[0]:]  # a UDH: length octet, then the header
    coding = int(pdu.data_coding or 0)
    if coding == 0x08:
        return data.decode("utf-16-be", errors="replace")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def smsc_message_id(raw: object) -> str | None:
    """An SMSC's message_id as the outbox keeps it: 1-65 printable ASCII characters, or None
    (it would go into the outbox and the logs as it came, line breaks and all)."""
    text = raw.rstrip(b"\0").decode("ascii", "replace") if isinstance(raw, bytes) else None
    if text and len(text) <= _MAX_MESSAGE_ID and text.isascii() and text.isprintable():
        return text
    return None


def parse_receipt(pdu: Any) -> Receipt | None:
    """The receipt a deliver_sm carries: TLVs first (SMPP 3.4 §5.3.2), the text otherwise."""
    body: bytes = pdu.short_message or b""
    raw_id = getattr(pdu, "receipted_message_id", None)
    if isinstance(raw_id, bytes):
        raw_id = raw_id.rstrip(b"\0")
    if not raw_id:
        found = _RECEIPT_ID.search(body)
        raw_id = found.group(1) if found else None
    message_id = smsc_message_id(raw_id)
    if message_id is None:
        return None
    state = getattr(pdu, "message_state", None)
    stat = MESSAGE_STATES.get(int(state)) if isinstance(state, int) else None
    if stat is None:
        found = _RECEIPT_STAT.search(body)
        stat = found.group(1).decode("ascii", "replace").upper() if found else "UNKNOWN"
    err = _RECEIPT_ERR.search(body)
    return Receipt(message_id, stat, err.group(1).decode("ascii", "replace") if err else None)


class SmppChannel:
    """One bound transceiver session; not thread-safe (the sender's thread uses it)."""

    def __init__(self, settings: SmsSettings, on_receipt: Callable[[Receipt], None],
                 on_reply: Callable[[Reply], None]) -> None:
        self.settings = settings
        self.on_receipt = on_receipt
        self.on_reply = on_reply
        self.rate = RateLimiter(settings.rate, burst=settings.window)
        self._client: smpplib.client.Client | None = None
        self._last_io = time.monotonic()
        self._unbound_by_peer = False

    @property
    def is_open(self) -> bool:
        return self._client is not None

    # -- session ----------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and bind_transceiver; `ChannelError` says why not."""
        if self._client is not None:
            return
        s = self.settings
        client = _Client(s.smpp.host, s.smpp.port, timeout=s.timeout,
                         allow_unknown_opt_params=True, logger_name="lps.messaging.smpplib")
        try:
            client.connect()
        except smpplib.exceptions.ConnectionError:
            raise ChannelError(f"SMSC {s.smpp} unreachable (connection refused or timed out)"
                               ) from None
        try:
            client.bind_transceiver(system_id=s.system_id, password=s.password,
                                    system_type=s.system_type)
        except smpplib.exceptions.PDUError as exc:
            client.disconnect()
            status = exc.args[1] if len(exc.args) > 1 else 0
            raise ChannelError(f"SMSC {s.smpp} refused the bind as {s.system_id!r}: "
                               f"{describe_status(int(status))}") from None
        except (smpplib.exceptions.ConnectionError, OSError):
            client.disconnect()
            raise ChannelError(f"SMSC {s.smpp} closed the connection during the bind") from None
        except MalformedPdu as exc:
            client.disconnect()
            raise ChannelError(f"SMSC {s.smpp} answered the bind with {exc}") from None
        self._client = client
        self._unbound_by_peer = False
        self._last_io = time.monotonic()
        log.info("event=bound smsc=%s system_id=%s", s.smpp, s.system_id)

    def close(self) -> None:
        """unbind, reading (and handling) whatever the SMSC sends before its unbind_resp."""
        client = self._client
        if client is None:
            return
        try:
            if not self._unbound_by_peer:
                client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
                deadline = time.monotonic() + self.settings.timeout
                while time.monotonic() < deadline:
                    pdu = self._read(deadline - time.monotonic())
                    if pdu is None or pdu.command == "unbind_resp":
                        break
                    self._dispatch(pdu, {})
        except (ChannelError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError,
                OSError) as exc:
            log.info("event=unbind_incomplete reason=%s", exc)
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
            self._client.disconnect()
        self._client = None

    # -- reading ----------------------------------------------------------------------------

    def _read(self, timeout: float) -> Any | None:
        """One PDU, or None when none arrived within `timeout` seconds. A lost connection or
        bytes that are not SMPP end the session (`_lost`): the stream cannot be read on."""
        client = self._client
        assert client is not None
        # smpplib reads with a blocking socket; select first so that waiting has a deadline.
        sock = client._socket
        readable, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if not readable:
            return None
        try:
            pdu = client.read_pdu()
        except (TimeoutError, smpplib.exceptions.ConnectionError, OSError) as exc:
            raise self._lost(f"connection lost: {type(exc).__name__}") from None
        except MalformedPdu as exc:
            raise self._lost(f"sent {exc}") from None
        self._last_io = time.monotonic()
        return pdu

    def _send(self, pdu: Any) -> None:
        """`pdu` to the SMSC. smpplib refuses a PDU its bind state does not allow
        (`PDUError`), and a PDU from the SMSC sets that state (an unbind_resp or another
        bind's resp nobody asked for): the session ends then as when the connection is lost."""
        assert self._client is not None
        try:
            self._client.send_pdu(pdu)
        except smpplib.exceptions.PDUError:
            raise self._lost(f"left the session in a state that allows no {pdu.command}"
                             ) from None
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            raise self._lost(f"connection lost: {type(exc).__name__}") from None

    def _lost(self, why: str) -> ChannelError:
        """The session ended (`_drop`): the sender binds again (`is_open` is False)."""
        self._drop()
        return ChannelError(f"SMSC {self.settings.smpp} {why}")

    def _respond(self, pdu: Any, command: str) -> None:
        assert self._client is not None
        resp = smpplib.smpp.make_pdu(command, client=self._client)
        resp.sequence = pdu.sequence
        self._send(resp)

    def _dispatch(self, pdu: Any, outstanding: dict[int, SmsPart]) -> Outcome | None:
        command = pdu.command
        if command in ("submit_sm_resp", "generic_nack"):
            item = outstanding.pop(pdu.sequence, None)
            if item is None:
                log.warning("event=unexpected_resp command=%s sequence=%s", command,
                            pdu.sequence)
                return None
            status = int(pdu.status or 0)
            if command == "submit_sm_resp" and status == 0:
                # an id the outbox cannot keep: accepted, and no receipt will match it
                return Accepted(item, smsc_message_id(pdu.message_id) or "")
            return Refused(item, status, describe_status(status))
        if command == "deliver_sm":
            self._respond(pdu, "deliver_sm_resp")
            self._inbound(pdu)
        elif command == "enquire_link":
            self._respond(pdu, "enquire_link_resp")
        elif command == "unbind":
            self._respond(pdu, "unbind_resp")
            self._unbound_by_peer = True
        elif command not in ("enquire_link_resp", "unbind_resp"):
            log.warning("event=unhandled_pdu command=%s", command)
        return None

    def _inbound(self, pdu: Any) -> None:
        if (int(pdu.esm_class or 0) & 0x3C) in _RECEIPT_TYPES:
            receipt = parse_receipt(pdu)
            if receipt is None:
                log.warning("event=receipt_without_id")
            else:
                self.on_receipt(receipt)
            return
        source = pdu.source_addr
        self.on_reply(Reply(source.decode("ascii", "replace") if isinstance(source, bytes)
                            else "", _text_of(pdu)))

    def poll(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Handle what the SMSC sends for up to `seconds`; enquire_link when idle too long."""
        deadline = time.monotonic() + seconds
        while self._client is not None and not self._unbound_by_peer:
            if time.monotonic() - self._last_io >= self.settings.enquire_link:
                self._send(smpplib.smpp.make_pdu("enquire_link", client=self._client))
                self._last_io = time.monotonic()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return
            pdu = self._read(min(remaining, 0.2))
            if pdu is not None:
                self._dispatch(pdu, {})
        if self._unbound_by_peer:
            self._drop()
            raise ChannelError(f"SMSC {self.settings.smpp} unbound the session")

    # -- sending ----------------------------------------------------------------------------

    def submit(self, items: Sequence[SmsPart], sink: Callable[[Outcome], None],
               stop: threading.Event | None = None) -> list[SmsPart]:
        """Submit `items` with up to `window` awaiting an answer; each outcome goes to `sink`.

        Returns the items not submitted (stop was set, or the session was lost first); after a
        lost session every submitted item without an answer is reported `Unknown`.
        """
        if self._client is None:
            raise ChannelError("not bound")
        s = self.settings
        outstanding: dict[int, SmsPart] = {}
        submitted = 0
        try:
            for item in items:
                while len(outstanding) >= s.window:
                    self._await_one(outstanding, sink)
                if (stop is not None and stop.is_set()) or not self.rate.take(stop):
                    break
                if self._unbound_by_peer:
                    raise ChannelError(f"SMSC {s.smpp} unbound the session")
                pdu = self._client.send_message(
                    source_addr_ton=s.source_ton, source_addr_npi=s.source_npi,
                    source_addr=s.source_addr, dest_addr_ton=DEST_TON_INTERNATIONAL,
                    dest_addr_npi=DEST_NPI_E164, destination_addr=item.destination,
                    short_message=item.short_message, data_coding=item.data_coding,
                    esm_class=item.esm_class, registered_delivery=s.registered_delivery)
                self._last_io = time.monotonic()
                outstanding[pdu.sequence] = item
                submitted += 1
            self._drain(outstanding, sink)
        except (ChannelError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError,
                OSError) as exc:
            # PDUError: smpplib would not send a submit_sm in the bind state a PDU of the
            # SMSC's set (`_send`)
            reason = (str(exc) if isinstance(exc, ChannelError)
                      else f"SMSC {s.smpp} connection lost: {type(exc).__name__}")
            for item in outstanding.values():
                sink(Unknown(item, reason))
            self._drop()
        return list(items[submitted:])

    def _await_one(self, outstanding: dict[int, SmsPart], sink: Callable[[Outcome], None]
                   ) -> None:
        deadline = time.monotonic() + self.settings.timeout
        while time.monotonic() < deadline:
            pdu = self._read(deadline - time.monotonic())
            if pdu is None:
                break
            outcome = self._dispatch(pdu, outstanding)
            if outcome is not None:
                sink(outcome)
                return
        raise ChannelError(f"no answer from SMSC {self.settings.smpp} within "
                           f"{self.settings.timeout:g} s")

    def _drain(self, outstanding: dict[int, SmsPart], sink: Callable[[Outcome], None]) -> None:
        while outstanding:
            self._await_one(outstanding, sink)
