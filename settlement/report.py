"""`lps report`: loyalty figures per store and per coalition over a range of business days.

Definitions (all over approved, unreversed journal entries of the range):
- active members: cards with an earn, redemption, top-up or stored-value purchase at the store;
- new members: cards whose first such transaction at the store falls in the range (for a
  coalition: cards enrolled in the range);
- purchases: earns (0200 and 0220 advices); repeat-customer rate: members with two or more
  purchases over members with one or more; purchase frequency: purchases per purchasing member;
  average basket: purchase amount / purchases (rounded down, minor units);
- points issued (by the issuing store): earned less clawed back by returns and reversals;
  points redeemed (at the accepting store): burnt less reversed; expired: breakage over the
  range (see settlement.expiry); outstanding liability: the remaining of unexpired lots at the
  end of the range, in points and at the coalition's point value; redemption rate: redeemed
  over issued.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields

from settlement.journal import Journal
from settlement.netting import StoreInfo, fraction_str
from settlement.records import ADVICE, EARN, POINTS, REDEEM, REVERSAL, Row
from settlement.render import CSS
from settlement.render import csv_bytes as _csv

ACTIVITY = frozenset({EARN, ADVICE, REDEEM, "sv_purchase", "topup"})
ISSUING = frozenset({EARN, ADVICE, "return"})


@dataclass(frozen=True, slots=True)
class Figures:
    scope: str
    name: str
    coalition: str
    active_members: int
    new_members: int
    purchases: int
    repeat_customer_rate: str
    purchase_frequency: str
    average_basket: int
    points_issued: int
    points_redeemed: int
    points_expired: int
    outstanding_points: int
    outstanding_amount: int
    redemption_rate: str
    currency: str


@dataclass(frozen=True, slots=True)
class Report:
    start: dt.date
    end: dt.date
    rows: list[Figures]


class _Acc:
    def __init__(self) -> None:
        self.members: set[str] = set()
        self.visits: Counter[str] = Counter()
        self.amount = 0
        self.issued = 0
        self.redeemed = 0


def _rate(num: int, den: int, places: int = 4) -> str:
    return fraction_str(num, den, places) or "-"


def build(journal: Journal, stores: Mapping[str, StoreInfo], start: dt.date,
          end: dt.date) -> Report:
    acc = {sid: _Acc() for sid in stores}
    reversed_ids: set[int] = set()
    kinds: dict[int, tuple[str, str, str, int]] = {}
    for r in journal.rows_between(start, end):
        if not r.approved or r.store_id not in acc:
            continue
        _take(acc, r, reversed_ids, kinds)
    for oid in reversed_ids:  # a purchase reversed inside the range does not count
        if oid in kinds:
            _, store, pan, amount = kinds[oid]
            a = acc[store]
            a.visits[pan] -= 1
            a.amount -= amount
    new_by_store, new_by_coalition = journal.new_members(start, end)
    before = journal.lots_at(start - dt.timedelta(days=1))
    after = journal.lots_at(end)
    rows: list[Figures] = []
    for coalition in sorted({s.coalition for s in stores.values()}):
        mine = sorted((s for s in stores.values() if s.coalition == coalition), key=lambda s: s.id)
        total = _Acc()
        visits: Counter[str] = Counter()
        members: set[str] = set()
        expired_all = outstanding_all = 0
        for s in mine:
            a = acc[s.id]
            expired = after.get(s.id, (0, 0))[0] - before.get(s.id, (0, 0))[0]
            outstanding = after.get(s.id, (0, 0))[1]
            rows.append(_figures(s.id, s.name, s, a.members, a.visits, a.amount, a.issued,
                                 a.redeemed, new_by_store.get(s.id, 0), expired, outstanding))
            visits.update(a.visits)
            members |= a.members
            total.amount += a.amount
            total.issued += a.issued
            total.redeemed += a.redeemed
            expired_all += expired
            outstanding_all += outstanding
        rows.append(_figures("ALL", f"coalition {coalition}", mine[0], members, visits,
                             total.amount, total.issued, total.redeemed,
                             new_by_coalition.get(coalition, 0), expired_all, outstanding_all))
    return Report(start, end, rows)


def _take(acc: dict[str, _Acc], r: Row, reversed_ids: set[int],
          kinds: dict[int, tuple[str, str, str, int]]) -> None:
    a = acc[r.store_id]
    kind = r.kind
    if kind in ACTIVITY and r.pan:
        a.members.add(r.pan)
    if kind in (EARN, ADVICE):
        a.visits[r.pan] += 1
        a.amount += r.amount
        kinds[r.id] = (kind, r.store_id, r.pan, r.amount)
    if kind == REVERSAL and r.original_kind in (EARN, ADVICE) and r.original_id is not None:
        reversed_ids.add(r.original_id)
    effective = r.original_kind if kind == REVERSAL else kind
    for d in r.draws:
        if d.kind != POINTS:
            continue
        if effective in ISSUING and d.issuer in acc:
            acc[d.issuer].issued += d.delta
        elif effective == REDEEM:
            a.redeemed -= d.delta


def _figures(scope: str, name: str, s: StoreInfo, members: set[str], visits: Counter[str],
             amount: int, issued: int, redeemed: int, new: int, expired: int,
             outstanding: int) -> Figures:
    purchasing = sum(1 for v in visits.values() if v > 0)
    repeat = sum(1 for v in visits.values() if v > 1)
    purchases = sum(v for v in visits.values() if v > 0)
    return Figures(
        scope=scope, name=name, coalition=s.coalition, active_members=len(members),
        new_members=new, purchases=purchases,
        repeat_customer_rate=_rate(repeat, purchasing),
        purchase_frequency=_rate(purchases, purchasing, 2),
        average_basket=amount // purchases if purchases else 0,
        points_issued=issued, points_redeemed=redeemed, points_expired=expired,
        outstanding_points=outstanding, outstanding_amount=outstanding * s.point_value,
        redemption_rate=_rate(redeemed, issued), currency=s.currency,
    )


COLUMNS = [f.name for f in fields(Figures)]
SHORT = ["scope", "name", "active", "new", "purch", "repeat", "freq", "basket", "issued",
         "redeemed", "expired", "outst.pts", "outst.amount", "redeem.rate"]


def _short(f: Figures) -> list[str]:
    return [f.scope, f.name[:22], f"{f.active_members:,}", f"{f.new_members:,}",
            f"{f.purchases:,}", f.repeat_customer_rate, f.purchase_frequency,
            f"{f.average_basket:,}", f"{f.points_issued:,}", f"{f.points_redeemed:,}",
            f"{f.points_expired:,}", f"{f.outstanding_points:,}", f"{f.outstanding_amount:,}",
            f.redemption_rate]


def text_table(rep: Report) -> str:
    cells = [SHORT, *(_short(f) for f in rep.rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(SHORT))]
    lines = [f"LPS report, business days {rep.start} to {rep.end}"]
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def csv_bytes(rep: Report) -> bytes:
    return _csv(["start", "end", *COLUMNS],
                ([rep.start.isoformat(), rep.end.isoformat(),
                  *(getattr(f, c) for c in COLUMNS)] for f in rep.rows))


def _bars(rep: Report, title: str, series: list[tuple[str, str, str]]) -> str:
    """Grouped horizontal bars per store (integer geometry, inline SVG, no script)."""
    stores = [f for f in rep.rows if f.scope != "ALL"]
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
    head = "".join(f"<th>{html.escape(c)}</th>" for c in SHORT)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _short(f)) + "</tr>\n"
                   for f in rep.rows)
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
        _bars(rep, "outstanding points", [("outstanding_points", "#c33", "outstanding")]),
        "</body></html>\n",
    ])
