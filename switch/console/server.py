"""The console's HTTP server: stdlib `ThreadingHTTPServer`, one handler per `roles.ENDPOINTS` row.

`App.handle(Request) -> Response` is the whole web logic, callable without sockets (the role
matrix tests call it through real HTTP anyway). Every request: route -> session (unless the
route is public) -> role check -> CSRF check on POST -> handler. A handler's bad input gets 400
and its message; nothing is written before the input is valid.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from switch.config import Config
from switch.console import audit, auth, campaigns, cards, pages, settle
from switch.console import dashboard as dash
from switch.console.db import open_db
from switch.console.fleet import Fleet
from switch.console.roles import ENDPOINTS, FULL_PAN, PUBLIC, allowed
from switch.core.luhn import mask_pan
from switch.core.text import is_digits, to_ascii_digits
from switch.store import connect

MAX_BODY = 64 * 1024
SESSION_COOKIE = "lps_session"
LOGIN_COOKIE = "lps_login"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """What `lps console` takes besides the switch's configuration."""

    approval_threshold: int = 1000
    limits: auth.Limits = field(default_factory=auth.Limits)
    settlement_out: Path | None = None
    #: mqtt://HOST:PORT of the agents' broker, for terminals online (None: not shown).
    mqtt: str | None = None
    #: Mark cookies `Secure` (behind a TLS reverse proxy; a plain-HTTP browser drops them).
    secure_cookies: bool = False
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    client: str


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


class BadInput(ValueError):
    """400 with this message on the page the form came from."""


@dataclass(slots=True)
class Ctx:
    req: Request
    conn: sqlite3.Connection
    session: auth.Session | None
    now: dt.datetime

    @property
    def user(self) -> str:
        assert self.session is not None
        return self.session.username

    @property
    def role(self) -> str:
        assert self.session is not None
        return self.session.role


Handler = Callable[["App", Ctx], Response]
HANDLERS: dict[tuple[str, str], Handler] = {}


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        if (method, path) not in ENDPOINTS:
            raise RuntimeError(f"{method} {path} has no row in roles.ENDPOINTS")
        HANDLERS[(method, path)] = fn
        return fn
    return deco


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body.encode(), headers=headers or {})


def redirect(to: str, headers: dict[str, str] | None = None) -> Response:
    return Response(303, b"", headers={"Location": to, **(headers or {})})


class App:
    def __init__(self, config: Config, config_path: str, settings: Settings) -> None:
        missing = set(ENDPOINTS) - set(HANDLERS)
        if missing:
            raise RuntimeError(f"endpoints without a handler: {sorted(missing)}")
        self.config = config
        self.config_path = config_path
        self.settings = settings
        self.database = Path(config.switch.database)
        self.settlement_out = settings.settlement_out or self.database.with_name(
            self.database.name + ".settlement")
        conn = open_db(self.database)  # migrations once, before serving
        conn.close()
        self.fleet = Fleet(settings.mqtt).start() if settings.mqtt else None
        #: One card change at a time: two checkers cannot both apply one adjustment.
        self.change_lock = threading.Lock()
        #: One settlement run at a time from this console (settlement's register serialises
        #: runs from elsewhere); apart from card changes, which a long run must not hold up.
        self.settle_lock = threading.Lock()
        #: One campaign edit of the configuration file at a time (read, plan, write, audit).
        self.config_lock = threading.Lock()
        #: Password hashings at once (argon2id, 64 MiB each): bounded, the rest refused 503.
        self.hashing = auth.HashingGate.from_limits(settings.limits)
        #: Opaque per-session handles for looked-up cards, so pages never carry a whole PAN.
        self._cards: dict[tuple[str, str], str] = {}
        self._cards_lock = threading.Lock()

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()

    # -- card handles -----------------------------------------------------------------------

    def card_ref(self, ctx: Ctx, pan: str) -> str:
        ref = secrets.token_urlsafe(12)
        with self._cards_lock:
            if len(self._cards) > 10_000:
                self._cards.clear()
            self._cards[(ctx.req.cookies.get(SESSION_COOKIE, ""), ref)] = pan
        return ref

    def card_of(self, ctx: Ctx) -> str:
        ref = ctx.req.form.get("card", "")
        with self._cards_lock:
            pan = self._cards.get((ctx.req.cookies.get(SESSION_COOKIE, ""), ref))
        if pan is None:
            raise BadInput("that card page has expired: look the card up again")
        return pan

    # -- the request pipeline ---------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        key = (req.method, req.path)
        roles = ENDPOINTS.get(key)
        if roles is None:
            known = any(p == req.path for _, p in ENDPOINTS)
            return html(pages.page("Not found", "<p>No such page.</p>", None),
                        405 if known else 404)
        now = self.settings.clock()
        conn = connect(self.database)
        try:
            session = None
            if roles is not PUBLIC:
                session = auth.session(conn, req.cookies.get(SESSION_COOKIE), now,
                                       self.settings.limits)
                if session is None:
                    return redirect("/login")
                if not allowed(session.role, req.method, req.path):
                    return html(pages.page(
                        "Not allowed", f"<p>The role {pages.h(session.role)} may not use "
                        f"{pages.h(req.method)} {pages.h(req.path)}.</p>", session), 403)
                if req.method == "POST" and not auth.same(req.form.get("csrf", ""),
                                                          session.csrf):
                    return html(pages.page(
                        "Form refused", "<p>The form's security token is missing or stale "
                        "(CSRF check): reload the page and try again.</p>", session), 403)
            ctx = Ctx(req, conn, session, now)
            try:
                return HANDLERS[key](self, ctx)
            except BadInput as exc:
                return self.bad_input(ctx, str(exc))
            except auth.Busy as exc:  # staff add/reset: no hashing slot free
                return html(pages.page("Busy", f"<p>{pages.h(str(exc))}</p>", session), 503,
                            {"Retry-After": str(exc.retry_after)})
        finally:
            conn.close()

    def bad_input(self, ctx: Ctx, message: str) -> Response:
        """The form's page again with the message; nothing was changed."""
        title, body = "Not done", ""
        path = ctx.req.path
        if ctx.session is not None:
            if path.startswith(("/cards", "/adjustments")) and path != "/cards/adjust":
                title, body = "Cards", pages.card_search(ctx.session)
            if path.startswith("/adjustments"):
                title = "Adjustments"
                body = pages.adjustments(cards.adjustments(ctx.conn), ctx.session,
                                         allowed(ctx.role, "POST", "/adjustments/approve"))
            elif path == "/cards/adjust":
                title, body = "Cards", pages.card_search(ctx.session)
            elif path.startswith("/settlement"):
                title, body = "Settlement", pages.settlement(
                    settle.days(self.database), ctx.session,
                    allowed(ctx.role, "POST", "/settlement/run"))
            elif path.startswith("/programs"):
                title, body = "Programs", _programs_again(self, ctx)
            elif path.startswith("/staff"):
                title, body = "Staff", pages.staff(auth.list_staff(ctx.conn), ctx.session)
        return html(pages.page(title, body, ctx.session, error=message), 400)

    def iso(self, now: dt.datetime) -> str:
        return now.isoformat(timespec="seconds")


# -- handlers -------------------------------------------------------------------------------


@route("GET", "/static/console.css")
def _css(app: App, ctx: Ctx) -> Response:
    body = resources.files("switch.console").joinpath("static/console.css").read_bytes()
    return Response(200, body, "text/css; charset=utf-8")


def _cookie(app: App, name: str, value: str, path: str, extra: str = "") -> str:
    secure = "; Secure" if app.settings.secure_cookies else ""
    return f"{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}{extra}"


def _login_page(app: App, ctx: Ctx, error: str = "", status: int = 200,
                retry_after: int | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    headers = {"Set-Cookie": _cookie(app, LOGIN_COOKIE, token, "/login")}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return html(pages.page("Log in", pages.login(token), None, error=error), status, headers)


@route("GET", "/login")
def _login_form(app: App, ctx: Ctx) -> Response:
    return _login_page(app, ctx)


@route("POST", "/login")
def _login(app: App, ctx: Ctx) -> Response:
    f = ctx.req.form
    if not auth.same(f.get("csrf", ""), ctx.req.cookies.get(LOGIN_COOKIE, "")) or not f.get(
            "csrf"):
        return _login_page(app, ctx, "The login form expired (CSRF check): please try again.", 403)
    username, password = f.get("username", "").strip(), f.get("password", "")
    if not username or not password:
        return _login_page(app, ctx, "Enter a username and a password.", 400)
    try:
        token, _ = auth.login(ctx.conn, username, password, ctx.req.client, ctx.now,
                              app.settings.limits, app.hashing)
    except auth.RetryLater as exc:  # 429: this pair must wait; 503: no hashing slot free
        status = 503 if isinstance(exc, auth.Busy) else 429
        return _login_page(app, ctx, str(exc), status, exc.retry_after)
    except auth.AuthError as exc:
        return _login_page(app, ctx, str(exc), 401)
    ttl = int(app.settings.limits.session_ttl.total_seconds())
    return redirect("/", {"Set-Cookie": _cookie(app, SESSION_COOKIE, token, "/",
                                                f"; Max-Age={ttl}")})


@route("POST", "/logout")
def _logout(app: App, ctx: Ctx) -> Response:
    auth.logout(ctx.conn, ctx.req.cookies.get(SESSION_COOKIE, ""), ctx.user, ctx.now)
    return redirect("/login", {"Set-Cookie": _cookie(app, SESSION_COOKIE, "", "/",
                                                     "; Max-Age=0")})


@route("GET", "/")
def _dashboard(app: App, ctx: Ctx) -> Response:
    d = dash.build(ctx.conn, app.config, ctx.now)
    return html(pages.page("Dashboard", pages.dashboard(d, app.config, app.fleet), ctx.session))


@route("GET", "/cards")
def _cards(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    return html(pages.page("Cards", pages.card_search(ctx.session), ctx.session))


def _card_page(app: App, ctx: Ctx, pan: str, full: bool = False, notice: str = "",
               error: str = "") -> Response:
    assert ctx.session is not None
    try:
        view = cards.lookup(ctx.conn, app.config, pan, ctx.now)
    except cards.CardError as exc:
        raise BadInput(str(exc)) from None
    body = pages.card(view, app.card_ref(ctx, pan), ctx.session, app.config, full,
                      ctx.role in FULL_PAN,
                      allowed(ctx.role, "POST", "/cards/block"), app.settings.approval_threshold)
    return html(pages.page("Cards", pages.card_search(ctx.session) + body, ctx.session,
                           notice=notice, error=error), 400 if error else 200)


@route("POST", "/cards")
def _card_lookup(app: App, ctx: Ctx) -> Response:
    try:
        pan = cards.check_pan(ctx.req.form.get("pan", ""))
    except cards.CardError as exc:
        raise BadInput(str(exc)) from None
    return _card_page(app, ctx, pan)


@route("POST", "/cards/reveal")
def _card_reveal(app: App, ctx: Ctx) -> Response:
    pan = app.card_of(ctx)
    cards.reveal(ctx.conn, ctx.user, pan, ctx.now)
    return _card_page(app, ctx, pan, full=True, notice="Showing the full number was recorded "
                                                       "in the audit log.")


def _status(app: App, ctx: Ctx, action: str) -> Response:
    pan = app.card_of(ctx)
    with app.change_lock:
        try:
            cards.set_status(ctx.conn, app.config, ctx.user, action, pan, ctx.now)
        except cards.CardError as exc:
            return _card_page(app, ctx, pan, error=str(exc))
    return _card_page(app, ctx, pan, notice=f"Card {mask_pan(pan)}: {action} done.")


@route("POST", "/cards/block")
def _card_block(app: App, ctx: Ctx) -> Response:
    return _status(app, ctx, "block")


@route("POST", "/cards/unblock")
def _card_unblock(app: App, ctx: Ctx) -> Response:
    return _status(app, ctx, "unblock")


@route("POST", "/cards/adjust")
def _card_adjust(app: App, ctx: Ctx) -> Response:
    f = ctx.req.form
    pan = app.card_of(ctx)
    with app.change_lock:
        try:
            points, store, reason = cards.parse_adjustment(
                app.config, pan, f.get("points", ""), f.get("store", ""), f.get("reason", ""))
            adj = cards.request_adjustment(ctx.conn, app.config, ctx.user, pan, points, store,
                                           reason, app.settings.approval_threshold, ctx.now)
        except cards.CardError as exc:
            return _card_page(app, ctx, pan, error=str(exc))
    return redirect(f"/adjustments?done={adj.id}")


@route("GET", "/adjustments")
def _adjustments(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    notice = ""
    done = to_ascii_digits(ctx.req.query.get("done", ""))
    if is_digits(done) and len(done) <= 18:
        try:
            a = cards.get_adjustment(ctx.conn, int(done))
            notice = (f"Adjustment #{a.id} of {a.points:+,} points: "
                      + ("applied." if a.status == "applied" else
                         f"{a.status}; above {app.settings.approval_threshold:,} points another "
                         "staff member must approve it."))
        except cards.CardError:
            notice = ""
    body = pages.adjustments(cards.adjustments(ctx.conn), ctx.session,
                             allowed(ctx.role, "POST", "/adjustments/approve"))
    return html(pages.page("Adjustments", body, ctx.session, notice=notice))


def _decide(app: App, ctx: Ctx, approve: bool) -> Response:
    text = to_ascii_digits(ctx.req.form.get("id", "")).strip()
    if not is_digits(text) or len(text) > 18:
        raise BadInput("no adjustment named (id must be a number)")
    with app.change_lock:
        try:
            cards.decide(ctx.conn, app.config, ctx.user, int(text), approve, ctx.now)
        except cards.CardError as exc:
            raise BadInput(str(exc)) from None
    return redirect(f"/adjustments?done={int(text)}")


@route("POST", "/adjustments/approve")
def _approve(app: App, ctx: Ctx) -> Response:
    return _decide(app, ctx, True)


@route("POST", "/adjustments/reject")
def _reject(app: App, ctx: Ctx) -> Response:
    return _decide(app, ctx, False)


def _programs_body(app: App, ctx: Ctx, add_values: dict[str, str] | None = None,
                   ) -> tuple[str, str]:
    """The programs as the file holds them now (what the switch runs after a restart), with the
    campaign forms for a role that may edit; (body, error)."""
    try:
        cur = campaigns.read(app.config_path)
    except campaigns.EditError as exc:
        return pages.programs(app.config), str(exc)
    if not allowed(ctx.role, "POST", "/programs/campaigns/add"):
        return pages.programs(cur.config), ""
    return pages.programs(cur.config, ctx.session, cur.version, add_values,
                          campaigns.owners(cur.config)), ""


def _programs_again(app: App, ctx: Ctx) -> str:
    """After a refused campaign form: that form again with what was typed."""
    f = ctx.req.form
    if ctx.req.path == "/programs/campaigns/change":
        assert ctx.session is not None
        try:
            cur = campaigns.read(app.config_path)
            index = campaigns.parse_index(f.get("index", ""))
            owner = f.get("owner", "")
            if index < len(campaigns.campaigns_of(cur.config, owner)):
                label = dict(campaigns.owners(cur.config))[owner]
                # The version typed against stays: a stale form stays refused until reloaded.
                return pages.campaign(owner, label, index, f, ctx.session,
                                      f.get("version", ""), str(app.config_path))
        except campaigns.EditError:
            pass
    add = dict(f) if ctx.req.path == "/programs/campaigns/add" else None
    return _programs_body(app, ctx, add)[0]


@route("GET", "/programs")
def _programs(app: App, ctx: Ctx) -> Response:
    body, error = _programs_body(app, ctx)
    return html(pages.page("Programs", body, ctx.session, error=error))


@route("GET", "/programs/campaign")
def _campaign(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    q = ctx.req.query
    owner = q.get("owner", "")
    try:
        cur = campaigns.read(app.config_path)
        index = campaigns.parse_index(q.get("index", ""))
        camps = campaigns.campaigns_of(cur.config, owner)
        if index >= len(camps):
            raise campaigns.EditError(f"index: {owner} has no campaign #{index}")
    except campaigns.EditError as exc:
        raise BadInput(str(exc)) from None
    label = dict(campaigns.owners(cur.config))[owner]
    body = pages.campaign(owner, label, index, campaigns.form_values(camps[index]), ctx.session,
                          cur.version, str(app.config_path))
    return html(pages.page(f"Campaign {camps[index].name}", body, ctx.session))


STALE = ("the configuration file has changed since this page was loaded (another edit, or by "
         "hand): reload the page and make the change again")


def _campaign_edit(app: App, ctx: Ctx, action: str) -> Response:
    f = ctx.req.form
    with app.config_lock:
        try:
            cur = campaigns.read(app.config_path)
            if f.get("version", "") != cur.version:
                raise campaigns.EditError(STALE)
            index = None if action == "add" else campaigns.parse_index(f.get("index", ""))
            table = None if action == "remove" else campaigns.parse_form(f)
            edit = campaigns.plan(cur, f.get("owner", ""), action, index, table)
            campaigns.commit(ctx.conn, cur, edit, f"staff:{ctx.user}", app.iso(ctx.now))
        except campaigns.EditError as exc:
            raise BadInput(str(exc)) from None
    verb = {"add": "added to", "change": "changed in", "remove": "removed from"}[action]
    notice = (f"Campaign {edit.name!r} {verb} {edit.owner} in {app.config_path} (recorded in "
              f"the audit log). It {pages.RESTART}.")
    body, error = _programs_body(app, ctx)
    return html(pages.page("Programs", body, ctx.session, notice=notice, error=error))


@route("POST", "/programs/campaigns/add")
def _campaign_add(app: App, ctx: Ctx) -> Response:
    return _campaign_edit(app, ctx, "add")


@route("POST", "/programs/campaigns/change")
def _campaign_change(app: App, ctx: Ctx) -> Response:
    return _campaign_edit(app, ctx, "change")


@route("POST", "/programs/campaigns/remove")
def _campaign_remove(app: App, ctx: Ctx) -> Response:
    return _campaign_edit(app, ctx, "remove")


@route("GET", "/settlement")
def _settlement(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    body = pages.settlement(settle.days(app.database), ctx.session,
                            allowed(ctx.role, "POST", "/settlement/run"))
    return html(pages.page("Settlement", body, ctx.session))


def _day(app: App, ctx: Ctx) -> settle.Day:
    try:
        return settle.day(app.database, settle.check_day(ctx.req.query.get("date", "")))
    except settle.SettleError as exc:
        raise BadInput(str(exc)) from None


@route("GET", "/settlement/day")
def _settlement_day(app: App, ctx: Ctx) -> Response:
    d = _day(app, ctx)
    body = pages.settlement_day(d, settle.summary(d), settle.charts(d), settle.positions(d),
                                settle.files(d))
    return html(pages.page(f"Settlement of {d.business_day}", body, ctx.session))


@route("GET", "/settlement/file")
def _settlement_file(app: App, ctx: Ctx) -> Response:
    d = _day(app, ctx)
    name = ctx.req.query.get("name", "")
    try:
        body = settle.read_file(d, name)
    except settle.SettleError as exc:
        raise BadInput(str(exc)) from None
    audit.append(ctx.conn, app.iso(ctx.now), f"staff:{ctx.user}", "settlement.download",
                 f"settlement:{d.business_day}/{name}")
    kind = {"csv": "text/csv", "json": "application/json", "html": "text/html"}[
        name.rsplit(".", 1)[1]]
    return Response(200, body, f"{kind}; charset=utf-8",
                    {"Content-Disposition": f'attachment; filename="{d.business_day}-{name}"'})


@route("POST", "/settlement/run")
def _settlement_run(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    try:
        when = settle.check_day(ctx.req.form.get("date", ""))
    except settle.SettleError as exc:
        raise BadInput(str(exc)) from None
    reopen = ctx.req.form.get("reopen") == "1"
    with app.settle_lock:
        rc, output = settle.run(app.config_path, app.database, app.settlement_out, when, reopen)
    audit.append(ctx.conn, app.iso(ctx.now), f"staff:{ctx.user}",
                 "settlement.reopen" if reopen else "settlement.run",
                 f"settlement:{when}", None, {"exit": rc, "output": output[-2000:]})
    body = pages.settlement(settle.days(app.database), ctx.session, True)
    if rc != 0:
        return html(pages.page("Settlement", f"<pre>{pages.h(output)}</pre>" + body,
                               ctx.session, error=f"settling {when} failed (exit {rc})"), 400)
    return html(pages.page("Settlement", f"<pre>{pages.h(output)}</pre>" + body, ctx.session,
                           notice=f"Business day {when} settled."))


@route("GET", "/audit")
def _audit(app: App, ctx: Ctx) -> Response:
    text = to_ascii_digits(ctx.req.query.get("before", ""))
    before = int(text) if is_digits(text) and len(text) <= 18 else None
    rows = audit.rows(ctx.conn, before)
    checked, broken = audit.verify(ctx.conn)
    nxt = rows[-1].id if len(rows) == 100 else None
    return html(pages.page("Audit log", pages.audit(rows, checked, broken, nxt), ctx.session))


@route("GET", "/staff")
def _staff(app: App, ctx: Ctx) -> Response:
    assert ctx.session is not None
    return html(pages.page("Staff", pages.staff(auth.list_staff(ctx.conn), ctx.session),
                           ctx.session))


def _staff_change(app: App, ctx: Ctx, change: Callable[[], None], notice: str) -> Response:
    assert ctx.session is not None
    try:
        change()
    except auth.Busy:
        raise  # 503 from App.handle, not a mistake in the form
    except auth.AuthError as exc:
        raise BadInput(str(exc)) from None
    return html(pages.page("Staff", pages.staff(auth.list_staff(ctx.conn), ctx.session),
                           ctx.session, notice=notice))


@route("POST", "/staff/add")
def _staff_add(app: App, ctx: Ctx) -> Response:
    f = ctx.req.form
    user = f.get("username", "").strip()

    def add() -> None:
        auth.add_staff(ctx.conn, f"staff:{ctx.user}", user, f.get("role", ""),
                       f.get("password", ""), ctx.now, app.hashing)

    return _staff_change(app, ctx, add, f"Added {user}.")


@route("POST", "/staff/disable")
def _staff_disable(app: App, ctx: Ctx) -> Response:
    user = ctx.req.form.get("username", "").strip()
    return _staff_change(app, ctx, lambda: auth.disable_staff(
        ctx.conn, f"staff:{ctx.user}", user, ctx.now), f"Disabled {user}.")


@route("POST", "/staff/reset-password")
def _staff_reset(app: App, ctx: Ctx) -> Response:
    f = ctx.req.form
    user = f.get("username", "").strip()
    return _staff_change(app, ctx, lambda: auth.reset_password(
        ctx.conn, f"staff:{ctx.user}", user, f.get("password", ""), ctx.now, app.hashing),
        f"New password set for {user}; their sessions ended.")


# -- HTTP ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    app: App
    server_version = "lps-console"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines would carry query strings; the audit log records what matters

    def _serve(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        form: dict[str, str] = {}
        if method == "POST":
            text = self.headers.get("Content-Length") or "0"
            length = int(text) if is_digits(text) and len(text) <= 9 else -1
            if not 0 <= length <= MAX_BODY:
                self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                return
            raw = self.rfile.read(length).decode("utf-8", "replace")
            form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True,
                                                                 max_num_fields=50).items()}
        cookies: dict[str, str] = {}
        try:
            jar = SimpleCookie(self.headers.get("Cookie") or "")
            cookies = {k: m.value for k, m in jar.items()}
        except CookieError:
            cookies = {}
        req = Request(method, url.path, query, form, cookies, self.client_address[0])
        try:
            resp = self.app.handle(req)
        except Exception:
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR)
            raise
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in {**HEADERS, **resp.headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(resp.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


def make_server(app: App, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
