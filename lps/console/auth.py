"""Staff accounts (argon2id) and signing in: who may use the console, in which role, language
and stores. The login's throttle and the hashing bound are `throttle`'s; the session a login
opens is `sessions`' (docs/console.md, "Accounts, login and sessions").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lps.console import audit
from lps.console.messages import N_, Refusal, mask_card_numbers
from lps.console.roles import ROLES
from lps.console.sessions import (
    Session,
    end_sessions,
    iso,
    open_session,
    stores_of,
    transaction,
)
from lps.console.throttle import (
    Busy,
    HashingGate,
    Limits,
    TooSoon,
    client_key,
    hashing,
    login_delay,
)
from switch.core.text import ZWJ, ZWNJ

USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

#: argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a miss costs as much as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


class AuthError(Refusal):
    """A refused staff operation or login, with a message fit to show."""


LANGUAGES = ("fa", "en")


@dataclass(frozen=True, slots=True)
class Staff:
    username: str
    role: str
    active: bool
    created_at: str
    language: str = "fa"
    last_login: str | None = None
    #: The stores this member is limited to; empty: the whole coalition (docs/console.md,
    #: "Store-scoped staff").
    stores: tuple[str, ...] = ()


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise AuthError(N_("a username is 2-32 characters: lower-case letters, digits, '.', '_' "
                           "or '-', starting with a letter"))
    return username


#: The joiners Persian text needs (switch/core/text.py), which `str.isprintable` refuses: a
#: password typed on a Persian keyboard holds its half-space (ZWNJ) as any other letter.
_JOINERS = str.maketrans("", "", ZWNJ + ZWJ)


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthError(N_("a password has {min} to {max} characters"), min=MIN_PASSWORD,
                        max=MAX_PASSWORD)
    if not password.translate(_JOINERS).isprintable():
        raise AuthError(N_("a password has printable characters only"))
    return password


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise AuthError(N_("language must be fa or en; got {typed}"), typed=language[:8])
    return language


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AuthError(N_("role must be one of {roles}; got {typed}"), roles=", ".join(ROLES),
                        typed=role[:20])
    return role


_STAFF = "SELECT username, role, active, created_at, language, last_login FROM staff"


def _staff(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Staff:
    return Staff(row[0], row[1], bool(row[2]), row[3], row[4], row[5], stores_of(conn, row[0]))


def get_staff(conn: sqlite3.Connection, username: str) -> Staff | None:
    """The account named `username`, or None. A name from a command line need not be text
    (a byte that is not UTF-8 reads as a lone surrogate), and no account has such a name.
    Any other is looked up as given: an account named before `check_username` held, if any,
    can still be disabled."""
    try:
        username.encode("utf-8")
    except UnicodeEncodeError:
        return None
    row = conn.execute(f"{_STAFF} WHERE username = ?", (username,)).fetchone()
    return _staff(conn, row) if row else None


def list_staff(conn: sqlite3.Connection) -> list[Staff]:
    return [_staff(conn, r) for r in conn.execute(f"{_STAFF} ORDER BY username").fetchall()]


def check_stores(stores: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """The stores a member is limited to, each one of the configuration's."""
    names = set(known)
    out = tuple(sorted({s.strip() for s in stores if s.strip()}))
    unknown = [s for s in out if s not in names]
    if unknown:
        raise AuthError(N_("unknown store {store}"), store=unknown[0][:20])
    return out


def add_staff(conn: sqlite3.Connection, actor: str, username: str, role: str, password: str,
              now: dt.datetime, gate: HashingGate | None = None, stores: Sequence[str] = (),
              language: str = "fa") -> Staff:
    """Create an account; validated before anything is written, audited in the same commit.

    `stores` limits it to those stores (checked against the configuration by the caller)."""
    check_username(username)
    check_role(role)
    check_password(password)
    check_language(language)
    with hashing(gate):
        digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is not None:
            raise AuthError(N_("staff {user} exists already"), user=username)
        conn.execute("INSERT INTO staff (username, role, password_hash, active, created_at, "
                     "language) VALUES (?, ?, ?, 1, ?, ?)",
                     (username, role, digest, iso(now), language))
        conn.executemany("INSERT INTO staff_stores VALUES (?, ?)",
                         [(username, s) for s in stores])
        after: dict[str, Any] = {"role": role, "active": True}
        if stores:
            after["stores"] = list(stores)
        audit.append(conn, iso(now), actor, "staff.add", f"staff:{username}", None, after)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Staff(username, role, True, iso(now), language, None, tuple(stores))


def disable_staff(conn: sqlite3.Connection, actor: str, username: str,
                  now: dt.datetime) -> None:
    """Disable an account and end its sessions (it keeps its audit history)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        staff = get_staff(conn, username)
        if staff is None:
            raise AuthError(N_("no staff member {user}"), user=username[:40])
        if not staff.active:
            raise AuthError(N_("staff {user} is already disabled"), user=username)
        if actor == f"staff:{username}":
            raise AuthError(N_("you cannot disable your own account"))
        conn.execute("UPDATE staff SET active = 0 WHERE username = ?", (username,))
        end_sessions(conn, username)
        audit.append(conn, iso(now), actor, "staff.disable", f"staff:{username}",
                     {"active": True}, {"active": False})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def reset_password(conn: sqlite3.Connection, actor: str, username: str, password: str,
                   now: dt.datetime, gate: HashingGate | None = None) -> None:
    """Set a new password and end the account's sessions."""
    check_password(password)
    with hashing(gate):
        digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is None:
            raise AuthError(N_("no staff member {user}"), user=username[:40])
        conn.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                     (digest, username))
        end_sessions(conn, username)
        # The hashes are not audit material: record that it changed, not what to.
        audit.append(conn, iso(now), actor, "staff.reset-password", f"staff:{username}",
                     None, {"password": "changed", "sessions": "ended"})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def login(conn: sqlite3.Connection, username: str, password: str, client: str,
          now: dt.datetime, limits: Limits,
          gate: HashingGate | None = None) -> tuple[str, Session]:
    """Check the pair's throttle, then the password; returns (cookie token, session) or raises
    `AuthError` (`TooSoon`: the pair must wait; `Busy`: no hashing slot).

    While a pair waits its password is not even checked, so guessing gains nothing. Every
    outcome but `Busy` is audited (a failure names the username tried, never the password).
    """
    address = client_key(client)
    since = iso(now - limits.failure_window)
    # The name tried as the throttle counts it and the audit log records it: a card number
    # typed into the username box is kept masked (docs/console.md, "Hostile input").
    tried = mask_card_numbers(username)
    failures, last = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM login_failures "
        "WHERE username = ? AND client = ? AND at > ?", (tried[:64], address, since)
    ).fetchone()
    if last is not None:
        ready = dt.datetime.fromisoformat(last) + login_delay(failures, limits)
        if ready > now:
            audit.append(conn, iso(now), f"login:{address}", "login.refused",
                         f"staff:{tried[:40]}", None, {"reason": "delay"})
            wait = int((ready - now).total_seconds() + 0.999)
            raise TooSoon(N_("too many failed logins for this username from your address: try "
                             "again in {seconds} seconds"), wait, seconds=wait)
    row = conn.execute("SELECT password_hash, role, active FROM staff "
                       "WHERE username = ?", (username,)).fetchone()
    ok = False
    with hashing(gate):
        try:
            ok = _hasher.verify(row[0] if row else _DUMMY, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok or row is None or not row[2]:
        with transaction(conn):
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
            conn.execute("INSERT INTO login_failures (username, client, at) "
                         "VALUES (?,?,?)", (tried[:64], address, iso(now)))
            audit.append(conn, iso(now), f"login:{address}", "login.failed",
                         f"staff:{tried[:40]}", None, None)
        raise AuthError(N_("wrong username or password, or the account is disabled"))
    language = conn.execute("SELECT language FROM staff WHERE username = ?",
                            (username,)).fetchone()[0]
    with transaction(conn):
        conn.execute("DELETE FROM login_failures WHERE username = ? AND client = ?",
                     (tried[:64], address))
        token, opened = open_session(conn, username, row[1], language, now, limits)
        conn.execute("UPDATE staff SET last_login = ? WHERE username = ?", (iso(now), username))
        audit.append(conn, iso(now), f"staff:{username}", "login", f"staff:{username}",
                     None, {"client": client})
    if _hasher.check_needs_rehash(row[0]):
        with contextlib.suppress(Busy), hashing(gate):  # done at a later login otherwise
            conn.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                         (_hasher.hash(password), username))
    return token, opened


def set_language(conn: sqlite3.Connection, username: str, language: str) -> None:
    """Remember the member's language (not audited: it changes only what they read)."""
    check_language(language)
    conn.execute("UPDATE staff SET language = ? WHERE username = ?", (language, username))


