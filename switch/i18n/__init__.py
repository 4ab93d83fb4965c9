"""Persian display: digits, money, Jalali dates and Tehran time, for messages and the console.

Display only: what these functions return is for people to read, never to parse back, store or
put on the wire (numbers stay ASCII integers everywhere else; docs/messaging.md §Templates).
"""

from switch.i18n.jalali import (
    TEHRAN,
    WEEK,
    DateError,
    jalali_date,
    jalali_date_long,
    jalali_month_days,
    parse_date,
    tehran_time,
    weekday_name,
)
from switch.i18n.numbers import format_money, format_number, persian_digits

__all__ = [
    "TEHRAN",
    "WEEK",
    "DateError",
    "format_money",
    "format_number",
    "jalali_date",
    "jalali_date_long",
    "jalali_month_days",
    "parse_date",
    "persian_digits",
    "tehran_time",
    "weekday_name",
]
