"""The frame of docs/protocol.md §1: a 2-byte big-endian length, then that many bytes.

The largest frame is 4096 bytes: one of exactly 4096 is a frame, one byte more is refused on
both sides, and the decoder's error names where the bad header starts. A long connection keeps
decoding frame after frame however many bytes it has carried.
"""

from __future__ import annotations

import pytest

from iso8583.errors import EncodeError, FramingError
from iso8583.framing import MAX_FRAME, FrameDecoder, frame


def test_the_largest_frame_itself_is_a_frame_and_one_byte_more_is_refused() -> None:
    largest = b"\x31" * 4096
    assert MAX_FRAME == 4096
    assert frame(largest) == b"\x10\x00" + largest
    with pytest.raises(EncodeError):
        frame(largest + b"\x31")
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x03abc" + b"\x10\x00" + largest)
    assert list(decoder.frames()) == [b"abc", largest]


def test_a_header_over_the_largest_frame_is_refused_where_it_starts() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x02ok" + b"\x10\x01" + b"\x00" * 10)
    frames = decoder.frames()
    assert next(frames) == b"ok"
    with pytest.raises(FramingError) as refused:
        next(frames)
    assert refused.value.offset == 4


def test_frames_keep_coming_after_the_first_64_kib() -> None:
    """The decoder drops what it has handed out once past 64 KiB; the frames after that point
    (split across feeds, keep-alives among them) are the ones sent."""
    decoder = FrameDecoder()
    sent = [bytes([i % 251]) * (1000 + i) for i in range(150)]  # about 260 KB
    wire = b"".join(frame(p) + (b"\x00\x00" if i % 7 == 0 else b"")
                    for i, p in enumerate(sent))
    got: list[bytes] = []
    for start in range(0, len(wire), 997):
        decoder.feed(wire[start:start + 997])
        got += decoder.frames()
    assert got == sent
    assert decoder.buffered == 0 and decoder.keepalives == 22
