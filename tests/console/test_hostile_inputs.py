"""Hostile input on every route of the console (`roles.ENDPOINTS`): each query parameter, form
field and path parameter, one at a time, gets each of `hostile.HOSTILE` (empty, missing,
repeated, 10,000 characters, control characters, bytes that are not UTF-8, a bidi override,
markup, SQL, odd numbers, impossible dates, a card number), and every POST a wrong or missing
CSRF token, against one real console and one real `lps serve` for the module. What each answer
must be is `hostile.problems` (docs/console.md, "Hostile input"); what Persian staff type
rightly is accepted (the last tests)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from lps.console.roles import ENDPOINTS
from tests.console.hostile import (
    LABELS,
    LOGIN_VALUES,
    NONE,
    ROUTES,
    S1,
    TWICE,
    Case,
    Pairs,
    Q,
    Route,
    Site,
    audit_pans,
    pairs_of,
    run_cases,
    start_site,
    state,
)
from tests.console.support import Client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start_site(tmp_path_factory)


def test_every_endpoint_is_swept() -> None:
    swept = {(r.method, r.path) for r in ROUTES}
    assert swept | {("POST", "/login")} == set(ENDPOINTS)  # the login: its own test below


def _spoilt(site: Site, route: Route, field: str, label: str, csrf: str | None) -> Pairs:
    """The route's valid request made now, with `field` given the value `label` names."""
    return pairs_of(route.base(site), field, label, csrf)


def _with_token(site: Site, route: Route, token: Pairs) -> Pairs:
    return [(k, Q(v)) for k, v in route.base(site).items()] + token


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method}{r.path}:{i}"
                                               for i, r in enumerate(ROUTES)])
def test_hostile_values_in_every_field(site: Site, route: Route) -> None:
    csrf = site.clients[route.user].csrf if route.method == "POST" else None
    cases: list[Case] = []
    for field in (*route.fields, *route.lenient):
        takes = route.fields.get(field, NONE)
        if route.method == "GET":
            takes = takes | {TWICE}  # the last of two is read: the valid one here
        cases += [(field, label, field not in route.lenient,
                   functools.partial(_spoilt, site, route, field, label, csrf))
                  for label in LABELS if label not in takes]
    failures = run_cases(site, route, cases) + audit_pans(site)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", sorted({r.path for r in ROUTES if r.method == "POST"}))
def test_a_wrong_or_missing_csrf_token_is_refused(site: Site, path: str) -> None:
    route = next(r for r in ROUTES if r.method == "POST" and r.path == path)
    token = site.clients[route.user].csrf
    cases: list[Case] = [
        ("csrf", label, True, functools.partial(_with_token, site, route, extra))
        for label, extra in (
            ("missing", []), ("empty", [("csrf", "")]), ("wrong", [("csrf", token[:-2] + "xx")]),
            ("twice", [("csrf", Q(token))] * 2), ("not_utf8", [("csrf", "%FF")]),
            ("long", [("csrf", "x" * 10_000)]))]
    failures = run_cases(site, route, cases)
    assert not failures, "\n".join(failures)


def test_hostile_logins(site: Site) -> None:
    """Each value as the username and as the password: refused; a failed login is audited and
    counted by the throttle by design, and nothing else changes."""
    route = Route("guest", "POST", "/login", lambda s: {}, {})
    failures = []
    base = {"username": "sue", "password": "not the password"}
    for field in ("username", "password"):
        for label in LOGIN_VALUES:
            client = site.clients["guest"] = Client(site.console.url)
            client.get("/login")  # the login form's own CSRF cookie
            failures += run_cases(site, route, [
                (field, label, True, functools.partial(pairs_of, base, field, label,
                                                       client.csrf))],
                volatile=("audit_log", "login_failures"))
    failures += audit_pans(site)
    assert not failures, "\n".join(failures)


# -- what Persian staff type rightly is accepted ------------------------------------------------


def test_persian_digits_and_names_with_zwnj_are_accepted(site: Site) -> None:
    """Numbers, dates and card numbers in Persian or Arabic-Indic digits, names and reasons
    with a ZWNJ: accepted and stored in ASCII digits and NFC (runs last: it changes things)."""
    sue, mia = site.clients["sue"], site.clients["mia"]
    persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    card = sue.post("/cards", pan=site.env.cards[0].translate(arabic))
    assert card.status == 200 and "628000******1006" in card.body
    reply = sue.post("/cards/adjust", card=site.ids["ref"], points="۱۲", store=S1,
                     reason="هدیه\u200cی تولد")
    assert reply.status == 303, reply.text()
    assert "۱۲ امتیاز" in sue.get(reply.location.split("?")[0],
                                  done=reply.location.split("=")[1]).text()
    enrolled = sue.post("/customers/enrol", name="مهرداد\u200cپور", mobile="٠٩٣٥ ١١١ ٢٢٣٣",
                        birth_date="۱۳۷۰/۰۱/۰۱")
    assert enrolled.status == 303, enrolled.text()
    assert "مهرداد\u200cپور" in sue.get("/customer", id=enrolled.location.split("=")[1]
                                        .translate(persian)).body
    for path, query in (("/reports", {"from": "۱۴۰۵/۰۹/۰۱", "to": "١٤٠٥/٠٩/١٠"}),
                        ("/settlement/day", {"date": site.ids["day"].translate(persian)}),
                        ("/audit", {"from": "۱۴۰۵/۰۱/۰۱", "before": "۹۹۹"})):
        page = (mia if path == "/reports" else site.clients["aud" if path == "/audit"
                                                              else "sam"]).get(path, **query)
        assert page.status == 200, (path, page.text()[-500:])
    added = mia.post("/programs/campaigns/add", version=site.version(),
                     owner="coalition:tehran-mall", name="جشن\u200cواره", **{
                         "from": "۱۴۰۵/۱۰/۰۱", "to": "۱۴۰۵/۱۰/۳۰", "multiplier": "۱٫۵",
                         "bonus": "۱۰", "weekdays": "۰، ۶", "hour_from": "۸", "hour_to": "۲۰",
                         "expire_after_days": "۳۰"})
    assert added.status == 200, added.text()[-800:]
    text = site.env.config_path.read_text()
    assert 'name = "جشن\u200cواره"' in text and "bonus = 10" in text


def test_the_switch_and_the_console_still_serve_after_the_sweep(site: Site) -> None:
    reply = site.clients["sue"].post("/cards", pan=site.env.cards[0])
    assert reply.status == 200 and "628000******1006" in reply.body


def test_the_snapshot_sees_what_an_accepted_request_changes(site: Site) -> None:
    """The sweep's 'nothing changed' is worth something only if a change is seen: a valid
    adjustment changes the switch's journal (through its admin socket) and the audit log."""
    before = state(site)
    reply = site.clients["sue"].post("/cards/adjust", card=site.ids["ref"], points="1",
                                     store=S1, reason="snapshot")
    assert reply.status == 303, reply.text()
    after = state(site)
    changed = {b[0] if isinstance(b, tuple) else "file" for b, a in zip(before, after, strict=True)
               if a != b}
    assert {"lps.db", "audit_log", "adjustments"} <= changed, changed
