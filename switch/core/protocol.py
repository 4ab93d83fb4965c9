"""The LPS-87 message rules the core enforces: which MTIs are answered, with which MTI, and
which fields a request may and must carry (docs/protocol.md §2 and §4).

The field subset and the mandatory fields come from `schemas/lps87.toml`, read by the codec
(`iso8583.lps87_rules()`, the same schema data as its profiles) once per process; the core
only interprets them. Nothing here reads a file itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iso8583 import CodecError, Profile, load_profile, lps87_rules
from iso8583.fields import Binary, DigitChars, Text
from switch.core.text import is_digits

#: Repeats are answered like, and digested as, their originals (docs/protocol.md §4).
CANONICAL_MTI = {"0401": "0400", "0421": "0420", "0221": "0220"}
#: Requests whose response carries DE37 (financial messages).
FINANCIAL = frozenset({"0200", "0220", "0400", "0420"})
REVERSALS = frozenset({"0400", "0420"})
#: Requests that carry a MAC once their terminal has a session MAC key (docs/protocol.md §6).
MACED = frozenset({"0200", "0220", "0400", "0420", "0500"})
#: Fields a response echoes as they were sent (docs/protocol.md §4).
ECHO = (2, 3, 4, 7, 11, 41, 42, 62, 70)
#: Their formats (docs/protocol.md §2): digits or text, and the lengths they may have.
_ECHO_FORMATS = {2: (True, 1, 19), 3: (True, 6, 6), 4: (True, 12, 12), 7: (True, 10, 10),
                 11: (True, 6, 6), 41: (False, 0, 8), 42: (False, 0, 15), 62: (False, 0, 999),
                 70: (True, 3, 3)}
#: "card" in the schema's mandatory lists: DE2, DE35 or DE48 `MB` (`Lps87.card_fields`,
#: `card_tags`).
CARD = "card"


@dataclass(frozen=True, slots=True)
class Lps87:
    """The subset as data: accepted fields, mandatory fields by MTI, optional amounts, and
    what names a card (`CARD`)."""

    fields: frozenset[int]
    #: By MTI (its canonical form when the repeat is not listed); "all" applies to every one.
    mandatory: Mapping[str, tuple[int | str, ...]]
    amount_optional: frozenset[str]
    #: `CARD` is one of these fields, or one of these DE48 tags.
    card_fields: tuple[int, ...] = (2, 35)
    card_tags: tuple[str, ...] = ()
    #: `required(mti)` split once per MTI the subset names (its repeats included): the field
    #: numbers (in order, and as a set), and whether `CARD` is among them (`required_fields`;
    #: every request reads it).
    _split: Mapping[str, tuple[tuple[int | str, ...], frozenset[int | str], bool]] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mtis = {*self.mandatory, *(m for m, c in CANONICAL_MTI.items() if c in self.mandatory)}
        object.__setattr__(self, "_split", {mti: self._split_required(mti) for mti in mtis})

    @classmethod
    def from_schema(cls, data: Mapping[str, Any]) -> Lps87:
        table = dict(data["mandatory"])
        optional = frozenset(str(pc) for pc in table.pop("amount_optional_for", ()))
        mandatory = {str(mti): tuple(n if isinstance(n, str) else int(n) for n in numbers)
                     for mti, numbers in table.items()}
        card = data.get("card", {})
        return cls(frozenset(int(n) for n in data["fields"]), mandatory, optional,
                   tuple(int(n) for n in card.get("fields", (2, 35))),
                   tuple(str(t) for t in card.get("tags", ())))

    def supports(self, mti: str) -> bool:
        return mti in self.mandatory or CANONICAL_MTI.get(mti, "") in self.mandatory

    def required(self, mti: str) -> tuple[int | str, ...]:
        """Every field `mti` must carry (`CARD`: DE2, DE35 or DE48 `MB`)."""
        own = self.mandatory.get(mti)
        if own is None:
            own = self.mandatory.get(CANONICAL_MTI.get(mti, mti), ())
        return (*self.mandatory.get("all", ()), *own)

    def required_fields(self, mti: str) -> tuple[tuple[int | str, ...], frozenset[int | str], bool]:
        """`required(mti)` as the field numbers it names (in order, and as a set) and whether
        it names `CARD`."""
        split = self._split.get(mti)
        return split if split is not None else self._split_required(mti)

    def _split_required(self, mti: str) -> tuple[tuple[int | str, ...], frozenset[int | str], bool]:
        required = self.required(mti)
        numbers = tuple(n for n in required if n != CARD)
        return numbers, frozenset(numbers), CARD in required


@functools.cache
def lps87() -> Lps87:
    """The LPS-87 subset of `schemas/lps87.toml` (read by the codec once per process)."""
    return Lps87.from_schema(lps87_rules())


def echoable(number: int, value: str | bytes) -> bool:
    """Whether a reply can echo this field as it came: it has its format. A reply to a
    malformed request leaves the malformed field out, so that it still encodes."""
    digits, shortest, longest = _ECHO_FORMATS[number]
    if not isinstance(value, str) or not shortest <= len(value) <= longest:
        return False
    if digits:
        return is_digits(value)
    return value.isascii() and value.isprintable()


#: `_ECHO_FORMATS` in the order of `ECHO`: (number, digits, shortest, longest).
_ECHO_ROWS = tuple((n, *_ECHO_FORMATS[n]) for n in ECHO)


def echoed(sent: Mapping[int, str | bytes]) -> dict[int, str | bytes]:
    """The fields of `sent` a reply echoes (docs/protocol.md §4): each field of `ECHO` that is
    `echoable`, in one pass (every reply builds this)."""
    out: dict[int, str | bytes] = {}
    for n, digits, shortest, longest in _ECHO_ROWS:
        value = sent.get(n)
        if isinstance(value, str) and shortest <= len(value) <= longest and value.isascii() \
                and (value.isdigit() if digits else value.isprintable()):
            out[n] = value
    return out


@functools.cache
def _wire() -> Profile:
    """The field formats of docs/protocol.md §2, as `schemas/` defines them (both profiles
    share one data-element dictionary)."""
    return load_profile("ascii")


def wire_checked(profile: Profile) -> bool:
    """Whether every field of a message `profile` decoded is `well_formed` already: `profile`
    is the wire format's own (`_wire`), whose constructs decode exactly the values they
    encode (tests/switch/test_fast_checks.py holds it to that). `parse_request` then leaves
    out `malformed_field`, a second check of every field the decoder checked."""
    return profile is _wire()


def well_formed(number: int, value: str | bytes) -> bool:
    """Whether `value` is a value of field `number` as the wire carries it: one the codec
    writes (`n` ASCII digits, text printable, `b` bytes, lengths within the field's), and a
    fixed `n` field exactly as long as the field, as a decoded frame always holds it."""
    try:
        codec = _wire().field(number)
        codec.encode(value)
    except CodecError:
        return False
    return codec.kind not in ("n", "z") or codec.fixed_size is None \
        or len(value) == codec.length


#: What a plainly well-formed value of a field is (`_plain_formats`).
_PLAIN_DIGITS, _PLAIN_TEXT, _PLAIN_BYTES = 0, 1, 2


@functools.cache
def _plain_formats() -> dict[int, tuple[int, int, bool]]:
    """Per field of the wire format: (what, length, fixed) of the values the codec writes as
    they are (ASCII digits, printable ASCII text, bytes) with no padding or conversion.

    A request's fields are nearly always such values; `malformed_field` accepts them with a
    few `str` calls and asks the codec only about the rest, so the answer is `well_formed`'s.
    """
    plain: dict[int, tuple[int, int, bool]] = {}
    for number, codec in enumerate(_wire().codecs):
        if number < 2:  # DE1 is the secondary bitmap, never a value (`Profile.field`)
            continue
        fixed = codec is not None and codec.prefix_digits == 0
        if isinstance(codec, DigitChars) and not codec.track2 and codec.charset == "ascii":
            plain[number] = (_PLAIN_DIGITS, codec.length, fixed)
        elif isinstance(codec, Text) and codec.charset in ("ascii", "utf-8"):
            # printable ASCII is the same bytes in UTF-8 and holds no control character
            plain[number] = (_PLAIN_TEXT, codec.length, fixed)
        elif isinstance(codec, Binary) and fixed:
            plain[number] = (_PLAIN_BYTES, codec.length, True)
    return plain


def malformed_field(fields: Mapping[int, str | bytes]) -> int | None:
    """The first of `fields` that is not `well_formed` (docs/protocol.md §2); None: none."""
    plain = _plain_formats()
    for number, value in fields.items():
        rule = plain.get(number)
        if rule is not None and type(number) is int:  # 2.0 would find DE2's rule
            what, length, fixed = rule
            if what == _PLAIN_BYTES:
                if type(value) is bytes and len(value) == length:
                    continue
            elif type(value) is str and (len(value) == length if fixed else len(value) <= length) \
                    and value.isascii() \
                    and (value.isdigit() if what == _PLAIN_DIGITS else value.isprintable()):
                continue
        if not well_formed(number, value):
            return number
    return None


def answerable(mti: str) -> bool:
    """Whether a message with this MTI gets an answer at all.

    Only a request or an advice of ISO 8583:1987 (version 0, function 0 or 2) from an acquirer
    (origin 0, or 1 for a repeat) is answered; anything else (a response, 0210, 0810, 0410; an
    MTI such as 0290; non-ASCII digits) is never answered, or a stray response would start an
    echo storm (docs/protocol.md §2).
    """
    return mti in _ANSWERABLE


#: The 40 MTIs `answerable` names: version 0, any class, function 0 or 2, origin 0 or 1.
_ANSWERABLE = frozenset(f"0{c}{f}{o}" for c in "0123456789" for f in "02" for o in "01")


@functools.cache
def response_mti(mti: str) -> str:
    """0200 -> 0210, 0401 -> 0410, 0221 -> 0230 (only for `answerable` MTIs).

    Memoised: every reply asks, and there are only 40 answerable MTIs (a refusal raises and
    is never stored).
    """
    if not answerable(mti):
        raise ValueError(f"MTI {mti!r} is not answered")
    return mti[:2] + ("1" if mti[2] == "0" else "3") + "0"
