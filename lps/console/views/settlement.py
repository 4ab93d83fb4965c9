"""Settlement: days settled and not, a run (or reopening), a day's page in words, its files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from lps.console import audit, cards, queries, settle, switch_words
from lps.console.messages import N_, Refusal
from lps.console.views.common import page, say
from lps.console.views.programs import exclusive
from lps.console.web import BadInput, Console, Ctx, route
from switch.i18n import jalali_date

#: Words of settlement's instructions and kinds (settlement.json), as a day's page shows them.
WORDS = (N_("pay"), N_("receive"), N_("points"), N_("stored_value"))


def listing(console: Console, ctx: Ctx, notice: str = "", error: str = "", status: int = 200,
            output: str = "") -> Response:
    days = settle.days(console.database)
    settled = {d.business_day for d in days}
    today = cards.today(console.config, ctx.now)
    unsettled: list[str] = []
    if not ctx.scope.limited:
        try:
            with queries.reading(console.journal) as conn:
                unsettled = [d for d in queries.business_days(conn, today) if d not in settled]
        except queries.QueryError as exc:
            error = error or say(ctx, switch_words.database(str(exc)))
    yesterday = today - dt.timedelta(days=1)
    return page(console, ctx, "settlement.html", N_("Settlement"), status, days=days,
                unsettled=unsettled, can_run=ctx.may("POST", "/settlement/run"),
                default_day=jalali_date(yesterday, persian=False), output=output,
                notice=notice, error=error)


@route("GET", "/settlement")
def settlement(console: Console, ctx: Ctx) -> Response:
    return listing(console, ctx)


def _day(console: Console, ctx: Ctx) -> settle.Day:
    try:
        return settle.day(console.database, settle.check_day(ctx.req.query.get("date", "")))
    except Refusal as exc:
        raise BadInput(exc) from None


@route("GET", "/settlement/day")
def day(console: Console, ctx: Ctx) -> Response:
    d = _day(console, ctx)
    summary = settle.summary(d)
    coalitions: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    if not ctx.scope.limited and summary:
        entries, recon = summary.get("entries", {}), summary.get("reconciliation", {})
        totals = {"entries": int(entries.get("total", 0)),
                  "batches": int(recon.get("batches", 0)),
                  "out_of_balance": int(recon.get("out_of_balance", 0))}
        coalitions = [{"id": cid, **c} for cid, c in summary.get("coalitions", {}).items()]
    title = ctx.t.format(N_("Settlement of {day}"), day=ctx.t.date_both(d.business_day))
    return page(console, ctx, "settlement_day.html", title, d=d, totals=totals,
                coalitions=coalitions,
                charts=[] if ctx.scope.limited else settle.charts(d),
                positions=settle.positions(d, ctx.scope), files=settle.files(d, ctx.scope))


@route("GET", "/settlement/file")
def file(console: Console, ctx: Ctx) -> Response:
    d = _day(console, ctx)
    name = ctx.req.query.get("name", "")
    try:
        body = settle.read_file(d, name, ctx.scope)
    except settle.SettleError as exc:
        raise BadInput(exc) from None
    audit.append(ctx.cdb, ctx.now.isoformat(timespec="seconds"), f"staff:{ctx.user}",
                 "settlement.download", f"settlement:{d.business_day}/{name}")
    kind = {"csv": "text/csv", "json": "application/json", "html": "text/html"}[
        name.rsplit(".", 1)[1]]
    return Response(body, 200, {"Content-Disposition":
                                f'attachment; filename="{d.business_day}-{name}"'},
                    f"{kind}; charset=utf-8")


@route("POST", "/settlement/run")
def run(console: Console, ctx: Ctx) -> Response:
    try:
        when = settle.check_day(ctx.req.form.get("date", ""))
    except Refusal as exc:
        raise BadInput(exc) from None
    reopen = ctx.req.form.get("reopen") == "1"
    lock = console.database.with_name(console.database.name + ".console.settle.lock")
    with exclusive(lock):  # one run at a time from this console's workers
        rc, output = settle.run(console.config_path, console.journal, console.settlement_out,
                                when, reopen)
    audit.append(ctx.cdb, ctx.now.isoformat(timespec="seconds"), f"staff:{ctx.user}",
                 "settlement.reopen" if reopen else "settlement.run",
                 f"settlement:{when}", None, {"exit": rc, "output": output[-2000:]})
    if rc != 0:
        return listing(console, ctx, error=ctx.t.format(
            N_("settling {day} failed (exit {code})"), day=when, code=str(rc)), status=400,
            output=output)
    return listing(console, ctx, notice=ctx.t.format(N_("Business day {day} settled."),
                                                     day=when), output=output)
