"""`parse_request`: a decoded `Message` read once into a typed `Request`.

Every field check of docs/protocol.md §2-§4 happens here, before anything is looked up: the
MTI (only requests are answered), DE11 and DE41 (without them nothing can be answered: the
connection is closed), the LPS-87 field subset and mandatory fields (`schemas/lps87.toml`),
and the format of every field the core reads. Numbers are ASCII `0-9` only
(`switch.core.text.is_digits`). A request that fails is still a `Request`, with the response
code it is refused with (`refusal`): the reason never quotes a card number.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from types import MappingProxyType

from iso8583.errors import CodecError
from iso8583.loyalty import parse_tlv
from iso8583.message import FieldValue, Message
from switch.core.codes import PC, RC
from switch.core.mobile import MobileError, mobile_from_wire
from switch.core.model import TxnKey, txn_key
from switch.core.protocol import (
    CANONICAL_MTI,
    FINANCIAL,
    REVERSALS,
    Lps87,
    answerable,
    echoable,
    malformed_field,
)
from switch.core.text import is_digits

_NO_TAGS: Mapping[str, str] = MappingProxyType({})
#: What `request_digest` writes before each field's value, by field number.
_SEPARATORS = {number: b"\x1e%d\x1f" % number for number in range(1, 129)}
#: 0500 totals: counts (DE74-77) and amounts (DE86-89).
TOTALS_FIELDS = (74, 75, 76, 77, 86, 87, 88, 89)
#: The processing codes `_parse` checks, as plain `str`: a wire `str` compares with these on
#: the interpreter's fast path, not through `StrEnum`'s.
_REDEEM, _RETURN = PC.REDEEM.value, PC.RETURN.value


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message the switch does not answer; `close`: its connection is closed as well."""

    reason: str
    close: bool = False


@dataclass(slots=True)
class Request:
    """One request as the core reads it. Fields the message does not carry are empty.

    Never changed once parsed. A plain slots dataclass, not frozen and not a `NamedTuple`:
    a frozen dataclass sets each field through `object.__setattr__`, and Python 3.11 reads a
    `NamedTuple`'s fields through the generic attribute path, about three times a slot's
    cost, where the core reads a request's fields dozens of times (benches/README.md, "The
    core alone").
    """

    msg: Message
    mti: str
    #: The MTI a repeat stands for (0401 -> 0400, 0421 -> 0420, 0221 -> 0220).
    canonical: str
    tid: str
    stan: str
    de7: str
    #: Refused before anything else is looked at: `30` (a field breaks its format or the
    #: subset) or `12` (an MTI the switch does not support); `reason` says why.
    refusal: RC | None = None
    reason: str = ""
    #: The request's content digest (`request_digest`), for retransmissions and `94`.
    digest: bytes = b""
    pc: str = ""
    amount: int = 0
    pan: str = ""
    #: DE48 `MB` in its stored form (`989121234567`): the request names the account by its
    #: mobile number instead of a card (docs/protocol.md §3); `pan` is empty then.
    mobile: str = ""
    #: DE42 without its padding.
    store_id: str = ""
    batch: str = ""
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)
    #: A reversal's original: DE41 + the STAN and DE7 that DE90 names, and DE90's MTI.
    original_key: tuple[str, str, str] | None = None
    original_mti: str = ""
    network_code: str = ""
    #: DE14 as (year, month).
    expiry: tuple[int, int] | None = None
    #: A 0500's totals (DE74-77, DE86-89).
    terminal_totals: Mapping[int, int] | None = None
    #: DE52 is present as 8 bytes.
    pin_block: bool = False

    #: DE41 + DE11 + DE7 (`txn_key`): made once, read by needs, decide and the remembering.
    key: TxnKey = field(init=False)

    def __post_init__(self) -> None:
        self.key = txn_key(self.tid, self.stan, self.de7)

    @property
    def original_txn_key(self) -> TxnKey:
        assert self.original_key is not None
        return txn_key(*self.original_key)


class _FormatError(Exception):
    """A field that breaks its format or the subset: answered `30`."""


def request_digest(msg: Message) -> bytes:
    """A digest of the request's content; repeats (0401, 0421, 0221) digest as their originals.

    The MAC field is left out: the MAC authenticates the content, and a re-MACed
    retransmission is the same request. What is hashed: the canonical MTI, then each field in
    number order as 0x1E, its number, 0x1F and its value (UTF-8, lone surrogates passed
    through). Every request makes one: where every value is text, the fields' separators and
    values are joined in one C call by a plan kept per set of field numbers (`_digest_plan`),
    the same bytes as `_digest_parts` writes part by part.
    """
    head = CANONICAL_MTI.get(msg.mti, msg.mti).encode()
    fields = msg.fields
    numbers = tuple(sorted(fields))
    take, separators = _DIGEST_PLANS.get(numbers) or _digest_plan(numbers)
    try:
        # `str.join` refuses a value that is not text
        text = "".join(chain.from_iterable(
            zip(separators, take(fields), strict=True)))  # type: ignore[arg-type]
    except TypeError:  # a binary value (DE52's PIN block): part by part
        return _digest_parts(head, fields)
    return hashlib.blake2b(head + text.encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


#: What `request_digest` takes out of a message's fields, and the separators before them.
_DigestPlan = tuple[Callable[[Mapping[int, FieldValue]], tuple[FieldValue, ...]],
                    tuple[str, ...]]
#: `request_digest`'s plans by field numbers (sorted); at most `_MAX_DIGEST_PLANS` are kept
#: (a hostile terminal can send any set of fields), the others are made on the spot.
_DIGEST_PLANS: dict[tuple[int, ...], _DigestPlan] = {}
_MAX_DIGEST_PLANS = 256


def _digest_plan(numbers: tuple[int, ...]) -> _DigestPlan:
    """How `request_digest` reads fields `numbers`: every one but the MAC (DE64, DE128)."""
    digested = tuple(n for n in numbers if not (n == 64 or n == 128))
    separators = tuple((_SEPARATORS.get(n) or b"\x1e%d\x1f" % n).decode("ascii")
                       for n in digested)
    # itemgetter of one number gives the value itself, not a tuple
    take: Callable[[Mapping[int, FieldValue]], tuple[FieldValue, ...]] = \
        itemgetter(*digested) if len(digested) > 1 else functools.partial(_values, digested)
    plan = (take, separators)
    if len(_DIGEST_PLANS) < _MAX_DIGEST_PLANS:
        _DIGEST_PLANS[numbers] = plan
    return plan


def _values(numbers: tuple[int, ...], fields: Mapping[int, FieldValue]) -> tuple[FieldValue, ...]:
    return tuple(fields[n] for n in numbers)


def _digest_parts(head: bytes, fields: Mapping[int, FieldValue]) -> bytes:
    """`request_digest` part by part, for fields that are not all text."""
    parts = [head]
    append = parts.append
    for number in sorted(fields):
        if number == 64 or number == 128:
            continue
        value = fields[number]
        append(_SEPARATORS.get(number) or b"\x1e%d\x1f" % number)
        append(value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass"))
    return hashlib.blake2b(b"".join(parts), digest_size=16).digest()


def parse_request(msg: Message, protocol: Lps87, *,
                  wire_checked: bool = False) -> Request | Ignored:
    """Read `msg` once; `Ignored` when it must not be answered (docs/protocol.md §2).

    `wire_checked`: `msg` is what the wire format's own profile decoded
    (`switch.core.protocol.wire_checked`), so every field is well formed already.
    """
    mti = msg.mti
    if not isinstance(mti, str) or not answerable(mti):
        return Ignored(f"MTI {mti!r} is not a request")
    stan, tid = msg.fields.get(11), msg.fields.get(41)
    if not (isinstance(stan, str) and is_digits(stan, 6) and isinstance(tid, str)
            and echoable(41, tid)):
        return Ignored("DE11 or DE41 is missing or unreadable: nothing to answer to",
                       close=True)
    raw7 = msg.fields.get(7)
    de7 = raw7 if isinstance(raw7, str) else ""
    canonical = CANONICAL_MTI.get(mti, mti)
    if not protocol.supports(mti):
        return Request(msg, mti, canonical, tid, stan, de7, RC.INVALID_TRANSACTION,
                       f"MTI {mti} is not supported")
    try:
        return _parse(msg, protocol, mti, canonical, tid, stan, de7, wire_checked)
    except _FormatError as exc:
        return Request(msg, mti, canonical, tid, stan, de7, RC.FORMAT_ERROR, str(exc))


def undecodable(mti: str, stan: str, tid: str, de7: str, reason: str,
                tpdu: bytes | None = None) -> Request | Ignored:
    """A frame the codec could not decode, from the MTI, DE11, DE41 and DE7 it did read:
    refused `30` when it is a request that can be answered."""
    fields: dict[int, str | bytes] = {11: stan, 41: tid}
    if de7:
        fields[7] = de7
    msg = Message(mti=mti, fields=fields, tpdu=tpdu)
    if not answerable(mti):
        return Ignored(f"MTI {mti!r} is not a request")
    if not is_digits(stan, 6):
        return Ignored("DE11 is unreadable: nothing to answer to", close=True)
    return Request(msg, mti, CANONICAL_MTI.get(mti, mti), tid, stan,
                   de7 if is_digits(de7, 10) else "", RC.FORMAT_ERROR, reason)


def _text(msg: Message, number: int) -> str:
    value = msg.fields.get(number)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _FormatError(f"DE{number} must be text")
    return value


def _digits(msg: Message, number: int, length: int | None = None) -> str:
    value = _text(msg, number)
    if not is_digits(value, length):
        raise _FormatError(f"DE{number} must be {length or 'some'} digits (0-9)")
    return value


def _pan(msg: Message) -> str:
    if 2 in msg.fields:
        return _text(msg, 2)
    return _text(msg, 35).split("=", 1)[0].split("D", 1)[0]


def _card_named(protocol: Lps87, fields: Mapping[int, object], tags: Mapping[str, str]) -> str:
    """Check that exactly one thing names the account (docs/protocol.md §2): a card (DE2 or
    DE35), or DE48 `MB`; the mobile number in its stored form when it is `MB`, else ""."""
    card = not fields.keys().isdisjoint(protocol.card_fields)
    named = [t for t in protocol.card_tags if t in tags] if tags else []
    if not card and not named:
        raise _FormatError("DE2, DE35 or DE48 MB is mandatory")
    if (card and named) or len(named) > 1:
        raise _FormatError("DE48 MB names an account by its mobile: it goes without DE2 "
                           "and DE35")
    if not named:
        return ""
    try:
        return mobile_from_wire(tags[named[0]])
    except MobileError as exc:
        raise _FormatError(f"DE48 MB: {exc}") from None


def _parse(msg: Message, protocol: Lps87, mti: str, canonical: str, tid: str, stan: str,
           de7: str, wire_checked: bool) -> Request:
    # Every request passes here: a field read by the core is checked inline where it is plain
    # text of the right shape (a `str` of so many ASCII digits, `is_digits` without the call);
    # anything else goes to `_text`/`_digits`, which accept it the same way or raise with the
    # reason.
    fields = msg.fields
    if not protocol.fields.issuperset(fields):
        outside = min(n for n in fields if n not in protocol.fields)
        raise _FormatError(f"DE{outside} is not a field of LPS-87")
    required, required_set, card_required = protocol.required_fields(mti)
    if not fields.keys() >= required_set:  # one set comparison; the first one missing named
        for need in required:
            if need not in fields:  # the card: below, once DE48 is read
                raise _FormatError(f"DE{need} is mandatory in {mti}")
    # every field, read by the core or not (the decoder checked them when `wire_checked`)
    malformed = None if wire_checked else malformed_field(fields)
    if malformed is not None:
        raise _FormatError(f"DE{malformed} breaks its format (docs/protocol.md §2)")
    if not (len(de7) == 10 and de7.isascii() and de7.isdigit()):
        _digits(msg, 7, 10)
    tags = _NO_TAGS
    if 48 in fields:
        try:
            tags = MappingProxyType(parse_tlv(_text(msg, 48)))
        except CodecError as exc:
            raise _FormatError(f"DE48: {exc}") from None
    mobile = _card_named(protocol, fields, tags) if card_required else ""
    batch = fields.get(62, "")
    if type(batch) is not str:
        batch = _text(msg, 62)
    if 62 in fields and not is_digits(batch, 6):
        raise _FormatError("DE62 must be the batch number, 6 digits (0-9)")
    store_id = fields.get(42, "")
    store_id = store_id.rstrip() if type(store_id) is str else _text(msg, 42).rstrip()
    digest = request_digest(msg)
    if canonical == "0800":
        return Request(msg, mti, canonical, tid, stan, de7, tags=tags,
                       network_code=_text(msg, 70), store_id=store_id)
    if canonical == "0500":
        totals = {n: int(_digits(msg, n)) for n in TOTALS_FIELDS}
        return Request(msg, mti, canonical, tid, stan, de7, digest=digest, tags=tags,
                       pc=_digits(msg, 3, 6), store_id=store_id, batch=batch,
                       terminal_totals=MappingProxyType(totals))
    if canonical not in FINANCIAL:
        raise _FormatError(f"MTI {mti} has no parser")  # the schema names an MTI we lack
    pc = fields.get(3, "")
    if not (type(pc) is str and len(pc) == 6 and pc.isascii() and pc.isdigit()):
        pc = _digits(msg, 3, 6)
    amount = 0
    if 4 in fields:
        de4 = fields[4]
        amount = int(de4 if type(de4) is str and len(de4) == 12 and de4.isascii()
                     and de4.isdigit() else _digits(msg, 4, 12))
    elif pc not in protocol.amount_optional:
        raise _FormatError(f"DE4 is mandatory for processing code {pc}")
    expiry = None
    if 14 in fields:
        yymm = _digits(msg, 14, 4)
        if not 1 <= int(yymm[2:]) <= 12:
            raise _FormatError("DE14 is not YYMM")
        expiry = (2000 + int(yymm[:2]), int(yymm[2:]))
    original_key, original_mti = None, ""
    if canonical in REVERSALS:
        de90 = _digits(msg, 90, 42)
        original_key, original_mti = (tid, de90[4:10], de90[10:20]), de90[:4]
    elif pc == _REDEEM and "RP" in tags and not is_digits(tags["RP"]):
        raise _FormatError("DE48 RP must be digits (0-9)")
    elif pc == _RETURN and not is_digits(tags.get("OR", ""), 12):
        raise _FormatError("a return needs DE48 OR, the original's RRN (12 digits 0-9)")
    block = fields.get(52)
    de2 = fields.get(2)
    pan = "" if mobile else de2 if type(de2) is str else _pan(msg)
    return Request(
        msg, mti, canonical, tid, stan, de7, digest=digest, pc=pc, amount=amount,
        pan=pan, mobile=mobile, store_id=store_id,
        batch=batch, tags=tags,
        original_key=original_key, original_mti=original_mti, expiry=expiry,
        pin_block=isinstance(block, bytes) and len(block) == 8,
    )
