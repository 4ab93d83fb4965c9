"""Staff accounts (argon2id), rate-limited login, expiring sessions with a CSRF token each.

Tokens are random (`secrets`); the database keeps only their SHA-256, so a copy of it does not
hand out sessions. Failed logins are stored, so the limit survives a restart of the console.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from switch.console import audit
from switch.console.roles import ROLES

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

#: argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a miss costs as much as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


class AuthError(ValueError):
    """A refused staff operation or login, with a message fit to show."""


@dataclass(frozen=True, slots=True)
class Staff:
    username: str
    role: str
    active: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    role: str
    csrf: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Login limits and session lifetime (configurable on `lps console`)."""

    max_failures: int = 5
    failure_window: dt.timedelta = dt.timedelta(minutes=15)
    session_ttl: dt.timedelta = dt.timedelta(minutes=30)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the write lock is never left)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise AuthError("a username is 2-32 characters: lower-case letters, digits, '.', '_' "
                        "or '-', starting with a letter")
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.isprintable():
        raise AuthError("a password has printable characters only")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    return role


def get_staff(conn: sqlite3.Connection, username: str) -> Staff | None:
    row = conn.execute("SELECT username, role, active, created_at FROM console_staff "
                       "WHERE username = ?", (username,)).fetchone()
    return Staff(row[0], row[1], bool(row[2]), row[3]) if row else None


def list_staff(conn: sqlite3.Connection) -> list[Staff]:
    return [Staff(r[0], r[1], bool(r[2]), r[3]) for r in conn.execute(
        "SELECT username, role, active, created_at FROM console_staff ORDER BY username")]


def add_staff(conn: sqlite3.Connection, actor: str, username: str, role: str, password: str,
              now: dt.datetime) -> Staff:
    """Create an account; validated before anything is written, audited in the same commit."""
    check_username(username)
    check_role(role)
    check_password(password)
    digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is not None:
            raise AuthError(f"staff {username!r} exists already")
        conn.execute("INSERT INTO console_staff VALUES (?, ?, ?, 1, ?)",
                     (username, role, digest, _iso(now)))
        audit.append(conn, _iso(now), actor, "staff.add", f"staff:{username}", None,
                     {"role": role, "active": True})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Staff(username, role, True, _iso(now))


def disable_staff(conn: sqlite3.Connection, actor: str, username: str,
                  now: dt.datetime) -> None:
    """Disable an account and end its sessions (it keeps its audit history)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        staff = get_staff(conn, username)
        if staff is None:
            raise AuthError(f"no staff member {username!r}")
        if not staff.active:
            raise AuthError(f"staff {username!r} is already disabled")
        if actor == f"staff:{username}":
            raise AuthError("you cannot disable your own account")
        conn.execute("UPDATE console_staff SET active = 0 WHERE username = ?", (username,))
        conn.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
        audit.append(conn, _iso(now), actor, "staff.disable", f"staff:{username}",
                     {"active": True}, {"active": False})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def reset_password(conn: sqlite3.Connection, actor: str, username: str, password: str,
                   now: dt.datetime) -> None:
    """Set a new password and end the account's sessions."""
    check_password(password)
    digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is None:
            raise AuthError(f"no staff member {username!r}")
        conn.execute("UPDATE console_staff SET password_hash = ? WHERE username = ?",
                     (digest, username))
        conn.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
        # The hashes are not audit material: record that it changed, not what to.
        audit.append(conn, _iso(now), actor, "staff.reset-password", f"staff:{username}",
                     None, {"password": "changed", "sessions": "ended"})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(conn: sqlite3.Connection, username: str, password: str, client: str,
          now: dt.datetime, limits: Limits) -> tuple[str, Session]:
    """Check the limit, then the password; returns (cookie token, session) or raises AuthError.

    Over the limit the password is not even checked, so guessing gains nothing. Every outcome
    is audited (a failure names the username tried, never the password).
    """
    since = _iso(now - limits.failure_window)
    by_user, by_client = conn.execute(
        "SELECT COALESCE(SUM(username = ?), 0), COALESCE(SUM(client = ?), 0) "
        "FROM console_login_failures WHERE at > ?", (username, client, since)).fetchone()
    if by_user >= limits.max_failures or by_client >= 4 * limits.max_failures:
        audit.append(conn, _iso(now), f"login:{client}", "login.refused",
                     f"staff:{username[:40]}", None, {"reason": "rate limit"})
        minutes = int(limits.failure_window.total_seconds() // 60)
        raise AuthError(f"too many failed logins: try again in {minutes} minutes")
    row = conn.execute("SELECT password_hash, role, active FROM console_staff "
                       "WHERE username = ?", (username,)).fetchone()
    ok = False
    try:
        ok = _hasher.verify(row[0] if row else _DUMMY, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None or not row[2]:
        with _transaction(conn):
            conn.execute("INSERT INTO console_login_failures (username, client, at) "
                         "VALUES (?,?,?)", (username[:64], client, _iso(now)))
            audit.append(conn, _iso(now), f"login:{client}", "login.failed",
                         f"staff:{username[:40]}", None, None)
        raise AuthError("wrong username or password, or the account is disabled")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = _iso(now + limits.session_ttl)
    with _transaction(conn):
        conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?", (_iso(now),))
        conn.execute("INSERT INTO console_sessions VALUES (?, ?, ?, ?, ?)",
                     (_token_hash(token), username, csrf, _iso(now), expires))
        audit.append(conn, _iso(now), f"staff:{username}", "login", f"staff:{username}",
                     None, {"client": client})
    if _hasher.check_needs_rehash(row[0]):
        conn.execute("UPDATE console_staff SET password_hash = ? WHERE username = ?",
                     (_hasher.hash(password), username))
    return token, Session(username, row[1], csrf, expires)


def session(conn: sqlite3.Connection, token: str | None, now: dt.datetime,
            limits: Limits) -> Session | None:
    """The live session of a cookie, its expiry pushed forward (idle timeout); else None."""
    if not token:
        return None
    th = _token_hash(token)
    row = conn.execute(
        "SELECT s.username, f.role, s.csrf, s.expires_at, f.active FROM console_sessions s "
        "JOIN console_staff f ON f.username = s.username WHERE s.token_hash = ?",
        (th,)).fetchone()
    if row is None or not row[4] or row[3] <= _iso(now):
        return None
    expires = _iso(now + limits.session_ttl)
    conn.execute("UPDATE console_sessions SET expires_at = ? WHERE token_hash = ?", (expires, th))
    return Session(row[0], row[1], row[2], expires)


def logout(conn: sqlite3.Connection, token: str, who: str, now: dt.datetime) -> None:
    with _transaction(conn):
        conn.execute("DELETE FROM console_sessions WHERE token_hash = ?", (_token_hash(token),))
        audit.append(conn, _iso(now), f"staff:{who}", "logout", f"staff:{who}")


def same(a: str, b: str) -> bool:
    """Constant-time comparison (CSRF tokens)."""
    return hmac.compare_digest(a.encode(), b.encode())
