"""LPS-87 ISO 8583 codec: data-driven profiles on `construct`, sans-I/O framing.

    from iso8583 import load_profile, Message
    profile = load_profile("ascii")
    raw = profile.encode(Message(mti="0800", fields={7: "1123120000", 11: "000001",
                                                      41: "T0000001", 70: "001"}))
    message = profile.decode(raw)
"""

from .errors import CodecError, DecodeError, EncodeError, FramingError, SchemaError
from .framing import MAX_FRAME, FrameDecoder, frame
from .message import FieldValue, Message
from .profile import Profile, available_profiles, load_profile, lps87_rules
from .redact import mask_card

__all__ = [
    "MAX_FRAME",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "FieldValue",
    "FrameDecoder",
    "FramingError",
    "Message",
    "Profile",
    "SchemaError",
    "available_profiles",
    "frame",
    "load_profile",
    "lps87_rules",
    "mask_card",
]
