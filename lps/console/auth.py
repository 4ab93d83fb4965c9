"""Staff accounts (argon2id), throttled login, expiring sessions with a CSRF token each.

Tokens are random (`secrets`); the database keeps only their SHA-256, so a copy of it does not
hand out sessions. Failed logins are stored, so the throttle survives a restart of the console.

Two bounds keep password guessing slow and the console alive (docs/console.md, "Accounts,
login and sessions"):
- each (username, address) pair may fail `max_failures` times in the window; after that each
  attempt waits a delay that doubles with every further failure, up to `max_delay`. The pair is
  what waits: another user behind the same address (a shop's NAT) signs in as usual, and the
  user from another address too;
- an argon2id hashing takes 64 MiB, so at most `max_hashing` run at once (`HashingGate`) and
  `hashing_queue` more wait; beyond that a request is refused at once (HTTP 503).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lps.console import audit
from lps.console.messages import N_, Refusal
from lps.console.roles import ROLES

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256

#: argon2id with the library's defaults (RFC 9106 low-memory profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a miss costs as much as a wrong password.
_DUMMY = _hasher.hash(secrets.token_hex(16))


class AuthError(Refusal):
    """A refused staff operation or login, with a message fit to show."""


class RetryLater(AuthError):
    """Refused for now; `retry_after` seconds is when trying again makes sense."""

    def __init__(self, template: str, retry_after: int, **params: Any) -> None:
        super().__init__(template, **params)
        self.retry_after = max(1, retry_after)


class TooSoon(RetryLater):
    """This (username, address) pair failed too often: its next try must wait (HTTP 429)."""


class Busy(RetryLater):
    """Every password hashing slot and queue place is taken (HTTP 503)."""


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


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    role: str
    csrf: str
    expires_at: str
    language: str = "fa"
    stores: tuple[str, ...] = ()
    token_hash: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """Login throttle, password hashing bounds and session lifetime (`lps console` options)."""

    #: Failures of one (username, address) pair in `failure_window` before it must wait.
    max_failures: int = 5
    failure_window: dt.timedelta = dt.timedelta(minutes=15)
    #: The wait after the `max_failures`-th failure; it doubles with each further one.
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=15)
    session_ttl: dt.timedelta = dt.timedelta(minutes=30)
    #: argon2id hashings at once (64 MiB each), requests waiting for one, and how long.
    max_hashing: int = 2
    hashing_queue: int = 4
    hashing_wait: dt.timedelta = dt.timedelta(seconds=10)


class HashingGate:
    """At most `running` password hashings at once, `waiting` more queued, the rest refused.

    Sized by `Limits`; one per console. `active` and `peak` count hashings in progress, so a
    running console shows how close it came to the bound.
    """

    def __init__(self, running: int, waiting: int, wait: dt.timedelta) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("a hashing gate needs at least one slot and no negative queue")
        self._slots = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._admitted = 0  # hashing or waiting for a slot
        self._capacity = running + waiting
        self._wait = wait.total_seconds()
        self.active = 0
        self.peak = 0

    @property
    def waiting(self) -> int:
        """Requests admitted but not yet hashing."""
        with self._lock:
            return self._admitted - self.active

    @classmethod
    def from_limits(cls, limits: Limits) -> HashingGate:
        return cls(limits.max_hashing, limits.hashing_queue, limits.hashing_wait)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one hashing slot; `Busy` at once when the queue is full, or after the wait."""
        busy = N_("the console is busy checking other passwords: try again in a moment")
        with self._lock:
            if self._admitted >= self._capacity:
                raise Busy(busy, 2)
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self._wait):
                raise Busy(busy, 2)
            try:
                with self._lock:
                    self.active += 1
                    self.peak = max(self.peak, self.active)
                yield
            finally:
                with self._lock:
                    self.active -= 1
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1


def _hashing(gate: HashingGate | None) -> contextlib.AbstractContextManager[None]:
    return gate.slot() if gate is not None else contextlib.nullcontext()


def client_key(address: str) -> str:
    """The address a login is throttled by: an IPv6 client by its /64 (one host's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def login_delay(failures: int, limits: Limits) -> dt.timedelta:
    """How long a pair with `failures` recent failures waits after the last one."""
    extra = failures - limits.max_failures
    if extra < 0:
        return dt.timedelta(0)
    seconds = limits.first_delay.total_seconds() * 2.0 ** min(extra, 60)
    return dt.timedelta(seconds=min(limits.max_delay.total_seconds(), seconds))


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
        raise AuthError(N_("a username is 2-32 characters: lower-case letters, digits, '.', '_' "
                           "or '-', starting with a letter"))
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthError(N_("a password has {min} to {max} characters"), min=MIN_PASSWORD,
                        max=MAX_PASSWORD)
    if not password.isprintable():
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


def _stores(conn: sqlite3.Connection, username: str) -> tuple[str, ...]:
    return tuple(r[0] for r in conn.execute(
        "SELECT store_id FROM staff_stores WHERE username = ? ORDER BY store_id", (username,)))


def _staff(conn: sqlite3.Connection, row: tuple[Any, ...]) -> Staff:
    return Staff(row[0], row[1], bool(row[2]), row[3], row[4], row[5], _stores(conn, row[0]))


def get_staff(conn: sqlite3.Connection, username: str) -> Staff | None:
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
    with _hashing(gate):
        digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is not None:
            raise AuthError(N_("staff {user} exists already"), user=username)
        conn.execute("INSERT INTO staff (username, role, password_hash, active, created_at, "
                     "language) VALUES (?, ?, ?, 1, ?, ?)",
                     (username, role, digest, _iso(now), language))
        conn.executemany("INSERT INTO staff_stores VALUES (?, ?)",
                         [(username, s) for s in stores])
        after: dict[str, Any] = {"role": role, "active": True}
        if stores:
            after["stores"] = list(stores)
        audit.append(conn, _iso(now), actor, "staff.add", f"staff:{username}", None, after)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Staff(username, role, True, _iso(now), language, None, tuple(stores))


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
        _end_sessions(conn, username)
        audit.append(conn, _iso(now), actor, "staff.disable", f"staff:{username}",
                     {"active": True}, {"active": False})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def reset_password(conn: sqlite3.Connection, actor: str, username: str, password: str,
                   now: dt.datetime, gate: HashingGate | None = None) -> None:
    """Set a new password and end the account's sessions."""
    check_password(password)
    with _hashing(gate):
        digest = _hasher.hash(password)
    conn.execute("BEGIN IMMEDIATE")
    try:
        if get_staff(conn, username) is None:
            raise AuthError(N_("no staff member {user}"), user=username[:40])
        conn.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                     (digest, username))
        _end_sessions(conn, username)
        # The hashes are not audit material: record that it changed, not what to.
        audit.append(conn, _iso(now), actor, "staff.reset-password", f"staff:{username}",
                     None, {"password": "changed", "sessions": "ended"})
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _end_sessions(conn: sqlite3.Connection, username: str) -> None:
    conn.execute("DELETE FROM card_handles WHERE session_hash IN "
                 "(SELECT token_hash FROM sessions WHERE username = ?)", (username,))
    conn.execute("DELETE FROM sessions WHERE username = ?", (username,))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(conn: sqlite3.Connection, username: str, password: str, client: str,
          now: dt.datetime, limits: Limits,
          gate: HashingGate | None = None) -> tuple[str, Session]:
    """Check the pair's throttle, then the password; returns (cookie token, session) or raises
    `AuthError` (`TooSoon`: the pair must wait; `Busy`: no hashing slot).

    While a pair waits its password is not even checked, so guessing gains nothing. Every
    outcome but `Busy` is audited (a failure names the username tried, never the password).
    """
    address = client_key(client)
    since = _iso(now - limits.failure_window)
    failures, last = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM login_failures "
        "WHERE username = ? AND client = ? AND at > ?", (username[:64], address, since)
    ).fetchone()
    if last is not None:
        ready = dt.datetime.fromisoformat(last) + login_delay(failures, limits)
        if ready > now:
            audit.append(conn, _iso(now), f"login:{address}", "login.refused",
                         f"staff:{username[:40]}", None, {"reason": "delay"})
            wait = int((ready - now).total_seconds() + 0.999)
            raise TooSoon(N_("too many failed logins for this username from your address: try "
                             "again in {seconds} seconds"), wait, seconds=wait)
    row = conn.execute("SELECT password_hash, role, active FROM staff "
                       "WHERE username = ?", (username,)).fetchone()
    ok = False
    with _hashing(gate):
        try:
            ok = _hasher.verify(row[0] if row else _DUMMY, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok or row is None or not row[2]:
        with _transaction(conn):
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
            conn.execute("INSERT INTO login_failures (username, client, at) "
                         "VALUES (?,?,?)", (username[:64], address, _iso(now)))
            audit.append(conn, _iso(now), f"login:{address}", "login.failed",
                         f"staff:{username[:40]}", None, None)
        raise AuthError(N_("wrong username or password, or the account is disabled"))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = _iso(now + limits.session_ttl)
    with _transaction(conn):
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (_iso(now),))
        conn.execute("DELETE FROM login_failures WHERE username = ? AND client = ?",
                     (username[:64], address))
        conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                     (_token_hash(token), username, csrf, _iso(now), expires))
        conn.execute("UPDATE staff SET last_login = ? WHERE username = ?", (_iso(now), username))
        audit.append(conn, _iso(now), f"staff:{username}", "login", f"staff:{username}",
                     None, {"client": client})
    if _hasher.check_needs_rehash(row[0]):
        with contextlib.suppress(Busy), _hashing(gate):  # done at a later login otherwise
            conn.execute("UPDATE staff SET password_hash = ? WHERE username = ?",
                         (_hasher.hash(password), username))
    staff = get_staff(conn, username)
    assert staff is not None
    return token, Session(username, row[1], csrf, expires, staff.language, staff.stores,
                          _token_hash(token))


def session(conn: sqlite3.Connection, token: str | None, now: dt.datetime,
            limits: Limits) -> Session | None:
    """The live session of a cookie, its expiry pushed forward (idle timeout); else None."""
    if not token:
        return None
    th = _token_hash(token)
    row = conn.execute(
        "SELECT s.username, f.role, s.csrf, s.expires_at, f.active FROM sessions s "
        "JOIN staff f ON f.username = s.username WHERE s.token_hash = ?",
        (th,)).fetchone()
    if row is None or not row[4] or row[3] <= _iso(now):
        return None
    expires = _iso(now + limits.session_ttl)
    conn.execute("UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (expires, th))
    lang = conn.execute("SELECT language FROM staff WHERE username = ?", (row[0],)).fetchone()
    return Session(row[0], row[1], row[2], expires, lang[0], _stores(conn, row[0]), th)


def set_language(conn: sqlite3.Connection, username: str, language: str) -> None:
    """Remember the member's language (not audited: it changes only what they read)."""
    check_language(language)
    conn.execute("UPDATE staff SET language = ? WHERE username = ?", (language, username))


def remember_card(conn: sqlite3.Connection, session: Session, ref: str, pan: str,
                  now: dt.datetime) -> None:
    """An opaque handle of a looked-up card for this session, so pages never carry its number;
    kept in the database so every worker process knows it (ended with the session)."""
    with _transaction(conn):
        conn.execute("DELETE FROM card_handles WHERE session_hash NOT IN "
                     "(SELECT token_hash FROM sessions)")
        conn.execute("INSERT INTO card_handles VALUES (?, ?, ?, ?)",
                     (session.token_hash, ref, pan, _iso(now)))


def card_of(conn: sqlite3.Connection, session: Session, ref: str) -> str | None:
    row = conn.execute("SELECT pan FROM card_handles WHERE session_hash = ? AND ref = ?",
                       (session.token_hash, ref)).fetchone()
    return str(row[0]) if row else None


def logout(conn: sqlite3.Connection, token: str, who: str, now: dt.datetime) -> None:
    with _transaction(conn):
        conn.execute("DELETE FROM card_handles WHERE session_hash = ?", (_token_hash(token),))
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
        audit.append(conn, _iso(now), f"staff:{who}", "logout", f"staff:{who}")


def same(a: str, b: str) -> bool:
    """Constant-time comparison (CSRF tokens)."""
    return hmac.compare_digest(a.encode(), b.encode())
