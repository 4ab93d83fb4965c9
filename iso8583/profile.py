"""Profiles: a data-element dictionary plus an encoding, read from TOML into field constructs.

A profile file (schemas/profiles/*.toml) names its dictionary, says how the MTI, bitmaps, length
prefixes and each dictionary type travel, and may override single fields to match a peer's
layout. Nothing about a profile lives in code: a new encoding (EBCDIC, say) is a new file.

One module, past 400 lines, on purpose: reading a profile file and the message codec it
builds share the profile's validated tables; the codec is the small part at the end.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import construct

from .errors import DecodeError, EncodeError, SchemaError
from .fastpath import FastPath
from .fields import Amount, Binary, DigitBcd, DigitChars, FieldCodec, Text
from .message import FieldValue, Message
from .redact import CARD_FIELDS, masked_card_field

SCHEMA_DIR = Path(os.environ.get("LPS_SCHEMAS", Path(__file__).resolve().parent.parent / "schemas"))

_PREFIX_DIGITS = {"fixed": 0, "LLVAR": 2, "LLLVAR": 3}
_TYPES = {"n", "z", "x+n", "an", "ans", "ns", "b"}
_FIELD_KEYS = {"name", "type", "length", "prefix", "encoding", "pad", "pad_nibble", "charset",
               "check_sign"}

# For each byte of a bitmap, the positions (0 = most significant) of the bits set in it.
_BITS: tuple[tuple[int, ...], ...] = tuple(
    tuple(i for i in range(8) if value & (0x80 >> i)) for value in range(256)
)


def _fail(path: Path, key: str, reason: str) -> SchemaError:
    return SchemaError(f"{path}: {key}: {reason}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{path}: not valid TOML: {exc}") from exc


def _build_codec(number: int, spec: Mapping[str, Any], profile: Mapping[str, Any],
                 path: Path) -> FieldCodec:
    """One field's construct from its merged dictionary + profile description."""
    key = f"fields.{number}"
    ftype = spec.get("type")
    if ftype not in _TYPES:
        raise _fail(path, key, f"type {ftype!r} is not one of {sorted(_TYPES)}")
    length = spec.get("length")
    if not isinstance(length, int) or not 0 < length <= 9999:
        raise _fail(path, key, f"length {length!r} must be a positive integer")
    prefix = spec.get("prefix", "fixed")
    if prefix not in _PREFIX_DIGITS:
        raise _fail(path, key, f"prefix {prefix!r} is not one of {sorted(_PREFIX_DIGITS)}")
    digits = _PREFIX_DIGITS[prefix]
    if digits and length >= 10**digits:
        raise _fail(path, key, f"maximum {length} does not fit a {prefix} prefix")
    encoding = spec.get("encoding")
    charset = spec.get("charset", profile.get("charset", "ascii"))
    try:
        "0".encode(charset)
    except LookupError as exc:
        raise _fail(path, key, f"unknown charset {charset!r}") from exc
    pad = spec.get("pad", "left")
    if pad not in ("left", "right"):
        raise _fail(path, key, f"pad {pad!r} must be 'left' or 'right'")
    nibble = str(spec.get("pad_nibble", "0"))
    if nibble.upper() not in ("0", "F"):
        raise _fail(path, key, f"pad_nibble {nibble!r} must be '0' or 'F'")
    prefix_encoding = profile.get("length_prefix", "chars")
    if prefix_encoding not in ("chars", "bcd"):
        raise _fail(path, "length_prefix", f"{prefix_encoding!r} must be 'chars' or 'bcd'")
    args = (number, str(spec.get("name", f"DE{number}")), length, digits, prefix_encoding)
    if ftype in ("n", "z"):
        if encoding == "chars":
            return DigitChars(*args, track2=ftype == "z", charset=charset)
        if encoding == "bcd":
            return DigitBcd(*args, track2=ftype == "z", pad=pad, pad_nibble=nibble,
                            charset=charset)
    elif ftype == "x+n":
        check_sign = spec.get("check_sign", True)
        if not isinstance(check_sign, bool):
            raise _fail(path, key, f"check_sign {check_sign!r} must be true or false")
        if encoding in ("chars", "bcd"):
            return Amount(*args, bcd=encoding == "bcd", pad=pad, check_sign=check_sign,
                          charset=charset)
    elif ftype == "b":
        if encoding in ("binary", "hex"):
            return Binary(*args, hex_chars=encoding == "hex", charset=charset)
    else:
        return Text(*args, kind=ftype, charset=charset)
    raise _fail(path, key, f"encoding {encoding!r} does not apply to type {ftype!r}")


class Profile:
    """Encode and decode whole messages of one wire layout.

    `decode` and `encode` first try the one-pass fast path (iso8583/fastpath.py); when it gives
    up, the checked path walks the bitmap and calls each field construct's `decode(buf, pos)` /
    `encode(value)`, and words any error. The `struct` attribute is the same layout as one
    `construct` for stream use and cross-checks (tests/codec/test_fastpath.py).
    """

    def __init__(self, name: str, path: Path, settings: Mapping[str, Any],
                 codecs: list[FieldCodec | None], description: str = "") -> None:
        self.name = name
        self.path = path
        self.description = description
        self.tpdu_size = int(settings.get("tpdu", 0))
        if self.tpdu_size not in (0, 5):
            raise _fail(path, "tpdu", "must be 0 or 5 bytes")
        self.codecs = codecs
        mti_encoding = settings.get("mti", "chars")
        mti_args = (0, "MTI", 4, 0, "chars")
        charset = settings.get("charset", "ascii")
        if mti_encoding == "chars":
            self.mti_codec: FieldCodec = DigitChars(*mti_args, charset=charset)
        elif mti_encoding == "bcd":
            self.mti_codec = DigitBcd(*mti_args, charset=charset)
        else:
            raise _fail(path, "mti", f"{mti_encoding!r} must be 'chars' or 'bcd'")
        bitmap = settings.get("bitmap", "binary")
        if bitmap not in ("binary", "hex"):
            raise _fail(path, "bitmap", f"{bitmap!r} must be 'binary' or 'hex'")
        self.bitmap_hex = bitmap == "hex"
        self.bitmap_codec = Binary(1, "BITMAP", 8, 0, "chars", hex_chars=self.bitmap_hex)
        self._bitmap_size = 16 if self.bitmap_hex else 8
        self._fast = FastPath(self.tpdu_size, self.mti_codec, self.bitmap_hex, codecs)
        self.struct = MessageConstruct(self)

    def __repr__(self) -> str:
        return f"<Profile {self.name!r} from {self.path}>"

    def field(self, number: int) -> FieldCodec:
        codec = self.codecs[number] if 1 < number < len(self.codecs) else None
        if codec is None:
            raise EncodeError(f"DE{number} is not in the dictionary", field=number)
        return codec

    # -- decoding -----------------------------------------------------------------------------
    def decode(self, raw: bytes | bytearray | memoryview) -> Message:
        """Decode one frame payload (TPDU included, length header excluded)."""
        if not isinstance(raw, bytes):
            raw = bytes(raw)
        message = self._fast.decode(raw)
        return message if message is not None else self._decode_checked(raw)

    def _decode_checked(self, raw: bytes) -> Message:
        """Field by field through the constructs: the path that words every error."""
        fields: dict[int, FieldValue] = {}
        mti: str | None = None
        pos = 0
        start = 0
        field_no: int | None = None
        bitmap = b""
        try:
            tpdu = None
            if self.tpdu_size:
                tpdu = raw[:5]
                if len(tpdu) < 5:
                    raise DecodeError("message ends inside the 5-byte TPDU")
                if tpdu[0] != 0x60:
                    raise DecodeError(f"TPDU starts with {tpdu[0]:02X}, expected 60")
                pos = 5
            start = pos
            field_no = 0
            value, pos = self.mti_codec.decode(raw, pos)
            mti = str(value)
            start, field_no = pos, 1
            bitmap, pos = self._read_bitmap(raw, pos)
            secondary = bool(bitmap[0] & 0x80)
            if secondary:
                start = pos
                more, pos = self._read_bitmap(raw, pos)
                bitmap += more
            codecs = self.codecs
            for index, byte in enumerate(bitmap):
                if not byte:
                    continue
                base = index * 8 + 1
                for bit in _BITS[byte]:
                    number = base + bit
                    if number == 1:
                        continue
                    start, field_no = pos, number
                    codec = codecs[number]
                    if codec is None:
                        raise DecodeError(f"DE{number} is not in the dictionary", field=number)
                    fields[number], pos = codec.decode(raw, pos)
            if pos != len(raw):
                start, field_no = pos, None
                raise DecodeError(f"{len(raw) - pos} bytes left over after the last field")
        except DecodeError as exc:
            if exc.offset is None:
                exc.offset = start
            if exc.field is None:
                exc.field = field_no
            partial: dict[str | int, Any] = {"mti": mti} if mti is not None else {}
            for key, val in fields.items():
                partial[key] = val
            if field_no is not None and field_no > 1 and bitmap:
                self._salvage(raw, bitmap, field_no, start, partial)
            exc.partial = partial
            raise
        message = Message(mti, fields, tpdu)
        if secondary and not any(n > 64 for n in fields):
            message.secondary_bitmap = True
        return message

    def _salvage(self, raw: bytes, bitmap: bytes, bad: int, pos: int,
                 partial: dict[str | int, Any]) -> None:
        """After a fault in field `bad`, read on where sizes are still certain.

        A wrong character in a fixed field (or in a variable one whose prefix is sound) does
        not hide the fields after it: collecting DE11 and DE41 there lets a switch answer `30`
        instead of closing the connection. Best effort: it stops at the first size it cannot
        be sure of and never raises.
        """
        numbers = [index * 8 + 1 + bit for index, byte in enumerate(bitmap) for bit in _BITS[byte]]
        for number in numbers:
            if number < bad:
                continue
            codec = self.codecs[number]
            if codec is None:
                return
            if number != bad:
                try:
                    partial[number], pos = codec.decode(raw, pos)
                    continue
                except DecodeError:
                    pass
            if codec.fixed_size is not None:
                size = codec.fixed_size
            else:
                units = codec._quick_prefix(raw, pos)
                if units < 0:
                    return
                size = codec.prefix_size + codec.body_size(units)
            if pos + size > len(raw):
                return
            pos += size

    def _read_bitmap(self, raw: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + self._bitmap_size
        chunk = raw[pos:end]
        if len(chunk) != self._bitmap_size:
            raise DecodeError("message ends inside a bitmap", field=1)
        if self.bitmap_hex:
            value = self.bitmap_codec.decode_body(chunk, 8)
            assert isinstance(value, bytes)
            return value, end
        return chunk, end

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, message: Message) -> bytes:
        """Encode a message; bitmaps are computed from the fields present."""
        raw = self._fast.encode(message)
        return raw if raw is not None else self._encode_checked(message)

    def _encode_checked(self, message: Message) -> bytes:
        """Field by field through the constructs: the path that words every error."""
        fields = message.fields
        try:
            numbers = sorted(fields)
        except TypeError as exc:
            raise EncodeError("field numbers must be integers") from exc
        for number in numbers:
            if type(number) is not int or not 2 <= number <= 128:
                if number == 1:
                    raise EncodeError("DE1 (secondary bitmap) is computed, never given",
                                      field=1)
                raise EncodeError(f"field number {number!r} is outside 2..128")
        parts: list[bytes] = []
        if self.tpdu_size:
            tpdu = message.tpdu
            if not isinstance(tpdu, bytes | bytearray) or len(tpdu) != self.tpdu_size:
                raise EncodeError(f"profile {self.name} needs a {self.tpdu_size}-byte TPDU")
            parts.append(bytes(tpdu))
        elif message.tpdu:
            raise EncodeError(f"profile {self.name} has no TPDU")
        mti = message.mti
        if not isinstance(mti, str) or len(mti) != 4:
            raise EncodeError(f"MTI {mti!r} must be 4 digits", field=0)
        parts.append(self.mti_codec.encode(mti))
        secondary = message.secondary_bitmap or (bool(numbers) and numbers[-1] > 64)
        bits = 1 << 127 if secondary else 0
        for number in numbers:
            bits |= 1 << (128 - number)
        bitmap = bits.to_bytes(16, "big") if secondary else (bits >> 64).to_bytes(8, "big")
        parts.append(bitmap.hex().upper().encode("ascii") if self.bitmap_hex else bitmap)
        codecs = self.codecs
        for number in numbers:
            codec = codecs[number]
            if codec is None:
                raise EncodeError(f"DE{number} is not in the dictionary", field=number)
            parts.append(codec.encode(fields[number]))
        return b"".join(parts)

    # -- MAC support --------------------------------------------------------------------------
    def mac_span(self, raw: bytes) -> bytes:
        """The bytes a MAC covers: from the MTI's first byte up to the MAC field's 8 bytes.

        DE64/DE128 is always the last field of a message, so the span ends 8 bytes before
        the end (docs/protocol.md §6).
        """
        if len(raw) < self.tpdu_size + 8:
            raise DecodeError("message too short to carry a MAC")
        return bytes(raw[self.tpdu_size:-8])

    def replace_mac(self, raw: bytes, mac: bytes) -> bytes:
        """`raw` (encoded with a placeholder MAC) with its last 8 bytes set to `mac`."""
        if len(mac) != 8:
            raise EncodeError("a MAC is 8 bytes", field=64)
        return bytes(raw[:-8]) + bytes(mac)

    # -- reading for people -------------------------------------------------------------------
    def describe(self, message: Message, mask_pan: bool = True) -> list[str]:
        """Readable lines, one per field; card fields masked (first 6, last 4) unless asked
        not to (iso8583/redact.py)."""
        lines = [f"MTI {message.mti}" + (f"  TPDU {message.tpdu.hex().upper()}"
                                          if message.tpdu else "")]
        for number in sorted(message.fields):
            codec = self.field(number)
            value = message.fields[number]
            if isinstance(value, bytes):
                shown = value.hex().upper()
            elif number in CARD_FIELDS and mask_pan:
                shown = masked_card_field(value)
            else:
                shown = value
            lines.append(f"DE{number:<3} {codec.field_name[:38]:<38} {codec.describe():<16} "
                         f"{shown!r}")
        return lines


# construct has no type information: its Construct is Any to mypy.
class MessageConstruct(construct.Construct):  # type: ignore[misc]
    """A whole message as one construct: TPDU, MTI, bitmaps, then the fields the bitmap names."""

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile

    def _parse(self, stream: Any, context: Any, path: str) -> Message:
        p = self.profile
        tpdu = construct.stream_read(stream, p.tpdu_size, path) if p.tpdu_size else None
        if tpdu is not None and tpdu[0] != 0x60:  # docs/protocol.md §1
            raise DecodeError(f"TPDU starts with {tpdu[0]:02X}, expected 60")
        mti = p.mti_codec._parse(stream, context, path)
        bitmap = p.bitmap_codec._parse(stream, context, path)
        assert isinstance(bitmap, bytes)
        if bitmap[0] & 0x80:
            more = p.bitmap_codec._parse(stream, context, path)
            assert isinstance(more, bytes)
            bitmap += more
        fields: dict[int, FieldValue] = {}
        for number in range(2, len(bitmap) * 8 + 1):
            if bitmap[(number - 1) // 8] & (0x80 >> ((number - 1) % 8)):
                fields[number] = p.field(number)._parse(stream, context, path)
        message = Message(str(mti), fields, tpdu)
        if len(bitmap) == 16 and not any(n > 64 for n in fields):
            message.secondary_bitmap = True
        return message

    def _build(self, obj: Message, stream: Any, context: Any, path: str) -> Message:
        data = self.profile._encode_checked(obj)
        construct.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise construct.SizeofError("a message has no fixed size", path=path)


def _merge_fields(dictionary: Mapping[str, Any], settings: Mapping[str, Any],
                  path: Path) -> list[FieldCodec | None]:
    dict_fields = dictionary.get("fields")
    if not isinstance(dict_fields, dict):
        raise _fail(path, "fields", "the dictionary has no [fields] table")
    types = settings.get("types", {})
    overrides = settings.get("fields", {})
    if not isinstance(types, dict) or not isinstance(overrides, dict):
        raise _fail(path, "types/fields", "must be tables")
    codecs: list[FieldCodec | None] = [None] * 129
    for key, base in dict_fields.items():
        try:
            number = int(key)
        except ValueError as exc:
            raise _fail(path, f"fields.{key}", "field keys are numbers 1..128") from exc
        if not 1 <= number <= 128:
            raise _fail(path, f"fields.{key}", "field numbers run from 1 to 128")
        if number == 1:
            continue
        spec: dict[str, Any] = dict(base)
        override = overrides.get(str(number), {})
        unknown = set(override) - _FIELD_KEYS
        if unknown:
            raise _fail(path, f"fields.{number}", f"unknown keys {sorted(unknown)}")
        ftype = override.get("type", spec.get("type"))
        type_rules = types.get(ftype, {}) if isinstance(ftype, str) else {}
        merged = {**spec, **type_rules, **override}
        codecs[number] = _build_codec(number, merged, settings, path)
    for key in overrides:
        if key not in dict_fields:
            raise _fail(path, f"fields.{key}", "overrides a field the dictionary does not have")
    return codecs


@lru_cache(maxsize=32)
def _load(path: Path) -> Profile:
    settings = _read_toml(path)
    dict_ref = settings.get("dictionary")
    if not isinstance(dict_ref, str):
        raise _fail(path, "dictionary", "names no dictionary file")
    dict_path = (path.parent / dict_ref).resolve()
    try:
        dictionary = _read_toml(dict_path)
    except SchemaError as exc:
        raise _fail(path, "dictionary", exc.reason) from exc
    for key, allowed in (("mti", ("chars", "bcd")), ("bitmap", ("binary", "hex")),
                         ("length_prefix", ("chars", "bcd"))):
        if settings.get(key, allowed[0]) not in allowed:
            raise _fail(path, key, f"{settings[key]!r} must be one of {list(allowed)}")
    codecs = _merge_fields(dictionary, settings, path)
    name = settings.get("name", path.stem)
    return Profile(str(name), path, settings, codecs, str(settings.get("description", "")))


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """A profile by name (`ascii`, `bcd`, `iso87a`, `iso87b`) or by path to its TOML file.

    Profiles are loaded once and shared: they hold no per-message state.
    """
    text = os.fspath(name_or_path)
    if os.sep in text or text.endswith(".toml"):
        path = Path(text).resolve()
    else:
        path = (SCHEMA_DIR / "profiles" / f"{text}.toml").resolve()
        if not path.exists():
            known = sorted(p.stem for p in (SCHEMA_DIR / "profiles").glob("*.toml"))
            raise SchemaError(f"unknown profile {text!r}; known: {', '.join(known)}")
    return _load(path)


def available_profiles() -> list[str]:
    """Names of the profiles shipped in schemas/profiles."""
    return sorted(p.stem for p in (SCHEMA_DIR / "profiles").glob("*.toml"))


def lps87_rules() -> dict[str, Any]:
    """The LPS-87 subset (accepted fields, mandatory fields by MTI) from schemas/lps87.toml."""
    data = _read_toml(SCHEMA_DIR / "lps87.toml").get("lps87")
    if not isinstance(data, dict):
        raise SchemaError(f"{SCHEMA_DIR / 'lps87.toml'}: no [lps87] table")
    return data
