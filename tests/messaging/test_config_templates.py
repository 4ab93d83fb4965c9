"""`[messaging]` in the switch's TOML: templates checked when the configuration loads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from switch.config import ConfigError, load_config
from switch.messaging.templates import TemplateError, check_params, fields_of, render
from tests.messaging.conftest import write_config


def test_example_configuration_still_loads_without_messaging() -> None:
    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "examples" / "lps.toml").messaging is None


def test_a_full_section_loads(tmp_path: Path) -> None:
    config = write_config(tmp_path, sms_port=2775, smtp_port=587, cafile=tmp_path / "ca.pem")
    m = config.messaging
    assert m is not None and m.sms is not None and m.email is not None
    assert (m.sms.source_ton, m.sms.source_npi) == (5, 0)   # alphanumeric sender
    assert m.retry.max_attempts == 3
    assert m.quiet_hours.start == dt.time(21, 0) and m.quiet_hours.timezone == "Asia/Tehran"
    receipt = m.templates["receipt"]
    assert receipt.kind == "transactional"
    assert receipt.resolve("tehran-mall", "STORE0000000002").money == "toman"
    assert receipt.resolve("tehran-mall", "STORE0000000001").sms == receipt.default.sms
    assert "password" not in repr(m.sms)


@pytest.mark.parametrize("extra, key, reason", [
    ('[messaging.templates.bad]\nsms = "سلام {nmae}"\n', "messaging.templates.bad.sms",
     "unknown field {nmae}"),
    ('[messaging.templates.bad]\nsms = "{name.__class__}"\n', "messaging.templates.bad.sms",
     "unknown field"),
    ('[messaging.templates.bad]\nsms = "{points!r}"\n', "messaging.templates.bad.sms",
     "conversions"),
    ('[messaging.templates.bad]\nsms = "{points:>10}"\n', "messaging.templates.bad.sms",
     "format specs"),
    ('[messaging.templates.bad]\nsms = "{name"\n', "messaging.templates.bad.sms",
     "not a valid template"),
    ('[messaging.templates.bad]\nkind = "spam"\nsms = "x"\n', "messaging.templates.bad.kind",
     "transactional or promotional"),
    ('[messaging.templates.bad]\nkind = "promotional"\n', "messaging.templates.bad.sms",
     "needs an sms text or an email_body"),
    ('[messaging.templates.bad.store.NOSUCHSTORE]\nsms = "x"\n',
     "messaging.templates.bad.store.NOSUCHSTORE", "names no [store.NOSUCHSTORE]"),
    ('[messaging.templates.bad]\nsms = "x"\nmoney = "dinar"\n', "messaging.templates.bad.money",
     "'rial' or 'toman'"),
    ('[messaging.templates.bad]\nsms = "x"\nsmss = "y"\n', "messaging.templates.bad.smss",
     "unknown key"),
    ('[messaging.quiet_hours]\nfrom = "9pm"\n', "messaging.quiet_hours.from", "HH:MM"),
    ('[messaging.quiet_hours]\ntimezone = "Asia/Tehrann"\n', "messaging.quiet_hours.timezone",
     "unknown time zone"),
    # a name too long for a file name: zoneinfo's OSError, not a traceback
    (f'[messaging.quiet_hours]\ntimezone = "{"x" * 300}"\n', "messaging.quiet_hours.timezone",
     "unknown time zone 'xxxx"),
    ('[messaging.sms]\nsmpp = "127.0.0.1:۲۷۷۵"\nsystem_id = "lps"\nsource_addr = "LPS"\n',
     "messaging.sms.smpp", "HOST:PORT"),
    ('[messaging.sms]\nsmpp = "h:1"\nsystem_id = "lps"\npassword = "toolongpassword"\n'
     'source_addr = "LPS"\n', "messaging.sms.password", "at most 8"),
    ('[messaging.email]\nsmtp = "h:25"\nfrom = "not an address"\n', "messaging.email.from",
     "an address"),
    ('[messaging.email]\nsmtp = "h:25"\nfrom = "a@b.ir"\nusername = "u"\n',
     "messaging.email.password", "go together"),
])
def test_bad_sections_are_refused_naming_the_key(tmp_path: Path, extra: str, key: str,
                                                 reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        write_config(tmp_path, messaging=extra)
    assert err.value.key == key
    assert reason in err.value.reason


def test_rendering_for_a_persian_reader() -> None:
    params = check_params({"name": "علي‌رضا", "amount": 1_250_000, "points": 1250,
                           "date": dt.date(2026, 11, 23),
                           "time": dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)})
    assert params["name"] == "علی‌رضا"   # Arabic yeh stored as the Persian letter
    text = render("{name}: {amount}، {points} امتیاز، {date} ساعت {time}", params)
    assert text == "علی‌رضا: ۱٬۲۵۰٬۰۰۰ ریال، ۱٬۲۵۰ امتیاز، ۲ آذر ۱۴۰۵ ساعت ۱۰:۰۰"
    assert render("{amount}", params, money="toman") == "۱۲۵٬۰۰۰ تومان"
    assert render("{{literal}} {points}", params) == "{literal} ۱٬۲۵۰"


def test_html_rendering_escapes_what_customers_typed() -> None:
    params = check_params({"name": "<script>alert(1)</script>"})
    assert render("{name}", params, escape_html=True) == "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.mark.parametrize("params, reason", [
    ({"points": "12"}, "must be an integer"),
    ({"points": True}, "must be an integer"),
    ({"amount": 1.5}, "must be an integer"),
    ({"date": "1405-09-02x"}, "YYYY-MM-DD"),
    ({"time": "2026-11-23T10:00:00"}, "aware"),
    ({"name": "a\u202eb"}, "invisible formatting"),
    ({"name": "x" * 201}, "longer than 200"),
    ({"body": "free text"}, "unknown parameter"),
])
def test_bad_parameters_are_refused(params: dict[str, object], reason: str) -> None:
    with pytest.raises(TemplateError) as err:
        check_params(params)
    assert reason in str(err.value)


def test_missing_value_is_an_error_not_an_empty_hole() -> None:
    with pytest.raises(TemplateError, match=r"no value for \{points\}"):
        render("{points}", {})
    assert fields_of("سلام {name}، {points} امتیاز") == ("name", "points")
