"""From card profiles to accounts (docs/customers.md, "From card profiles to accounts"): one
account per card, merged when the phones are one Iranian mobile, every merge and every phone
left out noted, the money left where it was, the birthday bonus still working."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from switch.journal.sql.accounts_schema import migrate_accounts
from switch.journal.sqlite import schema
from switch.journal.sqlite.connect import connect
from tests.switch.support import card

A, B, C, D = card(901), card(902), card(903), card(904)


def before_accounts(db: Path, monkeypatch: pytest.MonkeyPatch) -> sqlite3.Connection:
    """A database migrated up to the step before the accounts, with card profiles."""
    steps = [m for m in schema.MIGRATIONS if m[2] is not migrate_accounts]
    monkeypatch.setattr(schema, "MIGRATIONS", steps)
    conn = connect(db)
    schema.migrate(conn)
    monkeypatch.undo()
    conn.executemany("INSERT INTO cards (pan, coalition_id, status, enrolled_on) "
                     "VALUES (?, 'tehran-mall', 'active', '2026-01-01')", [(A,), (B,), (C,)])
    conn.executemany(
        "INSERT INTO customers (pan, name, phone, birth_date, enrolled_at) VALUES (?,?,?,?,?)", [
            (A, "ندا احمدی", "+989121234567", "1990-03-01", "2026-01-01T08:00:00+00:00"),
            (B, "ندا احمدي", "09121234567", None, "2026-02-01T08:00:00+00:00"),
            (C, "Reza", "021-8888-1234", "1980-05-05", "2026-03-01T08:00:00+00:00"),
            (D, "Sara", "09351112222", None, "2026-04-01T08:00:00+00:00"),
        ])
    conn.execute("INSERT INTO lots (id, pan, kind, store_id, coalition_id, earned_on, "
                 "expires_on, initial, remaining, journal_id) VALUES "
                 "(1, ?, 'points', 'STORE0000000001', 'tehran-mall', '2026-01-02', NULL, "
                 "40, 40, 1)",
                 (B,))
    return conn


def test_profiles_become_accounts_merged_by_mobile(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conn = before_accounts(tmp_path / "lps.db", monkeypatch)
    schema.migrate(conn)
    accounts = conn.execute("SELECT id, name, mobile, birth_date, source FROM accounts "
                            "ORDER BY id").fetchall()
    assert [a[1:] for a in accounts] == [
        ("ندا احمدی", "989121234567", "1990-03-01", "migration"),
        ("Reza", None, "1980-05-05", "migration"),
        ("Sara", "989351112222", None, "migration"),
    ]
    links = dict(conn.execute("SELECT pan, account_id FROM account_cards").fetchall())
    assert links[A] == links[B] == accounts[0][0]
    notes = conn.execute("SELECT pan, account_id, note FROM account_migration "
                         "ORDER BY rowid").fetchall()
    text = " | ".join(n[2] for n in notes)
    assert "same mobile as account" in text and "not an Iranian mobile" in text
    assert "not enrolled" in text
    assert "8888" not in text and "0912" not in text   # never the personal data
    # The money stays on the card it was on.
    assert conn.execute("SELECT pan, remaining FROM lots").fetchall() == [(B, 40)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "customers" not in tables
    conn.close()


def test_the_merged_account_gives_both_cards_its_birthday(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from switch.journal.sql.accounts import read_profile

    conn = before_accounts(tmp_path / "lps.db", monkeypatch)
    schema.migrate(conn)
    for pan in (A, B):
        profile = read_profile(conn, pan)
        assert profile is not None and profile.birth_date == dt.date(1990, 3, 1)
        assert profile.phone == "989121234567"
    conn.close()
