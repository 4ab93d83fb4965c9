"""The Persian catalogue is complete, the console's database moves in from an older switch
database, store-scoped staff see nothing of other stores, and typed Jalali dates are checked."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from lps.console import audit, auth, throttle
from lps.console.db import console_path, open_console
from lps.console.i18n import catalogue
from switch.i18n import DateError, parse_date
from tests.console.support import PASSWORD, Client, Console, Env, add_staff

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lps" / "console"


def _messages() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PACKAGE), method_map, options, keywords={"_": None, "gettext": None,
                                                         "ngettext": (1, 2), "N_": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_in_code_and_templates_has_a_persian_translation() -> None:
    fa = catalogue("fa")
    messages = _messages()
    assert len(messages) > 300
    missing = sorted(m for m in messages if fa.gettext(m) == m
                     and re.search("[A-Za-z]", re.sub(r"\{\w+\}", "", m)))
    assert missing == []
    for m in messages:  # the same placeholders, so no value is lost or invented
        assert sorted(re.findall(r"\{(\w+)\}", m)) == sorted(
            re.findall(r"\{(\w+)\}", fa.gettext(m))), m


def test_an_older_consoles_tables_move_out_of_the_switch_database(tmp_path: Path) -> None:
    """tests/console/data/legacy-switch.db was made by the console at 4cc2209 (its tables in
    the switch's file; make_legacy_db.py says how)."""
    db = tmp_path / "lps.db"
    shutil.copyfile(Path(__file__).parent / "data" / "legacy-switch.db", db)
    db.chmod(0o600)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    old = sqlite3.connect(db)
    old_audit = old.execute("SELECT * FROM console_audit ORDER BY id").fetchall()
    old.close()
    conn = open_console(db)
    try:
        assert [s.username for s in auth.list_staff(conn)] == ["ann", "old", "sue"]
        assert not auth.get_staff(conn, "old").active  # type: ignore[union-attr]
        assert conn.execute("SELECT * FROM audit_log ORDER BY id").fetchall() == old_audit
        assert audit.verify(conn) == (len(old_audit), None)
        assert [r[0] for r in conn.execute("SELECT status FROM adjustments ORDER BY id")] == [
            "applied", "pending"]
        # The chain goes on from the last moved row; the old password still signs in.
        token, session = auth.login(conn, "sue", PASSWORD, "127.0.0.1",
                                    dt.datetime.now(dt.UTC), throttle.Limits())
        assert token and session.role == "support"
        assert audit.verify(conn) == (len(old_audit) + 1, None)
    finally:
        conn.close()
    assert oct(console_path(db).stat().st_mode & 0o777) == "0o600"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest  # only read, never written
    conn = open_console(db)  # once: a second start copies nothing again
    try:
        assert audit.verify(conn)[0] == len(old_audit) + 1
    finally:
        conn.close()


def test_a_looser_console_database_is_refused(env: Env) -> None:
    path = console_path(env.config.switch.database)
    path.chmod(0o644)
    with pytest.raises(RuntimeError, match="console's database holds password hashes"):
        open_console(env.config.switch.database)


@pytest.mark.parametrize(("typed", "reason", "days"), [
    ("۱۴۰۵/۱۲/۳۰", "day", 29), ("1405/12/31", "day", 29), ("1405/13/01", "month", 0),
    ("2026-02-29", "day", 28), ("۱۴۰۵-۰۹", "format", 0),
    # December 9999's days were counted through a first of January no `date` holds
    ("9999-12-32", "day", 31), ("۹۹۹۹/۱۲/۳۲", "day", 31), ("2024-02-30", "day", 29)])
def test_an_impossible_date_is_refused_with_the_reason(typed: str, reason: str,
                                                       days: int) -> None:
    with pytest.raises(DateError) as info:
        parse_date(typed)
    assert (info.value.reason, info.value.days) == (reason, days)


def test_dates_are_typed_in_jalali_with_persian_digits() -> None:
    assert parse_date("۱۴۰۵/۰۹/۰۲") == dt.date(2026, 11, 23)
    assert parse_date("1403/12/30") == dt.date(2025, 3, 20)  # Esfand 30 of a leap year
    assert parse_date("2026-11-23") == dt.date(2026, 11, 23)


OTHERS = ("STORE0000000002", "STORE0000000003", "Book City", "Enghelab", "T0000002",
          "T0000003", "Yalda night")


def test_a_store_scoped_member_sees_nothing_of_other_stores(env: Env) -> None:
    add_staff(env, "ann", "admin")
    with Console(env) as console:
        admin = Client(console.url)
        admin.login("ann")
        assert admin.post("/settlement/run", date=str(env.yesterday)).status == 200
        planted = "planted-reason-at-book-city"
        conn = open_console(env.config.switch.database)
        try:  # a pending request of another store, with a distinctive reason
            conn.execute("INSERT INTO adjustments (pan, points, store_id, reason, maker, made_at,"
                         " status) VALUES (?, 5000, 'STORE0000000002', ?, 'x', ?, 'pending')",
                         (env.cards[0], planted, env.now.isoformat()))
        finally:
            conn.close()
        for role in ("support", "settlement", "marketing", "auditor"):
            add_staff(env, f"cafe-{role}", role, stores=("STORE0000000001",))
            client = Client(console.url)
            assert client.login(f"cafe-{role}").status == 303
            pages = [client.get(p) for p in (
                "/", "/cards", "/adjustments", "/programs", "/settlement", "/search",
                "/reports")]
            pages.append(client.get("/settlement/day", date=str(env.yesterday)))
            pages.append(client.get("/settlement/file", date=str(env.yesterday),
                                    name="positions.csv"))
            pages.append(client.post("/cards", pan=env.cards[0]))
            for reply in pages:
                if reply.status == 403:
                    continue
                for other in (*OTHERS, planted):
                    assert other not in reply.body, (role, other)
            for path in ("/audit", "/staff"):
                assert client.get(path).status == 403
        # What they may see of their own store is there.
        cafe = Client(console.url)
        cafe.login("cafe-settlement")
        own = cafe.get("/settlement/file", date=str(env.yesterday), name="positions.csv")
        assert own.status == 200 and "STORE0000000001" in own.body
        assert cafe.get("/settlement/file", date=str(env.yesterday),
                        name="settlement.json").status == 400
