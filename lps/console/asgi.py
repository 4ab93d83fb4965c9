"""The console as an ASGI application (Starlette) served by uvicorn: one route per
`roles.ENDPOINTS` row, the body limit and the security headers on every answer.

Each request: body limit -> route -> the form read (python-multipart, at most `MAX_FIELDS`
fields, no files) -> `Console.handle` in a worker thread (SQLite and argon2 block) -> the
security headers (docs/console.md, "The stack").
"""

from __future__ import annotations

import codecs
import contextlib
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lps.console import views
from lps.console.roles import ENDPOINTS
from lps.console.web import MAX_BODY, MAX_FORM_FIELDS, Console, Pages, Req, install

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# The pages registered their handlers on import; the pipeline's own pages come from them too.
install(Pages(views.refused, views.bad_input, views.busy, views.too_large,
              views.nav))

MAX_FIELDS = MAX_FORM_FIELDS
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

Scope_ = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyLimit:
    """Stops reading a request body over `MAX_BODY`, by its Content-Length or as it streams,
    for the pipeline to refuse it (413 in the member's language, `Req.too_large`). The
    member is known by the session cookie, before the body: the rest is never read."""

    def __init__(self, app: Callable[[Scope_, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope_, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        declared = length is not None and not (length.isdigit() and len(length) <= 9
                                               and int(length) <= MAX_BODY)
        scope[TOO_LARGE] = declared  # a route refuses it even where no body is read (GET)
        seen = 0

        async def limited() -> MutableMapping[str, Any]:
            nonlocal seen
            if declared:
                raise TooLarge
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise TooLarge
            return message

        await self.app(scope, limited, send)


#: The scope's key for a body whose Content-Length is over `MAX_BODY`.
TOO_LARGE = "lps.too_large"


class TooLarge(Exception):
    """Raised by the body's reader past `MAX_BODY`; the endpoint makes it `Req.too_large`."""


class SecurityHeaders:
    """The Content-Security-Policy and friends on every answer, static files and errors too."""

    def __init__(self, app: Callable[[Scope_, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope_, receive: Receive, send: Send) -> None:
        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                         if k.lower().encode() not in have]
                if b"cache-control" not in have:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded form; a field sent several times (checkboxes) joined with commas."""
    data = await request.form(max_files=0, max_fields=MAX_FIELDS)
    out: dict[str, str] = {}
    for key in data:
        values = [v for v in data.getlist(key) if isinstance(v, str)]
        out[key] = ",".join(values)
    return out


def undecodable(raw: bytes) -> str:
    """The name of the first field of a query string or urlencoded body whose value (or name)
    is not UTF-8 once percent-decoded, or "". Starlette reads such bytes as U+FFFD, which a
    form would store as typed (docs/console.md, "Hostile input")."""
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        for part in (name, value):
            try:
                urllib.parse.unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return urllib.parse.unquote_plus(name.decode("latin-1"), errors="replace")[:40]
    return ""


def multipart_undecodable(body: bytes, content_type: str) -> str | None:
    """The name of the first part of a multipart/form-data body whose value, name or filename
    is not UTF-8, or "" when all are; None when the body declares another charset (a console
    form is UTF-8). Starlette reads such bytes as Latin-1 ("\\xff" becomes "ÿ"), which a form
    would store as typed (docs/console.md, "Hostile input"). A body python-multipart cannot
    parse is left to the form reader, which refuses it."""
    _, params = parse_options_header(content_type)
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        if codecs.lookup(charset).name != "utf-8":
            return None
    except LookupError:
        return None
    parts: list[tuple[bytearray, bytearray]] = []  # (Content-Disposition, value) of each part
    header: list[bytearray] = [bytearray(), bytearray()]

    def begin() -> None:
        parts.append((bytearray(), bytearray()))

    def header_end() -> None:
        if bytes(header[0]).lower() == b"content-disposition":
            parts[-1][0][:] = header[1]
        header[0][:], header[1][:] = b"", b""

    callbacks: MultipartCallbacks = {
        "on_part_begin": begin,
        "on_part_data": lambda data, start, end: parts[-1][1].extend(data[start:end]),
        "on_header_field": lambda data, start, end: header[0].extend(data[start:end]),
        "on_header_value": lambda data, start, end: header[1].extend(data[start:end]),
        "on_header_end": header_end,
    }
    try:
        parser = MultipartParser(params.get(b"boundary", b""), callbacks)
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError):
        pass  # the form reader refuses it (Req.malformed)
    for disposition, value in parts:
        options = parse_options_header(bytes(disposition))[1]
        name = options.get(b"name", b"")
        for raw in (name, options.get(b"filename", b""), value):
            try:
                bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                return name.decode("utf-8", "replace")[:40]
    return ""


def _endpoint(console: Console, method: str, path: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        form: dict[str, str] = {}
        broken = undecodable(request.scope.get("query_string", b""))
        malformed = False
        too_large = bool(request.scope.get(TOO_LARGE))
        if method == "POST" and not too_large:
            try:
                kind = request.headers.get("content-type", "")
                if kind.startswith("application/x-www-form-urlencoded"):
                    broken = broken or undecodable(await request.body())
                elif kind.startswith("multipart/form-data"):
                    # The body is at most MAX_BODY: read once, parsed twice (here and below).
                    found = multipart_undecodable(await request.body(), kind)
                    if found is None:
                        raise ValueError("a multipart body in a charset other than UTF-8")
                    broken = broken or found
                form = await _form(request)
            except TooLarge:  # refused unread, like one whose Content-Length is too large
                too_large, form = True, {}
            except Exception:  # a malformed body: refused like a bad field, nothing read
                malformed = True
        req = Req(method, path, {k: v for k, v in request.query_params.items()}, form,
                  dict(request.cookies), request.client.host if request.client else "",
                  broken, malformed, too_large)
        if path == "/static/{name}":
            req.query["name"] = str(request.path_params.get("name", ""))
        return await run_in_threadpool(console.handle, req)
    return endpoint


def asgi(console: Console) -> Any:
    """The ASGI application of a console: its routes, the body limit and the headers."""
    by_path: dict[str, list[str]] = {}
    for method, path in ENDPOINTS:
        by_path.setdefault(path, []).append(method)
    routes = [Route(path, _endpoint_multi(console, path, methods), methods=methods)
              for path, methods in by_path.items()]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        console.close()  # graceful shutdown: requests finished, the MQTT view stopped

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        404: lambda request, exc: views.not_found(console, 404),
        405: lambda request, exc: views.not_found(console, 405)})
    return BodyLimit(SecurityHeaders(app))


def _endpoint_multi(console: Console, path: str,
                    methods: list[str]) -> Callable[[Request], Awaitable[Response]]:
    per = {m: _endpoint(console, m, path) for m in methods}

    async def endpoint(request: Request) -> Response:
        handler = per.get(request.method) or per["GET"]  # HEAD is answered as GET
        return await handler(request)
    return endpoint
