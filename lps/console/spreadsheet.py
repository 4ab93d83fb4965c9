"""A report as an Excel workbook (XlsxWriter): the figures of the range on the first sheet, the
same rows per period on the second, with the columns and values of `lps report`'s CSV
(settlement.figure_columns) as numbers a spreadsheet can sum: counts and money as integers,
rates as fractions shown as percentages, frequencies to two decimals. The column names are in
the reader's language and a Persian reader's sheets run right to left.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

import xlsxwriter

from lps.console.i18n import N_, Translator
from settlement.figure_columns import COLUMNS, PERCENT, RATIO, TEXT, rounded, value
from settlement.figures import Figures

SHEET_TITLES = (N_("figures"), N_("by period"))


def _cell(f: Figures, column: Any) -> str | int | float | None:
    v = value(f, column)
    if isinstance(v, Fraction):
        # the shown rounding (settlement.figure_columns.rounded): the CSV's figure, exactly
        return float(rounded(column, v))
    return v


def _sheet(book: Any, t: Translator, name: str, rows: Iterable[Figures],
           formats: dict[str, Any]) -> None:
    sheet = book.add_worksheet(t.gettext(name))
    if t.persian:
        sheet.right_to_left()
    for col, column in enumerate(COLUMNS):
        sheet.write_string(0, col, t.gettext(column.title), formats["head"])
        sheet.set_column(col, col, 14 if column.kind != TEXT else 18)
    for r, f in enumerate(rows, start=1):
        for col, column in enumerate(COLUMNS):
            cell = _cell(f, column)
            if cell is None:
                continue
            if isinstance(cell, str):
                sheet.write_string(r, col, cell)
            else:
                sheet.write_number(r, col, cell, formats.get(column.kind))
    sheet.freeze_panes(1, 0)


def workbook(t: Translator, rows: Sequence[Figures], series: Sequence[Sequence[Figures]]
             ) -> bytes:
    """The xlsx file's bytes (built in memory: no temporary file)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    formats = {"head": book.add_format({"bold": True}),
               PERCENT: book.add_format({"num_format": "0.00%"}),
               RATIO: book.add_format({"num_format": "0.00"}),
               "count": book.add_format({"num_format": "#,##0"}),
               "money": book.add_format({"num_format": "#,##0"})}
    _sheet(book, t, SHEET_TITLES[0], rows, formats)
    _sheet(book, t, SHEET_TITLES[1], (f for period in series for f in period), formats)
    book.close()
    return out.getvalue()
