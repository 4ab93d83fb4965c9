"""The hostile-input sweep's harness (tests/console/test_hostile_inputs.py and
test_hostile_regressions.py): the values, the routes with what each field takes by design, one
real console and one real `lps serve` per module (`site`), and what every answer is checked for.

Every answer is below 500 with the connection kept and no traceback; a refusal is 4xx with a
message in the member's language (Persian here) and changes nothing (every table of the
databases, the configuration file, the settlement folder); no answer, log record or audit row
holds a card number in clear; typed markup is never echoed unescaped (docs/console.md, "Hostile
input"). Values a field takes by design (Persian digits in a number, a ZWNJ in a name) are not
sent as hostile: the tests check that they are accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import logging
import re
import socket
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from lps.console import cards
from lps.console.db import open_console as open_db
from switch.core.luhn import luhn_complete
from switch.core.text import to_ascii_digits
from tests.console.support import (
    Client,
    Console,
    Env,
    add_staff,
    make_env,
    running_switch,
    switch_log,
)
from tests.waits import EVENT

S1, S2 = "STORE0000000001", "STORE0000000002"
#: A card number typed where it does not belong: it must never come back in clear.
STRAY_PAN = luhn_complete("628000777777777")
Q = urllib.parse.quote_plus

#: label -> the value as sent on the wire (already percent-encoded); None: the field left out.
HOSTILE: dict[str, str | None] = {
    "empty": "",
    "missing": None,
    "long": Q("x" * 10_000),
    "long_digits": "9" * 10_000,
    "nul": Q("a\x00b"),
    "control": Q("\x1b[31m\x07"),
    "not_utf8": "%FF",
    "surrogate": "%ED%A0%80",
    "newline": Q("ann\n"),
    "persian_digits": Q("۱۲۳"),
    "arabic_digits": Q("١٢٣"),
    "zwnj": Q("علی\u200cرضا"),
    "rlo": Q("\u202eabc"),
    "script": Q("<script>alert(1)</script>"),
    "img": Q('"><img src=x onerror=alert(1)>'),
    "sql": Q("' OR '1'='1'; --"),
    "exp": "1e9",
    "minus_zero": "-0",
    "plus": Q("+5"),
    "hex": "0x10",
    "arabic_exp": Q("١e3"),
    "huge": "1" + "0" * 30,
    "nan": "NaN",
    "feb30": "2026-02-30",
    "esfand30": Q("1405/12/30"),
    "year9999": "9999-12-32",
    "jalali": Q("1405/09/02"),
    "gregorian": "2026-11-23",
    "pan": STRAY_PAN,
}
#: The field sent twice with its valid value (a form joins them with a comma; a query string
#: keeps the last).
TWICE = "twice"
LABELS = (*HOSTILE, TWICE)
#: Values a number field reads by design (docs/console.md "Typed values").
DIGITS = frozenset({"persian_digits", "arabic_digits"})
#: What a free-text field (a reason, a name) takes: one line of printable text.
TEXT = frozenset({"persian_digits", "arabic_digits", "zwnj", "script", "img", "sql", "exp",
                  "minus_zero", "plus", "hex", "arabic_exp", "huge", "nan", "feb30",
                  "esfand30", "year9999", "jalali", "gregorian", TWICE})
DATES = frozenset({"jalali", "gregorian"})
OPTIONAL = frozenset({"empty", "missing"})
NONE: frozenset[str] = frozenset()
#: Passwords of 10-256 printable characters (docs/console.md "Accounts").
PASSWORDS = frozenset({"script", "img", "sql", "huge", "feb30", "esfand30", "year9999", "jalali",
                       "gregorian", "pan", TWICE})

Form = dict[str, str]


@dataclasses.dataclass
class Site:
    env: Env
    console: Console
    clients: dict[str, Client]
    ids: dict[str, str]
    records: list[logging.LogRecord]
    counter: list[int]
    #: Read-only connections kept open on the switch's database and settlement's register.
    watched: dict[str, sqlite3.Connection]

    def fresh(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def version(self) -> str:
        return hashlib.sha256(self.env.config_path.read_bytes()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Route:
    """One endpoint as the sweep calls it: who, a valid request, and what each field takes."""

    user: str
    method: str
    path: str
    #: A valid request (computed per case: a fresh mobile, the file's digest now).
    base: Callable[[Site], Form]
    #: field -> labels of HOSTILE it takes by design (those are not sent).
    fields: dict[str, frozenset[str]]
    #: Fields whose bad value is ignored (a notice not shown, the default page): the answer
    #: may be 2xx/3xx, but nothing may change.
    lenient: frozenset[str] = NONE


def campaign(site: Site, **extra: str) -> Form:
    return {"version": site.version(), "owner": "coalition:tehran-mall", "name": "Winter",
            "from": "2027-01-01", "to": "2027-01-31", "multiplier": "1.5", "bonus": "",
            "weekdays": "", "hour_from": "", "hour_to": "", "expire_after_days": "", **extra}


def _new_pan(site: Site) -> str:
    return luhn_complete(f"628000{500_000_000 + site.fresh():09d}")


CAMPAIGN = {"version": NONE, "owner": NONE, "name": TEXT, "from": DATES, "to": DATES,
            # A sign is read (-0 is 0, +5 is 5): the range is the switch's loader's.
            "multiplier": OPTIONAL | DIGITS | {"minus_zero", "plus"},
            "bonus": OPTIONAL | DIGITS | {"minus_zero"}, "weekdays": OPTIONAL,
            "hour_from": OPTIONAL, "expire_after_days": OPTIONAL | DIGITS}

ROUTES = [
    Route("ann", "GET", "/login", lambda s: {"lang": "fa"}, {}, frozenset({"lang"})),
    Route("ann", "GET", "/static/{name}", lambda s: {"name": "console.css"}, {"name": NONE}),
    Route("ann", "POST", "/logout", lambda s: {}, {}),
    Route("sue", "POST", "/language", lambda s: {"language": "fa", "back": "/cards"},
          {"language": NONE}, frozenset({"back"})),
    Route("aud", "GET", "/", lambda s: {}, {}),
    Route("sue", "GET", "/search", lambda s: {}, {}),
    Route("sue", "POST", "/search", lambda s: {"q": "09127000001"}, {}, frozenset({"q"})),
    Route("sue", "GET", "/customer", lambda s: {"id": s.ids["account"]}, {"id": DIGITS},
          frozenset({"done", "replaced"})),
    Route("sue", "POST", "/customers/enrol",
          lambda s: {"name": "Sweep", "mobile": f"0935{s.fresh():07d}", "birth_date": "",
                     "card": "", "sms": "yes"},
          {"name": TEXT, "mobile": NONE, "birth_date": OPTIONAL | DATES,
           "card": OPTIONAL | {"pan"}}),  # a card never enrolled is enrolled with its customer
    Route("sue", "POST", "/customers/enrol",  # a checkbox: anything but "yes" is "no"
          lambda s: {"name": "Sweep", "mobile": "nope", "sms": "yes"}, {}, frozenset({"sms"})),
    Route("sue", "POST", "/customer/replace",
          lambda s: {"account": s.ids["account"], "card": s.ids["customer_ref"],
                     "new": _new_pan(s), "reason": "lost"},
          {"account": DIGITS, "card": NONE, "new": frozenset({"pan"}),
           "reason": TEXT}),
    Route("sue", "POST", "/replacements/approve", lambda s: {"id": "999"}, {"id": NONE}),
    Route("sue", "POST", "/replacements/reject", lambda s: {"id": "999"}, {"id": NONE}),
    Route("aud", "GET", "/cards", lambda s: {}, {}),
    Route("sue", "POST", "/cards", lambda s: {"pan": s.env.cards[0]}, {"pan": NONE}),
    Route("sue", "POST", "/cards/reveal", lambda s: {"card": s.ids["ref"]}, {"card": NONE}),
    Route("sue", "POST", "/cards/block", lambda s: {"card": s.ids["ref"]}, {"card": NONE}),
    Route("sue", "POST", "/cards/unblock", lambda s: {"card": s.ids["ref"]}, {"card": NONE}),
    Route("sue", "POST", "/cards/adjust",
          lambda s: {"card": s.ids["ref"], "points": "5", "store": S1, "reason": "sweep"},
          {"card": NONE, "points": DIGITS | {TWICE}, "store": NONE, "reason": TEXT}),
    # From a customer's page: `account` says where to go back to; tried on a refused request.
    Route("sue", "POST", "/cards/adjust",
          lambda s: {"card": s.ids["ref"], "points": "abc", "store": S1, "reason": "sweep",
                     "account": s.ids["account"]}, {}, frozenset({"account"})),
    Route("aud", "GET", "/adjustments", lambda s: {}, {}, frozenset({"done", "replacement"})),
    Route("sue", "POST", "/adjustments/approve", lambda s: {"id": "999"}, {"id": NONE}),
    Route("sue", "POST", "/adjustments/reject", lambda s: {"id": "999"}, {"id": NONE}),
    Route("mia", "GET", "/programs", lambda s: {}, {}),
    Route("mia", "GET", "/programs/campaign", lambda s: {"owner": f"store:{S2}", "index": "0"},
          {"owner": NONE, "index": NONE}),
    Route("mia", "POST", "/programs/campaigns/add", campaign, CAMPAIGN),
    Route("mia", "POST", "/programs/campaigns/change",
          lambda s: campaign(s, owner=f"store:{S2}", index="0"),
          {"version": NONE, "owner": NONE, "index": NONE, "name": TEXT, "to": DATES}),
    Route("mia", "POST", "/programs/campaigns/remove",
          lambda s: {"version": s.version(), "owner": f"store:{S2}", "index": "0"},
          {"version": NONE, "owner": NONE, "index": NONE}),
    Route("mia", "GET", "/reports", lambda s: {"from": "", "to": "", "grain": "month"},
          {"from": OPTIONAL | DATES, "to": OPTIONAL | DATES, "grain": OPTIONAL,
           "subject": OPTIONAL}),
    # A download is refused for its format before its range is read, and the other way round.
    Route("mia", "GET", "/reports/download",
          lambda s: {"from": "2001-01-01", "to": "2001-01-02", "grain": "day",
                     "format": "nope"}, {"format": OPTIONAL}),
    Route("mia", "GET", "/reports/download",
          lambda s: {"from": "2001-01-03", "to": "2001-01-02", "grain": "day",
                     "format": "csv"}, {"from": OPTIONAL, "grain": NONE, "subject": NONE}),
    Route("sam", "GET", "/settlement", lambda s: {}, {}),
    Route("sam", "GET", "/settlement/day", lambda s: {"date": s.ids["day"]}, {"date": DATES}),
    Route("sam", "GET", "/settlement/file", lambda s: {"date": s.ids["day"], "name": "x.csv"},
          {"date": NONE, "name": NONE}),
    Route("sam", "POST", "/settlement/run", lambda s: {"date": "2001-01-01"}, {"date": DATES}),
    Route("aud", "GET", "/audit", lambda s: {}, {"from": OPTIONAL | DATES,
                                                 "to": OPTIONAL | DATES},
          frozenset({"before", "card", "actor", "action"})),
    Route("ann", "GET", "/staff", lambda s: {}, {}),
    # The password refused (so nothing is hashed) while another field is hostile, then the
    # password itself hostile.
    Route("ann", "POST", "/staff/add",
          lambda s: {"username": f"sweep{s.fresh()}", "role": "auditor", "password": "short",
                     "stores": "", "language": "fa"},
          {"username": NONE, "role": NONE, "stores": NONE, "language": NONE}),
    Route("ann", "POST", "/staff/add",
          lambda s: {"username": f"sweep{s.fresh()}", "role": "auditor",
                     "password": "long enough pw"}, {"password": PASSWORDS}),
    Route("ann", "POST", "/staff/disable", lambda s: {"username": "vic"}, {"username": NONE}),
    Route("ann", "POST", "/staff/reset-password",
          lambda s: {"username": "vic", "password": "long enough pw"}, {"password": PASSWORDS}),
    Route("ann", "POST", "/staff/reset-password",
          lambda s: {"username": "vic", "password": "short"}, {"username": NONE}),
]
#: The login form: each attempt costs a password hashing (0.3 s), so fewer values.
LOGIN_VALUES = ("empty", "missing", "long", "nul", "not_utf8", "surrogate", "rlo", "script",
                "pan", TWICE)


class _Records(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def start_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A module's site (its `site` fixture yields from this): a seeded database, staff of
    every role reading Persian, a pending adjustment, a settled day, an enrolled customer,
    the switch and the console running."""
    env = make_env(tmp_path_factory.mktemp("hostile"), n_cards=3)
    records: list[logging.LogRecord] = []
    handler = _Records(records)
    logging.getLogger().addHandler(handler)
    for user, role in (("sue", "support"), ("ann", "admin"), ("sam", "settlement"),
                       ("mia", "marketing"), ("aud", "auditor"), ("vic", "auditor")):
        add_staff(env, user, role, language="fa")
    conn = open_db(env.config.switch.database)
    try:  # a pending adjustment (its id is a valid one, never decided here)
        cards.request_adjustment(conn, env.config, "ann", env.cards[0], 4000, S1, "sweep",
                                 1000, env.now)
    finally:
        conn.close()
    try:
        with running_switch(env), Console(env) as console:
            clients = {u: Client(console.url) for u in ("sue", "ann", "sam", "mia", "aud")}
            for user, client in clients.items():
                assert client.login(user).status == 303
            assert clients["sam"].post("/settlement/run", date=str(env.yesterday)).status == 200
            sue = clients["sue"]
            enrolled = sue.post("/customers/enrol", name="نگار\u200cسادات",
                                mobile="۰۹۱۲ ۷۰۰ ۰۰۰۱", card=env.cards[1])
            assert enrolled.status == 303, enrolled.text()
            account = enrolled.location.split("id=")[1]
            refs = re.findall(r'name="card" value="([^"]+)"', sue.get("/customer",
                                                                       id=account).body)
            ids = {"account": account, "ref": sue.card_ref(env.cards[0]),
                   "customer_ref": refs[0], "day": str(env.yesterday)}
            sue.get("/")
            watched = {db.name: sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                       for db in (env.root / "lps.db", env.root / "lps.db.settlement.db")}
            site = Site(env, console, clients, ids, records, [0], watched)
            try:
                yield site
            finally:
                for conn in watched.values():
                    conn.close()
        said = switch_log(env).read_text("utf-8", "replace")
        assert not clear_pans(site, said), "a card number in clear in the switch's log"
    finally:
        logging.getLogger().removeHandler(handler)


# -- what a case checks -------------------------------------------------------------------------


def state(site: Site, volatile: tuple[str, ...] = ()) -> tuple[object, ...]:
    """What a refused request must not change: every row of the console's database (but the
    sessions and card handles every request touches), whether anything was committed to the
    switch's database or settlement's register since the last look (SQLite's data_version,
    on connections kept open: reading every row of the journal for each case would double
    the sweep's time), the configuration file and the settlement folder's listing."""
    env = site.env
    out: list[object] = [env.config_path.read_bytes(),
                         sorted(str(p) for p in (env.root / "settled").rglob("*"))]
    for name, conn in sorted(site.watched.items()):
        out.append((name, conn.execute("PRAGMA data_version").fetchone()[0]))
    skip = {"sessions", "card_handles", *volatile}
    conn = sqlite3.connect(f"file:{env.root / 'lps.db.console.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out.extend((t, conn.execute(f'SELECT * FROM "{t}"').fetchall())
                   for t in tables if t not in skip)
    finally:
        conn.close()
    return tuple(out)


@dataclasses.dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]


def send(client: Client, method: str, path: str, pairs: list[tuple[str, str]]) -> Answer:
    """One request with the pairs as given (values already percent-encoded); a dropped
    connection is an answer of status 0."""
    wire = "&".join(f"{Q(k)}={v}" for k, v in pairs)
    if method == "GET":
        req = urllib.request.Request(client.base + path + ("?" + wire if wire else ""))
    else:
        req = urllib.request.Request(client.base + path, data=wire.encode(), method="POST")
    return _answer(client, req)


#: One part of a multipart/form-data body: the Content-Disposition's parameters after
#: `form-data; ` (`name="x"`, maybe `; filename="y"`) and the value, as bytes on the wire.
Part = tuple[bytes, bytes]
BOUNDARY = b"----lps-sweep-boundary"


def part(name: str, value: str) -> Part:
    return b'name="' + name.encode() + b'"', value.encode()


def send_multipart(client: Client, path: str, parts: list[Part],
                   content_type: str = "multipart/form-data") -> Answer:
    """A POST of a multipart/form-data body (what a browser sends for a form of
    `enctype="multipart/form-data"`), its bytes as given."""
    body = b"".join(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; " + params
                    + b"\r\n\r\n" + value + b"\r\n" for params, value in parts)
    body += b"--" + BOUNDARY + b"--\r\n"
    req = urllib.request.Request(client.base + path, data=body, method="POST", headers={
        "Content-Type": f"{content_type}; boundary={BOUNDARY.decode()}"})
    return _answer(client, req)


def send_unfinished(client: Client, path: str, headers: dict[str, str], body: bytes) -> Answer:
    """A POST of `body` with the client's cookies, the body never finished (the rest of a
    Content-Length, or a chunked body's last chunk, never sent): an answer comes only from a
    server that does not wait for the rest."""
    url = urllib.parse.urlsplit(client.base)
    assert url.hostname is not None and url.port is not None
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}",
            "Cookie: " + "; ".join(f"{c.name}={c.value}" for c in client.jar),
            *(f"{k}: {v}" for k, v in headers.items())]
    with socket.create_connection((url.hostname, url.port), timeout=EVENT) as sock:
        sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        reply = http.client.HTTPResponse(sock)
        reply.begin()
        raw = reply.read()
        return Answer(reply.status, raw.decode("utf-8", "replace"),
                      {k.lower(): v for k, v in reply.getheaders()})


def _answer(client: Client, req: urllib.request.Request) -> Answer:
    try:
        with client.opener.open(req, timeout=EVENT) as r:
            raw, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, headers = e.read(), e.code, e.headers
    except (http.client.HTTPException, ConnectionError) as e:
        return Answer(0, repr(e), {})
    body = raw.decode("utf-8", "replace")
    return Answer(status, body, {k.lower(): v for k, v in headers.items()})


def pairs_of(base: Form, field: str, label: str, csrf: str | None) -> list[tuple[str, str]]:
    out = [(k, Q(v)) for k, v in base.items() if k != field]
    if label == TWICE:
        out += [(field, Q(base.get(field, "x")))] * 2
    elif HOSTILE[label] is not None:
        out.append((field, str(HOSTILE[label])))
    if csrf is not None:
        out.append(("csrf", Q(csrf)))
    return out


PERSIAN = re.compile(r"[\u0600-\u06ff]")
MESSAGE = re.compile(r'<p class="error"[^>]*>(.*?)</p>|<main[^>]*>.*?<p dir="auto">(.*?)</p>',
                     re.S)
ISOLATES = re.compile("[\u2066-\u2069\u200e\u200f]")


def pans(site: Site) -> list[str]:
    return [*site.env.cards, STRAY_PAN]


def clear_pans(site: Site, text: str) -> list[str]:
    """The card numbers of this site that `text` holds in clear (in any digits)."""
    flat = ISOLATES.sub("", to_ascii_digits(text))
    return [p for p in pans(site) if p in flat]


def problems(site: Site, answer: Answer, refused: bool, changed: bool,
             message: bool = True) -> list[str]:
    """What is wrong with one answer (empty: nothing)."""
    out = []
    if answer.status == 0:
        out.append(f"connection dropped: {answer.body}")
    elif answer.status >= 500:
        out.append(f"status {answer.status}: {answer.body[:300]!r}")
    elif refused and not 400 <= answer.status < 500:
        out.append(f"accepted (status {answer.status}) {answer.headers.get('location', '')}")
    if "Traceback" in answer.body or "Internal Server Error" in answer.body:
        out.append("a traceback or a server error in the answer")
    if changed:
        out.append("something changed")
    if clear_pans(site, answer.body + answer.headers.get("location", "")):
        out.append("a card number in clear in the answer")
    for markup in ("<script>alert", "<img src=x"):
        if markup in answer.body:
            out.append(f"{markup} echoed unescaped")
    if message and 400 <= answer.status < 500 and answer.headers.get(
            "content-type", "").startswith("text/html"):
        said = [a or b for a, b in MESSAGE.findall(answer.body)]
        if not any(PERSIAN.search(s) for s in said):
            out.append(f"no message in Persian: {said!r}")
    return out


Pairs = list[tuple[str, str]]
#: (field, label, refusal expected, the request's pairs made when it is sent).
Case = tuple[str, str, bool, Callable[[], Pairs]]


def run_cases(site: Site, route: Route, cases: list[Case], volatile: tuple[str, ...] = ()
              ) -> list[str]:
    """Each case sent as `route.user` and checked (`problems`, and the log records it made);
    the failures, one line each."""
    client = site.clients[route.user]
    failures = []
    before = state(site, volatile)
    for field, label, strict, make in cases:
        pairs = make()  # now: a digest or a fresh mobile as the state is at this case
        path = route.path
        if "{name}" in path:  # the path parameter: the value in the path itself
            value = dict(pairs).get("name")
            path = path.replace("{name}", "" if value is None else value)
            pairs = []
        seen = len(site.records)
        answer = send(client, route.method, path, pairs)
        after = state(site, volatile)  # the next case's `before`: one snapshot a case
        found = problems(site, answer, strict, after != before,
                         message="{name}" not in route.path)
        before = after
        for record in site.records[seen:]:
            text = record.getMessage() + str(record.exc_info or "")
            if record.levelno >= logging.ERROR:
                found.append(f"logged {record.levelname}: {text[:200]}")
            if clear_pans(site, text):
                found.append("a card number in clear in a log record")
        failures += [f"{route.method} {route.path} {field}={label}: {f}" for f in found]
    return failures


def audit_pans(site: Site) -> list[str]:
    conn = sqlite3.connect(f"file:{site.env.root / 'lps.db.console.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT id, actor, action, target, before, after FROM audit_log"
                            ).fetchall()
        rows += conn.execute("SELECT 0, username, client, at, '', '' FROM login_failures"
                             ).fetchall()
    finally:
        conn.close()
    return [f"audit row {r[0]} {r[2]}: a card number in clear" for r in rows
            if clear_pans(site, " ".join(map(str, r)))]


