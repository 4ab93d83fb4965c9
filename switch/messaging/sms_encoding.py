"""SMS text as SMPP short messages: the coding and, for long texts, concatenated parts.

Persian (anything outside plain ASCII) goes in UCS-2, data_coding 8 (SMPP 3.4 §5.2.19),
70 characters in one SMS. A longer text is cut into parts of 67 characters, each led by a User
Data Header with the concatenation element (3GPP TS 23.040 §9.2.3.24.1: IEI 0x00, an 8-bit
reference, the number of parts, this part's number) and sent with esm_class UDHI (0x40).
UDH rather than `message_payload`: every SMSC and handset understands UDH, while
`message_payload` in submit_sm is optional for an SMSC; and each part gets its own message id,
so after a crash only the parts the SMSC never acknowledged are sent again, under the same
reference, and the handset still joins them (docs/messaging.md §SMPP).

Plain ASCII that fits one SMS goes as data_coding 0 when it uses only characters that the GSM
default alphabet and ASCII share; everything else is UCS-2, which every SMSC renders the same.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

__all__ = ["SmsEncoding", "SmsTooLong", "encode_sms"]

DC_DEFAULT = 0x00
DC_UCS2 = 0x08
ESM_UDHI = 0x40
#: Characters with the same code in ASCII and the GSM 7-bit default alphabet (TS 23.038 §6.2.1).
_GSM_SAFE = frozenset(string.ascii_letters + string.digits + " .,!?-:;'\"()+/%&*#=<>\n")
_SINGLE_GSM = 160
_SINGLE_UCS2 = 140  # octets
_PART_UCS2 = 134    # octets after the 6-octet UDH


class SmsTooLong(ValueError):
    """The text needs more parts than the configuration allows."""


@dataclass(frozen=True, slots=True)
class SmsEncoding:
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def _split_ucs2(data: bytes) -> list[bytes]:
    """Cut UTF-16-BE at most `_PART_UCS2` octets a part, never inside a surrogate pair."""
    parts: list[bytes] = []
    start = 0
    while start < len(data):
        end = min(start + _PART_UCS2, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # the last unit is a high surrogate: keep the pair together
        parts.append(data[start:end])
        start = end
    return parts


def encode_sms(text: str, reference: int, max_parts: int) -> SmsEncoding:
    """The short messages that carry `text`; `reference` (0-255) joins the parts of one SMS."""
    if not text:
        raise ValueError("an SMS needs text")
    if len(text) <= _SINGLE_GSM and set(text) <= _GSM_SAFE:
        return SmsEncoding(DC_DEFAULT, 0, (text.encode("ascii"),))
    data = text.encode("utf-16-be")
    if len(data) <= _SINGLE_UCS2:
        return SmsEncoding(DC_UCS2, 0, (data,))
    chunks = _split_ucs2(data)
    if len(chunks) > max_parts:
        raise SmsTooLong(f"the text needs {len(chunks)} SMS parts, more than max_parts = "
                         f"{max_parts}")
    ref = reference % 256
    return SmsEncoding(DC_UCS2, ESM_UDHI, tuple(
        bytes((0x05, 0x00, 0x03, ref, len(chunks), i)) + chunk
        for i, chunk in enumerate(chunks, start=1)))
