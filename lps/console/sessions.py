"""Sessions: a random token in the member's cookie (the database keeps only its SHA-256, so a
copy of it hands out no session), an idle expiry pushed forward on each request, a CSRF token
each, and the handles of the cards looked up in it (docs/console.md, "Accounts, login and
sessions").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from lps.console import audit
from lps.console.throttle import Limits


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    role: str
    csrf: str
    expires_at: str
    language: str = "fa"
    stores: tuple[str, ...] = ()
    token_hash: str = ""


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the write lock is never left)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def stores_of(conn: sqlite3.Connection, username: str) -> tuple[str, ...]:
    return tuple(r[0] for r in conn.execute(
        "SELECT store_id FROM staff_stores WHERE username = ? ORDER BY store_id", (username,)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: sqlite3.Connection, username: str, role: str, language: str,
                 now: dt.datetime, limits: Limits) -> tuple[str, Session]:
    """A new session (in the caller's transaction): the cookie's token and the session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = iso(now + limits.session_ttl)
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),))
    conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                 (token_hash(token), username, csrf, iso(now), expires))
    return token, Session(username, role, csrf, expires, language, stores_of(conn, username),
                          token_hash(token))


def session(conn: sqlite3.Connection, token: str | None, now: dt.datetime,
            limits: Limits) -> Session | None:
    """The live session of a cookie, its expiry pushed forward (idle timeout); else None."""
    if not token:
        return None
    th = token_hash(token)
    row = conn.execute(
        "SELECT s.username, f.role, s.csrf, s.expires_at, f.active, f.language FROM sessions s "
        "JOIN staff f ON f.username = s.username WHERE s.token_hash = ?",
        (th,)).fetchone()
    if row is None or not row[4] or row[3] <= iso(now):
        return None
    expires = iso(now + limits.session_ttl)
    conn.execute("UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (expires, th))
    return Session(row[0], row[1], row[2], expires, row[5], stores_of(conn, row[0]), th)


def end_sessions(conn: sqlite3.Connection, username: str) -> None:
    conn.execute("DELETE FROM card_handles WHERE session_hash IN "
                 "(SELECT token_hash FROM sessions WHERE username = ?)", (username,))
    conn.execute("DELETE FROM sessions WHERE username = ?", (username,))


def remember_card(conn: sqlite3.Connection, session: Session, ref: str, pan: str,
                  now: dt.datetime) -> None:
    """An opaque handle of a looked-up card for this session, so pages never carry its number;
    kept in the database so every worker process knows it (ended with the session)."""
    with transaction(conn):
        conn.execute("DELETE FROM card_handles WHERE session_hash NOT IN "
                     "(SELECT token_hash FROM sessions)")
        conn.execute("INSERT INTO card_handles VALUES (?, ?, ?, ?)",
                     (session.token_hash, ref, pan, iso(now)))


def card_of(conn: sqlite3.Connection, session: Session, ref: str) -> str | None:
    row = conn.execute("SELECT pan FROM card_handles WHERE session_hash = ? AND ref = ?",
                       (session.token_hash, ref)).fetchone()
    return str(row[0]) if row else None


def logout(conn: sqlite3.Connection, token: str, who: str, now: dt.datetime) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM card_handles WHERE session_hash = ?", (token_hash(token),))
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))
        audit.append(conn, iso(now), f"staff:{who}", "logout", f"staff:{who}")


def same(a: str, b: str) -> bool:
    """Constant-time comparison (CSRF tokens)."""
    return hmac.compare_digest(a.encode(), b.encode())
