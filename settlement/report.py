"""`lps report`: the club's figures per store and per coalition over a range of business days,
as a text table, a CSV and an HTML page with charts. The figures and their definitions are
`settlement.figures`'; the CSV's columns are `settlement.figure_columns`'.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass

from settlement import figures
from settlement.figure_columns import COLUMNS, COUNT, MONEY, plain
from settlement.figures import Figures
from settlement.journal import Journal
from settlement.netting import StoreInfo
from settlement.render import CSS
from settlement.render import csv_bytes as _csv


@dataclass(frozen=True, slots=True)
class Report:
    start: dt.date
    end: dt.date
    rows: list[Figures]


def build(journal: Journal, stores: Mapping[str, StoreInfo], start: dt.date,
          end: dt.date) -> Report:
    return Report(start, end, figures.compute(journal.reader, stores, start, end))


#: The text table leaves out the range (said in its first line) and the currency.
_TEXT_COLUMNS = [c for c in COLUMNS if c.key not in ("start", "end", "coalition", "currency")]


def _cell(f: Figures, key: str) -> str:
    column = next(c for c in _TEXT_COLUMNS if c.key == key)
    text = plain(f, column)
    if column.kind in (COUNT, MONEY):
        return f"{int(text):,}"
    return text or "-"


def text_table(rep: Report) -> str:
    head = [c.title for c in _TEXT_COLUMNS]
    cells = [head, *([_cell(f, c.key) for c in _TEXT_COLUMNS] for f in rep.rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = [f"LPS report, business days {rep.start} to {rep.end}"]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def csv_bytes(rep: Report) -> bytes:
    """The figures table (settlement.figure_columns): the console's CSV download is this."""
    return _csv([c.title for c in COLUMNS], ([plain(f, c) for c in COLUMNS] for f in rep.rows))


def _bars(rep: Report, title: str, series: list[tuple[str, str, str]]) -> str:
    """Grouped horizontal bars per store (integer geometry, inline SVG, no script)."""
    stores = [f for f in rep.rows if f.scope != figures.TOTAL]
    peak = max((getattr(f, a) for f in stores for a, _, _ in series), default=0) or 1
    row_h, label_w, width = 14 * len(series) + 10, 200, 420
    height = row_h * len(stores) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 120}" '
           f'height="{height}" role="img" aria-label="{html.escape(title)}">']
    for i, f in enumerate(stores):
        y = 10 + i * row_h
        out.append(f'<text x="{label_w - 8}" y="{y + 12}" text-anchor="end" font-size="12">'
                   f"{html.escape(f.name)}</text>")
        for k, (attr, color, label) in enumerate(series):
            v = max(getattr(f, attr), 0)
            yy = y + k * 14
            out.append(f'<rect x="{label_w}" y="{yy}" width="{v * width // peak}" height="12" '
                       f'fill="{color}"><title>{label}: {v:,}</title></rect>'
                       f'<text x="{label_w + v * width // peak + 4}" y="{yy + 10}" '
                       f'font-size="10">{v:,}</text>')
    out.append("</svg>")
    return "".join(out)


def html_page(rep: Report) -> str:
    head = "".join(f"<th>{html.escape(c.title)}</th>" for c in _TEXT_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(f, c.key))}</td>"
                                    for c in _TEXT_COLUMNS) + "</tr>\n" for f in rep.rows)
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>LPS report {rep.start} to '
        f"{rep.end}</title><style>{CSS}</style></head><body>",
        f"<h1>Loyalty report, business days {rep.start} to {rep.end}</h1>",
        f"<table><tr>{head}</tr>\n{body}</table>",
        "<h2>Points issued, redeemed and expired</h2>",
        _bars(rep, "points per store", [("points_issued", "#2a7", "issued"),
                                         ("points_redeemed", "#37c", "redeemed"),
                                         ("points_expired", "#c93", "expired")]),
        "<h2>Outstanding liability (points)</h2>",
        _bars(rep, "outstanding points", [("points_outstanding", "#c33", "outstanding")]),
        "</body></html>\n",
    ])
