"""Card lookup and changes, and the adjustments with their approvals (docs/console.md)."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from lps.console import cards, queries, sessions, switch_words
from lps.console.messages import N_, Refusal
from lps.console.roles import FULL_PAN
from lps.console.views.common import card_of, page, say
from lps.console.web import BadInput, Console, Ctx, redirect, route
from switch.core.luhn import mask_pan
from switch.core.text import is_digits, to_ascii_digits


def search_page(console: Console, ctx: Ctx, error: str = "", status: int = 200) -> Response:
    return page(console, ctx, "cards.html", N_("Cards"), status, view=None, error=error)


@route("GET", "/cards")
def cards_page(console: Console, ctx: Ctx) -> Response:
    return search_page(console, ctx)


def card_page(console: Console, ctx: Ctx, pan: str, full: bool = False, notice: str = "",
              error: str = "") -> Response:
    assert ctx.session is not None
    try:
        view = cards.lookup(console.config, pan, ctx.scope, ctx.now)
    except (cards.CardError, queries.QueryError) as exc:
        raise BadInput(exc if isinstance(exc, cards.CardError)
                       else switch_words.database(str(exc))) from None
    ref = secrets.token_urlsafe(12)
    sessions.remember_card(ctx.cdb, ctx.session, ref, pan, ctx.now)
    stores = [(s, st.name) for s, st in sorted(console.config.stores.items())
              if st.coalition == view.coalition and ctx.scope.sees(s)]
    return page(console, ctx, "cards.html", N_("Cards"), 400 if error else 200, view=view,
                ref=ref, shown=pan if full else mask_pan(pan), full=full,
                can_reveal=ctx.role in FULL_PAN, can_block=ctx.may("POST", "/cards/block"),
                can_adjust=ctx.may("POST", "/cards/adjust"), stores=stores,
                threshold=console.settings.approval_threshold, notice=notice, error=error)


@route("POST", "/cards")
def lookup(console: Console, ctx: Ctx) -> Response:
    try:
        pan = cards.check_pan(ctx.req.form.get("pan", ""))
    except cards.CardError as exc:
        raise BadInput(exc) from None
    return card_page(console, ctx, pan)


@route("POST", "/cards/reveal")
def reveal(console: Console, ctx: Ctx) -> Response:
    pan = card_of(ctx)
    cards.reveal(ctx.cdb, ctx.user, pan, ctx.now)
    return card_page(console, ctx, pan, full=True, notice=ctx.t.gettext(
        "Showing the full number was recorded in the audit log."))


def _status(console: Console, ctx: Ctx, action: str) -> Response:
    pan = card_of(ctx)
    try:
        cards.set_status(ctx.cdb, console.config, ctx.user, action, pan, ctx.now)
    except Refusal as exc:
        return card_page(console, ctx, pan, error=say(ctx, exc))
    done = N_("Card {card} blocked.") if action == "block" else N_("Card {card} unblocked.")
    return card_page(console, ctx, pan, notice=ctx.t.format(done, card=mask_pan(pan)))


@route("POST", "/cards/block")
def block(console: Console, ctx: Ctx) -> Response:
    return _status(console, ctx, "block")


@route("POST", "/cards/unblock")
def unblock(console: Console, ctx: Ctx) -> Response:
    return _status(console, ctx, "unblock")


@route("POST", "/cards/adjust")
def adjust(console: Console, ctx: Ctx) -> Response:
    f = ctx.req.form
    pan = card_of(ctx)
    back = to_ascii_digits(f.get("account", "")).strip()
    account = int(back) if is_digits(back) and len(back) <= 18 else None
    if account is not None:  # from a customer's page: the card must be on that account
        from lps.console.views.desk import card_on_account

        card_on_account(console, ctx, pan, account)
    try:
        points, store, reason = cards.parse_adjustment(
            console.config, ctx.scope, f.get("points", ""), f.get("store", ""),
            f.get("reason", ""))
        adj = cards.request_adjustment(ctx.cdb, console.config, ctx.user, pan, points, store,
                                       reason, console.settings.approval_threshold, ctx.now,
                                       ctx.scope)
    except Refusal as exc:
        if account is not None:  # from a customer's page: back to it (docs/console.md)
            from lps.console.views.desk import customer_page

            return customer_page(console, ctx, account, error=say(ctx, exc), status=400)
        return card_page(console, ctx, pan, error=say(ctx, exc))
    if account is not None:
        return redirect(f"/customer?id={account}&done={adj.id}")
    return redirect(f"/adjustments?done={adj.id}")


def adjustments_page(console: Console, ctx: Ctx, notice: str = "", error: str = "",
                     status: int = 200) -> Response:
    from lps.console import replacements

    return page(console, ctx, "adjustments.html", N_("Adjustments"), status,
                items=cards.adjustments(ctx.cdb, ctx.scope), mask=mask_pan,
                can_decide=ctx.may("POST", "/adjustments/approve"), notice=notice,
                error=error, replacements=replacements.replacements(ctx.cdb)
                if ctx.may("POST", "/replacements/approve") or not ctx.scope.limited else [],
                can_replace=ctx.may("POST", "/replacements/approve"))


@route("GET", "/adjustments")
def adjustments(console: Console, ctx: Ctx) -> Response:
    notice = ""
    done = to_ascii_digits(ctx.req.query.get("done", ""))
    if is_digits(done) and len(done) <= 18:
        try:
            a = cards.get_adjustment(ctx.cdb, int(done))
        except cards.CardError:
            a = None
        if a is not None and ctx.scope.sees(a.store_id):
            if a.status == "applied":
                notice = ctx.t.format(N_("Adjustment #{id} of {points} points: applied."),
                                      id=a.id, points=a.points)
            else:
                notice = ctx.t.format(N_("Adjustment #{id} of {points} points: {status}; above "
                                         "{threshold} points another staff member must "
                                         "approve it."), id=a.id, points=a.points,
                                      status=ctx.t.gettext(a.status),
                                      threshold=console.settings.approval_threshold)
    rid = to_ascii_digits(ctx.req.query.get("replacement", ""))
    if is_digits(rid) and len(rid) <= 18 and not ctx.scope.limited:
        notice = _replacement_notice(ctx, int(rid)) or notice
    return adjustments_page(console, ctx, notice)


def _replacement_notice(ctx: Ctx, rid: int) -> str:
    from lps.console import replacements

    r = replacements.shown_replacement(ctx.cdb, rid, ctx.scope)
    if r is None:
        return ""
    return ctx.t.format(N_("Card replacement #{id}: {status}."), id=r.id,
                        status=ctx.t.gettext(r.status))


def _decide(console: Console, ctx: Ctx, approve: bool) -> Response:
    text = to_ascii_digits(ctx.req.form.get("id", "")).strip()
    if not is_digits(text) or len(text) > 18:
        raise BadInput(cards.CardError(N_("no adjustment named (id must be a number)")))
    try:
        cards.decide(ctx.cdb, console.config, ctx.user, int(text), approve, ctx.now, ctx.scope)
    except Refusal as exc:
        raise BadInput(exc) from None
    return redirect(f"/adjustments?done={int(text)}")


@route("POST", "/adjustments/approve")
def approve(console: Console, ctx: Ctx) -> Response:
    return _decide(console, ctx, True)


@route("POST", "/adjustments/reject")
def reject(console: Console, ctx: Ctx) -> Response:
    return _decide(console, ctx, False)
