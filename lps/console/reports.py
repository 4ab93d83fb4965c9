"""The console's reports (docs/console.md, "Reports"): the range a reader asks for, the figures
of `settlement.figures` over it (scoped through `queries`), and each value as the reader
reads it. The figures are never counted here: a page, its CSV and its xlsx show what
`lps report` shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from fractions import Fraction

import jdatetime

from lps.console import queries
from lps.console.i18n import N_, Translator
from lps.console.messages import Refusal
from settlement.figure_columns import COLUMNS, MONEY, PERCENT, TEXT, Column, value
from settlement.figures import TOTAL, Figures
from settlement.netting import fraction_str
from settlement.periods import GRAINS, periods
from switch.config import Config
from switch.journal import JournalReader

#: The column names as the console shows them (settlement.figure_columns titles, for the
#: catalogue); a test keeps the two lists equal.
TITLES = (N_("from"), N_("to"), N_("store"), N_("name"), N_("coalition"),
          N_("active customers"), N_("new customers"), N_("purchases"),
          N_("repeat-customer rate"), N_("purchases per customer"), N_("average basket"),
          N_("points issued"), N_("points adjusted"), N_("points redeemed"),
          N_("points expired"), N_("points outstanding"), N_("liability"),
          N_("redemption rate"), N_("currency"))
GRAIN_WORDS = {"day": N_("by day"), "week": N_("by week (from Saturday)"),
               "month": N_("by Jalali month")}
#: The page's table: the range is in the heading, money carries its unit.
SHOWN = tuple(c for c in COLUMNS if c.key not in ("start", "end", "coalition", "currency"))
#: One page's chart has at most this many points: a longer range takes a longer grain.
MAX_PERIODS = 200
#: The days a report covers when none are asked for: the last 30, today included.
DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Ask:
    """A report as asked: the range, the grain, and whose trend the charts draw."""

    start: dt.date
    end: dt.date
    grain: str
    #: A store ID, or `coalition:<id>` for a coalition's total.
    subject: str


@dataclass(frozen=True, slots=True)
class Result:
    ask: Ask
    #: Each visible store's figures over the range (and each coalition's total, for the
    #: whole coalition's staff): `lps report`'s rows.
    rows: list[Figures]
    #: The subject's figures per period, oldest first.
    trend: list[Figures]
    #: Every visible row per period (the xlsx's second sheet).
    series: list[list[Figures]]


def subjects(config: Config, scope: queries.Scope) -> list[tuple[str, str]]:
    """(value, name) of what a reader may chart: each coalition's total for the whole
    coalition's staff, then each visible store."""
    out: list[tuple[str, str]] = []
    if not scope.limited:
        out += [(f"coalition:{cid}", c.name) for cid, c in sorted(config.coalitions.items())]
    out += [(sid, s.name) for sid, s in sorted(config.stores.items()) if scope.sees(sid)]
    return out


def ask(query: dict[str, str], config: Config, scope: queries.Scope, today: dt.date) -> Ask:
    """The report a query string asks for (defaults: the last 30 days by day); `Refusal` with
    the reason for a date, grain or subject that is not one."""
    from lps.console.settle import check_day

    typed_from, typed_to = query.get("from", "").strip(), query.get("to", "").strip()
    end = check_day(typed_to) if typed_to else today
    start = check_day(typed_from) if typed_from else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise Refusal(N_("the report ends ({end}) before it starts ({start})"), end=end,
                      start=start)
    grain = query.get("grain", "") or "day"
    if grain not in GRAINS:
        raise Refusal(N_("choose the periods by day, by week or by month"))
    count = len(periods(start, end, grain))
    if count > MAX_PERIODS:
        raise Refusal(N_("{n} periods are too many for one chart: choose a shorter range or "
                         "longer periods"), n=count)
    choices = [v for v, _ in subjects(config, scope)]
    subject = query.get("subject", "") or (choices[0] if choices else "")
    if subject not in choices:
        raise Refusal(N_("choose one of the stores listed"))
    return Ask(start, end, grain, subject)


def _matches(f: Figures, subject: str) -> bool:
    if subject.startswith("coalition:"):
        return f.scope == TOTAL and f.coalition == subject.removeprefix("coalition:")
    return f.scope == subject


def build(reader: JournalReader, config: Config, scope: queries.Scope, a: Ask) -> Result:
    rows = queries.report_figures(reader, config, scope, a.start, a.end)
    series = queries.report_series(reader, config, scope, a.start, a.end, a.grain)
    trend = [f for period in series for f in period if _matches(f, a.subject)]
    return Result(a, rows, trend, series)


# -- values as the reader reads them ---------------------------------------------------------


def decimal(t: Translator, v: Fraction, places: int) -> str:
    """`v` with `places` decimals, rounded half up (integer arithmetic), in the reader's
    digits and decimal separator."""
    text = fraction_str(v.numerator, v.denominator, places) or ""
    return t.digits(text).replace(".", "٫") if t.persian else text


def percent(t: Translator, v: Fraction) -> str:
    """`33.33%`, `۳۳٫۳۳٪`."""
    text = decimal(t, v * 100, 2)
    return f"{text}٪" if t.persian else f"{text}%"


def shown(t: Translator, f: Figures, column: Column) -> str:
    """A figure as the page shows it; an empty rate (over nothing) is a dash."""
    v = value(f, column)
    if column.key == "scope":
        return t.gettext("whole coalition") if f.scope == TOTAL else f.scope
    if column.key == "name" and f.scope == TOTAL:
        return t.format(N_("coalition {name}"), name=f.name.removeprefix("coalition "))
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, Fraction):
        return percent(t, v) if column.kind == PERCENT else decimal(t, v, 2)
    if column.kind == MONEY:
        return t.money(v, f.coalition)
    return t.number(v)


def numeric(column: Column) -> bool:
    return column.kind != TEXT


def period_label(t: Translator, start: dt.date, grain: str) -> str:
    """A period as an axis names it: a Jalali month by name (`آذر ۱۴۰۵`), a day or a week by
    its first day."""
    if grain == "month":
        j = jdatetime.date.fromgregorian(date=start)
        names = jdatetime.date.j_months_fa if t.persian else jdatetime.date.j_months_en
        return t.digits(f"{names[j.month - 1]} {j.year}")
    return t.date(start)
