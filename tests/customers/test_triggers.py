"""The club's triggers as docs/customers.md "Triggers" tells them: `lps customers nightly` queues
the day's messages (birthday, welcome, expiring points, win-back, a segment's campaign) with
their Persian wording, each bonus a journaled adjustment made once, and a second run for the
same day queues and grants nothing; the birthday greeting reaches a real SMSC through
`lps messages send --once`."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from switch.config import Config, ConfigError, load_config
from switch.core.calendar import business_day
from switch.i18n import jalali_date_long
from switch.journal import open_customers
from tests.messaging.conftest import lps, smsc, write_config  # noqa: F401 (the fixture)
from tests.switch.support import card

CAFE = "STORE0000000001"
AWAKE = '[messaging.quiet_hours]\nfrom = "00:00"\nto = "00:00"\n'
TEMPLATES = """
[messaging.templates.welcome]
sms = "{name} عزیز، به باشگاه {coalition} خوش آمدید! {bonus} امتیاز هدیه گرفتید."

[messaging.templates.expiring]
kind = "promotional"
sms = "{name} عزیز، {points} امتیاز شما {days} روز دیگر، {expiry_date}، منقضی می‌شود."

[messaging.templates.winback]
kind = "promotional"
sms = "{name} عزیز، {days} روز است شما را ندیده‌ایم."

[messaging.templates.champions_thanks]
kind = "promotional"
sms = "{name} عزیز، از همراهی شما سپاسگزاریم."
"""
BIRTHDAY = f"""
[coalition.tehran-mall.triggers.birthday]
bonus = 50
store = "{CAFE}"
"""
ALL = BIRTHDAY + f"""
[coalition.tehran-mall.triggers.welcome]
bonus = 100
store = "{CAFE}"

[coalition.tehran-mall.triggers.expiring]
days = 14

[coalition.tehran-mall.triggers.winback]
days = 60

[coalition.tehran-mall.segment_messages.champions_thanks]
segment = "new"
every_days = 30
"""


def club_config(tmp: Path, triggers: str, *, sms_port: int | None = None,
                templates: str = TEMPLATES) -> Config:
    """The messaging tests' configuration (the example, [messaging] and its templates) with the
    club's triggers appended."""
    config = write_config(tmp, sms_port=sms_port, messaging=AWAKE)
    path = Path(config.path)
    path.write_text(path.read_text(encoding="utf-8") + templates + triggers, encoding="utf-8")
    return load_config(path)


def today(config: Config) -> dt.date:
    s = config.switch
    return business_day(dt.datetime.now(dt.UTC), s.zone, s.business_day_cutover)


def ok(*args: str) -> str:
    done = lps(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def enroll(config: Config, name: str, mobile: str, pan: str, *extra: str) -> None:
    ok("cards", "enroll", pan, "-c", config.path)
    ok("customers", "enroll", "-c", config.path, "--name", name, "--mobile", mobile,
       "--card", pan, "--sms", "yes", *extra)


def outbox(config: Config) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(config.switch.database) as conn:
        return [(str(t), str(k), json.loads(p)) for t, k, p in conn.execute(
            "SELECT template, dedupe_key, params FROM outbox ORDER BY id")]


def adjustments(config: Config) -> list[tuple[str, int, str]]:
    with sqlite3.connect(config.switch.database) as conn:
        return [(str(pan), int(points), json.loads(detail)["reason"])
                for pan, points, detail in conn.execute(
                    "SELECT pan, points, detail FROM journal WHERE kind = 'card_admin' "
                    "AND detail LIKE '%adjust%' ORDER BY id")]


def test_a_customer_enrolled_today_with_todays_birthday_is_greeted_through_the_smsc(
        tmp_path: Path, smsc: Any) -> None:  # noqa: F811 (the fixture)
    config = club_config(tmp_path, BIRTHDAY, sms_port=smsc.port)
    day = today(config)
    born = day.replace(year=day.year - 30) if (day.month, day.day) != (2, 29) \
        else dt.date(day.year - 28, 2, 29)
    pan = card(901)
    enroll(config, "نگار رضایی\u200cفر", "۰۹۱۲ ۱۲۳ ۴۵۶۷", pan, "--birth-date", born.isoformat())

    first = ok("customers", "nightly", "-c", config.path)
    assert "birthday 1" in first and "bonuses granted: 1 (50 points)" in first
    again = ok("customers", "nightly", "-c", config.path)
    assert "messages queued: none; already queued before: 1" in again
    assert "bonuses granted: 0" in again
    assert adjustments(config) == [(pan, 50, f"club birthday bonus birthday:1:{day.year}")]

    sent = ok("messages", "send", "--once", "-c", config.path)
    assert "sent 1," in sent
    text = "".join(s.text() for s in sorted(smsc.submitted, key=lambda p: p.udh()[5:6]))
    assert text == ("نگار رضایی\u200cفر عزیز، تولدتان مبارک! ۵۰ امتیاز هدیه در Cafe Naderi "
                    f"گرفتید. {jalali_date_long(day)}")
    assert all(s.data_coding == 8 for s in smsc.submitted)
    # Sent once: the nightly job run again and the sender after it send nothing more.
    ok("customers", "nightly", "-c", config.path)
    assert "sent 0," in ok("messages", "send", "--once", "-c", config.path)
    assert len({s.udh()[5:6] for s in smsc.submitted}) == len(smsc.submitted)


def test_the_days_messages_with_their_figures(tmp_path: Path) -> None:
    config = club_config(tmp_path, ALL)
    day = dt.date(2026, 11, 23)
    newcomer, regular, faded = card(911), card(912), card(913)
    enroll(config, "سارا", "09121110001", newcomer)
    enroll(config, "علی", "09121110002", regular)
    enroll(config, "مریم", "09121110003", faded)
    customers = open_customers(config.switch.journal)
    try:
        with customers.transaction():
            conn = customers.conn  # type: ignore[attr-defined]
            old = dt.datetime(2025, 1, 1, tzinfo=dt.UTC).isoformat()
            conn.execute("UPDATE accounts SET created_at = ? WHERE id IN (2, 3)", (old,))
            conn.execute("UPDATE accounts SET created_at = ? WHERE id = 1",
                         (dt.datetime(2026, 11, 22, 9, tzinfo=dt.UTC).isoformat(),))
    finally:
        customers.close()
    # The regular's points lapse in 10 days; the faded customer last bought 100 days ago.
    from tests.customers.support import run_through_switch
    from tests.switch.support import T1, earn

    bought = dt.datetime(2025, 12, 3, 10, tzinfo=dt.UTC)   # lots live 365 days: 2026-12-03
    run_through_switch(Path(config.path), [earn(T1, 1, regular, 2_000_000, now=bought)], bought)
    long_ago = dt.datetime(2026, 8, 15, 10, tzinfo=dt.UTC)
    run_through_switch(Path(config.path), [earn(T1, 2, faded, 1_000_000, now=long_ago)],
                       long_ago)

    out = ok("customers", "nightly", "--day", day.isoformat(), "-c", config.path)
    assert "bonuses granted: 1 (100 points)" in out
    rows = {key.split(":")[0] + ":" + key.split(":")[1]: (template, params)
            for template, key, params in outbox(config)}
    assert rows["welcome:1"] == ("welcome", {"name": "سارا", "date": "2026-11-23",
                                             "bonus": 100})
    expiring = rows["expiring:2"][1]
    assert (expiring["points"], expiring["days"], expiring["expiry_date"]) == (
        200, 10, "2026-12-03")
    assert rows["winback:3"][1]["days"] == 100
    assert rows["winback:2"][1]["days"] == 355
    assert rows["segment:champions_thanks"][1]["name"] == "سارا"
    keys = [k for _t, k, _p in outbox(config)]
    assert len(keys) == 5 and len(set(keys)) == 5
    # Run twice: the same keys, nothing new; the welcome bonus was granted once.
    ok("customers", "nightly", "--day", day.isoformat(), "-c", config.path)
    assert [k for _t, k, _p in outbox(config)] == keys
    assert [a[:2] for a in adjustments(config)] == [(newcomer, 100)]


def test_a_bonus_the_switch_made_before_a_crash_is_not_made_again(tmp_path: Path) -> None:
    """The job stopped after the switch journaled the bonus and before it marked it granted:
    the next run finds the adjustment by its key instead of asking for another."""
    config = club_config(tmp_path, ALL)
    pan = card(921)
    enroll(config, "رضا", "09121110009", pan)
    from lps.customers_nightly import SwitchBonuses

    key, reason = "welcome:1", "club welcome bonus welcome:1"
    customers = open_customers(config.switch.journal)
    try:
        with customers.transaction():
            customers.club.start_bonus(key, 1, pan, CAFE, 100, dt.datetime.now(dt.UTC))
        path = SwitchBonuses(config)
        path.adjust(pan, 100, CAFE, reason)
        path.close()
    finally:
        customers.close()
    out = ok("customers", "nightly", "-c", config.path)
    assert "bonuses granted: 0" in out and "welcome 1" in out
    assert adjustments(config) == [(pan, 100, reason)]
    ok("check", "-c", config.path)


@pytest.mark.parametrize(("triggers", "key", "why"), [
    ("[coalition.tehran-mall.triggers.expiring]\ntemplate = \"welcome\"\n",
     "coalition.tehran-mall.triggers.expiring.template", "names bonus"),
    (f"[coalition.tehran-mall.triggers.welcome]\nbonus = 5\nstore = \"{CAFE}x\"\n",
     "coalition.tehran-mall.triggers.welcome.store", "not a store"),
    ("[coalition.tehran-mall.triggers.welcome]\nbonus = 5\n",
     "coalition.tehran-mall.triggers.welcome.store", "needs the store"),
    ("[coalition.tehran-mall.triggers.winback]\ndays = \"۶۰\"\n",
     "coalition.tehran-mall.triggers.winback.days", "must be an integer"),
    ("[coalition.tehran-mall.triggers.birthday]\nchannel = \"fax\"\n",
     "coalition.tehran-mall.triggers.birthday.channel", "must be one of"),
])
def test_a_wrong_trigger_stops_the_load(tmp_path: Path, triggers: str, key: str,
                                        why: str) -> None:
    with pytest.raises(ConfigError) as err:
        club_config(tmp_path, triggers)
    assert err.value.key == key and why in err.value.reason


def test_a_trigger_turned_off(tmp_path: Path) -> None:
    config = club_config(tmp_path, "[coalition.tehran-mall.triggers.birthday]\nenabled = false\n"
                                   "bonus = 5\n")
    assert config.clubs["tehran-mall"].triggers == {}


TIERS = """
[messaging.templates.tier_up]
sms = "{name} عزیز، به سطح {tier} رسیدید!"

[messaging.templates.tier_down]
sms = "{name} عزیز، سطح شما اکنون {tier} است."

[coalition.tehran-mall.triggers.tier_up]

[coalition.tehran-mall.triggers.tier_down]
"""


def test_a_tier_up_and_down_each_say_so_once(tmp_path: Path) -> None:
    """The tier is the switch's (its upgrade at the purchase, its nightly downgrade when the
    12 months' spend falls short); the first run only notes it."""
    config = club_config(tmp_path, TIERS)
    pan = card(951)
    enroll(config, "کاوه", "09121110051", pan)
    from tests.customers.support import run_through_switch
    from tests.switch.support import T1, earn

    ok("customers", "nightly", "--day", "2026-11-21", "-c", config.path)   # notes BLUE
    bought = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)
    run_through_switch(Path(config.path), [earn(T1, 1, pan, 60_000_000, now=bought)], bought)
    for _ in range(2):
        ok("customers", "nightly", "--day", "2026-11-23", "-c", config.path)
    assert [(t, p["tier"]) for t, _k, p in outbox(config)] == [("tier_up", "SILVER")]
    for _ in range(2):   # more than 12 months later the spend no longer holds SILVER
        ok("customers", "nightly", "--day", "2027-12-01", "-c", config.path)
    assert [(t, p["tier"]) for t, _k, p in outbox(config)] == [
        ("tier_up", "SILVER"), ("tier_down", "BLUE")]
