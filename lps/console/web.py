"""The console's request pipeline: its state (`Console`), one request as a handler sees it
(`Ctx`), the handlers' registry (`route`, one per `roles.ENDPOINTS` row) and pages (`render`).

Each request: session (unless public) -> role and store scope (403) -> CSRF on every POST
(403) -> handler. A handler's bad input gets 400 and its message in the reader's language;
nothing is written before the input is valid (docs/console.md). The ASGI side (routes, body
limit, security headers) is `asgi.py`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import Response

from lps.console import db, sessions, throttle
from lps.console.fleet import Fleet
from lps.console.i18n import Translator
from lps.console.messages import N_, SYSTEM, Code, Refusal, Verbatim, value_html
from lps.console.queries import Scope
from lps.console.roles import ENDPOINTS, PUBLIC, WHOLE_COALITION, allowed
from switch.config import Config
from switch.i18n.numbers import MoneyUnit

#: The most fields a form may have (python-multipart's bound, set in asgi.py).
MAX_FORM_FIELDS = 60
#: The largest request body read (asgi.BodyLimit); a larger one is refused 413.
MAX_BODY = 64 * 1024
SESSION_COOKIE = "lps_session"
LOGIN_COOKIE = "lps_login"


@dataclass(frozen=True, slots=True)
class Settings:
    """What `lps console` takes besides the switch's configuration."""

    approval_threshold: int = 1000
    limits: throttle.Limits = field(default_factory=throttle.Limits)
    settlement_out: Path | None = None
    #: mqtt://HOST:PORT of the agents' broker, for terminals online (None: not shown).
    mqtt: str | None = None
    #: Mark cookies `Secure` (behind a TLS reverse proxy; a plain-HTTP browser drops them).
    secure_cookies: bool = False
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Req:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    client: str
    #: A field whose bytes were not UTF-8 (asgi.undecodable): the request is refused (400).
    undecodable: str = ""
    #: A body the form reader refused (more than `asgi.MAX_FIELDS` fields, a broken
    #: multipart): refused (400) with nothing read, its CSRF token unread too.
    malformed: bool = False
    #: A body over `MAX_BODY`: refused (413) with nothing read past the limit, in the
    #: language of the member its session cookie names (a guest: the console's default).
    too_large: bool = False


@dataclass(slots=True)
class Ctx:
    """One request as a handler sees it: the console's database, the reader and their words."""

    req: Req
    cdb: sqlite3.Connection
    session: sessions.Session | None
    now: dt.datetime
    t: Translator
    scope: Scope

    @property
    def user(self) -> str:
        assert self.session is not None
        return self.session.username

    @property
    def role(self) -> str:
        assert self.session is not None
        return self.session.role

    def may(self, method: str, path: str) -> bool:
        return self.session is not None and allowed(self.role, method, path,
                                                    self.scope.limited)


class BadInput(ValueError):
    """400 with this message on the page the form came from."""

    def __init__(self, message: Refusal | str) -> None:
        super().__init__(str(message))
        self.message = message


Handler = Callable[["Console", Ctx], Response]
HANDLERS: dict[tuple[str, str], Handler] = {}


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        if (method, path) not in ENDPOINTS:
            raise RuntimeError(f"{method} {path} has no row in roles.ENDPOINTS")
        HANDLERS[(method, path)] = fn
        return fn
    return deco


@dataclass(frozen=True)
class Pages:
    """What the pipeline answers with besides the handlers: refusals, bad input, busy, and the
    menu on every page. `lps.console.views` provides them (`install`, from `lps.console.asgi`),
    so that this module does not import the pages that import it."""

    refused: Callable[[Console, Ctx, str], Response]
    bad_input: Callable[[Console, Ctx, Refusal | str], Response]
    busy: Callable[[Console, Ctx, throttle.Busy], Response]
    too_large: Callable[[Console, Ctx], Response]
    nav: Callable[[Console, Ctx], list[tuple[str, str, int]]]


_PAGES: list[Pages] = []


def install(provider: Pages) -> None:
    """The pages the pipeline uses (one provider; installing again replaces it)."""
    _PAGES[:] = [provider]


def pages() -> Pages:
    if not _PAGES:
        raise RuntimeError("no console pages installed (import lps.console.asgi)")
    return _PAGES[0]


TEMPLATES = Environment(loader=PackageLoader("lps.console", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True),
                        extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)


class Console:
    """The console's state: configuration, settings, background fleet view, hashing bound."""

    def __init__(self, config: Config, config_path: str, settings: Settings) -> None:
        missing = set(ENDPOINTS) - set(HANDLERS)
        if missing or not _PAGES:
            raise RuntimeError(f"endpoints without a handler: {sorted(missing)} (the pages "
                               "register on import of lps.console.asgi)")
        self.config = config
        self.config_path = config_path
        self.settings = settings
        #: This node's local name for its files (the console's database, the register of
        #: settled days, locks): the SQLite journal, or a name in `[switch] state_dir`.
        self.database = Path(config.switch.database)
        #: Where the money journal is read: the SQLite file or the PostgreSQL URL.
        self.journal: str | Path = config.switch.journal
        #: Each coalition's display currency, from the switch's configuration.
        self.units: dict[str, MoneyUnit] = {
            cid: "toman" if c.display_currency == "toman" else "rial"
            for cid, c in config.coalitions.items()}
        #: Store ID -> its coalition, for amounts listed by store (their coalition's currency).
        self.coalition_of = {sid: st.coalition for sid, st in config.stores.items()}
        self.settlement_out = settings.settlement_out or self.database.with_name(
            self.database.name + ".settlement")
        db.open_console(self.database).close()  # migrations and the move-in, before serving
        self.fleet = Fleet(settings.mqtt).start() if settings.mqtt else None
        #: Password hashings at once (argon2id, 64 MiB each): bounded, the rest refused 503.
        self.hashing = throttle.HashingGate.from_limits(settings.limits)

    def close(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None

    def translator(self, language: str) -> Translator:
        return Translator(language, self.config.switch.zone, self.units)

    def handle(self, req: Req) -> Response:
        """The whole pipeline of one request after its body was read (in a worker thread)."""
        views = pages()
        key = (req.method, req.path)
        now = self.settings.clock()
        cdb = db.connect(db.console_path(self.database))
        try:
            t = self.translator(req.cookies.get("lps_lang", "fa"))
            ctx = Ctx(req, cdb, None, now, t, Scope())
            if ENDPOINTS[key] is not PUBLIC:
                session = sessions.session(cdb, req.cookies.get(SESSION_COOKIE), now,
                                       self.settings.limits)
                if session is None:
                    return redirect("/login")
                ctx.session, ctx.t = session, self.translator(session.language)
                ctx.scope = Scope.of(session.stores)
                if not allowed(session.role, req.method, req.path, ctx.scope.limited):
                    why = ("whole" if key in WHOLE_COALITION and ctx.scope.limited
                           and allowed(session.role, *key) else "role")
                    return views.refused(self, ctx, why)
                if req.method == "POST" and not (req.malformed or req.too_large) \
                        and not sessions.same(req.form.get("csrf", ""), session.csrf):
                    return views.refused(self, ctx, "csrf")
            try:
                if req.too_large:
                    return views.too_large(self, ctx)
                if req.malformed:
                    raise BadInput(Refusal(N_("the form could not be read (at most {n} fields, "
                                              "sent as a web form): reload the page and try "
                                              "again"), n=MAX_FORM_FIELDS))
                if req.undecodable:
                    raise BadInput(Refusal(N_("{field}: the text sent is not UTF-8 (a broken "
                                              "character): type it again"),
                                           field=Code(req.undecodable)))
                return HANDLERS[key](self, ctx)
            except BadInput as exc:
                return views.bad_input(self, ctx, exc.message)
            except throttle.Busy as exc:  # staff add/reset: no hashing slot free
                return views.busy(self, ctx, exc)
        finally:
            cdb.close()


def render(console: Console, ctx: Ctx, template: str, status: int = 200,
           headers: dict[str, str] | None = None, **values: Any) -> Response:
    """A page in the reader's language (autoescaped; `_` is the reader's gettext)."""
    views = pages()
    page = TEMPLATES.get_template(template)
    t = ctx.t

    def gettext(text: str, **params: Any) -> str:
        # With values, HTML: a Code or the switch's own words keep their own elements.
        return Refusal(text, **params).html(t) if params else t.gettext(text)

    def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
        return t.ngettext(singular, plural, n).format(**{k: t.value(v) for k, v in
                                                         {"num": n, **params}.items()})

    body = page.render(gettext=gettext, _=gettext, ngettext=ngettext, t=t, ctx=ctx,
                       session=ctx.session, nav=views.nav(console, ctx),
                       coalition_of=console.coalition_of, code=Code,
                       theirs=lambda text: value_html(t, Verbatim(str(text), SYSTEM)), **values)
    return Response(body, status, headers, "text/html; charset=utf-8")


def redirect(to: str, headers: dict[str, str] | None = None) -> Response:
    return Response(b"", 303, {"Location": to, **(headers or {})})
