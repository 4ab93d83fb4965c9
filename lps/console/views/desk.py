"""The service desk's pages: the search box, a customer's page, enrolment, replacing a lost
card and the checker's step of a replacement (docs/console.md, "The service desk")."""

from __future__ import annotations

import secrets

from starlette.responses import Response

from lps.console import cards, desk, replacements, sessions
from lps.console.i18n import shown_back
from lps.console.messages import N_, Refusal
from lps.console.views.common import card_of, page, say
from lps.console.web import BadInput, Console, Ctx, redirect, route
from switch.core.luhn import mask_pan
from switch.core.text import is_digits, to_ascii_digits
from switch.customers.desk import Found


def _number(text: str) -> int | None:
    bare = to_ascii_digits(text).strip()
    return int(bare) if is_digits(bare) and len(bare) <= 18 else None


def search_page(console: Console, ctx: Ctx, error: str = "", status: int = 200,
                typed: str = "", found: list[Found] | None = None,
                enrol: dict[str, str] | None = None, enrol_error: str = "") -> Response:
    # A number typed (a card, a mobile) is not shown back: pages carry them masked only.
    digits = sum(ch in "0123456789" for ch in to_ascii_digits(typed))
    return page(console, ctx, "desk.html", N_("Service desk"), status, error=error,
                typed="" if digits >= 4 else typed, found=found, masked_mobile=desk.masked_mobile,
                can_enrol=ctx.may("POST", "/customers/enrol"), enrol=enrol or {},
                enrol_error=enrol_error, scoped=ctx.scope.limited)


@route("GET", "/search")
def search_box(console: Console, ctx: Ctx) -> Response:
    return search_page(console, ctx)


@route("POST", "/search")
def search(console: Console, ctx: Ctx) -> Response:
    typed = ctx.req.form.get("q", "")[:200]
    try:
        found = desk.find(console.config, typed, ctx.scope)
    except Refusal as exc:
        return search_page(console, ctx, error=say(ctx, exc), status=400, typed=typed)
    return search_page(console, ctx, typed=typed, found=found)


def customer_page(console: Console, ctx: Ctx, account: int, notice: str = "",
                  error: str = "", status: int = 200) -> Response:
    assert ctx.session is not None
    try:
        got = desk.customer(console.config, account, ctx.now, ctx.scope)
    except Refusal as exc:
        raise BadInput(exc) from None
    refs = {}
    for c in got.view.cards:
        refs[c.pan] = secrets.token_urlsafe(12)
        sessions.remember_card(ctx.cdb, ctx.session, refs[c.pan], c.pan, ctx.now)
    coalition = got.view.account.coalition
    stores = [(s, st.name) for s, st in sorted(console.config.stores.items())
              if st.coalition == coalition and ctx.scope.sees(s)]
    return page(console, ctx, "customer.html", N_("Customer"), status, c=got.view,
                history=got.history, refs=refs, stores=stores,
                masked_mobile=desk.masked_mobile(got.view.account),
                can_adjust=ctx.may("POST", "/cards/adjust"),
                can_replace=ctx.may("POST", "/customer/replace"),
                threshold=console.settings.approval_threshold, notice=notice, error=error,
                scoped=ctx.scope.limited)


@route("GET", "/customer")
def customer(console: Console, ctx: Ctx) -> Response:
    account = _number(ctx.req.query.get("id", ""))
    if account is None:
        raise BadInput(desk.DeskError(N_("no customer named (id must be a number)")))
    notice = ""
    done = _number(ctx.req.query.get("done", ""))
    if done is not None:
        notice = _adjusted(console, ctx, done)
    replaced = _number(ctx.req.query.get("replaced", ""))
    if replaced is not None:
        notice = _replaced(console, ctx, replaced)
    return customer_page(console, ctx, account, notice=notice)


def _adjusted(console: Console, ctx: Ctx, aid: int) -> str:
    try:
        a = cards.get_adjustment(ctx.cdb, aid)
    except cards.CardError:
        return ""
    if not ctx.scope.sees(a.store_id):  # another store's request: as if there were none
        return ""
    if a.status == "applied":
        return ctx.t.format(N_("Adjustment #{id} of {points} points: applied."), id=a.id,
                            points=a.points)
    return ctx.t.format(N_("Adjustment #{id} of {points} points: {status}; above {threshold} "
                           "points another staff member must approve it."), id=a.id,
                        points=a.points, status=ctx.t.gettext(a.status),
                        threshold=console.settings.approval_threshold)


def _replaced(console: Console, ctx: Ctx, rid: int) -> str:
    r = replacements.shown_replacement(ctx.cdb, rid, ctx.scope)
    if r is None:
        return ""
    if r.status == "applied":
        return ctx.t.format(N_("Card {old} was blocked and its points moved to card {new}."),
                            old=mask_pan(r.old_pan), new=mask_pan(r.new_pan))
    return ctx.t.format(N_("Replacing card {old} with card {new} waits for another staff "
                           "member's approval (request #{id}): it moves {points} points, "
                           "above {threshold}, or stored value."),
                        old=mask_pan(r.old_pan), new=mask_pan(r.new_pan), id=r.id,
                        points=r.points, threshold=console.settings.approval_threshold)


@route("POST", "/customers/enrol")
def enrol(console: Console, ctx: Ctx) -> Response:
    f = ctx.req.form
    typed = {k: f.get(k, "")[:200] for k in ("name", "mobile", "birth_date", "card")}
    try:
        form = desk.parse_enrolment(typed["name"], typed["mobile"], typed["birth_date"],
                                    typed["card"], f.get("sms") == "yes",
                                    cards.today(console.config, ctx.now))
        row = desk.enrol(ctx.cdb, console.config, ctx.user, form, ctx.now)
    except Refusal as exc:
        return search_page(console, ctx, status=400, enrol=shown_back(typed),
                           enrol_error=say(ctx, exc))
    return redirect(f"/customer?id={row.id}")


def _account_of(ctx: Ctx) -> int:
    account = _number(ctx.req.form.get("account", ""))
    if account is None:
        raise BadInput(desk.DeskError(N_("no customer named (id must be a number)")))
    return account


def card_on_account(console: Console, ctx: Ctx, pan: str, account: int) -> None:
    """BadInput unless the card is on the account, as its page shows it: the account is a
    form's hidden field (where a new card is recorded, the page to go back to), so any number
    could be sent."""
    try:
        got = desk.customer(console.config, account, ctx.now, ctx.scope, history=0)
    except Refusal as exc:  # no such account (or none at a scoped member's stores)
        raise BadInput(exc) from None
    if pan not in {c.pan for c in got.view.cards}:
        raise BadInput(desk.DeskError(N_("card {card} is not on customer account #{id}"),
                                      card=mask_pan(pan), id=account))


@route("POST", "/customer/replace")
def replace(console: Console, ctx: Ctx) -> Response:
    account = _account_of(ctx)
    old = card_of(ctx)
    card_on_account(console, ctx, old, account)
    f = ctx.req.form
    try:
        new, reason = replacements.parse_replacement(console.config, old, f.get("new", ""),
                                             f.get("reason", ""))
        rep = replacements.request_replacement(ctx.cdb, console.config, ctx.user, account, old, new,
                                       reason, console.settings.approval_threshold, ctx.now)
    except Refusal as exc:
        return customer_page(console, ctx, account, error=say(ctx, exc), status=400)
    return redirect(f"/customer?id={account}&replaced={rep.id}")


def _decide(console: Console, ctx: Ctx, approve: bool) -> Response:
    rid = _number(ctx.req.form.get("id", ""))
    if rid is None:
        raise BadInput(desk.DeskError(N_("no card replacement named (id must be a number)")))
    try:
        replacements.decide(ctx.cdb, console.config, ctx.user, rid, approve, ctx.now)
    except Refusal as exc:
        raise BadInput(exc) from None
    return redirect(f"/adjustments?replacement={rid}")


@route("POST", "/replacements/approve")
def approve(console: Console, ctx: Ctx) -> Response:
    return _decide(console, ctx, True)


@route("POST", "/replacements/reject")
def reject(console: Console, ctx: Ctx) -> Response:
    return _decide(console, ctx, False)
