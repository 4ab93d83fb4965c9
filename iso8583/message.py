"""`Message`: one ISO 8583 message as plain data (MTI, fields by number, optional TPDU)."""

from __future__ import annotations

from dataclasses import dataclass, field

FieldValue = str | bytes


@dataclass(slots=True)
class Message:
    """A message: `n`/`z`/text fields as `str`, `b` fields as `bytes`; bitmaps are derived.

    `secondary_bitmap` forces a secondary bitmap even when no field above 64 is present: a
    decoder sets it when it read such a (legal, empty) bitmap, so that re-encoding gives back
    the same bytes.
    """

    mti: str
    fields: dict[int, FieldValue] = field(default_factory=dict)
    tpdu: bytes | None = None
    secondary_bitmap: bool = False

    def __getitem__(self, number: int) -> FieldValue:
        return self.fields[number]

    def get(self, number: int, default: FieldValue | None = None) -> FieldValue | None:
        return self.fields.get(number, default)

    def text(self, number: int, default: str = "") -> str:
        """A text or digit field as `str` (raises TypeError on a binary field)."""
        value = self.fields.get(number, default)
        if not isinstance(value, str):
            raise TypeError(f"DE{number} is binary")
        return value

    @property
    def mac_field(self) -> int:
        """Where the MAC goes: DE128 when the secondary bitmap is present, else DE64."""
        if self.secondary_bitmap:
            return 128
        return 128 if any(n > 64 for n in self.fields) else 64

    def swapped_tpdu(self) -> bytes | None:
        """The TPDU for a reply: destination and source NII exchanged."""
        if self.tpdu is None:
            return None
        t = self.tpdu
        return t[:1] + t[3:5] + t[1:3]
