"""Building the agent's LPS-87 requests and reading the switch's answers (pure functions)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from iso8583 import CodecError, Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv, parse_de54, parse_tlv
from iso8583.redact import redact

from . import is_ascii_digits
from .card.apdu import LoyaltyCard
from .ecr.messages import EcrRequest, EcrResponse

PROCESSING = {"EARN": "000000", "BURN": "900000", "BAL": "310000", "REFUND": "200000",
              "TOPUP": "210060"}
REVERSIBLE = {"EARN", "BURN", "REFUND", "TOPUP"}  # a balance inquiry changes nothing

Fields = dict[int, str | bytes]


def de7(now: float) -> str:
    return time.strftime("%m%d%H%M%S", time.gmtime(now))


def financial_fields(req: EcrRequest, card: LoyaltyCard, terminal_id: str, store_id: str,
                     now: float) -> Fields:
    """A 0200 (or, with the same fields, a 0220 advice) without DE11: the outbox sets it."""
    local = time.localtime(now)
    f: Fields = {
        2: card.pan,
        3: PROCESSING[req.kind],
        7: de7(now),
        12: time.strftime("%H%M%S", local),
        13: time.strftime("%m%d", local),
        22: card.entry_mode,
        25: "00",
        41: terminal_id,
        42: store_id,
        49: "364",
    }
    if req.kind != "BAL":
        f[4] = f"{req.amount:012d}"
    if card.expiry:
        f[14] = card.expiry
    tlv: list[tuple[str, str]] = []
    if req.invoice:
        tlv.append(("IN", req.invoice))
    if req.kind == "REFUND":
        tlv.append(("OR", req.original_rrn))
    if tlv:
        f[48] = build_tlv(tlv)
    return f


def reversal_fields(original_mti: str, original: Fields, now: float) -> Fields:
    """A 0400 for `original` (without DE11): same card, code and amount, original in DE90."""
    keep = (2, 3, 4, 14, 22, 25, 41, 42, 49)
    f: Fields = {k: original[k] for k in keep if k in original}
    f[7] = de7(now)
    f[90] = build_de90(OriginalData(original_mti, str(original[11]), str(original[7])))
    return f


def network_fields(code: str, stan: str, terminal_id: str, now: float) -> Fields:
    return {7: de7(now), 11: stan, 41: terminal_id, 70: code}


def answer_mti(mti: str) -> str:
    """The MTI that answers `mti`: 0200 -> 0210, 0221 -> 0230, 0401 -> 0410, 0800 -> 0810."""
    return f"{mti[:2]}{int(mti[2]) + 1}0"


def not_an_answer(request_mti: str, resp: Message) -> str | None:
    """Why `resp`, matched to a request on DE11 + DE41, cannot be taken as its answer (another
    MTI, no response code to act on), or None when it can (docs/agent.md, "Switch link and the
    outbox")."""
    want = answer_mti(request_mti)
    if resp.mti != want:
        return f"{resp.mti} is not an answer to {request_mti} (expected {want})"
    code = resp.get(39)
    if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalnum()):
        return f"{resp.mti} carries no response code (DE39 {code!r})"
    return None


@dataclass(frozen=True)
class Outcome:
    code: str
    rrn: str
    earned: int | None
    redeemed: int | None
    balance: int | None
    message: str

    def to_ecr(self) -> EcrResponse:
        return EcrResponse(self.code, self.rrn, self.earned, self.redeemed, self.balance,
                           self.message)


DEFAULT_TEXT = {"00": "approved", "05": "declined", "12": "invalid transaction",
                "13": "invalid amount", "14": "invalid card number", "25": "original not found",
                "30": "format error", "51": "insufficient points", "54": "expired card",
                "57": "not permitted for this card", "58": "terminal not permitted",
                "61": "over a limit", "62": "card blocked", "63": "security violation",
                "91": "switch unavailable", "94": "duplicate", "96": "system error"}


def _int(text: str | None) -> int | None:
    """A count from DE48: ASCII digits, at most 12 like DE4 (a longer one would overflow the
    register's integer), else unknown."""
    return int(text) if text and len(text) <= 12 and is_ascii_digits(text) else None


def outcome_of(resp: Message) -> Outcome:
    """The register's view of a 0210/0230: code, RRN, points and the receipt message."""
    code = resp.text(39, "96").strip() or "96"
    tags: dict[str, str] = {}
    raw48 = resp.get(48)
    if isinstance(raw48, str) and raw48:
        try:
            tags = parse_tlv(raw48)
        except (CodecError, ValueError):
            tags = {}
    balance: int | None = None
    raw54 = resp.get(54)
    if isinstance(raw54, str) and raw54:
        try:
            for entry in parse_de54(raw54):
                if entry.account_type == "00" and entry.currency == "999":
                    balance = entry.amount
        except (CodecError, ValueError):
            balance = None
    # the receipt text goes to the register and into events: no card number in clear there
    # either (iso8583/redact.py)
    message = redact(tags.get("MS") or DEFAULT_TEXT.get(code, f"response {code}"))
    return Outcome(code, resp.text(37, "").strip(), _int(tags.get("EP")), _int(tags.get("RD")),
                   balance, message)
