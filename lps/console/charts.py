"""Trend charts as server-rendered SVG (docs/console.md, "Reports"): no script (the console's
CSP has none), no library to ship. Time runs the reader's way: right to left in Persian, with
the value axis on the right and Persian digits; each chart has a title and a description for
screen readers, and each point says its period and value in its own `<title>`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from markupsafe import Markup, escape

from lps.console.i18n import N_, Translator

#: Colours and dash patterns told apart without colour too (up to four lines a chart).
STYLES = (("#1f6fb2", ""), ("#c0392b", "6 3"), ("#2a8a4a", "2 3"), ("#8e5ea2", "8 3 2 3"))
WIDTH, HEIGHT = 640, 260
#: The plot's margins: the value axis' labels on the start side, the period labels below.
AXIS, TOP, BOTTOM, END = 70, 14, 34, 16
#: The value axis' steps.
STEPS = 5
#: At most this many period labels under the axis (every point keeps its own title).
MAX_LABELS = 7


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    #: One value per period; None where there is nothing to show (a rate over nothing).
    values: Sequence[int | Fraction | None]


def nice_ceiling(peak: Fraction) -> Fraction:
    """The smallest 1, 2 or 5 times a power of ten at or above `peak`, at least 5 when
    `whole` numbers are charted (so that five steps of the axis are whole)."""
    if peak <= 0:
        return Fraction(1)
    power = Fraction(10) ** math.floor(math.log10(peak))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= peak)


def line_chart(t: Translator, chart_id: str, title: str, labels: Sequence[str],
               lines: Sequence[Line], show: Callable[[Fraction], str],
               top: Fraction | None = None, whole: bool = False) -> Markup:
    """An SVG line chart of `lines` over the periods `labels` (oldest first); `show` writes a
    value as the reader reads it, `top` fixes the value axis' top (100 % for a rate), `whole`
    keeps the axis' steps whole numbers (counts)."""
    rtl = t.persian
    n = len(labels)
    known = [Fraction(v) for line in lines for v in line.values if v is not None]
    peak = top if top is not None else nice_ceiling(max(known, default=Fraction(0)))
    low = min(known, default=Fraction(0))
    floor = -nice_ceiling(-low) if low < 0 else Fraction(0)
    if whole:
        peak, floor = max(peak, Fraction(STEPS)), min(floor, Fraction(0))
    left, right = (END, WIDTH - AXIS) if rtl else (AXIS, WIDTH - END)
    bottom = HEIGHT - BOTTOM
    step = (right - left) / (n - 1) if n > 1 else 0.0

    def x(i: int) -> float:
        offset = step * i if n > 1 else (right - left) / 2
        return right - offset if rtl else left + offset

    def y(v: Fraction) -> float:
        return float(bottom - (v - floor) / (peak - floor) * (bottom - TOP))

    last = [f"{line.name}: {show(Fraction(v))}" for line in lines
            for v in line.values[-1:] if v is not None]
    desc = t.format(N_("{first} to {last}"), first=labels[0], last=labels[-1]) if labels else ""
    if last:
        desc += "; " + "; ".join(last)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" id="{escape(chart_id)}" '
           f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
           f'class="trend" direction="{t.dir}">',
           f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
           f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>']
    axis_x = right if rtl else left
    # "end" is the side away from the plot either way: the left end of Persian (rtl) text
    # that starts right of the axis, the right end of English text that ends left of it
    anchor = "end"
    label_x = axis_x + 6 if rtl else axis_x - 6
    for k in range(STEPS + 1):
        v = floor + (peak - floor) * k / STEPS
        yy = y(v)
        out.append(f'<line x1="{left:.1f}" x2="{right:.1f}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   f'stroke="#dde" stroke-width="1"/>'
                   f'<text x="{label_x:.1f}" y="{yy + 4:.1f}" text-anchor="{anchor}" '
                   f'font-size="11" class="tick">{escape(show(v))}</text>')
    out.append(f'<line x1="{axis_x:.1f}" x2="{axis_x:.1f}" y1="{TOP}" y2="{bottom}" '
               'stroke="#889" stroke-width="1"/>')
    every = max(1, math.ceil(n / MAX_LABELS))
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(f'<text x="{x(i):.1f}" y="{bottom + 18}" text-anchor="middle" '
                       f'font-size="11" class="period">{escape(label)}</text>')
    for (colour, dash), line in zip(STYLES, lines, strict=False):
        points = [(x(i), y(Fraction(v)), labels[i], Fraction(v)) for i, v in enumerate(line.values)
                  if v is not None]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       f'stroke-width="2"{dashes}/>')
        for px, py, label, v in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}">'
                       f"<title>{escape(line.name)}, {escape(label)}: "
                       f"{escape(show(v))}</title></circle>")
    out.append("</svg>")
    return Markup("".join(out))


def swatch(index: int) -> Markup:
    """The legend's small sample of line `index` (colour and dashes)."""
    colour, dash = STYLES[index % len(STYLES)]
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="10" '
                  f'aria-hidden="true"><line x1="0" x2="28" y1="5" y2="5" stroke="{colour}" '
                  f'stroke-width="2"{dashes}/></svg>')
