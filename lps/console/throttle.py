"""The bounds that keep password guessing slow and the console alive (docs/console.md,
"Accounts, login and sessions"):

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
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lps.console.messages import N_, Refusal


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


class RetryLater(Refusal):
    """Refused for now; `retry_after` seconds is when trying again makes sense."""

    def __init__(self, template: str, retry_after: int, **params: Any) -> None:
        super().__init__(template, **params)
        self.retry_after = max(1, retry_after)


class TooSoon(RetryLater):
    """This (username, address) pair failed too often: its next try must wait (HTTP 429)."""


class Busy(RetryLater):
    """Every password hashing slot and queue place is taken (HTTP 503)."""


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


def hashing(gate: HashingGate | None) -> contextlib.AbstractContextManager[None]:
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
