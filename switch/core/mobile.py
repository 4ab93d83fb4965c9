"""Iranian mobile numbers in the one form LPS stores and sends: E.164 digits, `989121234567`.

People type a mobile number many ways: `0912 123 4567`, `+98 912 123 4567`, `98912...`,
`00989...`, `912...`, in Persian or Arabic-Indic digits. `normalize_mobile` accepts all of
them and returns the international form without `+` (what SMPP sends with TON 1 international,
NPI 1 E.164: docs/messaging.md §SMPP); anything else is refused with the accepted forms.
Customer search, enrolment, the console, the messages and the switch's DE48 `MB` (the account a
POS names by its mobile, docs/protocol.md §3) reuse this, so one number is one key everywhere.
"""

from __future__ import annotations

from switch.core.text import is_digits, to_ascii_digits

__all__ = ["ACCEPTED_FORMS", "MobileError", "mask_mobile", "mobile_from_wire", "normalize_mobile"]

ACCEPTED_FORMS = "09121234567, +989121234567, 989121234567, 00989121234567 or 9121234567"
#: Characters people put between digit groups; dropped before the digits are checked.
_SEPARATORS = str.maketrans("", "", " \t-().\u200c\u00a0")


class MobileError(ValueError):
    """Not an Iranian mobile number; the message shows the accepted forms."""


def normalize_mobile(text: str) -> str:
    """`989121234567` for any accepted spelling of an Iranian mobile, or `MobileError`."""
    if not isinstance(text, str):
        raise MobileError(f"a mobile number must be text, such as {ACCEPTED_FORMS}")
    bare = to_ascii_digits(text).strip().translate(_SEPARATORS)
    if bare.startswith("+"):
        bare = bare[1:]
    elif bare.startswith("00"):
        bare = bare[2:]
    elif bare.startswith("0"):
        bare = "98" + bare[1:]
    elif len(bare) == 10 and bare.startswith("9"):
        bare = "98" + bare
    if not (is_digits(bare, 12) and bare.startswith("989")):
        raise MobileError(f"not an Iranian mobile number: write it as {ACCEPTED_FORMS} "
                          f"(Persian digits are accepted)")
    return bare


def mobile_from_wire(text: str) -> str:
    """DE48 `MB` as a POS sends it: an accepted form in ASCII digits with an optional leading
    `+`, nothing else (numbers on the wire are ASCII `0-9` only, docs/protocol.md §2)."""
    if not is_digits(text.removeprefix("+")):
        raise MobileError(f"DE48 MB must be ASCII digits, such as {ACCEPTED_FORMS}")
    return normalize_mobile(text)


def mask_mobile(number: str) -> str:
    """`98912***4567`: enough for an operator to tell two numbers apart, not to dial one."""
    if len(number) < 9:
        return "***"
    return f"{number[:5]}***{number[-4:]}"
