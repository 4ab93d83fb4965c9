"""Passwords, session expiry and the audit log's append-only chain (the login throttle and the
hashing bound: test_login_throttle.py)."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lps.console import audit, auth, throttle
from lps.console.db import open_console as open_db
from tests.console.support import PASSWORD, Client, Console, Env, add_staff, make_env
from tests.waits import EVENT


def _conn(env: Env) -> sqlite3.Connection:
    return open_db(env.config.switch.database)


def test_passwords_are_stored_as_argon2id_only(env: Env) -> None:
    add_staff(env, "sue", "support")
    conn = _conn(env)
    try:
        stored = conn.execute("SELECT password_hash FROM staff").fetchone()[0]
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert "sue" in {s.username for s in auth.list_staff(conn)}
    finally:
        conn.close()


def test_unknown_user_and_disabled_user_get_the_same_answer(env: Env) -> None:
    add_staff(env, "sue", "support")
    conn = _conn(env)
    try:
        auth.disable_staff(conn, "test", "sue", env.now)
    finally:
        conn.close()
    with Console(env) as console:
        for user in ("sue", "nobody"):
            reply = Client(console.url).login(user)
            assert reply.status == 401
            # The login page is Persian until someone is known.
            assert "نام کاربری یا گذرواژه نادرست است، یا حساب غیرفعال است" in reply.text()


def test_sessions_expire_when_idle_and_end_at_logout_or_disable(env: Env) -> None:
    add_staff(env, "sue", "support")
    add_staff(env, "ann", "admin")
    ttl = dt.timedelta(minutes=30)
    with Console(env, limits=throttle.Limits(session_ttl=ttl)) as console:
        client = Client(console.url)
        client.login("sue")
        console.clock_now += ttl - dt.timedelta(seconds=1)
        assert client.get("/").status == 200  # activity pushes the expiry forward
        console.clock_now += ttl - dt.timedelta(seconds=1)
        assert client.get("/").status == 200
        console.clock_now += ttl
        assert (client.get("/").location, client.get("/cards").status) == ("/login", 303)

        client.login("sue")
        assert client.post("/logout").status == 303
        assert client.get("/").location == "/login"

        client.login("sue")
        admin = Client(console.url)
        admin.login("ann")
        admin.get("/staff")
        assert admin.post("/staff/disable", username="sue").status == 200
        assert client.get("/").location == "/login"


def test_the_audit_log_refuses_update_and_delete(env: Env) -> None:
    add_staff(env, "sue", "support")
    conn = _conn(env)
    try:
        for sql in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
        assert audit.verify(conn) == (1, None)
    finally:
        conn.close()


@pytest.mark.parametrize("tamper", ["alter", "delete"])
def test_tampering_behind_the_triggers_breaks_the_chain(env: Env, tamper: str) -> None:
    conn = _conn(env)
    try:
        for n in range(3):
            audit.append(conn, f"2026-11-23T10:00:0{n}+00:00", "test", "staff.add", f"staff:a{n}",
                         None, {"role": "auditor"})
        assert audit.verify(conn) == (3, None)
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        if tamper == "alter":
            conn.execute("UPDATE audit_log SET after = '{\"role\":\"admin\"}' WHERE id = 2")
            assert str(audit.verify(conn)[1]) == ("row 2 was altered (its hash does not match "
                                                  "its content)")
        else:
            conn.execute("DELETE FROM audit_log WHERE id = 2")
            assert str(audit.verify(conn)[1]) == "row 2 is missing (next is 3)"
    finally:
        conn.close()
    with Console(env) as console:
        add_staff(env, "aud", "auditor")  # appended after the damage: still reported
        client = Client(console.url)
        client.login("aud")
        assert "Hash chain BROKEN" in client.get("/audit").text()


def test_the_cli_manages_staff_and_its_changes_are_audited(
        env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from lps.cli import main

    def run(*args: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["staff", *args, "--config", str(env.config_path), "--password-stdin"])
        return code, capsys.readouterr().err

    assert run("add", "zoe", "--role", "marketing", stdin="a long password\n")[0] == 0
    code, err = run("add", "zed", "--role", "boss", stdin="a long password\n")
    assert code == 1 and "role must be one of" in err
    code, err = run("reset-password", "zoe", stdin="short\n")
    assert code == 1 and "password" in err
    assert run("reset-password", "zoe", stdin="another long one\n")[0] == 0
    assert run("disable", "zoe")[0] == 0
    code, err = run("disable", "zoe")
    assert code == 1 and "already disabled" in err
    conn = _conn(env)
    try:
        rows = audit.rows(conn)
        assert [r.action for r in rows] == ["staff.disable", "staff.reset-password",
                                            "staff.add"]
        assert all(r.actor.startswith("cli:") and r.target == "staff:zoe" for r in rows)
        assert audit.verify(conn) == (3, None)
        assert auth.get_staff(conn, "zed") is None
    finally:
        conn.close()


def test_reveal_of_a_full_card_number_is_audited_and_masked_otherwise(tmp_path: Path) -> None:
    env = make_env(tmp_path, n_cards=1)
    add_staff(env, "sue", "support")
    add_staff(env, "aud", "auditor")
    pan = env.cards[0]
    with Console(env) as console:
        auditor = Client(console.url)
        auditor.login("aud")
        page = auditor.post("/cards", pan=pan)
        assert pan not in page.body and "Show the full number" not in page.body
        support = Client(console.url)
        support.login("sue")
        ref = support.card_ref(pan)
        assert pan not in support.post("/cards", pan=pan).body
        shown = support.post("/cards/reveal", card=ref)
        assert shown.status == 200 and pan in shown.text()
    conn = _conn(env)
    try:
        last = audit.rows(conn)[0]
        assert (last.actor, last.action) == ("staff:sue", "card.reveal")
        assert pan not in last.target and pan[-4:] in last.target
    finally:
        conn.close()


def test_lps_console_serves_the_login_page(env: Env) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "lps.cli", "console", "--config",
                             str(env.config_path), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("lps console: http://127.0.0.1:"), proc.stderr.read()  # type: ignore[union-attr]
        url = line.split()[2].rstrip("/")
        reply = Client(url).get("/login")
        assert reply.status == 200 and 'name="csrf"' in reply.body
    finally:
        proc.terminate()
        proc.wait(EVENT)


def test_lps_console_rejects_a_bad_listen_address(env: Env) -> None:
    done = subprocess.run([sys.executable, "-m", "lps.cli", "console", "--config",
                           str(env.config_path), "--listen", "localhost"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 3 and "HOST:PORT expected" in done.stderr  # bad input


def test_a_persian_password_with_its_half_space_is_taken_and_logs_in(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """A password typed on a Persian keyboard holds ZWNJ (U+200C), which `isprintable`
    refuses: it is taken as typed, and logs in; other invisible format characters are not."""
    from lps.cli import main

    persian = "گذرواژه\u200cی\u200cخوب۱۲۳"
    monkeypatch.setattr("sys.stdin", io.StringIO(persian + "\n"))
    assert main(["staff", "add", "zoe", "--role", "support", "--config",
                 str(env.config_path), "--password-stdin"]) == 0
    for hidden in ("\u202e", "\u2066", "\u200b", "\x00"):  # bidi override/isolate, ZWSP, NUL
        with pytest.raises(auth.AuthError, match="printable characters only"):
            auth.check_password(f"a long pass{hidden}word")
    with Console(env) as console:
        assert Client(console.url).login("zoe", persian.replace("\u200c", "")).status == 401
        assert Client(console.url).login("zoe", persian).status == 303
