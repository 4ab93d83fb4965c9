"""A console on a real database: seeded through the switch's own core and store, served over
real HTTP on a free port, with a small cookie-keeping client."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import uvicorn

from lps.console import auth
from lps.console.asgi import asgi
from lps.console.db import open_console
from lps.console.web import Console as App
from lps.console.web import Settings
from switch.config import Config, load_config
from switch.core.authorizer import handle
from switch.core.calendar import business_day
from switch.core.programs.rules import program_rules
from switch.journal import open_journal
from tests.engines import toml_settings
from tests.ports import free_port
from tests.switch.support import EXAMPLE, T1, T2, burn, card, earn, sign_on
from tests.waits import EVENT, START

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclasses.dataclass
class Env:
    root: Path
    config_path: Path
    config: Config
    now: dt.datetime
    yesterday: dt.date
    cards: list[str]

    @property
    def journal(self) -> str | Path:
        """The money journal: the SQLite file or the PostgreSQL URL (tests/engines.py)."""
        return self.config.switch.journal


def make_env(root: Path, n_cards: int = 8, journal: dict[str, Any] | None = None) -> Env:
    """Config + database: cards that earned yesterday (a day to settle) and today, in the
    journal `journal` names (tests/engines.py `journal_settings`; default: SQLite in `root`)."""
    db = root / "lps.db"
    # The line's comment stays: the campaign tests check the file keeps its comments.
    text = re.sub(r'(?m)^database = "var/lps.db"',
                  toml_settings(journal or {"database": db}).rstrip("\n"), EXAMPLE.read_text(),
                  count=1)
    # Ports of its own, in case a test starts the switch on this configuration.
    text = text.replace('"127.0.0.1:8583"', f'"127.0.0.1:{free_port()}"')
    text = text.replace('listen_bcd = "127.0.0.1:8584"', 'listen_bcd = ""')
    text = text.replace('metrics = "127.0.0.1:9583"', 'metrics = ""')
    cfg_path = root / "lps.toml"
    cfg_path.write_text(text)
    config = load_config(cfg_path)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    then = now - dt.timedelta(days=1)
    pans = [card(100 + i) for i in range(n_cards)]
    store = open_journal(config.switch.journal)
    try:
        state = store.load(config, program_rules(config), then)
        stan = 1
        msgs: list[tuple[Any, dt.datetime]] = [(sign_on(T1, now=then), then),
                                               (sign_on(T2, now=then), then)]
        for pan in pans:
            msgs.append((earn(T1, stan, pan, 5_000_000, now=then), then))
            msgs.append((earn(T2, stan + 1, pan, 3_000_000, now=then), then))
            msgs.append((burn(T2, stan + 2, pan, 500_000, now=then), then))
            msgs.append((earn(T1, stan + 3, pan, 1_000_000, now=now), now))
            stan += 4
        for msg, at in msgs:
            decision = handle(state, msg, at)
            assert decision.response is not None
            assert decision.response.text(39) == "00", (msg, decision.response)
            store.append(decision.entries)
    finally:
        store.close()
    open_console(config.switch.database).close()
    sw = config.switch
    return Env(root, cfg_path, config, now, business_day(then, sw.zone, sw.business_day_cutover),
               pans)


SMALLEST = """
[switch]
listen_ascii = "127.0.0.1:0"
database = "x.db"
[coalition.c]
name = "C"
point_value = 1
{coalition}
[store.S1]
name = "S"
coalition = "c"
earn = {{ points_per = 1, points = 1 }}
{store}
"""


def smallest_config(coalition: str = "", store: str = "") -> dict[str, Any]:
    """The smallest configuration the switch's loader takes (coalition `c`, store `S1`) as
    parsed TOML, with extra lines in the coalition's and the store's tables."""
    return tomllib.loads(SMALLEST.format(coalition=coalition, store=store))


def cdb(env: Env) -> Any:
    """A connection to the console's own database of this environment."""
    return open_console(env.config.switch.database)


def add_staff(env: Env, username: str, role: str, *, language: str = "en",
              stores: tuple[str, ...] = ()) -> None:
    """A staff member; English unless asked (most tests read the English messages; the
    Persian pages have tests of their own)."""
    conn = cdb(env)
    try:
        auth.add_staff(conn, "test", username, role, PASSWORD, env.now, stores=stores,
                       language=language)
    finally:
        conn.close()


class Console:
    """The console's ASGI app served by uvicorn on 127.0.0.1:<free port> in a thread, on a
    socket bound here; `with` waits until it answers and stops it after."""

    def __init__(self, env: Env, **settings: Any) -> None:
        self.clock_now = env.now
        settings.setdefault("settlement_out", env.root / "settled")
        self.app = App(env.config, str(env.config_path),
                       Settings(clock=lambda: self.clock_now, **settings))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(asgi(self.app), log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Console:
        self.thread.start()
        deadline = time.monotonic() + START  # a readiness wait, not a measured duration
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(EVENT)
        self.sock.close()
        self.app.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


@dataclasses.dataclass
class Reply:
    status: int
    body: str
    headers: Any  # http.client.HTTPMessage: names case-insensitive, as in HTTP

    @property
    def location(self) -> str:
        return str(self.headers.get("Location", ""))

    def text(self) -> str:
        """The visible text, roughly: inline tags dropped, the others a space, entities
        decoded."""
        inline = re.sub(r"</?(?:bdi|span|code|a|strong|del|ins)\b[^>]*>", "", self.body)
        return html.unescape(re.sub(r"<[^>]+>", " ", inline))


class Client:
    """A browser-like client: keeps cookies, does not follow redirects, finds the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.csrf = ""

    def _do(self, req: urllib.request.Request) -> Reply:
        try:
            with self.opener.open(req, timeout=EVENT) as r:
                reply = Reply(r.status, r.read().decode(), r.headers)
        except urllib.error.HTTPError as e:
            reply = Reply(e.code, e.read().decode(), e.headers)
        m = CSRF.search(reply.body)
        if m:
            self.csrf = m.group(1)
        return reply

    def get(self, path: str, **query: str) -> Reply:
        q = ("?" + urllib.parse.urlencode(query)) if query else ""
        return self._do(urllib.request.Request(self.base + path + q))

    def post(self, path: str, **form: str) -> Reply:
        """`form` with the session's CSRF token, unless it gives a `csrf` of its own."""
        data = dict(form)
        data.setdefault("csrf", self.csrf)
        return self.post_as_given(path, **data)

    def post_as_given(self, path: str, **form: str) -> Reply:
        """`form` as it is: no CSRF token but one it gives."""
        body = urllib.parse.urlencode(form).encode()
        return self._do(urllib.request.Request(self.base + path, data=body, method="POST"))

    def login(self, username: str, password: str = PASSWORD) -> Reply:
        self.get("/login")
        reply = self.post("/login", username=username, password=password)
        if reply.status == 303:
            self.get("/")  # picks up the session's CSRF token
        return reply

    def card_ref(self, pan: str) -> str:
        reply = self.post("/cards", pan=pan)
        assert reply.status == 200, reply.text()
        m = re.search(r'name="card" value="([^"]+)"', reply.body)
        return m.group(1) if m else ""  # a role without card actions gets no forms


def iter_roles() -> Iterator[str]:
    from lps.console.roles import ROLES

    yield from ROLES


def switch_log(env: Env) -> Path:
    """Where `start_switch` writes the switch's stderr (appended, run after run)."""
    return env.root / "switch.stderr"


def start_switch(env: Env) -> subprocess.Popen[bytes]:
    """`lps serve` on this environment, once its admin socket takes connections (the socket's
    file appears at bind, a moment before it listens)."""
    from switch import unix_socket
    from switch.server import admin_socket_path

    # Its log to a file, read when wanted: a pipe nobody reads while the switch runs would
    # fill (64 KiB) and block the switch mid-test.
    with open(switch_log(env), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lps.cli", "serve", "--config",
                                 str(env.config_path), "--log-level", "WARNING"],
                                stdout=subprocess.DEVNULL, stderr=log)
    path = admin_socket_path(env.config.switch.database)
    deadline = time.monotonic() + START  # readiness wait, not a measured duration
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                unix_socket.connect(probe, path)
                return proc
            except OSError:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            said = switch_log(env).read_text("utf-8", "replace")
            raise AssertionError(f"switch did not start: {said}")
        time.sleep(0.05)


@contextlib.contextmanager
def running_switch(env: Env) -> Iterator[subprocess.Popen[bytes]]:
    """The real `lps serve` on this environment (card changes go through its admin socket),
    stopped after."""
    proc = start_switch(env)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(EVENT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def snapshot(env: Env) -> tuple[object, ...]:
    """Every row of the switch's and the console's databases and the configuration file."""
    from lps.console.db import console_path

    out: list[object] = [env.config_path.read_bytes()]
    out.extend(journal_rows(env, q) for q in (
        "SELECT * FROM journal ORDER BY id", "SELECT * FROM lots ORDER BY id",
        "SELECT * FROM cards ORDER BY pan"))
    conn = sqlite3.connect(console_path(env.config.switch.database))
    try:
        out.extend(conn.execute(q).fetchall() for q in (
            "SELECT username, role, active, password_hash FROM staff ORDER BY username",
            "SELECT * FROM adjustments ORDER BY id", "SELECT * FROM audit_log ORDER BY id",
            "SELECT COUNT(*) FROM login_failures"))
    finally:
        conn.close()
    return tuple(out)


def journal_rows(env: Env, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query (`?` placeholders) on the environment's money journal, on either
    engine, read by the test itself (not through the code under test); values as SQLite
    gives them (switch/journal/postgres/connect.py)."""
    journal = env.journal
    if isinstance(journal, Path):
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        try:
            return [tuple(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()
    from switch.journal.postgres.connect import open_db

    db = open_db(journal, readonly=True)
    try:
        return [tuple(r) for r in db.execute(sql, params)]
    finally:
        db.close()
