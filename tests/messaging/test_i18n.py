"""Persian display helpers (switch/i18n): digits, money, Jalali dates, Tehran time."""

from __future__ import annotations

import datetime as dt

import pytest

from switch.i18n import (
    format_money,
    format_number,
    jalali_date,
    jalali_date_long,
    persian_digits,
    tehran_time,
)


def test_numbers_in_persian_digits_with_persian_separators() -> None:
    assert format_number(0) == "۰"
    assert format_number(12_500_000) == "۱۲٬۵۰۰٬۰۰۰"
    assert format_number(-1234) == "-۱٬۲۳۴"
    assert format_number(12_500_000, persian=False) == "12,500,000"
    assert persian_digits("T0000001 at 09:30") == "T۰۰۰۰۰۰۱ at ۰۹:۳۰"


def test_numbers_refuse_what_is_not_an_integer() -> None:
    with pytest.raises(TypeError):
        format_number(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_number(True)
    with pytest.raises(TypeError):
        format_money("1000")  # type: ignore[arg-type]


def test_money_in_rials_and_exact_tomans() -> None:
    assert format_money(1_250_000) == "۱٬۲۵۰٬۰۰۰ ریال"
    assert format_money(1_250_000, "toman") == "۱۲۵٬۰۰۰ تومان"
    assert format_money(125, "toman") == "۱۲٫۵ تومان"
    assert format_money(5, "toman") == "۰٫۵ تومان"
    assert format_money(-5, "toman") == "-۰٫۵ تومان"
    assert format_money(-1_250_005, "toman") == "-۱۲۵٬۰۰۰٫۵ تومان"
    with pytest.raises(ValueError):
        format_money(10, "dollar")  # type: ignore[arg-type]


@pytest.mark.parametrize("day, short, long", [
    (dt.date(2026, 3, 21), "۱۴۰۵/۰۱/۰۱", "۱ فروردین ۱۴۰۵"),   # Nowruz 1405
    (dt.date(2026, 11, 23), "۱۴۰۵/۰۹/۰۲", "۲ آذر ۱۴۰۵"),
    (dt.date(2025, 3, 20), "۱۴۰۳/۱۲/۳۰", "۳۰ اسفند ۱۴۰۳"),   # 1403 is a leap year
])
def test_jalali_dates(day: dt.date, short: str, long: str) -> None:
    assert jalali_date(day) == short
    assert jalali_date_long(day) == long
    assert jalali_date(day, persian=False) == short.translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹",
                                                                           "0123456789"))


def test_jalali_refuses_a_datetime_whose_day_depends_on_the_zone() -> None:
    with pytest.raises(TypeError):
        jalali_date(dt.datetime(2026, 3, 20, 22, 0, tzinfo=dt.UTC))


def test_tehran_time_is_utc_plus_three_and_a_half() -> None:
    assert tehran_time(dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)) == "۱۰:۰۰"
    assert tehran_time(dt.datetime(2026, 11, 23, 20, 45, tzinfo=dt.UTC),
                       persian=False) == "00:15"
    with pytest.raises(ValueError):
        tehran_time(dt.datetime(2026, 11, 23, 6, 30))
