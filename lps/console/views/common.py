"""What every page of the console shares: the menu, messages in the reader's language, and
rendering a page (the areas build on these; `views` itself dispatches errors to them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup, escape
from starlette.responses import Response

from lps.console.messages import N_, Refusal

if TYPE_CHECKING:
    from lps.console.web import Console, Ctx

#: The menu: (path, label); a link shows only to those allowed to GET it.
NAV = (("/", N_("Dashboard")), ("/search", N_("Service desk")), ("/cards", N_("Cards")),
       ("/adjustments", N_("Adjustments")), ("/programs", N_("Programs")),
       ("/reports", N_("Reports")), ("/settlement", N_("Settlement")),
       ("/audit", N_("Audit log")), ("/staff", N_("Staff")))
ROLE_NAMES = (N_("admin"), N_("marketing"), N_("support"), N_("settlement"), N_("auditor"))


def nav(console: Console, ctx: Ctx) -> list[tuple[str, str, int]]:
    if ctx.session is None:
        return []
    from lps.console import cards, replacements

    out = []
    for path, label in NAV:
        if not ctx.may("GET", path):
            continue
        badge = 0
        if path == "/adjustments" and ctx.may("POST", "/adjustments/approve"):
            badge = cards.waiting(ctx.cdb, ctx.scope, ctx.user)
        if path == "/adjustments" and ctx.may("POST", "/replacements/approve"):
            badge += replacements.waiting(ctx.cdb, ctx.user)
        out.append((path, label, badge))
    return out


def say(ctx: Ctx, message: Refusal | str) -> Markup:
    """A message in the reader's language, as HTML (the switch's own words marked as such)."""
    if isinstance(message, Refusal):
        return message.html(ctx.t)
    return escape(ctx.t.gettext(message))


def page(console: Console, ctx: Ctx, template: str, title: str, status: int = 200,
         headers: dict[str, str] | None = None, **values: object) -> Response:
    from lps.console.web import render

    return render(console, ctx, template, status, headers, title=ctx.t.gettext(title), **values)


def card_of(ctx: Ctx) -> str:
    """The card a form names by its per-session handle (pages never carry a card number)."""
    from lps.console import cards, sessions
    from lps.console.web import BadInput

    assert ctx.session is not None
    pan = sessions.card_of(ctx.cdb, ctx.session, ctx.req.form.get("card", ""))
    if pan is None:
        raise BadInput(cards.CardError(N_("that card page has expired: look the card up "
                                          "again")))
    return pan
