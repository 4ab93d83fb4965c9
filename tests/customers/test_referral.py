"""Referrals as docs/customers.md "Referrals" tells them: a customer's code (typos refused by
its check symbol, Persian digits and lower case accepted), a friend enrolled with it, and both
bonuses once on the friend's first purchase, a reversed purchase not counting."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from switch.core.coupon_code import check_symbol
from switch.customers import CustomerError, InvalidValue
from switch.customers.referral import normalize_code
from switch.journal import open_customers
from tests.customers.support import run_through_switch
from tests.customers.test_triggers import CAFE, club_config, enroll, ok
from tests.messaging.conftest import lps
from tests.switch.support import T1, card, earn, reversal

REFERRAL = f"""
[messaging.templates.referral]
sms = "{{name}} عزیز، {{bonus}} امتیاز هدیه معرفی (کد {{code}}) گرفتید."

[coalition.tehran-mall.triggers.referral]
bonus = 200
friend_bonus = 100
store = "{CAFE}"
"""
DAY = dt.date(2026, 11, 23)
AT = dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC)


def test_codes_refuse_typos_and_accept_what_people_type() -> None:
    code = "7KQ4M2X" + check_symbol("7KQ4M2X")
    assert normalize_code(code.lower()[:4] + "-" + code.lower()[4:]) == code
    with pytest.raises(InvalidValue, match="check symbol"):
        normalize_code(code[:-1] + ("0" if code[-1] != "0" else "1"))
    with pytest.raises(InvalidValue, match="8 letters and digits"):
        normalize_code("7KQ4")


def test_both_get_their_bonus_once_on_the_friends_first_purchase(tmp_path: Path) -> None:
    config = club_config(tmp_path, REFERRAL)
    old, new, other = card(931), card(932), card(933)
    enroll(config, "پرستو", "09121110021", old)
    out = ok("customers", "referral", "1", "-c", config.path)
    code = out.split()[-1]
    assert out.startswith("account 1: referral code ") and len(code) == 9
    assert ok("customers", "referral", "1", "-c", config.path) == out   # the same code
    persian = code.lower().translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    enroll(config, "نیما", "09121110022", new, "--referred-by", persian)

    # A code nobody holds, or a typo, enrols nobody.
    bad = lps("customers", "enroll", "-c", config.path, "--name", "x", "--mobile",
              "09121110023", "--card", other, "--referred-by", "7KQ4M2XD")
    assert bad.returncode != 0 and "referral code" in bad.stderr
    with sqlite3.connect(config.switch.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == 2
        assert conn.execute("SELECT friend_id, referrer_id FROM referrals").fetchall() == [
            (2, 1)]

    # No purchase yet, then a purchase reversed: no bonus.
    first = earn(T1, 1, new, 500_000, now=AT)
    run_through_switch(Path(config.path), [first, reversal(first, 2, now=AT)], AT)
    out = ok("customers", "nightly", "--day", DAY.isoformat(), "-c", config.path)
    assert "referral" not in out and "bonuses granted: 0" in out
    run_through_switch(Path(config.path), [earn(T1, 3, new, 500_000, now=AT)], AT)
    out = ok("customers", "nightly", "--day", DAY.isoformat(), "-c", config.path)
    assert "referral 2" in out and "bonuses granted: 2 (300 points)" in out
    out = ok("customers", "nightly", "--day", DAY.isoformat(), "-c", config.path)
    assert "bonuses granted: 0" in out
    with sqlite3.connect(config.switch.database) as conn:
        adjusted = [(pan, points) for pan, points in conn.execute(
            "SELECT pan, points FROM journal WHERE kind = 'card_admin' AND detail LIKE "
            "'%referral%' ORDER BY id")]
        sent = {k: json.loads(p) for k, p in conn.execute(
            "SELECT dedupe_key, params FROM outbox WHERE template = 'referral'")}
    assert sorted(adjusted) == sorted([(new, 100), (old, 200)])
    assert sent["referral:2:friend:sms"]["bonus"] == 100
    assert sent["referral:2:referrer:sms"]["name"] == "پرستو"
    ok("check", "-c", config.path)


def test_refusals(tmp_path: Path) -> None:
    config = club_config(tmp_path, REFERRAL)
    enroll(config, "الف", "09121110031", card(941))
    enroll(config, "ب", "09121110032", card(942))
    customers = open_customers(config.switch.journal)
    try:
        from switch.customers.referral import code_for, refer

        code = code_for(customers, 1, AT)
        with pytest.raises(CustomerError, match="themselves"):
            refer(customers, 1, code, AT)
        assert refer(customers, 2, code, AT) == 1
        with pytest.raises(CustomerError, match="referred already"):
            refer(customers, 2, code, AT)
    finally:
        customers.close()
    run_through_switch(Path(config.path), [earn(T1, 1, card(942), 500_000, now=AT)], AT)
    enroll(config, "ج", "09121110033", card(943))
    run_through_switch(Path(config.path), [earn(T1, 2, card(943), 500_000, now=AT)], AT)
    late = lps("customers", "refer", "3", code, "-c", config.path)
    assert late.returncode == 1 and "has bought already" in late.stderr
