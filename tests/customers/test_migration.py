"""From card profiles to accounts (docs/customers.md, "From card profiles to accounts"): one
account per card, merged when the phones are one Iranian mobile, every merge and every phone
left out noted, the money left where it was, the birthday bonus still working."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from switch.journal.sql.accounts_schema import move_profiles
from switch.journal.sql.db import Db, tables
from switch.journal.sqlite import schema
from switch.journal.sqlite.connect import connect
from tests.switch.support import card

A, B, C, D = card(901), card(902), card(903), card(904)

#: A database of either engine and the migration of the rest of its schema.
Before = tuple[Db, Callable[[], None]]


@pytest.fixture()
def before_accounts(engine: str, tmp_path: Any, request: pytest.FixtureRequest,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Before]:
    """A database migrated up to the step before the accounts, with card profiles, on each
    engine (tests/engines.py): the move is one Python function run on either connection."""
    if engine == "sqlite":
        conn: Any = connect(tmp_path / "lps.db")
        module: Any = schema

        def rest() -> None:
            schema.migrate(conn)
    else:
        from switch.journal.postgres import schema as pg_schema
        from switch.journal.postgres.connect import open_db

        conn = open_db(request.getfixturevalue("pg_journal_url"))
        module = pg_schema

        def rest() -> None:
            pg_schema.migrate(conn, "the test's database")
    # A database of the LPS before accounts: the migrations before theirs (later ones need
    # the accounts' tables).
    accounts = next(m.number for m in module.MIGRATIONS if move_profiles in m.postgres)
    monkeypatch.setattr(module, "MIGRATIONS", [
        m for m in module.MIGRATIONS if m.number < accounts])
    rest()
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
    if conn.in_transaction:
        conn.execute("COMMIT")
    try:
        yield conn, rest
    finally:
        conn.close()


def test_profiles_become_accounts_merged_by_mobile(before_accounts: Before) -> None:
    conn, migrate = before_accounts
    migrate()
    accounts = conn.execute("SELECT id, name, mobile, birth_date, source FROM accounts "
                            "ORDER BY id").fetchall()
    assert [tuple(a[1:]) for a in accounts] == [
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
    assert [tuple(r) for r in conn.execute("SELECT pan, remaining FROM lots")] == [(B, 40)]
    assert "customers" not in tables(conn)


def test_the_merged_account_gives_both_cards_its_birthday(before_accounts: Before) -> None:
    from switch.journal.sql.accounts import read_profile

    conn, migrate = before_accounts
    migrate()
    for pan in (A, B):
        profile = read_profile(conn, pan)
        assert profile is not None and profile.birth_date == dt.date(1990, 3, 1)
        assert profile.phone == "989121234567"
