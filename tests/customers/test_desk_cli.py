"""`lps customers` as docs/customers.md tells it: enrolment with Persian inputs, search in every
form, the customer's page in words, link and unlink, export, erasure, and the refusals."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lps.console.cli_audit import read_cli
from switch.config import load_config
from switch.journal import open_outbox, open_reader
from tests.customers.support import by_mobile, lps, mobile_config, run_through_switch
from tests.engines import query
from tests.programs.support import tags
from tests.switch.support import T1, T2, card, earn

NASRIN = "نسرین محمدی\u200cپور"
PAN = card(701)
OTHER = card(702)


@pytest.fixture()
def cfg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A switch database with Nasrin's account: a printed card, a Jalali birth date."""
    return _with_nasrin(mobile_config(tmp_path)[0], capsys)


@pytest.fixture()
def cfg_engines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                journal_settings: dict[str, Any]) -> Path:
    """`cfg` on each journal engine (tests/engines.py)."""
    return _with_nasrin(mobile_config(tmp_path, journal=journal_settings)[0], capsys)


def _with_nasrin(path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert lps(capsys, "cards", "enroll", OTHER, "--config", str(path))[0] == 0
    code, out, err = lps(capsys, "customers", "enroll", "--config", str(path), "--name", NASRIN,
                         "--mobile", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "--email", "Nasrin@Example.IR",
                         "--birth-date", "۱۳۷۰/۰۵/۱۲", "--anniversary", "2015-06-01",
                         "--card", PAN, "--sms", "yes")
    assert code == 0, err
    assert out.startswith("account 1: ") and "98912***4567" in out and "1234567" not in out
    return path


def test_enrolment_stores_the_normalised_forms(cfg_engines: Path) -> None:
    journal = load_config(cfg_engines).switch.journal
    [row] = query(journal, "SELECT name, mobile, email, birth_date, anniversary, source "
                           "FROM accounts WHERE id = 1")
    consent = query(journal, "SELECT promotional FROM message_consent "
                             "WHERE address = '989121234567'")
    # ۱۳۷۰/۰۵/۱۲ is a Jalali date (its year is below 1700): 3 August 1991.
    assert tuple(str(v) for v in row) == (NASRIN, "989121234567", "Nasrin@example.ir",
                                          "1991-08-03", "2015-06-01", "desk")
    assert consent == [(True,)]


@pytest.mark.parametrize("typed", ["09121234567", "+989121234567", "989121234567",
                                   "۰۹۱۲۱۲۳۴۵۶۷", "0912-123-4567", "نسرین", "محمدي پور",
                                   "محمدیپور", "محمدی\u200cپور", PAN])
def test_search_finds_her_by_any_form(cfg: Path, typed: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = lps(capsys, "customers", "search", typed, "--config", str(cfg))
    assert code == 0, err
    assert out.split()[0] == "1" and NASRIN in out and PAN not in out


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_search_on_postgresql_by_name_mobile_and_card(
        cfg_engines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The desk's LIKE over search keys, with its escapes, as SQLite's above."""
    for typed in ("محمدي پور", "+989121234567", PAN):
        code, out, err = lps(capsys, "customers", "search", typed, "--config", str(cfg_engines))
        assert code == 0, err
        assert out.split()[0] == "1" and NASRIN in out
    for typed in ("%", "_", "\\", "نسرین%", "کاظم"):
        assert lps(capsys, "customers", "search", typed, "--config", str(cfg_engines))[0] == 1


def test_search_refuses_digits_that_are_neither_and_finds_nobody_else(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = lps(capsys, "customers", "search", "12345", "--config", str(cfg))
    assert code == 3 and "09121234567" in err
    code, _, err = lps(capsys, "customers", "search", "09351112222", "--config", str(cfg))
    assert code == 1 and "no customer found" in err
    code, _, _ = lps(capsys, "customers", "search", "کاظم", "--config", str(cfg))
    assert code == 1


def test_a_malformed_mobile_is_refused_with_the_accepted_forms(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                       "--mobile", "۰۲۱۸۸۸۸۱۲۳۴")
    assert code == 3
    assert "not an Iranian mobile number" in err and "+989121234567" in err
    code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                       "--mobile", "09351112222", "--birth-date", "۱۴۰۲/۱۲/۳۰")
    assert code == 3 and "29 days" in err   # Esfand 1402 is a common year
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone() == (1,)


def test_a_duplicate_mobile_is_refused_naming_the_other_account_masked(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                       "--mobile", "+98 912 123 4567", "--card", OTHER)
    assert code == 1
    assert "belongs to account 1" in err and "98912***4567" in err and "1234567" not in \
        err.replace("***4567", "")
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM account_cards WHERE pan = ?",
                            (OTHER,)).fetchone() == (0,)


def test_show_tells_the_history_in_words_with_balances_per_card(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    store = load_config(cfg).stores["STORE0000000001"].name
    replies = run_through_switch(cfg, [
        earn(T1, 1, PAN, 100_000, now=now),
        by_mobile("0200", T2, 2, "09121234567", "000000", 50_000, now=now),
    ], now)
    assert [r.fields[39] for r in replies] == ["00", "00"]
    earned = int(tags(replies[0])["EP"])
    code, out, err = lps(capsys, "customers", "show", "1", "--config", str(cfg))
    assert code == 0, err
    assert f"earned {earned} points at {store} on a purchase of 100,000 rials" in out
    assert "mobile (virtual)" in out and "card_admin" not in out and " 51" not in out
    total = earned + int(tags(replies[1])["EP"])
    assert f"points {total:,} available" in out
    assert "born    1991-08-03" in out and "by SMS yes" in out
    local = now.astimezone(load_config(cfg).switch.zone).strftime("%Y-%m-%d %H:%M")
    assert f"{local}  628000******" in out  # the switch's local time, the card masked
    assert PAN not in out


def test_link_and_unlink_a_card(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lps(capsys, "customers", "link", "1", OTHER, "--config", str(cfg))[0] == 0
    code, out, _ = lps(capsys, "customers", "show", "1", "--config", str(cfg))
    assert out.count("628000******") >= 2
    code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                       "--mobile", "09351112222", "--card", OTHER)
    assert code == 1 and "belongs to account 1" in err
    assert lps(capsys, "customers", "unlink", "1", OTHER, "--config", str(cfg))[0] == 0
    code, _, err = lps(capsys, "customers", "unlink", "1", OTHER, "--config", str(cfg))
    assert code == 1 and "not linked" in err
    code, out, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                         "--mobile", "09351112222", "--card", OTHER)
    assert code == 0, err
    assert [r.action for r in read_cli(load_config(cfg).switch.database, "customer.link",
                                       "account:1")] == ["customer.link"]


def test_export_is_one_customers_data_as_json(cfg: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    run_through_switch(cfg, [earn(T1, 1, PAN, 100_000, now=now)], now)
    out_file = tmp_path / "nasrin.json"
    assert lps(capsys, "customers", "export", "1", "--out", str(out_file),
               "--config", str(cfg))[0] == 0
    data = json.loads(out_file.read_text(encoding="utf-8"))
    assert (data["name"], data["mobile"], data["birth_date"]) == (NASRIN, "989121234567",
                                                                  "1991-08-03")
    assert [c["card"] for c in data["cards"]] == [PAN]
    assert data["cards"][0]["lots"][0]["store"] == load_config(cfg).stores[
        "STORE0000000001"].name
    assert data["points"] == data["cards"][0]["points"] > 0
    assert any(h["what"].startswith("earned") for h in data["history"])
    code, _, err = lps(capsys, "customers", "export", "1", "--out", str(out_file),
                       "--config", str(cfg))
    assert code == 1 and "not overwriting" in err


def test_erase_removes_personal_data_and_keeps_the_money(
        cfg_engines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On both engines: the desk's writes, the switch's rows and settlement's reads."""
    cfg = cfg_engines
    config = load_config(cfg)
    now = dt.datetime.now(dt.UTC)
    run_through_switch(cfg, [
        earn(T1, 1, PAN, 100_000, now=now),
        by_mobile("0200", T2, 2, "09121234567", "000000", 50_000, now=now)], now)
    day = replies_day = now.astimezone(config.switch.zone).date()

    def money() -> tuple[object, ...]:
        reader = open_reader(config.switch.journal)
        try:
            return (list(reader.rows(day - dt.timedelta(days=2), day + dt.timedelta(days=1))),
                    reader.points_by_store(), reader.lots_at(replies_day),
                    reader.check(full=True).problems)
        finally:
            reader.close()

    box = open_outbox(config.switch.journal)
    try:
        with box.transaction():
            [queued] = box.insert([("sms", "989121234567", "account:1", "welcome",
                                    json.dumps({"name": NASRIN}), "promotional", "tehran-mall",
                                    None, None, now)], now)
    finally:
        box.close()
    before = money()
    code, out, err = lps(capsys, "customers", "erase", "1", "--config", str(cfg))
    assert code == 0, err
    assert "erased-" in out
    assert money() == before   # settlement reads the same rows and lots
    for typed in ("09121234567", "نسرین"):
        assert lps(capsys, "customers", "search", typed, "--config", str(cfg))[0] == 1
    code, out, _ = lps(capsys, "customers", "search", PAN, "--config", str(cfg))
    assert code == 0 and "(erased: erased-" in out and NASRIN not in out
    row = query(config.switch.journal, "SELECT name, mobile, email, birth_date, anniversary "
                                       "FROM accounts WHERE id = 1")
    consent = query(config.switch.journal, "SELECT COUNT(*) FROM message_consent")
    assert row == [("", None, None, None, None)] and consent == [(0,)]
    box = open_outbox(config.switch.journal)
    try:
        [message] = [m for m in box.in_state("dead") if m.id == queued]
        assert message.recipient.startswith("erased-") and NASRIN not in str(message)
    finally:
        box.close()
    audit = read_cli(config.switch.database, "customer.erase", "account:1")
    assert len(audit) == 1 and NASRIN not in str(audit[0])
    # The number is free again: a new customer may take it (a new account, no old money).
    code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
                       "--mobile", "09121234567")
    assert code == 0, err
    assert lps(capsys, "customers", "erase", "1", "--config", str(cfg))[0] == 1


def test_update_changes_the_typed_fields_only(cfg: Path, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    assert lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", "رضا",
               "--mobile", "09351112222")[0] == 0
    code, _, err = lps(capsys, "customers", "update", "2", "--mobile", "+989121234567",
                       "--config", str(cfg))
    assert code == 1 and "belongs to account 1" in err and "98912***4567" in err
    code, _, err = lps(capsys, "customers", "update", "1", "--mobile", "۰۹۱۹ ۱۱۱ ۲۲۳۳",
                       "--email", "", "--anniversary", "۱۳۹۴/۰۳/۱۱", "--sms", "no",
                       "--config", str(cfg))
    assert code == 0, err
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        row = conn.execute("SELECT name, mobile, email, birth_date, anniversary FROM accounts "
                           "WHERE id = 1").fetchone()
        consent = conn.execute("SELECT promotional FROM message_consent WHERE address = ?",
                               ("989191112233",)).fetchone()
    assert row == (NASRIN, "989191112233", None, "1991-08-03", "2015-06-01")
    assert consent == (0,)
    code, _, err = lps(capsys, "customers", "update", "1", "--config", str(cfg))
    assert code == 3 and "nothing to change" in err
    assert len(read_cli(load_config(cfg).switch.database, "customer.update", "account:1")) == 1


@pytest.mark.parametrize("typed", ["%", "_", "\\", "نسرین%"])
def test_search_wildcards_are_plain_characters(cfg: Path, typed: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lps(capsys, "customers", "search", typed, "--config", str(cfg))
    assert code == 1 and out == ""


def test_a_name_with_control_characters_or_bidi_overrides_is_refused(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ندا\x07", "ندا\u202eاحمدی", ""):
        code, _, err = lps(capsys, "customers", "enroll", "--config", str(cfg), "--name", name,
                           "--mobile", "09351112222")
        assert code == 3 and err.startswith("lps customers enroll: ") and err.count("\n") == 1
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM accounts").fetchone() == (1,)
