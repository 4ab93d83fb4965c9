"""Wire layouts of single data elements, as `construct` constructs with an offset-based fast path.

Each layout is a `construct.Construct`: it parses from and builds to streams like any other
construct, so it composes with `Struct`, `Prefixed` and friends. The message codec's checked path
calls the same objects through `decode(buf, pos)` and `encode(value)`, which work on `bytes` and
offsets rather than streams and contexts: the same rules, without construct's per-call
bookkeeping. Its fast path (iso8583/fastpath.py) reads and writes the common layouts from tables
built from these objects, and hands everything else back to them.

Every fault raises `DecodeError`/`EncodeError` with the field number; nothing else escapes. An
error quotes a field's content only when the field holds no card data or key material
(iso8583/redact.py); digits are ASCII `0-9` wherever they are checked (`is_ascii_digits`).

One module, past 400 lines, on purpose: every layout's construct, its offset-based twin and
its length-prefix rules must agree byte for byte, and reading them side by side is how they
are kept so.
"""

from __future__ import annotations

import re
from typing import Any

import construct

from .errors import DecodeError, EncodeError
from .message import FieldValue
from .redact import SECRET_FIELDS, shown_value

_DIGITS = b"0123456789"
_PRINTABLE = bytes(range(0x20, 0x7F))
_HEX_UPPER = b"0123456789ABCDEF"
_TRACK2 = b"0123456789="
# C0 and C1 control characters: never part of text, though Persian receipts need ZWNJ (Cf).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def is_ascii_digits(value: str | bytes) -> bool:
    """ASCII `0-9` only, at least one: `str.isdigit` alone accepts '²', '٥' and '５'."""
    return value.isascii() and value.isdigit()


def _first_outside(value: str | bytes, allowed: bytes) -> int:
    """1-based position of the first character of `value` not in `allowed` (0: none)."""
    codes = value if isinstance(value, bytes) else [ord(char) for char in value]
    for index, code in enumerate(codes):
        if code > 0x7F or code not in allowed:
            return index + 1
    return 0


# construct has no type information: its Construct is Any to mypy.
class FieldCodec(construct.Construct):  # type: ignore[misc]
    """Base layout: optional length prefix (LL/LLL) then a body of `units` characters/bytes.

    Subclasses say how many bytes `units` of value occupy and how a body is read and written.
    """

    kind = "?"

    def __init__(
        self,
        number: int,
        name: str,
        length: int,
        prefix_digits: int,
        prefix_encoding: str,
        charset: str = "ascii",
    ) -> None:
        super().__init__()
        self.number = number
        self.field_name = name
        self.length = length
        self.prefix_digits = prefix_digits
        self.prefix_encoding = prefix_encoding
        self.charset = charset
        #: Card data or key material: errors give its size, never its content.
        self.secret = number in SECRET_FIELDS
        if prefix_digits == 0:
            self.prefix_size = 0
        elif prefix_encoding == "bcd":
            self.prefix_size = (prefix_digits + 1) // 2
        else:
            self.prefix_size = len("0".encode(charset)) * prefix_digits
        self.fixed_size = self.body_size(length) if prefix_digits == 0 else None
        # Precomputed length prefixes and the fast paths' preconditions.
        self._prefixes: tuple[bytes, ...] = (
            tuple(self._write_prefix(i) for i in range(length + 1)) if prefix_digits else ()
        )

    # -- subclass interface -------------------------------------------------------------------
    def body_size(self, units: int) -> int:
        raise NotImplementedError

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        raise NotImplementedError

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        """The body bytes and the length in units (what a prefix would carry)."""
        raise NotImplementedError

    # -- errors -------------------------------------------------------------------------------
    def _dec_error(self, reason: str) -> DecodeError:
        return DecodeError(f"{self.field_name}: {reason}", field=self.number)

    def _enc_error(self, reason: str) -> EncodeError:
        return EncodeError(f"{self.field_name}: {reason}", field=self.number)

    def _quote(self, value: bytes | str) -> str:
        """The value as an error may show it: its repr, or its size for a secret field."""
        return shown_value(self.number, value)

    def _quote_hex(self, chunk: bytes) -> str:
        return f"({len(chunk)} bytes withheld)" if self.secret else chunk.hex().upper()

    # -- length prefixes ----------------------------------------------------------------------
    def _read_prefix(self, raw: bytes) -> int:
        if self.prefix_encoding == "bcd":
            digits = raw.hex()
            if not is_ascii_digits(digits):
                raise self._dec_error(f"length prefix {raw.hex().upper()} is not packed BCD")
            value = int(digits)
        elif self.charset == "ascii":
            if not is_ascii_digits(raw):
                raise self._dec_error(f"length prefix {raw!r} is not digits")
            value = int(raw)
        else:
            text = _decode_text(raw, self.charset)
            if text is None or not is_ascii_digits(text):
                raise self._dec_error(f"length prefix {raw!r} is not digits")
            value = int(text)
        if value > self.length:
            raise self._dec_error(f"length {value} exceeds the maximum {self.length}")
        return value

    def _write_prefix(self, units: int) -> bytes:
        if self.prefix_encoding == "bcd":
            text = str(units).zfill(self.prefix_size * 2)
            return bytes.fromhex(text)
        return str(units).zfill(self.prefix_digits).encode(self.charset)

    # -- the fast path ------------------------------------------------------------------------
    def _quick_prefix(self, buf: bytes, pos: int) -> int:
        """The length a well-formed prefix at `pos` announces, or -1 (the checked path then
        reports what is wrong)."""
        head = buf[pos:pos + self.prefix_size]
        if len(head) != self.prefix_size:
            return -1
        if self.prefix_encoding == "bcd":
            text = head.hex()
            size = int(text) if is_ascii_digits(text) else -1
        elif self.charset == "ascii" and head.isascii() and head.isdigit():
            size = int(head)
        else:
            return -1
        return size if size <= self.length else -1

    def decode(self, buf: bytes, pos: int) -> tuple[FieldValue, int]:
        """Read this field at `pos` of `buf`; return its value and the offset after it."""
        size = self.fixed_size
        if size is None:
            end = pos + self.prefix_size
            raw = buf[pos:end]
            if len(raw) != self.prefix_size:
                raise self._dec_error("message ends inside the length prefix")
            units = self._read_prefix(raw)
            pos = end
            size = self.body_size(units)
        else:
            units = self.length
        end = pos + size
        chunk = buf[pos:end]
        if len(chunk) != size:
            raise self._dec_error(f"message ends inside the field ({len(chunk)} of {size} bytes)")
        return self.decode_body(chunk, units), end

    def encode(self, value: FieldValue) -> bytes:
        """The field's wire bytes (prefix included)."""
        body, units = self.encode_body(value)
        if self.prefix_digits == 0:
            return body
        if units > self.length:
            raise self._enc_error(f"length {units} exceeds the maximum {self.length}")
        return self._write_prefix(units) + body

    # -- the construct protocol ---------------------------------------------------------------
    def _parse(self, stream: Any, context: Any, path: str) -> FieldValue:
        if self.fixed_size is None:
            units = self._read_prefix(construct.stream_read(stream, self.prefix_size, path))
        else:
            units = self.length
        chunk = construct.stream_read(stream, self.body_size(units), path)
        return self.decode_body(chunk, units)

    def _build(self, obj: FieldValue, stream: Any, context: Any, path: str) -> FieldValue:
        data = self.encode(obj)
        construct.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        if self.fixed_size is None:
            raise construct.SizeofError("variable-length field", path=path)
        return self.fixed_size

    def describe(self) -> str:
        """A short human description, e.g. `n ..19 LLVAR (bcd)`."""
        var = {0: "", 2: " LLVAR", 3: " LLLVAR"}[self.prefix_digits]
        size = f"..{self.length}" if self.prefix_digits else str(self.length)
        return f"{self.kind} {size}{var}"


def _decode_text(raw: bytes, charset: str) -> str | None:
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None


class DigitChars(FieldCodec):
    """`n` (or `z`) as characters: one byte per digit in the profile's charset."""

    def __init__(self, *args: Any, track2: bool = False, **kwargs: Any) -> None:
        self.track2 = track2
        self.kind = "z" if track2 else "n"
        self._char_size = len("0".encode(kwargs.get("charset", "ascii")))
        self._allowed = _TRACK2 if track2 else _DIGITS
        super().__init__(*args, **kwargs)

    def body_size(self, units: int) -> int:
        return units * self._char_size

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        if self.charset != "ascii":
            text = _decode_text(chunk, self.charset)
            if text is None:
                raise self._dec_error(f"not {self.charset} characters")
            chunk = text.encode("ascii", "replace")
        if chunk.translate(None, self._allowed):
            what = "digits and '='" if self.track2 else "digits"
            raise self._dec_error(
                f"{self._quote(chunk)} holds characters other than {what} (first at character "
                f"{_first_outside(chunk, self._allowed)} of {len(chunk)})")
        return chunk.decode("ascii")

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        text = _check_digits(self, value)
        if self.prefix_digits == 0:
            text = _fit_fixed_digits(self, text)
        return text.encode(self.charset), len(text)

    def decode(self, buf: bytes, pos: int) -> tuple[FieldValue, int]:
        # Fast path for well-formed ASCII digits; anything else takes the checked path, which
        # raises the precise error.
        if self.charset == "ascii" and not self.track2:
            size = self.fixed_size
            if size is not None:
                end = pos + size
                chunk = buf[pos:end]
                if len(chunk) == size and chunk.isascii() and chunk.isdigit():
                    return chunk.decode("ascii"), end
            else:
                size = self._quick_prefix(buf, pos)
                if size >= 0:
                    end = pos + self.prefix_size
                    stop = end + size
                    chunk = buf[end:stop]
                    if len(chunk) == size and ((chunk.isascii() and chunk.isdigit()) or not size):
                        return chunk.decode("ascii"), stop
        return FieldCodec.decode(self, buf, pos)

    def encode(self, value: FieldValue) -> bytes:
        if (type(value) is str and value.isascii() and value.isdigit()
                and self.charset == "ascii"):
            if self.prefix_digits == 0:
                if len(value) == self.length:
                    return value.encode("ascii")
            elif len(value) <= self.length:
                return self._prefixes[len(value)] + value.encode("ascii")
        return FieldCodec.encode(self, value)


class DigitBcd(FieldCodec):
    """`n` or `z` packed two digits a byte; an odd count padded with a nibble on one side.

    In `z` fields "=" travels as the nibble D.
    """

    def __init__(
        self, *args: Any, track2: bool = False, pad: str = "left", pad_nibble: str = "0",
        **kwargs: Any,
    ) -> None:
        self.track2 = track2
        self.kind = "z" if track2 else "n"
        self.pad_left = pad == "left"
        self.pad_nibble = pad_nibble.lower()
        super().__init__(*args, **kwargs)

    def body_size(self, units: int) -> int:
        return (units + 1) // 2

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        text = chunk.hex()
        if units & 1:
            if self.pad_left:
                pad, text = text[0], text[1:]
            else:
                pad, text = text[-1], text[:-1]
            if pad != self.pad_nibble:
                raise self._dec_error(
                    f"pad nibble is {pad.upper()}, expected {self.pad_nibble.upper()}"
                )
        if self.track2:
            text = text.replace("d", "=")
            bare = text.replace("=", "")
            if not bare or is_ascii_digits(bare):
                return text
            raise self._dec_error(
                f"nibbles {self._quote_hex(chunk)} are not track-2 characters (first bad at "
                f"nibble {_first_outside(text, _TRACK2)} of {len(text)})")
        if not text or is_ascii_digits(text):
            return text
        raise self._dec_error(
            f"nibbles {self._quote_hex(chunk)} are not BCD digits (first bad at nibble "
            f"{_first_outside(text, _DIGITS)} of {len(text)})")

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        text = _check_digits(self, value)
        if self.prefix_digits == 0:
            text = _fit_fixed_digits(self, text)
        units = len(text)
        hexed = text.replace("=", "d") if self.track2 else text
        if units & 1:
            hexed = self.pad_nibble + hexed if self.pad_left else hexed + self.pad_nibble
        return bytes.fromhex(hexed), units

    def decode(self, buf: bytes, pos: int) -> tuple[FieldValue, int]:
        # Fast path for fixed even-length or left-zero-padded BCD digits.
        size = self.fixed_size
        if size is not None and not self.track2:
            end = pos + size
            chunk = buf[pos:end]
            if len(chunk) == size:
                text = chunk.hex()
                if self.length & 1:
                    if text[0] == self.pad_nibble and self.pad_left:
                        text = text[1:]
                        if text.isascii() and text.isdigit():
                            return text, end
                elif text.isascii() and text.isdigit():
                    return text, end
        elif size is None and not self.track2 and self.pad_left:
            units = self._quick_prefix(buf, pos)
            if units >= 0:
                end = pos + self.prefix_size
                stop = end + (units + 1) // 2
                chunk = buf[end:stop]
                if len(chunk) == stop - end:
                    text = chunk.hex()
                    if units & 1:
                        if text[:1] == self.pad_nibble:
                            text = text[1:]
                            if text.isascii() and text.isdigit():
                                return text, stop
                    elif not units or (text.isascii() and text.isdigit()):
                        return text, stop
        return FieldCodec.decode(self, buf, pos)

    def encode(self, value: FieldValue) -> bytes:
        if (not self.track2 and type(value) is str and value.isascii() and value.isdigit()):
            units = len(value)
            if self.prefix_digits == 0:
                if units == self.length:
                    if units & 1:
                        value = (self.pad_nibble + value if self.pad_left
                                 else value + self.pad_nibble)
                    return bytes.fromhex(value)
            elif units <= self.length:
                if units & 1:
                    value = self.pad_nibble + value if self.pad_left else value + self.pad_nibble
                return self._prefixes[units] + bytes.fromhex(value)
        return FieldCodec.encode(self, value)


class Amount(FieldCodec):
    """`x+n`: a sign `C` (credit) or `D` (debit), then `length` digits (chars or packed BCD).

    `check_sign=False` takes any printable ASCII character as the sign and gives it back as it
    came: jPOS's IFA_AMOUNT/IFB_AMOUNT do not check it, and its packager test images carry
    DE28-31 as `000000100` (schemas/profiles/iso87a.toml, iso87b.toml).
    """

    kind = "x+n"

    def __init__(self, *args: Any, bcd: bool = False, pad: str = "left",
                 check_sign: bool = True, **kwargs: Any) -> None:
        self.bcd = bcd
        self.pad_left = pad == "left"
        self.check_sign = check_sign
        self._signs = b"CD" if check_sign else _PRINTABLE
        super().__init__(*args, **kwargs)

    def body_size(self, units: int) -> int:
        return 1 + ((units + 1) // 2 if self.bcd else units)

    def _sign_rule(self) -> str:
        return "C or D" if self.check_sign else "a printable ASCII character"

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        sign, rest = chunk[:1], chunk[1:]
        if len(sign) != 1 or sign[0] not in self._signs:
            raise self._dec_error(f"sign {sign!r} is not {self._sign_rule()}")
        if self.bcd:
            digits = rest.hex()
            if units & 1:
                pad, digits = (digits[0], digits[1:]) if self.pad_left else (digits[-1],
                                                                             digits[:-1])
                if pad != "0":
                    raise self._dec_error(f"pad nibble is {pad.upper()}, expected 0")
            if not is_ascii_digits(digits):
                raise self._dec_error(f"nibbles {self._quote_hex(rest)} are not BCD digits")
        else:
            if not is_ascii_digits(rest):
                raise self._dec_error(f"{self._quote(rest)} is not digits")
            digits = rest.decode("ascii")
        return sign.decode("ascii") + digits

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        rule = f"a sign ({self._sign_rule()}) followed by digits"
        if (not isinstance(value, str) or len(value) < 2 or not value[0].isascii()
                or ord(value[0]) not in self._signs):
            raise self._enc_error(f"{self._quote(value)} is not {rule}"
                                  if isinstance(value, str) else f"expects str, got "
                                  f"{type(value).__name__}")
        digits = value[1:]
        if not is_ascii_digits(digits):
            raise self._enc_error(f"{self._quote(value)} is not {rule}")
        if len(digits) > self.length:
            raise self._enc_error(f"{len(digits)} digits exceed the length {self.length}")
        digits = digits.zfill(self.length)
        if self.bcd:
            if self.length & 1:
                digits = "0" + digits if self.pad_left else digits + "0"
            return value[0].encode("ascii") + bytes.fromhex(digits), self.length
        return (value[0] + digits).encode("ascii"), self.length


class Text(FieldCodec):
    """`an`/`ans`/`ns`: text in the field's charset; fixed fields are space-filled right.

    ASCII text must be printable (0x20-0x7E); UTF-8 text (DE48) counts bytes, not characters.
    """

    def __init__(self, *args: Any, kind: str = "ans", **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(*args, **kwargs)

    def body_size(self, units: int) -> int:
        return units

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        if self.charset == "ascii":
            if chunk.translate(None, _PRINTABLE):
                raise self._dec_error(
                    f"{self._quote(chunk)} holds bytes outside printable ASCII (first at byte "
                    f"{_first_outside(chunk, _PRINTABLE)} of {len(chunk)})")
            return chunk.decode("ascii")
        text = _decode_text(chunk, self.charset)
        if text is None:
            raise self._dec_error(f"{self._quote(chunk)} is not valid {self.charset}")
        control = _CONTROL.search(text)
        if control:
            raise self._dec_error(f"{self._quote(text)} holds control characters (first at "
                                  f"character {control.start() + 1} of {len(text)})")
        return text

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        if not isinstance(value, str):
            raise self._enc_error(f"expects str, got {type(value).__name__}")
        if self.charset == "ascii":
            if not (value.isascii() and value.isprintable()):
                raise self._enc_error(
                    f"{self._quote(value)} holds characters outside printable ASCII")
            data = value.encode("ascii")
        else:
            if _CONTROL.search(value):
                raise self._enc_error(f"{self._quote(value)} holds control characters")
            try:
                data = value.encode(self.charset)
            except UnicodeEncodeError as exc:
                raise self._enc_error(
                    f"{self._quote(value)} cannot be written in {self.charset}") from exc
        if self.prefix_digits == 0:
            if len(data) > self.length:
                raise self._enc_error(f"{len(data)} bytes exceed the length {self.length}")
            data = data.ljust(self.length, " ".encode(self.charset))
        return data, len(data)

    def decode(self, buf: bytes, pos: int) -> tuple[FieldValue, int]:
        # Fast path for printable ASCII text (fixed, or with an ASCII length prefix).
        if self.charset == "ascii":
            size = self.fixed_size
            if size is not None:
                end = pos + size
                chunk = buf[pos:end]
                if len(chunk) == size and not chunk.translate(None, _PRINTABLE):
                    return chunk.decode("ascii"), end
            else:
                size = self._quick_prefix(buf, pos)
                if size >= 0:
                    end = pos + self.prefix_size
                    stop = end + size
                    chunk = buf[end:stop]
                    if len(chunk) == size and not chunk.translate(None, _PRINTABLE):
                        return chunk.decode("ascii"), stop
        return FieldCodec.decode(self, buf, pos)

    def encode(self, value: FieldValue) -> bytes:
        if (type(value) is str and self.charset == "ascii" and value.isascii()
                and value.isprintable()):
            if self.prefix_digits == 0:
                if len(value) == self.length:
                    return value.encode("ascii")
            elif len(value) <= self.length:
                return self._prefixes[len(value)] + value.encode("ascii")
        return FieldCodec.encode(self, value)


class Binary(FieldCodec):
    """`b`: raw bytes, or (hex) two upper-case hex characters a byte as jPOS's IFA_BINARY."""

    kind = "b"

    def __init__(self, *args: Any, hex_chars: bool = False, **kwargs: Any) -> None:
        self.hex_chars = hex_chars
        super().__init__(*args, **kwargs)

    def body_size(self, units: int) -> int:
        return units * 2 if self.hex_chars else units

    def decode_body(self, chunk: bytes, units: int) -> FieldValue:
        if not self.hex_chars:
            return chunk
        if chunk.translate(None, _HEX_UPPER):
            raise self._dec_error(f"{self._quote(chunk)} is not upper-case hex (first bad at "
                                  f"character {_first_outside(chunk, _HEX_UPPER)})")
        return bytes.fromhex(chunk.decode("ascii"))

    def encode_body(self, value: FieldValue) -> tuple[bytes, int]:
        if not isinstance(value, bytes | bytearray):
            raise self._enc_error(f"expects bytes, got {type(value).__name__}")
        if self.prefix_digits == 0 and len(value) != self.length:
            raise self._enc_error(f"is {len(value)} bytes, must be exactly {self.length}")
        data = bytes(value)
        return (data.hex().upper().encode("ascii") if self.hex_chars else data), len(data)


def _check_digits(codec: DigitChars | DigitBcd, value: FieldValue) -> str:
    if not isinstance(value, str):
        raise codec._enc_error(f"expects a digit string, got {type(value).__name__}")
    if codec.track2:
        bare = value.replace("=", "")
        if bare and not is_ascii_digits(bare):
            raise codec._enc_error(
                f"{codec._quote(value)} holds characters other than digits and '=' (ASCII; "
                f"first at character {_first_outside(value, _TRACK2)} of {len(value)})")
    elif value and not is_ascii_digits(value):
        raise codec._enc_error(
            f"{codec._quote(value)} is not digits (ASCII 0-9; first other character at "
            f"{_first_outside(value, _DIGITS)} of {len(value)})")
    return value


def _fit_fixed_digits(codec: DigitChars | DigitBcd, text: str) -> str:
    if len(text) > codec.length:
        raise codec._enc_error(f"{len(text)} digits exceed the length {codec.length}")
    if codec.track2:
        if len(text) != codec.length:
            raise codec._enc_error(f"must be exactly {codec.length} characters")
        return text
    return text.zfill(codec.length)
