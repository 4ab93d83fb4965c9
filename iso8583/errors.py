"""The codec's own error types: the only exceptions a decoder or encoder ever raises.

Every error names the field (when there is one), the byte offset where the fault was found and
a reason a person can act on. `partial` keeps what was read before the fault (MTI, fields such as
DE11 and DE41) so that a switch can still answer `30` instead of dropping the connection.
"""

from __future__ import annotations

from typing import Any


class CodecError(Exception):
    """Base of every error raised by `iso8583`."""

    def __init__(
        self,
        reason: str,
        *,
        field: int | None = None,
        offset: int | None = None,
        partial: dict[str | int, Any] | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.offset = offset
        self.partial: dict[str | int, Any] = partial if partial is not None else {}
        super().__init__(reason)

    def __str__(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"DE{self.field}" if self.field > 0 else "MTI")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    @property
    def mti(self) -> str | None:
        """The MTI read before the fault, if any."""
        value = self.partial.get("mti")
        return value if isinstance(value, str) else None


class DecodeError(CodecError):
    """Bytes that do not form a valid message of the profile."""


class EncodeError(CodecError):
    """A message that cannot be encoded: unknown field, value too long, wrong characters."""


class FramingError(CodecError):
    """A frame header that breaks the transport rules (e.g. longer than the maximum)."""


class SchemaError(CodecError):
    """A dictionary or profile file that is not valid."""
