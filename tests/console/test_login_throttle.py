"""Login under attack: guessing slows down per (user, address), hashing stays bounded.

Against the real console over real HTTP (tests/console/support.py), with its movable clock for
the delays (no sleeping) and real concurrent requests for the argon2id bound.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import threading
import urllib.parse
from dataclasses import dataclass

import pytest

from lps.console import audit, throttle
from lps.console.db import open_console as open_db
from tests.console.support import PASSWORD, Client, Console, Env, add_staff
from tests.waits import EVENT, START

WRONG = "wrong password!"
MINUTE = dt.timedelta(minutes=1)


@dataclass
class Answer:
    status: int
    retry_after: str | None
    body: str


def login_from(console: Console, source: str, username: str, password: str) -> Answer:
    """A login whose TCP connection comes from `source` (another loopback address)."""
    host, port = "127.0.0.1", int(console.url.rsplit(":", 1)[1])

    def exchange(method: str, body: str | None, cookie: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(host, port, timeout=EVENT, source_address=(source, 0))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookie:
            headers["Cookie"] = cookie
        conn.request(method, "/login", body=body, headers=headers)
        return conn.getresponse()

    form = exchange("GET", None, "")
    cookie = (form.getheader("Set-Cookie") or "").split(";", 1)[0]
    token = re.search(r'name="csrf" value="([^"]+)"', form.read().decode())
    assert token
    reply = exchange("POST", urllib.parse.urlencode(
        {"csrf": token.group(1), "username": username, "password": password}), cookie)
    return Answer(reply.status, reply.getheader("Retry-After"), reply.read().decode())


def test_failures_slow_down_their_pair_only(env: Env) -> None:
    add_staff(env, "sue", "support")
    add_staff(env, "ann", "admin")
    limits = throttle.Limits(max_failures=3, first_delay=MINUTE, max_delay=8 * MINUTE,
                         failure_window=dt.timedelta(hours=1))
    with Console(env, limits=limits) as console:
        for _ in range(3):
            assert login_from(console, "127.0.0.1", "sue", WRONG).status == 401
        # The pair (sue, 127.0.0.1) waits, even with the right password...
        refused = login_from(console, "127.0.0.1", "sue", PASSWORD)
        assert (refused.status, refused.retry_after) == (429, "60")
        assert "۶۰ ثانیه دیگر دوباره تلاش کنید" in refused.body  # the login page is Persian
        # ... another user behind the same address signs in, and so does sue from elsewhere.
        assert login_from(console, "127.0.0.1", "ann", PASSWORD).status == 303
        assert login_from(console, "127.0.0.2", "sue", PASSWORD).status == 303
        # Brute force from the first address: each wait doubles, up to the cap.
        waits = []
        for _ in range(5):
            console.clock_now += dt.timedelta(seconds=int(refused.retry_after or 0))
            assert login_from(console, "127.0.0.1", "sue", WRONG).status == 401
            refused = login_from(console, "127.0.0.1", "sue", WRONG)
            assert refused.status == 429
            waits.append(int(refused.retry_after or 0))
        assert waits == [120, 240, 480, 480, 480]
        console.clock_now += 8 * MINUTE
        assert login_from(console, "127.0.0.1", "sue", PASSWORD).status == 303
        # A success forgives the pair's failures: one mistyped password later costs no wait.
        assert login_from(console, "127.0.0.1", "sue", WRONG).status == 401
        assert login_from(console, "127.0.0.1", "sue", PASSWORD).status == 303
    conn = open_db(env.config.switch.database)
    try:
        rows = audit.rows(conn)
        refusals = [r for r in rows if r.action == "login.refused"]
        assert len(refusals) == 6 and all(r.actor == "login:127.0.0.1" for r in refusals)
        assert conn.execute("SELECT COUNT(*) FROM login_failures").fetchone()[0] == 0
    finally:
        conn.close()


def test_the_window_forgets_old_failures(env: Env) -> None:
    add_staff(env, "sue", "support")
    limits = throttle.Limits(max_failures=2, first_delay=MINUTE)
    with Console(env, limits=limits) as console:
        client = Client(console.url)
        for _ in range(2):
            assert client.login("sue", WRONG).status == 401
        assert client.login("sue").status == 429
        console.clock_now += dt.timedelta(minutes=16)  # past the 15-minute window
        assert client.login("sue", WRONG).status == 401  # counted afresh: no wait
        assert client.login("sue").status == 303


def test_password_hashing_is_bounded_and_the_rest_refused_at_once(env: Env) -> None:
    limits = throttle.Limits(max_hashing=1, hashing_queue=1)
    with Console(env, limits=limits) as console:
        gate = console.app.hashing
        clients = [Client(console.url) for _ in range(3)]
        for client in clients:
            client.get("/login")
        answers: dict[int, int] = {}

        def attempt(i: int) -> None:
            answers[i] = clients[i].post("/login", username=f"user{i}", password=WRONG).status

        with gate.slot():  # the one slot is taken: as by a slow hashing in progress
            queued = threading.Thread(target=attempt, args=(0,))
            queued.start()
            deadline = dt.datetime.now() + dt.timedelta(seconds=EVENT)
            while gate.waiting < 1 and dt.datetime.now() < deadline:  # login 0 is queued
                queued.join(0.01)
            assert gate.waiting == 1 and gate.active == 1
            # The queue is full: these are answered at once, while the slot is still held.
            for i in (1, 2):
                reply = clients[i].post("/login", username=f"user{i}", password=WRONG)
                assert reply.status == 503 and reply.headers.get("Retry-After") == "2"
                assert "کنسول سرگرم بررسی گذرواژه" in reply.text()
        queued.join(EVENT)
        assert answers[0] == 401  # the queued login was checked once the slot was free
        assert gate.peak == 1 and gate.active == 0 and gate.waiting == 0


def test_many_concurrent_logins_never_hash_more_than_the_bound(env: Env) -> None:
    add_staff(env, "sue", "support")
    limits = throttle.Limits(max_hashing=2, hashing_queue=2)
    with Console(env, limits=limits) as console:
        clients = [Client(console.url) for _ in range(12)]
        for client in clients:
            client.get("/login")
        start = threading.Barrier(len(clients))
        statuses: list[int] = []

        def attempt(client: Client, i: int) -> None:
            start.wait(EVENT)
            statuses.append(client.post("/login", username=f"user{i}", password=WRONG).status)

        threads = [threading.Thread(target=attempt, args=(c, i)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(START)
        assert len(statuses) == 12 and set(statuses) <= {401, 503}
        assert 1 <= console.app.hashing.peak <= 2
        assert console.app.hashing.active == 0
        # The console is still there for the right password.
        assert Client(console.url).login("sue").status == 303


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
])
def test_an_ipv6_client_is_throttled_by_its_64(address: str, key: str) -> None:
    assert throttle.client_key(address) == key


def test_the_delay_doubles_up_to_the_cap() -> None:
    limits = throttle.Limits(max_failures=5, first_delay=dt.timedelta(seconds=1),
                         max_delay=dt.timedelta(minutes=15))
    delays = [throttle.login_delay(n, limits).total_seconds() for n in range(4, 17)]
    assert delays == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert throttle.login_delay(10_000, limits) == dt.timedelta(minutes=15)
