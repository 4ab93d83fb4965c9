"""Whole messages in one pass over per-profile tables: the hot path of `Profile.decode/encode`.

The field constructs (iso8583/fields.py) define every layout; this module reads and writes the
common shapes of whole messages without calling them. A frame is seen once as a latin-1 string
(and, where the profile packs BCD, once as a hex string). Each bitmap, and each set of fields to
write, gets a plan that the profile keeps: runs of consecutive fixed fields of one kind (ASCII
digits, printable ASCII, even counts of packed BCD digits), each checked with one call and cut
at precomputed offsets, and single fields read and written inline by the constructs' rules,
their length prefixes looked up in a table of the valid ones.

Anything else, and every check that fails, gives None: the profile then takes its checked path
through the constructs, which decides and words the error exactly as it always did. So nothing
here raises a codec error or accepts what the constructs refuse (tests/codec/test_fastpath.py
holds it to that on random valid and damaged messages).

One module, past 400 lines, on purpose: the plans and the loops that run them are one
algorithm; split, the offsets a plan precomputes and the loop that cuts at them would be read
in two places.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from functools import cache
from operator import itemgetter
from typing import Any, Final

from .errors import CodecError
from .fields import Binary, DigitBcd, DigitChars, FieldCodec, Text
from .message import FieldValue, Message

# How a field's body travels (the constructs' rules, docs/protocol.md §1 and §2).
DIGITS: Final = 1  # ASCII 0-9, a byte each
TEXT: Final = 2  # printable ASCII; fixed fields space-filled right
BCD: Final = 3  # packed BCD digits; an odd count padded with one nibble
BYTES: Final = 4  # raw bytes
UTF8: Final = 5  # UTF-8 without C0/C1 control characters; lengths count bytes
TRACK2: Final = 6  # ASCII 0-9 and '='
BCD_TRACK2: Final = 7  # packed BCD, '=' as the nibble D
CONSTRUCT: Final = 8  # none of these: the field construct's own `decode(buf, pos)`/`encode`

# The steps of a plan.
DIGIT_RUN: Final = 1  # fixed ASCII digit fields one after the other
TEXT_RUN: Final = 2  # fixed printable ASCII fields
BCD_RUN: Final = 3  # fixed packed BCD fields of even digit counts
ONE: Final = 4  # one field of an inline kind, fixed or LL/LLL
RAW: Final = 5  # one fixed field of raw bytes
OTHER: Final = 6  # one field of any other shape, through its construct
_RUNS: Final = {DIGITS: DIGIT_RUN, TEXT: TEXT_RUN, BCD: BCD_RUN}

# C0 and C1 control characters, never part of text (iso8583/fields.py).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
# Charsets (by their codecs name) that write the digits 0-9 as the bytes 0x30-0x39.
_ASCII_DIGITS: Final = ("ascii", "utf-8")
_HEX_UPPER: Final = frozenset("0123456789ABCDEF")
_INT: Final = {int}
#: Plans a profile keeps (distinct bitmaps, distinct field sets); others are made on the spot.
MAX_PLANS: Final = 256

#: How one field travels: (number, body kind, length in units (digits, characters or bytes:
#: the maximum when variable), prefix size in bytes (0: fixed), packed BCD prefix, pad nibble,
#: pad on the left, the construct).
Field = tuple[int, int, int, int, bool, str, bool, FieldCodec]
#: A step of reading: (step kind, bytes a run spans, its fields and where each sits in it (hex
#: digits for BCD), the valid length prefixes of a variable field (as latin-1 text), the field).
ReadStep = tuple[int, int, tuple[tuple[int, slice], ...], Mapping[str, int], Field]
#: A step of writing: (step kind, what takes a run's values out of the fields, the length each
#: must have, the field's length prefixes by length (fixed: only its own length, as b""), the
#: field).
WriteStep = tuple[int, Callable[[Mapping[int, FieldValue]], Any], tuple[int, ...],
                  tuple[bytes | None, ...], Field]
#: The steps, and whether a decoded message keeps an empty secondary bitmap (docs/protocol.md
#: §2, DE1).
ReadPlan = tuple[tuple[ReadStep, ...], bool]
#: The steps, and the bitmaps as they travel: as the fields make them, and with DE1 forced.
WritePlan = tuple[tuple[WriteStep, ...], bytes, bytes]


def _body_kind(codec: FieldCodec) -> int:
    """The inline kind that reads and writes `codec` exactly as it does itself, or CONSTRUCT."""
    charset = codecs.lookup(codec.charset).name
    if codec.prefix_digits and codec.prefix_encoding != "bcd" and charset not in _ASCII_DIGITS:
        return CONSTRUCT  # the length's digits are not ASCII bytes
    if type(codec) is DigitChars and charset == "ascii":
        return TRACK2 if codec.track2 else DIGITS
    if type(codec) is DigitBcd:
        return BCD_TRACK2 if codec.track2 else BCD
    if type(codec) is Text and charset in _ASCII_DIGITS:
        return TEXT if charset == "ascii" else UTF8
    if type(codec) is Binary and not codec.hex_chars:
        return BYTES
    return CONSTRUCT


def field_entry(codec: FieldCodec) -> Field:
    """The table entry of `codec`'s field."""
    kind = _body_kind(codec)
    prefix_size = 0 if kind == CONSTRUCT else codec.prefix_size
    pad_nibble, pad_left = "", True
    if isinstance(codec, DigitBcd):
        pad_nibble, pad_left = codec.pad_nibble, codec.pad_left
    return (codec.number, kind, codec.length, prefix_size, codec.prefix_encoding == "bcd",
            pad_nibble, pad_left, codec)


@cache
def prefix_table(digits: int, packed: bool, maximum: int) -> Mapping[str, int]:
    """Every valid length prefix up to `maximum`, as the frame's latin-1 text, with its value:
    `digits` ASCII digits, or as many packed BCD digits with a leading 0 nibble for an odd
    count (iso8583/fields.py, `_write_prefix`)."""
    width = digits + (digits & 1) if packed else digits
    table: dict[str, int] = {}
    for units in range(maximum + 1):
        text = str(units).zfill(width)
        raw = bytes.fromhex(text) if packed else text.encode("ascii")
        table[raw.decode("latin-1")] = units
    return table


def _step_kind(entry: Field) -> int:
    kind, length, prefix_size = entry[1], entry[2], entry[3]
    if kind == CONSTRUCT:
        return OTHER
    if kind == BYTES and not prefix_size:
        return RAW
    if prefix_size or (kind == BCD and length & 1):
        return ONE  # a length prefix, or a pad nibble, to read and check
    return _RUNS.get(kind, ONE)


def _group(entries: list[Field]) -> list[tuple[int, list[Field]]]:
    """`entries` cut into runs of consecutive fields of one run kind, and single fields."""
    groups: list[tuple[int, list[Field]]] = []
    for entry in entries:
        step = _step_kind(entry)
        if step in (DIGIT_RUN, TEXT_RUN, BCD_RUN) and groups and groups[-1][0] == step:
            groups[-1][1].append(entry)
        else:
            groups.append((step, [entry]))
    return groups


def read_plan(entries: list[Field]) -> tuple[ReadStep, ...]:
    """How to read fields `entries`, in order."""
    steps: list[ReadStep] = []
    for step, members in _group(entries):
        first = members[0]
        prefixes: Mapping[str, int] = {}
        if first[3]:
            prefixes = prefix_table(first[7].prefix_digits, first[4], first[2])
        start = 0
        where: list[tuple[int, slice]] = []
        for entry in members:
            where.append((entry[0], slice(start, start + entry[2])))
            start += entry[2]
        size = start // 2 if step == BCD_RUN else start  # a BCD run is cut from hex digits
        steps.append((step, size, tuple(where), prefixes, first))
    return tuple(steps)


def write_plan(entries: list[Field]) -> tuple[WriteStep, ...]:
    """How to write fields `entries`, in order (a run of one field is written as ONE)."""
    steps: list[WriteStep] = []
    for step, members in _group(entries):
        first = members[0]
        if step <= BCD_RUN and len(members) == 1:
            step = ONE
        prefixes: tuple[bytes | None, ...] = (
            first[7]._prefixes if first[3] else (None,) * first[2] + (b"",))
        steps.append((step, itemgetter(*(e[0] for e in members)), tuple(e[2] for e in members),
                      prefixes, first))
    return tuple(steps)


class FastPath:
    """One profile's tables: how its TPDU, MTI, bitmaps and every field travel, and the plans
    of the bitmaps and field sets seen so far."""

    __slots__ = ("_bitmap_hex", "_fields", "_hexed", "_mti", "_read_plans", "_tpdu_size",
                 "_write_plans")

    def __init__(self, tpdu_size: int, mti_codec: FieldCodec, bitmap_hex: bool,
                 codecs: list[FieldCodec | None]) -> None:
        self._tpdu_size = tpdu_size
        self._mti = field_entry(mti_codec)
        self._bitmap_hex = bitmap_hex
        self._fields: dict[int, Field] = {
            number: field_entry(codec) for number, codec in enumerate(codecs)
            if codec is not None and number > 1}
        # a hex view of the frame only where packed BCD travels
        self._hexed = any(entry[1] in (BCD, BCD_TRACK2)
                          for entry in (self._mti, *self._fields.values()))
        self._read_plans: dict[str, ReadPlan | None] = {}
        self._write_plans: dict[tuple[int, ...], WritePlan | None] = {}

    # -- decoding -----------------------------------------------------------------------------
    def _read_plan(self, key: str, bitmap: bytes) -> ReadPlan | None:
        """The plan of the fields `bitmap` names (`key`: as the frame's latin-1 or hex text);
        None when one is not in the dictionary (the checked path says which)."""
        plans = self._read_plans
        if key in plans:
            return plans[key]
        if self._bitmap_hex:
            if not _HEX_UPPER.issuperset(key):
                return None
            bitmap = bytes.fromhex(key)
        numbers = [index * 8 + bit + 1 for index, byte in enumerate(bitmap) for bit in range(8)
                   if byte & (0x80 >> bit)]
        entries = [self._fields.get(number) for number in numbers if number > 1]
        plan: ReadPlan | None = None
        if all(entries):
            found = [entry for entry in entries if entry is not None]
            keeps_secondary = len(bitmap) == 16 and numbers[-1] <= 64
            plan = read_plan(found), keeps_secondary
        if len(plans) < MAX_PLANS:
            plans[key] = plan
        return plan

    def decode(self, raw: bytes) -> Message | None:
        """The message in `raw`, or None: the checked path decides."""
        text = raw.decode("latin-1")
        hexed = raw.hex() if self._hexed else ""
        pos = self._tpdu_size
        tpdu = None
        if pos:
            if len(raw) < pos or raw[0] != 0x60:
                return None
            tpdu = raw[:pos]
        mti_kind = self._mti[1]
        if mti_kind == DIGITS:
            mti = text[pos:pos + 4]
            pos += 4
        elif mti_kind == BCD:
            mti = hexed[2 * pos:2 * pos + 4]
            pos += 2
        else:
            read = _read_single(self._mti, raw, text, hexed, pos)
            if read is None or not isinstance(read[0], str):
                return None
            mti, pos = read[0], read[1]
        if not (mti.isascii() and mti.isdigit()):
            return None
        # The bitmaps; the plan's key is their latin-1 text (binary) or their hex text.
        width = 16 if self._bitmap_hex else 8
        key = text[pos:pos + width]
        if len(key) != width:
            return None
        if (key[0] in "89ABCDEF") if self._bitmap_hex else (ord(key[0]) & 0x80):
            key = text[pos:pos + 2 * width]
            if len(key) != 2 * width:
                return None
        plan = self._read_plans.get(key)
        if plan is None:
            plan = self._read_plan(key, raw[pos:pos + len(key)])
            if plan is None:
                return None
        pos += len(key)
        fields: dict[int, FieldValue] = {}
        # Every step moves `pos` by the whole size it expects, so a frame cut short leaves it
        # past the end, which the last check refuses.
        for step, size, members, prefixes, entry in plan[0]:
            if step <= BCD_RUN:
                run = text[pos:pos + size] if step != BCD_RUN else hexed[2 * pos:2 * (pos + size)]
                if step == TEXT_RUN:
                    if not (run.isascii() and run.isprintable()):
                        return None
                elif not (run.isascii() and run.isdigit()):
                    return None
                for number, where in members:
                    fields[number] = run[where]
                pos += size
            elif step == ONE:
                if entry[3]:
                    end = pos + entry[3]
                    found = prefixes.get(text[pos:end])
                    if found is None:
                        return None
                    units = found
                    pos = end
                else:
                    units = entry[2]
                kind = entry[1]
                if kind == TEXT:
                    end = pos + units
                    chars = text[pos:end]
                    if not (chars.isascii() and chars.isprintable()):
                        return None
                    fields[entry[0]] = chars
                elif kind == BCD:
                    end = pos + ((units + 1) >> 1)
                    digits = hexed[2 * pos:2 * end]
                    if units & 1:
                        if entry[6]:  # the pad nibble on the left
                            pad, digits = digits[:1], digits[1:]
                        else:
                            pad, digits = digits[-1:], digits[:-1]
                        if pad != entry[5]:
                            return None
                    if units and not (digits.isascii() and digits.isdigit()):
                        return None
                    fields[entry[0]] = digits
                elif kind == DIGITS:
                    end = pos + units
                    digits = text[pos:end]
                    if units and not (digits.isascii() and digits.isdigit()):
                        return None
                    fields[entry[0]] = digits
                else:
                    read = _read_body(entry, raw, text, hexed, pos, units)
                    if read is None:
                        return None
                    fields[entry[0]], end = read
                pos = end
            elif step == RAW:
                end = pos + size
                fields[entry[0]] = raw[pos:end]
                pos = end
            else:
                read = _read_single(entry, raw, text, hexed, pos)
                if read is None:
                    return None
                fields[entry[0]], pos = read
        if pos != len(raw):
            return None
        return Message(mti, fields, tpdu, plan[1])

    # -- encoding -----------------------------------------------------------------------------
    def _write_plan(self, numbers: tuple[int, ...]) -> WritePlan | None:
        """The plan that writes fields `numbers` (ints, in order); None for a number not in the
        dictionary (the checked path says which)."""
        plans = self._write_plans
        if numbers in plans:
            return plans[numbers]
        entries: list[Field] = []
        bits = 0
        for number in numbers:
            entry = self._fields.get(number)
            if entry is None:
                break
            entries.append(entry)
            bits |= 1 << (128 - number)
        plan: WritePlan | None = None
        if len(entries) == len(numbers):
            secondary = bool(numbers) and numbers[-1] > 64
            plan = (write_plan(entries), self._bitmap(bits, secondary),
                    self._bitmap(bits, True))
        if len(plans) < MAX_PLANS:
            plans[numbers] = plan
        return plan

    def _bitmap(self, bits: int, secondary: bool) -> bytes:
        """The bitmaps of fields `bits` (DE2 the second highest of 128 bits) as they travel:
        eight bytes, or sixteen with DE1 set; as bytes or as upper-case hex."""
        bitmap = ((1 << 127) | bits).to_bytes(16, "big") if secondary else \
            (bits >> 64).to_bytes(8, "big")
        return bitmap.hex().upper().encode("ascii") if self._bitmap_hex else bitmap

    def encode(self, message: Message) -> bytes | None:
        """The bytes of `message`, or None: the checked path decides."""
        fields = message.fields
        try:
            numbers = tuple(sorted(fields))
        except TypeError:
            return None
        # 2.0 or an IntEnum would find the plan of 2 (and the checked path refuses them)
        if numbers and set(map(type, numbers)) != _INT:
            return None
        plan = self._write_plans.get(numbers)
        if plan is None:
            plan = self._write_plan(numbers)
            if plan is None:
                return None
        parts: list[bytes] = []
        tpdu = message.tpdu
        if self._tpdu_size:
            if type(tpdu) is not bytes or len(tpdu) != self._tpdu_size:
                return None
            parts.append(tpdu)
        elif tpdu:
            return None
        mti = message.mti
        if type(mti) is not str or len(mti) != 4 or not (mti.isascii() and mti.isdigit()):
            return None
        mti_kind = self._mti[1]
        if mti_kind == DIGITS:
            parts.append(mti.encode("ascii"))
        elif mti_kind == BCD:
            parts.append(bytes.fromhex(mti))
        else:
            data = _write_single(self._mti, mti)
            if data is None:
                return None
            parts.append(data)
        parts.append(plan[2] if message.secondary_bitmap else plan[1])
        for step, take, lengths, prefixes, entry in plan[0]:
            if step <= BCD_RUN:
                values = take(fields)
                try:
                    if tuple(map(len, values)) != lengths:
                        return None
                    run = "".join(values)
                except TypeError:  # a value that is not text
                    return None
                if step == TEXT_RUN:
                    if not (run.isascii() and run.isprintable()):
                        return None
                    parts.append(run.encode("ascii"))
                elif not (run.isascii() and run.isdigit()):
                    return None
                elif step == DIGIT_RUN:
                    parts.append(run.encode("ascii"))
                else:
                    parts.append(bytes.fromhex(run))
                continue
            value = fields[entry[0]]
            if step == ONE and type(value) is str and entry[1] <= BCD:
                units = len(value)
                # the prefix of a variable field; b"" for a fixed one at its exact length
                head = prefixes[units] if units <= entry[2] else None
                if head is not None:
                    kind = entry[1]
                    if kind == TEXT:
                        if not (value.isascii() and value.isprintable()):
                            return None
                        parts.append(head + value.encode("ascii"))
                    elif not (value.isascii() and value.isdigit()):
                        return None
                    elif kind == DIGITS:
                        parts.append(head + value.encode("ascii"))
                    else:  # BCD
                        if units & 1:
                            value = entry[5] + value if entry[6] else value + entry[5]
                        parts.append(head + bytes.fromhex(value))
                    continue
            elif step == ONE and type(value) is str and entry[1] == UTF8 and entry[3] \
                    and _CONTROL.search(value) is None:
                # a variable UTF-8 field (DE48's receipt text): its length counts bytes
                try:
                    data = value.encode("utf-8")
                except UnicodeEncodeError:
                    return None
                if len(data) <= entry[2]:
                    parts.append(prefixes[len(data)] + data)  # type: ignore[operator]
                    continue
            elif step == RAW and type(value) is bytes and len(value) == entry[2]:
                parts.append(value)
                continue
            data = _write_single(entry, value)
            if data is None:
                return None
            parts.append(data)
        return b"".join(parts)


def _read_single(entry: Field, raw: bytes, text: str, hexed: str,
                 pos: int) -> tuple[FieldValue, int] | None:
    """Field `entry` at `pos`: its value and the offset after it, or None."""
    kind, length, prefix_size, codec = entry[1], entry[2], entry[3], entry[7]
    if kind == CONSTRUCT:
        try:
            return codec.decode(raw, pos)
        except CodecError:
            return None
    units = length
    if prefix_size:
        end = pos + prefix_size
        found = prefix_table(codec.prefix_digits, entry[4], length).get(text[pos:end])
        if found is None:
            return None
        units, pos = found, end
    return _read_body(entry, raw, text, hexed, pos, units)


def _read_body(entry: Field, raw: bytes, text: str, hexed: str, pos: int,
               units: int) -> tuple[FieldValue, int] | None:
    """The body of field `entry`, `units` long, at `pos`: its value and the offset after it."""
    kind, pad_nibble, pad_left = entry[1], entry[5], entry[6]
    if kind in (BCD, BCD_TRACK2):
        end = pos + (units + 1) // 2
        digits = hexed[2 * pos:2 * end]
        if len(digits) != 2 * (end - pos):
            return None
        if units & 1:
            if pad_left:
                pad, digits = digits[0], digits[1:]
            else:
                pad, digits = digits[-1], digits[:-1]
            if pad != pad_nibble:
                return None
        if kind == BCD_TRACK2:
            digits = digits.replace("d", "=")
            bare = digits.replace("=", "")
            if bare and not (bare.isascii() and bare.isdigit()):
                return None
        elif digits and not (digits.isascii() and digits.isdigit()):
            return None
        return digits, end
    end = pos + units
    if kind == DIGITS:
        value: FieldValue = text[pos:end]
        if units and not (value.isascii() and value.isdigit()):
            return None
    elif kind == TEXT:
        value = text[pos:end]
        if not (value.isascii() and value.isprintable()):
            return None
    elif kind == BYTES:
        value = raw[pos:end]
    elif kind == UTF8:
        try:
            value = raw[pos:end].decode("utf-8")
        except UnicodeDecodeError:
            return None
        if _CONTROL.search(value):
            return None
    else:  # TRACK2
        value = text[pos:end]
        bare = value.replace("=", "")
        if bare and not (bare.isascii() and bare.isdigit()):
            return None
    return value, end


def _write_single(entry: Field, value: FieldValue) -> bytes | None:
    """Field `entry`'s wire bytes for `value`, length prefix included, or None."""
    kind, length, prefix_size, codec = entry[1], entry[2], entry[3], entry[7]
    if kind == CONSTRUCT:
        try:
            return codec.encode(value)
        except CodecError:
            return None
    if kind == BYTES:
        if type(value) is not bytes:
            return None
        units = len(value)
        data = value
    else:
        if type(value) is not str:
            return None
        units = len(value)
        if kind in (DIGITS, BCD):
            if not (value.isascii() and value.isdigit()):
                return None
            if not prefix_size and units < length:
                value = value.zfill(length)
                units = length
        elif kind == TEXT:
            if not (value.isascii() and value.isprintable()):
                return None
            if not prefix_size and units < length:
                value = value.ljust(length)
                units = length
        elif kind == UTF8:
            if _CONTROL.search(value):
                return None
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                return None
            units = len(data)
            if not prefix_size and units < length:
                data = data.ljust(length)
                units = length
        else:  # TRACK2, BCD_TRACK2
            bare = value.replace("=", "")
            if bare and not (bare.isascii() and bare.isdigit()):
                return None
        if kind in (BCD, BCD_TRACK2):
            hexed = value.replace("=", "d") if kind == BCD_TRACK2 else value
            if units & 1:
                hexed = entry[5] + hexed if entry[6] else hexed + entry[5]
            data = bytes.fromhex(hexed)
        elif kind != UTF8:
            data = value.encode("ascii")
    if units > length or (not prefix_size and units != length):
        return None
    return codec._prefixes[units] + data if prefix_size else data
