"""Triggers per store (docs/customers.md "Per store"): a trigger may be turned off or worded
otherwise for the customers whose home store (most purchases in the window) is a given store;
the rest get the coalition's; mistakes stop the load."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from switch.config import ConfigError
from tests.customers.support import lps
from tests.customers.test_triggers import TEMPLATES, club_config
from tests.switch.support import T1, T2, card, earn

CAFE, BOOKS = "STORE0000000001", "STORE0000000002"
CAFE_WORDING = """
[messaging.templates.winback_cafe]
kind = "promotional"
sms = "{name} عزیز، {store} دلش برای شما تنگ شده؛ {days} روز گذشته."
"""
PER_STORE = f"""
[coalition.tehran-mall.triggers.winback]
days = 60

[coalition.tehran-mall.triggers.winback.stores.{BOOKS}]
enabled = false

[coalition.tehran-mall.triggers.winback.stores.{CAFE}]
template = "winback_cafe"
"""


def _outbox(database: Path) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    import json

    with sqlite3.connect(database) as conn:
        return {str(k).split(":")[1]: (str(t), s, json.loads(p)) for t, k, s, p in conn.execute(
            "SELECT template, dedupe_key, store_id, params FROM outbox ORDER BY id")}


def test_each_customer_gets_the_trigger_of_their_home_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.customers.support import backdate, run_through_switch

    config = club_config(tmp_path, PER_STORE, templates=TEMPLATES + CAFE_WORDING)
    settings = config.clubs["tehran-mall"]
    assert settings.trigger("winback", BOOKS) is None
    cafe = settings.trigger("winback", CAFE)
    assert cafe is not None and (cafe.template, cafe.days) == ("winback_cafe", 60)
    assert settings.trigger("winback", "STORE0000000003") == settings.triggers["winback"]
    reader, cafe_goer, stranger = card(971), card(972), card(973)
    for i, pan in enumerate((reader, cafe_goer, stranger)):
        assert lps(capsys, "cards", "enroll", pan, "-c", config.path)[0] == 0
        code, _o, err = lps(capsys, "customers", "enroll", "-c", config.path, "--name",
                            f"مشتری {i}", "--mobile", f"0912777000{i}", "--card", pan,
                            "--sms", "yes")
        assert code == 0, err
    backdate(config.switch.journal, {n: dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
                                     for n in (1, 2, 3)})
    # The reader bought twice at the bookshop and once at the café: the bookshop is home.
    at = dt.datetime(2026, 8, 4, 10, tzinfo=dt.UTC)
    run_through_switch(Path(config.path), [
        earn(tid, 10 + i, pan, 200_000, now=at) for i, (tid, pan) in enumerate(
            [(T2, reader), (T1, reader), (T2, reader), (T1, cafe_goer)])], at)
    code, _o, err = lps(capsys, "customers", "nightly", "--day", "2026-11-23", "-c",
                        config.path)
    assert code == 0, err
    found = _outbox(config.switch.database)
    assert "1" not in found                             # off at the bookshop
    assert found["2"][:2] == ("winback_cafe", CAFE)     # the café's wording and scope
    assert found["3"][:2] == ("winback", None)          # never bought: the coalition's
    assert found["2"][2]["days"] == 111


@pytest.mark.parametrize(("extra", "key", "why"), [
    ("[coalition.tehran-mall.triggers.winback.stores.STORE9999999999]\nenabled = false\n",
     "coalition.tehran-mall.triggers.winback.stores.STORE9999999999", "not a store"),
    (f"[coalition.tehran-mall.triggers.winback.stores.{CAFE}]\ncolour = \"red\"\n",
     f"coalition.tehran-mall.triggers.winback.stores.{CAFE}.colour", "unknown key"),
    (f"[coalition.tehran-mall.triggers.winback.stores.{CAFE}]\ntemplate = \"expiring\"\n",
     f"coalition.tehran-mall.triggers.winback.stores.{CAFE}.template", "does not fill"),
    (f"[coalition.tehran-mall.triggers.expiring]\n"
     f"[coalition.tehran-mall.triggers.expiring.stores.{CAFE}]\ndays = 3\n",
     f"coalition.tehran-mall.triggers.expiring.stores.{CAFE}.days", "coalition's"),
    (f"[coalition.tehran-mall.triggers.referral]\nbonus = 1\nstore = \"{CAFE}\"\n"
     f"[coalition.tehran-mall.triggers.referral.stores.{CAFE}]\nenabled = false\n",
     "coalition.tehran-mall.triggers.referral.stores", "coalition's only"),
])
def test_a_wrong_store_trigger_stops_the_load(tmp_path: Path, extra: str, key: str,
                                              why: str) -> None:
    templates = TEMPLATES + '[messaging.templates.referral]\nsms = "{name} {code}"\n'
    with pytest.raises(ConfigError) as err:
        club_config(tmp_path, "[coalition.tehran-mall.triggers.winback]\n" + extra
                    if "winback.stores" in extra else extra, templates=templates)
    assert (err.value.key, why in err.value.reason) == (key, True), err.value.reason
