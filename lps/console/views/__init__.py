"""The console's pages: the handlers of every `roles.ENDPOINTS` row, by area.

Shared here: the menu, refusals (403), bad input (400, the form's page again with the message),
and the pages of errors. The areas register their handlers on import (bottom of this file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from lps.console.i18n import Translator
from lps.console.messages import N_, Code, Label, Refusal
from lps.console.views.common import NAV, ROLE_NAMES, nav, page, say

if TYPE_CHECKING:
    from lps.console import throttle
    from lps.console.web import Console, Ctx

def refused(console: Console, ctx: Ctx, why: str) -> Response:
    assert ctx.session is not None
    if why == "csrf":
        text = ctx.t.gettext("The form's security token is missing or stale (CSRF check): "
                             "reload the page and try again.")
        return page(console, ctx, "message.html", N_("Form refused"), 403, text=text)
    if why == "whole":
        text = ctx.t.gettext("This page acts on the whole coalition; your account is limited "
                             "to some stores.")
    else:
        text = say(ctx, Refusal(N_("The role {role} may not use {method} {path}."),
                                role=Label(ctx.role), method=Code(ctx.req.method),
                                path=Code(ctx.req.path)))
    return page(console, ctx, "message.html", N_("Not allowed"), 403, text=text)


def bad_input(console: Console, ctx: Ctx, message: Refusal | str) -> Response:
    """The form's page again with the message; nothing was changed."""
    from lps.console.views import cards, desk, programs, settlement, staff

    error = say(ctx, message)
    path = ctx.req.path
    if ctx.session is not None:
        if path.startswith(("/adjustments", "/replacements")):
            return cards.adjustments_page(console, ctx, error=error, status=400)
        if path.startswith("/cards"):
            return cards.search_page(console, ctx, error=error, status=400)
        if path.startswith(("/search", "/customer")):
            return desk.search_page(console, ctx, error=error, status=400)
        if path.startswith("/settlement"):
            return settlement.listing(console, ctx, error=error, status=400)
        if path.startswith("/programs"):
            return programs.again(console, ctx, error)
        if path.startswith("/staff"):
            return staff.staff_page(console, ctx, error=error, status=400)
        if path.startswith("/audit"):
            return staff.audit_page(console, ctx, error=error, status=400)
    return page(console, ctx, "message.html", N_("Not done"), 400, error=error)


def busy(console: Console, ctx: Ctx, exc: throttle.Busy) -> Response:
    return page(console, ctx, "message.html", N_("Busy"), 503,
                {"Retry-After": str(exc.retry_after)}, text=say(ctx, exc))


def too_large(console: Console, ctx: Ctx) -> Response:
    """413: a body over the console's limit, refused unread (asgi.BodyLimit)."""
    from lps.console.web import MAX_BODY

    return page(console, ctx, "message.html", N_("Form refused"), 413, error=say(ctx, Refusal(
        N_("The form is larger than {size} KiB: nothing of it was read and nothing was "
           "changed. Send a shorter form."), size=MAX_BODY // 1024)))


def not_found(console: Console, status: int) -> Response:
    from lps.console.web import TEMPLATES

    t = Translator("fa", console.config.switch.zone)

    def gettext(text: str, **params: object) -> str:
        return t.format(text, **params) if params else t.gettext(text)

    body = TEMPLATES.get_template("message.html").render(
        _=gettext, gettext=gettext, t=t, session=None, nav=[], ctx=None,
        title=t.gettext("Not found"), text=t.gettext("No such page."))
    return Response(body, status, media_type="text/html; charset=utf-8")


from lps.console.views import (  # noqa: E402  (the areas register their handlers)
    cards,
    desk,
    home,
    programs,
    reports,
    settlement,
    staff,
)

__all__ = ["NAV", "ROLE_NAMES", "cards", "desk", "home", "nav", "page", "programs", "reports",
           "say", "settlement", "staff"]
