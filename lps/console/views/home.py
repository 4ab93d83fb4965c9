"""Sign in and out, the language, the dashboard and static files."""

from __future__ import annotations

import secrets
from importlib import resources

from starlette.responses import Response

from lps.console import auth, cards, queries, sessions, switch_words, throttle
from lps.console.i18n import LANGUAGES
from lps.console.messages import N_
from lps.console.views.common import page, say
from lps.console.web import LOGIN_COOKIE, SESSION_COOKIE, Console, Ctx, redirect, route

#: The files under /static/ (name -> media type): nothing else is ever served from there.
STATIC = {
    "console.css": "text/css; charset=utf-8",
    "Vazirmatn-Regular.woff2": "font/woff2",
    "Vazirmatn-Bold.woff2": "font/woff2",
    "OFL.txt": "text/plain; charset=utf-8",
}
#: The agent states of the dashboard, as words.
AGENT_STATES = (N_("online"), N_("offline"), N_("unknown"))


def cookie(console: Console, name: str, value: str, path: str, extra: str = "") -> str:
    secure = "; Secure" if console.settings.secure_cookies else ""
    return f"{name}={value}; Path={path}; HttpOnly; SameSite=Strict{secure}{extra}"


@route("GET", "/static/{name}")
def static(console: Console, ctx: Ctx) -> Response:
    name = ctx.req.query.get("name", "")
    if name not in STATIC:
        return Response(b"", 404)
    folder = "static" if name.endswith(".css") else "static/fonts"
    body = resources.files("lps.console").joinpath(f"{folder}/{name}").read_bytes()
    return Response(body, 200, {"Cache-Control": "public, max-age=86400"}, STATIC[name])


def login_page(console: Console, ctx: Ctx, error: str = "", status: int = 200,
               retry_after: int | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    headers = {"Set-Cookie": cookie(console, LOGIN_COOKIE, token, "/login")}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return page(console, ctx, "login.html", N_("Log in"), status, headers, token=token,
                error=error)


@route("GET", "/login")
def login_form(console: Console, ctx: Ctx) -> Response:
    lang = ctx.req.query.get("lang", "")
    if lang in LANGUAGES:  # the language of the login page, before anyone is known
        ctx.t = console.translator(lang)
        response = login_page(console, ctx)
        response.headers.append("Set-Cookie", cookie(console, "lps_lang", lang, "/login"))
        return response
    return login_page(console, ctx)


@route("POST", "/login")
def login(console: Console, ctx: Ctx) -> Response:
    f = ctx.req.form
    if not f.get("csrf") or not sessions.same(f.get("csrf", ""),
                                          ctx.req.cookies.get(LOGIN_COOKIE, "")):
        return login_page(console, ctx, ctx.t.gettext(
            "The login form expired (CSRF check): please try again."), 403)
    username, password = f.get("username", "").strip(), f.get("password", "")
    if not username or not password:
        return login_page(console, ctx, ctx.t.gettext("Enter a username and a password."), 400)
    try:
        token, _ = auth.login(ctx.cdb, username, password, ctx.req.client, ctx.now,
                              console.settings.limits, console.hashing)
    except throttle.RetryLater as exc:  # 429: this pair must wait; 503: no hashing slot free
        status = 503 if isinstance(exc, throttle.Busy) else 429
        return login_page(console, ctx, exc.render(ctx.t), status, exc.retry_after)
    except auth.AuthError as exc:
        return login_page(console, ctx, exc.render(ctx.t), 401)
    ttl = int(console.settings.limits.session_ttl.total_seconds())
    return redirect("/", {"Set-Cookie": cookie(console, SESSION_COOKIE, token, "/",
                                               f"; Max-Age={ttl}")})


@route("POST", "/logout")
def logout(console: Console, ctx: Ctx) -> Response:
    sessions.logout(ctx.cdb, ctx.req.cookies.get(SESSION_COOKIE, ""), ctx.user, ctx.now)
    return redirect("/login", {"Set-Cookie": cookie(console, SESSION_COOKIE, "", "/",
                                                    "; Max-Age=0")})


@route("POST", "/language")
def language(console: Console, ctx: Ctx) -> Response:
    """The member's language, remembered in the console's database for their next visits."""
    choice = ctx.req.form.get("language", "")
    if choice not in LANGUAGES:
        return page(console, ctx, "message.html", N_("Not done"), 400,
                    error=ctx.t.gettext("Choose Persian or English."))
    auth.set_language(ctx.cdb, ctx.user, choice)
    back = ctx.req.form.get("back", "/")
    known = {p for _, p in console_paths()}
    return redirect(back if back in known else "/")


def console_paths() -> list[tuple[str, str]]:
    from lps.console.roles import ENDPOINTS

    return [k for k in ENDPOINTS if k[0] == "GET" and "{" not in k[1]]


def today_line(console: Console, ctx: Ctx) -> str:
    """Today's date in the coalition's calendar and time zone, with the local time."""
    return ctx.t.moment(ctx.now)


@route("GET", "/")
def dashboard(console: Console, ctx: Ctx) -> Response:
    config = console.config
    day = cards.today(config, ctx.now)
    try:
        with queries.reading(console.journal) as conn:
            d = queries.dashboard(conn, config, ctx.scope, day)
        error = ""
    except queries.QueryError as exc:
        d, error = queries.Dashboard(day), say(ctx, switch_words.database(str(exc)))
    status = console.fleet.snapshot() if console.fleet is not None else {}
    terminals = []
    for tid, store, signed in d.terminals:
        st = status.get(tid)
        terminals.append({"tid": tid, "store": store, "signed": signed,
                          "state": st.state if st else "unknown", "link": st.link if st else "",
                          "saf": st.saf_depth if st and st.state == "online" else None,
                          "updated": st.updated if st else ""})
    online = sum(1 for r in terminals if r["state"] == "online")
    names = {s: st.name for s, st in config.stores.items() if ctx.scope.sees(s)}
    return page(console, ctx, "dashboard.html", N_("Dashboard"), d=d, names=names,
                terminals=terminals, online=online, fleet=console.fleet,
                signed=sum(1 for r in terminals if r["signed"]),
                zone=config.switch.timezone, today=today_line(console, ctx), error=error)


