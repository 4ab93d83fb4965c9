"""Numbers and money as a Persian reader expects them: ۱۲٬۵۰۰٬۰۰۰ ریال.

Money is an integer number of rials everywhere in LPS; a toman is ten rials, so a toman amount
is shown exactly (`۱۲٫۵ تومان` for 125 rials), never rounded through a float.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["MoneyUnit", "format_money", "format_number", "persian_digits"]

MoneyUnit = Literal["rial", "toman"]

_TO_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
#: U+066C ARABIC THOUSANDS SEPARATOR and U+066B ARABIC DECIMAL SEPARATOR, the marks Persian
#: typography uses between digit groups and before decimals.
THOUSANDS = "\u066c"
DECIMAL = "\u066b"
_UNIT_NAMES = {"rial": "ریال", "toman": "تومان"}


def persian_digits(text: str) -> str:
    """ASCII digits in `text` as Persian digits; everything else unchanged."""
    return text.translate(_TO_PERSIAN)


def format_number(value: int, *, persian: bool = True) -> str:
    """An integer with its thousands grouped: `۱۲٬۵۰۰` (or `12,500` with `persian=False`)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"format_number takes an int, got {type(value).__name__}")
    grouped = f"{abs(value):,}"
    sign = "-" if value < 0 else ""
    if not persian:
        return sign + grouped
    return sign + persian_digits(grouped.replace(",", THOUSANDS))


def format_money(rials: int, unit: MoneyUnit = "rial", *, persian: bool = True) -> str:
    """An amount of rials shown in rials or tomans, with its unit: `۱۲٬۵۰۰ تومان`."""
    if isinstance(rials, bool) or not isinstance(rials, int):
        raise TypeError(f"format_money takes an int number of rials, got {type(rials).__name__}")
    if unit == "rial":
        return f"{format_number(rials, persian=persian)} {_UNIT_NAMES['rial']}"
    if unit != "toman":
        raise ValueError(f"unit must be 'rial' or 'toman', got {unit!r}")
    tomans, tenth = divmod(abs(rials), 10)
    text = format_number(tomans if rials >= 0 else -tomans, persian=persian)
    if rials < 0 and tomans == 0:
        text = "-" + text
    if tenth:
        mark = DECIMAL if persian else "."
        text += mark + (persian_digits(str(tenth)) if persian else str(tenth))
    return f"{text} {_UNIT_NAMES['toman']}"
