"""Reports: the club's figures over a range with trend charts, and their CSV and xlsx
(docs/console.md, "Reports"; the figures are settlement.figures', as `lps report` prints
them)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from starlette.responses import Response

from lps.console import audit, cards, charts, queries, reports, spreadsheet, switch_words
from lps.console.i18n import shown_back
from lps.console.messages import N_, Refusal
from lps.console.views.common import page, say
from lps.console.web import Console, Ctx, route
from settlement import report
from settlement.figures import Figures

#: The charts of a report: (id, title, [(figure, line name)], kind of value).
CHARTS = (
    ("repeat-rate", N_("Repeat-customer rate"),
     (("repeat_customer_rate", N_("repeat-customer rate")),), "percent"),
    ("frequency", N_("Purchases per customer"),
     (("purchase_frequency", N_("purchases per customer")),), "ratio"),
    ("customers", N_("Active and new customers"),
     (("active_customers", N_("active customers")), ("new_customers", N_("new customers"))),
     "count"),
    ("points", N_("Points issued, redeemed and expired"),
     (("points_issued", N_("points issued")), ("points_redeemed", N_("points redeemed")),
      ("points_expired", N_("points expired"))), "count"),
    ("outstanding", N_("Points outstanding"),
     (("points_outstanding", N_("points outstanding")),), "count"),
)


def _shower(ctx: Ctx, kind: str) -> Callable[[Fraction], str]:
    if kind == "percent":
        return lambda v: reports.percent(ctx.t, v)
    if kind == "ratio":
        return lambda v: reports.decimal(ctx.t, v, 2)
    return lambda v: ctx.t.number(round(v))


def _charts(ctx: Ctx, result: reports.Result) -> list[dict[str, Any]]:
    labels = [reports.period_label(ctx.t, f.start, result.ask.grain) for f in result.trend]
    out = []
    for chart_id, title, lines, kind in CHARTS:
        drawn = [charts.Line(ctx.t.gettext(name), [getattr(f, key) for f in result.trend])
                 for key, name in lines]
        svg = charts.line_chart(ctx.t, f"chart-{chart_id}", ctx.t.gettext(title), labels,
                                drawn, _shower(ctx, kind),
                                top=Fraction(1) if kind == "percent" else None,
                                whole=kind == "count")
        out.append({"id": chart_id, "title": title, "svg": svg,
                    "legend": [(charts.swatch(i), line.name) for i, line in enumerate(drawn)],
                    "table": [(label, [_shower(ctx, kind)(Fraction(v)) if v is not None
                                       else "–" for v in (ln.values[i] for ln in drawn)])
                              for i, label in enumerate(labels)]})
    return out


def _form(ctx: Ctx, a: reports.Ask | None) -> dict[str, str]:
    """The form's fields as typed, or (a report shown) as the reader writes its dates."""
    q = shown_back(ctx.req.query)
    if a is None:
        return {k: q.get(k, "") for k in ("from", "to", "grain", "subject")}
    return {"from": ctx.t.date(a.start), "to": ctx.t.date(a.end), "grain": a.grain,
            "subject": a.subject}


@route("GET", "/reports")
def reports_page(console: Console, ctx: Ctx) -> Response:
    config = console.config
    today = cards.today(config, ctx.now)
    status, error, result, a = 200, "", None, None
    try:
        a = reports.ask(ctx.req.query, config, ctx.scope, today)
        with queries.reading(console.journal) as reader:
            result = reports.build(reader, config, ctx.scope, a)
    except Refusal as exc:
        status, error = 400, say(ctx, exc)
    except queries.QueryError as exc:
        error = say(ctx, switch_words.database(str(exc)))
    quiet = result is not None and not any(
        f.active_customers or f.points_issued or f.points_redeemed or f.points_expired
        or f.points_outstanding or f.points_adjusted for f in result.rows)
    return page(console, ctx, "reports.html", N_("Reports"), status, error=error,
                result=result, quiet=quiet, form=_form(ctx, a),
                subjects=reports.subjects(config, ctx.scope), grains=reports.GRAIN_WORDS,
                columns=reports.SHOWN, shown=reports.shown,
                charts=_charts(ctx, result) if result is not None and result.trend else [],
                download=_download_query(a))


def _download_query(a: reports.Ask | None) -> str:
    if a is None:
        return ""
    return f"from={a.start.isoformat()}&to={a.end.isoformat()}&grain={a.grain}"


@route("GET", "/reports/download")
def download(console: Console, ctx: Ctx) -> Response:
    """The range's figures as `lps report --csv` writes them, or as an xlsx workbook."""
    kind = ctx.req.query.get("format", "csv")
    if kind not in ("csv", "xlsx"):
        return reports_page_refused(console, ctx, Refusal(N_("a download is CSV or xlsx")))
    try:
        a = reports.ask(ctx.req.query, console.config, ctx.scope,
                        cards.today(console.config, ctx.now))
        with queries.reading(console.journal) as reader:
            rows = queries.report_figures(reader, console.config, ctx.scope, a.start, a.end)
            series: list[list[Figures]] = []
            if kind == "xlsx":
                series = queries.report_series(reader, console.config, ctx.scope, a.start,
                                               a.end, a.grain)
    except Refusal as exc:
        return reports_page_refused(console, ctx, exc)
    except queries.QueryError as exc:
        return reports_page_refused(console, ctx, switch_words.database(str(exc)))
    audit.append(ctx.cdb, ctx.now.isoformat(timespec="seconds"), f"staff:{ctx.user}",
                 "reports.download", f"reports:{a.start}..{a.end}.{kind}")
    name = f"lps-report-{a.start.isoformat()}-{a.end.isoformat()}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "csv":
        body = report.csv_bytes(report.Report(a.start, a.end, rows))
        return Response(body, 200, headers, "text/csv; charset=utf-8")
    body = spreadsheet.workbook(ctx.t, rows, series)
    return Response(body, 200, headers,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def reports_page_refused(console: Console, ctx: Ctx, message: Refusal) -> Response:
    return page(console, ctx, "reports.html", N_("Reports"), 400, error=say(ctx, message),
                result=None, quiet=False, form=_form(ctx, None),
                subjects=reports.subjects(console.config, ctx.scope),
                grains=reports.GRAIN_WORDS, columns=reports.SHOWN, shown=reports.shown,
                charts=[], download="")
