"""The day's files as bytes: CSV, JSON and a self-contained HTML page (pure, deterministic).

Nothing here reads a clock or the environment, so the same settlement renders to the same
bytes on every run; that is what lets a sealed day be re-run and compared byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from settlement import bank
from settlement.day import DaySettlement
from settlement.digest import FORMAT
from settlement.netting import NettingSummary, Position
from settlement.reconcile import ReconLine

POSITIONS = "positions.csv"
OBLIGATIONS = "obligations.csv"
RECONCILIATION = "reconciliation.csv"
BREAKAGE = "breakage.csv"
SV_POSITIONS = "sv_positions.csv"
SV_OBLIGATIONS = "sv_obligations.csv"
TIERS = "tiers.csv"
FEES = "fees.csv"
#: Coupon discounts and gift-card value lapsing to an operator, and the day's gift-card
#: breakage per seller (written on days that have any, settlement/rewards.py).
REWARDS = "rewards_obligations.csv"
GIFT_BREAKAGE = "gift_breakage.csv"
NET_POSITIONS = "net_positions.csv"
BANK_BATCH = "bank_batch.csv"
SETTLEMENT = "settlement.json"
REPORT = "report.html"


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def explained(line: ReconLine) -> str:
    """`journal_id:rrn:amount:response` for each explaining transaction."""
    return " ".join(
        f"{r.id}:{r.rrn or '-'}:{r.amount}:{r.response_code}" for r in line.explained_by
    )


def _summary(s: NettingSummary) -> dict[str, Any]:
    return {
        "obligations": s.obligations,
        "gross_units": s.gross_units,
        "gross_amount": s.gross_amount,
        "net_units": s.net_units,
        "net_amount": s.net_amount,
        "netting_removed_amount": s.removed_amount,
        "netting_ratio": s.ratio,
    }


def net_rows(d: DaySettlement) -> list[tuple[object, ...]]:
    """Each party's net in money: points at their value, stored value, fee, and all together
    (`net_positions.csv`; the operators are parties beside the stores)."""
    if d.money is None or d.fees is None:
        return []
    points = {p.store_id: p.net_amount for p in d.points.positions}
    stored = {p.store_id: p.net_amount for p in d.stored_value.positions}
    fee = {p.store_id: p.net_amount for p in d.fees.positions}
    rewards: dict[str, int] = {}
    for side in (d.coupons, d.gift_breakage, d.memberships):
        for pos in side.positions if side is not None else ():
            rewards[pos.store_id] = rewards.get(pos.store_id, 0) + pos.net_amount
    return [(p.store_id, p.store_name, p.coalition, points.get(p.store_id, 0),
             stored.get(p.store_id, 0), fee.get(p.store_id, 0), rewards.get(p.store_id, 0),
             p.payable, p.receivable, p.net_amount, p.currency) for p in d.money.positions]


def _rewards_json(d: DaySettlement, coalition: str) -> dict[str, Any] | None:
    """The coalition's coupon and gift-card figures (None: the day had neither)."""
    coupons = [o for o in (d.coupons.obligations if d.coupons else ()) if o.coalition == coalition]
    gift = [o for o in (d.gift_breakage.obligations if d.gift_breakage else ())
            if o.coalition == coalition]
    lapses = [g for g in d.gift_lapses if g.coalition == coalition]
    clubs = [o for o in (d.memberships.obligations if d.memberships else ())
             if o.coalition == coalition]
    if not (coupons or gift or lapses or clubs):
        return None
    out: dict[str, Any] = {
        "coupon_obligations": len(coupons), "coupon_amount": sum(o.amount for o in coupons),
        "gift_lapsed_lots": sum(g.lots for g in lapses),
        "gift_lapsed_amount": sum(g.amount for g in lapses),
        "gift_to_operator_amount": sum(o.amount for o in gift),
    }
    if clubs:
        out["membership_obligations"] = len(clubs)
        out["membership_amount"] = sum(o.amount for o in clubs)
    return out


def _fees_json(d: DaySettlement, coalition: str) -> dict[str, Any]:
    lines = [f for f in d.fee_lines if f.coalition == coalition]
    by_fee: dict[str, int] = {}
    for f in lines:
        by_fee[f.fee] = by_fee.get(f.fee, 0) + f.amount
    return {"lines": len(lines), "amount": sum(f.amount for f in lines), "by_fee": by_fee}


def settlement_json(d: DaySettlement, files: dict[str, str]) -> dict[str, Any]:
    coalitions: dict[str, Any] = {}
    money = {s.coalition: s for s in d.money.summaries} if d.money else {}
    for ps, ss in zip(d.points.summaries, d.stored_value.summaries, strict=True):
        brk = [b for b in d.breakage if b.coalition == ps.coalition]
        paid = [t for t in d.transfers if t.coalition == ps.coalition]
        coalitions[ps.coalition] = {
            "currency": ps.currency,
            "points": _summary(ps),
            "stored_value": _summary(ss),
            "breakage": {
                "lots": sum(b.lots for b in brk),
                "points": sum(b.points for b in brk),
                "amount": sum(b.amount for b in brk),
            },
            "tier_downgrades": sum(1 for t in d.downgrades if t.coalition == ps.coalition),
            "fees": _fees_json(d, ps.coalition),
            **({"rewards": r} if (r := _rewards_json(d, ps.coalition)) is not None else {}),
            "money": _summary(money[ps.coalition]) if ps.coalition in money else None,
            "bank_batch": {"payments": len(paid), "amount": sum(t.amount for t in paid)}
            if ps.coalition in d.bank_coalitions else None,
            "instructions": [
                {"store_id": i.store_id, "action": i.action, "amount": i.amount,
                 "currency": i.currency, "kind": kind}
                for kind, side in (("points", d.points), ("stored_value", d.stored_value))
                for i in side.instructions if i.coalition == ps.coalition
            ],
        }
    out = [r for r in d.reconciliation if not r.balanced]
    batches = {(r.terminal_id, r.batch, r.close_id) for r in d.reconciliation}
    bad = {(r.terminal_id, r.batch, r.close_id) for r in out}
    return {
        "format": FORMAT,
        "business_day": d.day.isoformat(),
        "inputs_digest": d.inputs_digest,
        "entries": {
            "total": d.entries, "settling_draws": d.settling_draws, "by_kind": d.counts,
        },
        "coalitions": coalitions,
        "reconciliation": {
            "batches": len(batches), "in_balance": len(batches - bad),
            "out_of_balance": len(bad), "differences": len(out),
        },
        "files": files,
    }


def render(d: DaySettlement) -> dict[str, bytes]:
    """Every output file of a settled day, by name."""
    files = {
        POSITIONS: csv_bytes(
            ("store_id", "store_name", "points_payable", "points_receivable", "net_points",
             "net_amount", "currency"),
            ((p.store_id, p.store_name, p.payable, p.receivable, p.net, p.net_amount, p.currency)
             for p in d.points.positions),
        ),
        OBLIGATIONS: csv_bytes(
            ("payer_store", "payee_store", "points", "amount", "currency"),
            ((o.payer, o.payee, o.units, o.amount, o.currency) for o in d.points.obligations),
        ),
        SV_POSITIONS: csv_bytes(
            ("store_id", "store_name", "payable", "receivable", "net_amount", "currency"),
            ((p.store_id, p.store_name, p.payable, p.receivable, p.net_amount, p.currency)
             for p in d.stored_value.positions),
        ),
        SV_OBLIGATIONS: csv_bytes(
            ("payer_store", "payee_store", "amount", "currency"),
            ((o.payer, o.payee, o.amount, o.currency) for o in d.stored_value.obligations),
        ),
        RECONCILIATION: csv_bytes(
            ("terminal_id", "store_id", "batch", "close_id", "switch_answer", "category",
             "fields", "terminal_count", "switch_count", "count_difference", "terminal_amount",
             "switch_amount", "amount_difference", "explained_by", "note"),
            ((r.terminal_id, r.store_id, r.batch, r.close_id, r.switch_answer, r.category,
              r.fields, r.terminal_count, r.switch_count, r.terminal_count - r.switch_count,
              r.terminal_amount, r.switch_amount, r.terminal_amount - r.switch_amount,
              explained(r), r.note) for r in d.reconciliation),
        ),
        BREAKAGE: csv_bytes(
            ("store_id", "store_name", "expired_lots", "points", "amount", "currency"),
            ((b.store_id, b.store_name, b.lots, b.points, b.amount, b.currency)
             for b in d.breakage),
        ),
    }
    files[TIERS] = csv_bytes(
        ("pan", "coalition", "tier_before", "tier_after"),
        ((t.masked, t.coalition, t.before, t.after) for t in d.downgrades),
    )
    files[FEES] = csv_bytes(
        ("coalition", "store_id", "store_name", "fee", "quantity", "rate", "rate_unit", "amount",
         "currency"),
        ((f.coalition, f.store_id, f.store_name, f.fee, f.quantity, f.rate, f.unit, f.amount,
          f.currency) for f in d.fee_lines),
    )
    files[NET_POSITIONS] = csv_bytes(
        ("party_id", "party_name", "coalition", "points_amount", "stored_value_amount",
         "fee_amount", "rewards_amount", "payable", "receivable", "net_amount", "currency"),
        net_rows(d))
    reward_obligations = [o for side in (d.coupons, d.gift_breakage, d.memberships)
                          if side is not None
                          for o in side.obligations]
    if reward_obligations:
        files[REWARDS] = csv_bytes(
            ("kind", "coalition", "payer", "payee", "amount", "currency"),
            ((o.kind, o.coalition, o.payer, o.payee, o.amount, o.currency)
             for o in reward_obligations))
    if d.gift_lapses:
        files[GIFT_BREAKAGE] = csv_bytes(
            ("store_id", "coalition", "lapsed_lots", "amount", "kept_by"),
            ((g.store_id, g.coalition, g.lots, g.amount, g.kept_by) for g in d.gift_lapses))
    if d.bank_coalitions:
        files[BANK_BATCH] = bank.batch_csv(d.transfers, d.bank_coalitions)
    files[REPORT] = report_html(d).encode()
    digests = {name: hashlib.sha256(body).hexdigest() for name, body in sorted(files.items())}
    files[SETTLEMENT] = (
        json.dumps(settlement_json(d, digests), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    ).encode()
    return dict(sorted(files.items()))


# -- HTML -------------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.bad{color:#b00}.ok{color:#070}code{font-size:.85em}"""


def _e(v: object) -> str:
    return html.escape(str(v))


def _num(v: int) -> str:
    return f"{v:,}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_num(v)}</td>' if i in numeric and isinstance(v, int)
            else f"<td>{_e(v)}</td>" for i, v in enumerate(row)
        ) + "</tr>\n"
        for row in rows
    )
    return f"<table><tr>{head}</tr>\n{body}</table>\n"


def chart_svg(positions: Sequence[Position], title: str) -> str:
    """Horizontal bars of net amounts around a zero line; integer geometry, no script."""
    if not positions:
        return ""
    label_w, half, row_h = 220, 260, 24
    width, height = label_w + 2 * half + 120, row_h * len(positions) + 40
    peak = max((abs(p.net_amount) for p in positions), default=0) or 1
    zero = label_w + half
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<line x1="{zero}" y1="10" x2="{zero}" y2="{height - 20}" stroke="#888"/>',
    ]
    for i, p in enumerate(positions):
        y = 20 + i * row_h
        bar = abs(p.net_amount) * half // peak
        x = zero if p.net_amount >= 0 else zero - bar
        color = "#2a7" if p.net_amount >= 0 else "#c33"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{_e(p.store_name)}</text>"
            f'<rect x="{x}" y="{y}" width="{bar}" height="{row_h - 6}" fill="{color}">'
            f"<title>{_e(p.store_id)}: {_num(p.net_amount)} {_e(p.currency)}</title></rect>"
            f'<text x="{zero + half + 8}" y="{y + 14}" font-size="12">'
            f"{_num(p.net_amount)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def report_html(d: DaySettlement) -> str:
    day = d.day.isoformat()
    out = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>LPS settlement {day}</title>',
        f"<style>{CSS}</style></head><body>",
        f"<h1>Settlement of business day {day}</h1>",
        f"<p>Journal entries: {_num(d.entries)} ({_num(d.settling_draws)} lot draws moved value "
        f"between stores). Inputs digest <code>{d.inputs_digest}</code>.</p>",
        "<h2>Totals</h2>",
        _table(
            ("coalition", "kind", "obligations", "gross amount", "net transfers",
             "removed by netting", "net/gross", "currency"),
            ((s.coalition, "points" if s.kind == "points" else "stored value", s.obligations,
              s.gross_amount, s.net_amount, s.removed_amount, s.ratio or "-", s.currency)
             for side in (d.points, d.stored_value) for s in side.summaries),
            {2, 3, 4, 5},
        ),
        "<h2>Net positions (points)</h2>",
        chart_svg(d.points.positions, "net positions in currency"),
        _table(
            ("store", "name", "payable", "receivable", "net points", "net amount", "currency"),
            ((p.store_id, p.store_name, p.payable, p.receivable, p.net, p.net_amount, p.currency)
             for p in d.points.positions),
            {2, 3, 4, 5},
        ),
        "<h2>Settlement instructions</h2>",
        _table(
            ("coalition", "store", "kind", "action", "amount", "currency"),
            ((i.coalition, i.store_id, kind, i.action, i.amount, i.currency)
             for kind, side in (("points", d.points), ("stored value", d.stored_value))
             for i in side.instructions),
            {4},
        ),
    ]
    if any(p.payable or p.receivable for p in d.stored_value.positions):
        out += [
            "<h2>Net positions (coalition-wide stored value)</h2>",
            chart_svg(d.stored_value.positions, "stored-value net positions"),
        ]
    if d.fee_lines or d.bank_coalitions:
        out += [
            "<h2>The operator's fee</h2>",
            _table(("coalition", "store", "fee", "quantity", "rate", "unit", "amount",
                    "currency"),
                   ((f.coalition, f.store_id, f.fee, f.quantity, f.rate, f.unit, f.amount,
                     f.currency) for f in d.fee_lines), {3, 4, 6}),
            "<h2>Net positions in money (points, stored value and fee; operators included)</h2>",
            _table(("party", "name", "coalition", "points", "stored value", "fee", "payable",
                    "receivable", "net", "currency"), net_rows(d), {3, 4, 5, 6, 7, 8}),
            f"<p>Bank transfer batch: {len(d.transfers):,} payment(s), "
            f"{_num(sum(t.amount for t in d.transfers))} in total ({BANK_BATCH}).</p>"
            if d.bank_coalitions else "",
        ]
    out += [
        "<h2>Expiry (breakage)</h2>",
        _table(
            ("store", "name", "expired lots", "points", "amount", "currency"),
            ((b.store_id, b.store_name, b.lots, b.points, b.amount, b.currency)
             for b in d.breakage),
            {2, 3, 4},
        ),
        f"<h2>Tier downgrades</h2><p>{len(d.downgrades):,} card(s) go down a tier the night "
        "after this day (tiers.csv, card numbers masked).</p>",
        "<h2>Reconciliation exceptions</h2>",
    ]
    bad = [r for r in d.reconciliation if not r.balanced]
    ok = len({(r.terminal_id, r.batch, r.close_id) for r in d.reconciliation if r.balanced})
    out.append(f'<p class="ok">{ok} batch(es) in balance.</p>')
    if bad:
        out.append(_table(
            ("terminal", "batch", "fields", "terminal", "switch", "terminal amount",
             "switch amount", "explained by", "note"),
            ((r.terminal_id, r.batch, r.fields, r.terminal_count, r.switch_count,
              r.terminal_amount, r.switch_amount, explained(r) or "-", r.note) for r in bad),
            {3, 4, 5, 6},
        ).replace("<table>", '<table class="bad">', 1))
    else:
        out.append("<p>No exceptions.</p>")
    out.append("</body></html>\n")
    return "\n".join(out)
