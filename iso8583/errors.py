"""The codec's own error types: the only exceptions a decoder or encoder ever raises.

Every error names the field (when there is one), the byte offset where the fault was found and
a reason a person can act on. `partial` keeps what was read before the fault (MTI, fields such as
DE11 and DE41) so that a switch can still answer `30` instead of dropping the connection.

Errors are logged, so neither the reason nor `partial` ever holds card data or key material in
clear (iso8583/redact.py): the reason is redacted when the error is made, card fields in
`partial` are masked and key fields left out whoever sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .redact import CARD_FIELDS, SECRET_FIELDS, masked_card_field, redact


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
        self.reason = redact(reason)
        self.field = field
        self.offset = offset
        self.partial = partial if partial is not None else {}
        super().__init__(self.reason)

    def __str__(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"DE{self.field}" if self.field > 0 else "MTI")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    @property
    def partial(self) -> dict[str | int, Any]:
        """What was read before the fault; card fields masked, key fields left out."""
        return self._partial

    @partial.setter
    def partial(self, values: Mapping[str | int, Any]) -> None:
        self._partial = {
            key: masked_card_field(value) if key in CARD_FIELDS else value
            for key, value in values.items() if key not in SECRET_FIELDS or key in CARD_FIELDS
        }

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
