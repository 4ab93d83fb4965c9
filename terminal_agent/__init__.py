"""LPS terminal agent: cash register, card reader, switch link and MQTT fleet management."""

__version__ = "0.1.0"


def is_ascii_digits(text: str) -> bool:
    """ASCII `0-9` only, at least one: `str.isdigit` alone accepts '²', '٥' and '５'."""
    return text.isascii() and text.isdigit()
