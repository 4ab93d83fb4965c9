"""The switch's own English messages reach a Persian reader in Persian: each is made here by
the switch's own code (its loader, its admin commands, its limits), so a reworded message fails
this test instead of falling back to English on a page. What matches no template is shown as
it is, isolated and labelled as the switch's own; a stored message is rendered in the language
of whoever reads it, and a stored template never reaches more than its plain fields."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator

import pytest
from markupsafe import Markup

from lps.console import campaigns, switch_words
from lps.console.i18n import Translator
from lps.console.messages import (
    RECORDED,
    SWITCH,
    Code,
    Label,
    Refusal,
    Verbatim,
    from_json,
)
from switch.config import ConfigError, parse_config
from switch.core.admin import (
    MAX_ADJUST,
    AdminError,
    decide_adjust,
    decide_card_command,
    decide_profile,
)
from switch.core.ledger import over_limits
from switch.core.limits import MoneyLimits
from switch.core.model import Card, Lot
from switch.core.programs.club import Profile
from switch.core.programs.rules import program_rules
from switch.core.state import State
from switch.i18n import TEHRAN
from switch.journal.sqlite.journal import SqliteJournal
from tests.console.support import Env, smallest_config
from tests.switch.support import card

FA = Translator("fa", TEHRAN)
EN = Translator("en", TEHRAN)
#: Latin letters outside the values a message carries (codes, typed text): untranslated words.
LATIN = re.compile(r"[A-Za-z]")
FSI_VALUE = re.compile("\u2068[^\u2069]*\u2069")


def _persian_only(refusal: Refusal) -> str:
    text = refusal.render(FA)
    assert not LATIN.search(FSI_VALUE.sub("", text)), text
    return text


DATES = "from = 2027-01-01, to = 2027-01-31"
GOOD = f'name = "N", {DATES}'


@pytest.mark.parametrize(("coalition", "store", "template"), [
    ("", f"campaigns = [{{ {DATES} }}]", "is missing"),
    ("", f"campaigns = [{{ {GOOD}, colour = 1 }}]", "unknown key"),
    ("", 'campaigns = [{ name = " ", from = 2027-01-01, to = 2027-01-31 }]',
     "must not be empty"),
    ("", "campaigns = [1]", "must be a table"),
    ("earn = 1", "", "must be a table, got {type}"),
    ("", 'campaigns = "x"', "must be an array, got {type}"),
    ("", 'campaigns = [{ name = 1, from = 2027-01-01, to = 2027-01-31 }]',
     "must be a string, got {type} {value}"),
    ("", f'campaigns = [{{ {GOOD}, bonus = "x" }}]', "must be an integer, got {type} {value}"),
    ("", f'campaigns = [{{ {GOOD}, multiplier = "x" }}]',
     "must be a number, got {type} {value}"),
    ('auto_enroll = "x"', "", "must be true or false, got {value}"),
    ("", f"campaigns = [{{ {GOOD}, bonus = -5 }}]", "must be at least {minimum}, got {value}"),
    ("", 'campaigns = [{ name = "N", from = "2027-13-01", to = 2027-01-31 }]',
     "must be a date YYYY-MM-DD, got {value}"),
    ("", 'campaigns = [{ name = "N", from = 2027-02-01, to = 2027-01-31 }]',
     "ends ({end}) before it starts ({start})"),
    ("", f"campaigns = [{{ {GOOD}, weekdays = [7] }}]",
     "must be 0 (Monday) to 6 (Sunday), got {value}"),
    ("", f"campaigns = [{{ {GOOD}, hours = [20, 8] }}]",
     "must be [from, to) hours 0-24, got {value}"),
    ("", f"campaigns = [{{ {GOOD}, multiplier = 1.2345 }}]",
     "must have at most 3 decimals and be at most 1000, got {value}"),
    ('display_currency = "dollar"', "", "must be rial or toman, got {value}"),
])
def test_each_reason_of_the_switchs_loader_is_read_in_persian(coalition: str, store: str,
                                                                template: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(smallest_config(coalition, store), "lps.toml")
    said = switch_words.loader(info.value.reason)
    assert said.template == template, info.value.reason
    _persian_only(said)


def test_a_campaign_that_ends_before_it_starts_is_said_with_jalali_dates() -> None:
    said = switch_words.loader("ends (2027-01-31) before it starts (2027-02-01)")
    assert said.render(FA) == "پایانش (۱۴۰۵/۱۱/۱۱) پیش از آغازش (۱۴۰۵/۱۱/۱۲) است"
    assert str(said) == "ends (2027-01-31) before it starts (2027-02-01)"


@pytest.mark.parametrize(("store", "persian", "english"), [
    (f"campaigns = [{{ {GOOD}, multiplier = -0.5 }}]", "باید دست‌کم ۰ باشد؛ رسید: -۰٫۵",
     "must be at least 0, got -0.5"),
    (f"campaigns = [{{ {GOOD}, multiplier = 1000.5 }}]", "رسید: ۱٬۰۰۰٫۵", "got 1,000.5"),
    (f"campaigns = [{{ {GOOD}, multiplier = 1.2345 }}]", "رسید: ۱٫۲۳۴۵", "got 1.2345"),
])
def test_the_loaders_decimal_numbers_are_said_in_the_readers_digits(
        store: str, persian: str, english: str) -> None:
    """The loader says the multiplier it refuses, and the bound, as floats (`0.0`, `-0.5`):
    they were shown as codes in ASCII digits inside the Persian sentence. They are numbers in
    the reader's digits and decimal mark, like the loader's whole numbers."""
    with pytest.raises(ConfigError) as info:
        parse_config(smallest_config("", store), "lps.toml")
    said = switch_words.loader(info.value.reason)
    assert persian in _persian_only(said) and not re.search("[0-9]", said.render(FA))
    assert english in said.render(EN)


@pytest.fixture
def state(env: Env) -> Iterator[State]:
    store = SqliteJournal(env.config.switch.database)
    try:
        yield store.load(env.config, program_rules(env.config), env.now)
    finally:
        store.close()


def _admin_error(state: State, env: Env, **change: object) -> str:
    args: dict[str, object] = {"pan": env.cards[0], "points": 10, "store": "STORE0000000001",
                               "reason": "goodwill", "actor": "sue", "now": env.now, **change}
    with pytest.raises(AdminError) as info:
        decide_adjust(state, **args)  # type: ignore[arg-type]
    return str(info.value)


def test_each_refusal_of_the_switchs_admin_commands_is_read_in_persian(
        env: Env, state: State) -> None:
    made = {
        "not a Luhn-valid card number of 13-19 digits":
            _admin_error(state, env, pan="6280000000000001"),
        "card is not enrolled": _admin_error(state, env, pan=card(999)),
        "points must be a non-zero whole number within +-{max}":
            _admin_error(state, env, points=MAX_ADJUST + 1),
        "store '{store}' is not a store of the card's coalition {coalition}":
            _admin_error(state, env, store="NOPE"),
        "an adjustment needs a reason": _admin_error(state, env, reason=" "),
        "the card has {available} points available, fewer than {wanted}":
            _admin_error(state, env, points=-MAX_ADJUST),
    }
    state.limits = MoneyLimits(max_points=1)
    made["the card's points would pass their limit"] = _admin_error(state, env)
    with pytest.raises(AdminError) as info:
        decide_card_command(state, "enroll", env.cards[0], env.now)
    made["card is already enrolled in coalition {coalition}"] = str(info.value)
    with pytest.raises(AdminError) as info:
        decide_profile(state, card(998), Profile())
    made["card is not enrolled in the running switch"] = str(info.value)
    day = dt.date(2026, 1, 1)
    purse = Lot(1, env.cards[0], "sv", "STORE0000000001", "tehran-mall", day, None, 50, 50)
    before = Card(env.cards[0], "tehran-mall")
    after = dataclasses.replace(before, purse=[purse])
    made["the card's stored value would pass its limit"] = over_limits(
        before, after, MoneyLimits(max_stored_value=10))
    for template, message in made.items():
        said = switch_words.admin(message)
        assert said.template == template, message
        _persian_only(said)
    wanted = switch_words.admin(made["the card has {available} points available, fewer than "
                                     "{wanted}"])
    assert wanted.render(FA).endswith("کمتر از ۱۰٬۰۰۰٬۰۰۰")


def test_what_matches_no_template_is_shown_as_the_switchs_own_words() -> None:
    said = switch_words.admin("the moon is in the wrong phase <b>")
    assert str(said) == "the moon is in the wrong phase <b>"
    html = Refusal("the switch refused: {detail}", detail=said).html(FA)
    assert isinstance(html, Markup)
    assert ('<span class="theirs">پیام خودِ سوئیچ: <bdi lang="en" dir="ltr">the moon is in '
            "the wrong phase &lt;b&gt;</bdi></span>") in html
    assert html.startswith("سوئیچ نپذیرفت: ")
    assert said.render(FA) == "پیام خودِ سوئیچ: \u2068the moon is in the wrong phase <b>\u2069"
    assert said.render(EN) == "the switch's own message: the moon is in the wrong phase <b>"
    bad = switch_words.admin("bad admin request: 'pan'")
    assert bad.render(FA).startswith("درخواست مدیریتی نادرست: پیام خودِ سوئیچ:")


def test_a_stored_message_is_read_in_the_readers_language() -> None:
    original = Refusal("the switch refused: {detail}", detail=Refusal(
        "the card has {available} points available, fewer than {wanted}", available=120,
        wanted=5000))
    stored = json.loads(json.dumps(original.to_json()))
    back = from_json(stored)
    assert str(back) == str(original)
    assert back.render(FA) == "سوئیچ نپذیرفت: کارت ۱۲۰ امتیاز قابل استفاده دارد، کمتر از ۵٬۰۰۰"
    kinds = Refusal("{a} {b} {c} {d} {e} {f}", a=Label("pending"), b=Code("x.y"),
                    c=Verbatim("raw", SWITCH), d=dt.date(2026, 11, 23), e=True, f="text")
    assert from_json(json.loads(json.dumps(kinds.to_json()))).render(EN) == \
        "pending x.y the switch's own message: raw 1405/09/02 yes text"


@pytest.mark.parametrize("stored", [
    {"template": "{x.__class__}", "params": {"x": {"text": "a"}}},
    {"template": "{x!r}", "params": {"x": {"text": "a"}}},
    {"template": "{x:>99999}", "params": {"x": {"text": "a"}}},
    {"template": "{0}", "params": {"0": {"text": "a"}}},
    {"template": "{y}", "params": {"x": {"text": "a"}}},
    {"template": "{x}", "params": {"x": {"object": "a"}}},
    {"template": 5, "params": {}},
    "the switch refused: card is not enrolled",
])
def test_a_stored_message_that_is_not_one_is_shown_as_recorded(stored: object) -> None:
    back = from_json(stored)
    assert back.template == "{message}"
    verbatim = back.params["message"]
    assert isinstance(verbatim, Verbatim) and verbatim.label == RECORDED
    assert "<bdi lang=\"en\"" in back.html(FA) and "همان‌گونه که ثبت شد" in back.html(FA)


def test_a_key_inside_a_campaign_is_named_in_words_and_any_other_as_a_code() -> None:
    key = campaigns.key_words("store.S1.campaigns[2].weekdays[1]")
    assert isinstance(key, Refusal)
    assert key.render(FA) == "فیلد روزهای هفته از کمپین شماره‌ی ۲ فروشگاه \u2068S1\u2069"
    assert str(key) == "field weekdays of campaign #2 of store S1"
    assert str(campaigns.key_words("coalition.c.campaigns[0]")) == (
        "campaign #0 of coalition c")
    assert campaigns.key_words("switch.timezone") == Code("switch.timezone")
