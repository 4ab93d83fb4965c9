"""ECR payloads of docs/protocol.md §8: register requests in, `RESP` answers out."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .. import is_ascii_digits
from .frames import FS

SEP = bytes([FS])
MAX_AMOUNT_DIGITS = 12  # DE4 is n 12
MAX_INVOICE = 20  # DE48 tag IN is ans ..20
MAX_MESSAGE = 120


class EcrMessageError(ValueError):
    """A frame whose payload is not a request of §8: the frame is NAKed."""


@dataclass(frozen=True)
class EcrRequest:
    kind: str  # EARN, BURN, BAL, TOPUP, REFUND
    amount: int = 0
    invoice: str = ""
    original_rrn: str = ""


_ARITY = {"EARN": 3, "BURN": 3, "BAL": 1, "TOPUP": 3, "REFUND": 4}


_FIELD_NAMES = ("request", "amount", "invoice", "original RRN")


def _ascii(raw: bytes) -> str:
    """The payload as text: §8 fields are ASCII. Digits of other scripts are refused, never
    read as numbers, and the error says so (a register sending Persian digits is misconfigured)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        index = raw[: exc.start].count(FS)
        name = _FIELD_NAMES[index] if index < len(_FIELD_NAMES) else f"field {index + 1}"
        field = raw.split(SEP)[index].decode("utf-8", "replace")
        hint = (" (digits must be ASCII 0-9, not Persian or Arabic-Indic)"
                if any(unicodedata.category(c) == "Nd" and not c.isascii() for c in field)
                else "")
        why = f"non-ASCII byte at offset {exc.start}, in the {name}{hint}"
        raise EcrMessageError(why) from None
    if any(not (0x20 <= ord(c) < 0x7F or c == chr(FS)) for c in text):
        raise EcrMessageError("control character in payload")
    return text


def parse_request(payload: bytes) -> EcrRequest:
    """Parse one register request; raises EcrMessageError naming the problem."""
    parts = _ascii(payload).split(chr(FS))
    kind = parts[0]
    if kind not in _ARITY:
        raise EcrMessageError(f"unknown request {kind[:16]!r}")
    if len(parts) != _ARITY[kind]:
        raise EcrMessageError(f"{kind} takes {_ARITY[kind]} fields, got {len(parts)}")
    if kind == "BAL":
        return EcrRequest("BAL")
    amount_text, invoice = parts[1], parts[2]
    if not is_ascii_digits(amount_text) or len(amount_text) > MAX_AMOUNT_DIGITS:
        raise EcrMessageError(f"{kind} amount {amount_text[:16]!r} is not 1-12 digits")
    amount = int(amount_text)
    if amount == 0:
        raise EcrMessageError(f"{kind} amount is zero")
    if len(invoice) > MAX_INVOICE:
        raise EcrMessageError(f"invoice longer than {MAX_INVOICE} characters")
    if kind == "REFUND":
        rrn = parts[3]
        if not rrn or len(rrn) > 12 or not rrn.isalnum():
            raise EcrMessageError(f"REFUND original RRN {rrn[:16]!r} is not 1-12 alphanumerics")
        return EcrRequest(kind, amount, invoice, rrn)
    return EcrRequest(kind, amount, invoice)


def encode_request(req: EcrRequest) -> bytes:
    """The register's side, used by tests and the `ecr-send` tool."""
    if req.kind == "BAL":
        return b"BAL"
    fields = [req.kind, str(req.amount), req.invoice]
    if req.kind == "REFUND":
        fields.append(req.original_rrn)
    return SEP.join(f.encode("ascii") for f in fields)


@dataclass(frozen=True)
class EcrResponse:
    """`RESP|code|RRN|points earned|points redeemed|points balance|message`.

    Unknown numbers (an agent-side outcome, a decline) are sent as empty fields, never as a
    misleading 0. The message is UTF-8 (receipt text may be Persian) with control characters
    removed so it can never break the framing.
    """

    code: str
    rrn: str = ""
    earned: int | None = None
    redeemed: int | None = None
    balance: int | None = None
    message: str = ""

    def encode(self) -> bytes:
        def num(v: int | None) -> str:
            return "" if v is None else str(v)

        text = "".join(c for c in self.message if ord(c) >= 0x20 and ord(c) != 0x7F)
        msg = text.encode("utf-8")[:MAX_MESSAGE].decode("utf-8", "ignore").encode("utf-8")
        head = [b"RESP", self.code.encode("ascii"), self.rrn.strip().encode("ascii"),
                num(self.earned).encode(), num(self.redeemed).encode(), num(self.balance).encode()]
        return SEP.join([*head, msg])


def parse_response(payload: bytes) -> EcrResponse:
    """The register's side, used by tests."""
    parts = payload.split(SEP)
    if len(parts) != 7 or parts[0] != b"RESP":
        raise EcrMessageError(f"not a RESP: {payload[:40]!r}")

    def num(v: bytes) -> int | None:
        return int(v) if v else None

    return EcrResponse(parts[1].decode(), parts[2].decode(), num(parts[3]), num(parts[4]),
                       num(parts[5]), parts[6].decode("utf-8"))
