"""The staff list (per-row disable and password reset, last login) and the audit log."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from lps.console import audit, auth, throttle
from lps.console.i18n import shown_back
from lps.console.messages import N_
from lps.console.roles import ROLES
from lps.console.views.common import page
from lps.console.web import BadInput, Console, Ctx, route
from switch.core.text import is_digits, to_ascii_digits
from switch.i18n import DateError, parse_date


def staff_page(console: Console, ctx: Ctx, notice: str = "", error: str = "",
               status: int = 200) -> Response:
    stores = [(s, st.name) for s, st in sorted(console.config.stores.items())]
    return page(console, ctx, "staff.html", N_("Staff"), status,
                people=auth.list_staff(ctx.cdb), roles=ROLES, stores=stores, notice=notice,
                error=error)


@route("GET", "/staff")
def staff(console: Console, ctx: Ctx) -> Response:
    return staff_page(console, ctx)


def _change(console: Console, ctx: Ctx, change: Callable[[], None], notice: str) -> Response:
    try:
        change()
    except throttle.Busy:
        raise  # 503 from the pipeline, not a mistake in the form
    except auth.AuthError as exc:
        raise BadInput(exc) from None
    return staff_page(console, ctx, notice=notice)


@route("POST", "/staff/add")
def add(console: Console, ctx: Ctx) -> Response:
    f = ctx.req.form
    user = f.get("username", "").strip()

    def run() -> None:
        stores = auth.check_stores(f.get("stores", "").split(","), console.config.stores)
        auth.add_staff(ctx.cdb, f"staff:{ctx.user}", user, f.get("role", ""),
                       f.get("password", ""), ctx.now, console.hashing, stores,
                       f.get("language", "fa") or "fa")

    return _change(console, ctx, run, ctx.t.format(N_("Added {user}."), user=user))


@route("POST", "/staff/disable")
def disable(console: Console, ctx: Ctx) -> Response:
    user = ctx.req.form.get("username", "").strip()
    return _change(console, ctx, lambda: auth.disable_staff(
        ctx.cdb, f"staff:{ctx.user}", user, ctx.now),
        ctx.t.format(N_("Disabled {user}."), user=user))


@route("POST", "/staff/reset-password")
def reset(console: Console, ctx: Ctx) -> Response:
    f = ctx.req.form
    user = f.get("username", "").strip()
    return _change(console, ctx, lambda: auth.reset_password(
        ctx.cdb, f"staff:{ctx.user}", user, f.get("password", ""), ctx.now, console.hashing),
        ctx.t.format(N_("New password set for {user}; their sessions ended."), user=user))


def changes(row: audit.AuditRow) -> list[tuple[str, Any, Any]]:
    """Before and after as the keys that differ: (key, old or None, new or None)."""
    def load(text: str | None) -> dict[str, Any]:
        value = json.loads(text) if text else {}
        return value if isinstance(value, dict) else {"value": value}

    before, after = load(row.before), load(row.after)
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        out.append((key, None if key not in before else _show(old),
                    None if key not in after else _show(new)))
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True)


def audit_page(console: Console, ctx: Ctx, error: str = "", status: int = 200) -> Response:
    q = ctx.req.query
    text = to_ascii_digits(q.get("before", ""))
    before = int(text) if is_digits(text) and len(text) <= 18 else None
    days = []
    for name in ("from", "to"):
        typed = q.get(name, "").strip()
        try:
            days.append(parse_date(typed) if typed else None)
        except DateError as exc:
            from lps.console.settle import date_refusal

            days.append(None)
            error = error or date_refusal(exc).render(ctx.t)
            status = 400
    card = to_ascii_digits(q.get("card", "")).strip().replace("*", "")[-4:]
    shown = shown_back({k: q.get(k, "") for k in ("from", "to", "actor", "action")})
    f = audit.Filter(shown["actor"].strip()[:40], shown["action"].strip()[:60],
                     card if is_digits(card) else "", days[0], days[1],
                     console.config.switch.zone)
    rows = audit.rows(ctx.cdb, before, where=f)
    checked, broken = audit.verify(ctx.cdb)
    nxt = rows[-1].id if len(rows) == 100 else None
    older = "/audit?" + urllib.parse.urlencode({**q, "before": str(nxt)}) if nxt else ""
    return page(console, ctx, "audit.html", N_("Audit log"), status,
                rows=[{"row": r, "changes": changes(r)} for r in rows], checked=checked,
                broken=broken, next_before=nxt, older=older, f=f, actions=audit.actions(ctx.cdb),
                typed_from=shown["from"], typed_to=shown["to"], error=error)


@route("GET", "/audit")
def audit_log(console: Console, ctx: Ctx) -> Response:
    return audit_page(console, ctx)
