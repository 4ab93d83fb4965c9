"""Amounts in each coalition's display currency (`[coalition.X] display_currency`): rials, or
tomans where the coalition chooses (docs/console.md, "Languages, dates, money")."""

from __future__ import annotations

import pytest

from switch.config import ConfigError, load_config, parse_config
from tests.console.support import Client, Console, Env, add_staff, smallest_config

#: A second coalition, shown in tomans, beside the example's (rials).
KISH = """
[coalition.kish-club]
name = "Kish Club"
point_value = 2500
currency = "364"
card_bins = ["637000"]
display_currency = "toman"

[store.STORE0000000009]
name = "Kish Cafe"
coalition = "kish-club"
earn = { points_per = 100_005, points = 1, min_amount = 250_000 }
"""


def _with_kish(env: Env) -> Env:
    env.config_path.write_text(env.config_path.read_text() + KISH)
    env.config = load_config(env.config_path)
    return env


def test_each_coalition_shows_its_amounts_in_its_own_currency(env: Env) -> None:
    _with_kish(env)
    assert env.config.coalitions["kish-club"].display_currency == "toman"
    assert env.config.coalitions["tehran-mall"].display_currency == "rial"
    add_staff(env, "mia", "marketing")
    add_staff(env, "mina", "marketing", language="fa")
    with Console(env) as console:
        en, fa = Client(console.url), Client(console.url)
        en.login("mia")
        fa.login("mina")
        english = " ".join(en.get("/programs").text().split())
        persian = " ".join(fa.get("/programs").text().split())
    # tehran-mall: rials; kish-club: tomans, a tenth of a toman shown exactly (100,005 rials).
    assert "2 per 10,000 rials from 100,000 rials" in english
    assert "1 per 10,000.5 tomans from 25,000 tomans" in english
    assert "250 tomans" in english and "1,000 rials" in english  # the point values
    assert "۱۰٬۰۰۰٫۵ تومان" in persian and "۲۵٬۰۰۰ تومان" in persian
    assert "۱۰٬۰۰۰ ریال" in persian and "۲۵۰ تومان" in persian


@pytest.mark.parametrize(("extra", "reason"), [
    ('display_currency = "dollar"', "must be rial or toman, got 'dollar'"),
    ('display_currency = ""', "must not be empty"),
    ("display_currency = 1", "must be a string"),
    ('currency = "840"\ndisplay_currency = "toman"', "toman needs the rial (currency 364)"),
])
def test_a_display_currency_the_switch_cannot_show_is_refused(extra: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(smallest_config(extra), "lps.toml")
    assert info.value.key == "coalition.c.display_currency"
    assert reason in info.value.reason


def test_rial_is_the_default_and_toman_is_accepted() -> None:
    assert parse_config(smallest_config(), "f").coalitions["c"].display_currency == "rial"
    config = parse_config(smallest_config('display_currency = "toman"'), "f")
    assert config.coalitions["c"].display_currency == "toman"
