"""The one-screen summary printed after a settlement (pure text from the result)."""

from __future__ import annotations

from settlement.day import DaySettlement
from settlement.netting import NettingSummary


def _removed(s: NettingSummary) -> str:
    if not s.gross_amount:
        return "nothing to net"
    pct = (s.removed_amount * 1000 + s.gross_amount // 2) // s.gross_amount
    return f"netting removed {pct // 10}.{pct % 10}%"


def summary(d: DaySettlement, status: str, out: str, seconds: float) -> str:
    lines = [
        f"LPS settlement of business day {d.day.isoformat()}: {status}",
        f"  journal entries  {d.entries:,} ({d.settling_draws:,} lot draws moved value between "
        "stores)",
        f"  inputs digest    {d.inputs_digest}",
    ]
    for ps, ss in zip(d.points.summaries, d.stored_value.summaries, strict=True):
        brk = [b for b in d.breakage if b.coalition == ps.coalition]
        lines += [
            f"  coalition {ps.coalition} (currency {ps.currency})",
            f"    points        {ps.obligations} obligations, gross {ps.gross_amount:,}, "
            f"net transfers {ps.net_amount:,} ({_removed(ps)})",
            f"    stored value  {ss.obligations} obligations, gross {ss.gross_amount:,}, "
            f"net transfers {ss.net_amount:,}",
            f"    breakage      {sum(b.lots for b in brk):,} lots lapsed, "
            f"{sum(b.points for b in brk):,} points, {sum(b.amount for b in brk):,}",
            f"    tiers         {sum(1 for t in d.downgrades if t.coalition == ps.coalition):,} "
            "cards go down a tier tonight (tiers.csv)",
        ]
        fees = [f for f in d.fee_lines if f.coalition == ps.coalition]
        if fees:
            lines.append(f"    fee           {len(fees)} lines, {sum(f.amount for f in fees):,} "
                         "to the operator (fees.csv)")
        if ps.coalition in d.bank_coalitions:
            paid = [t for t in d.transfers if t.coalition == ps.coalition]
            lines.append(f"    bank batch    {len(paid)} payments, "
                         f"{sum(t.amount for t in paid):,} in total (bank_batch.csv)")
        mine = [p for p in d.points.positions if p.coalition == ps.coalition and p.net]
        for p in mine[:12]:
            action = "receives" if p.net_amount > 0 else "pays"
            lines.append(f"      {p.store_id:<15} {p.store_name[:24]:<24} {action:<8} "
                         f"{abs(p.net_amount):>16,}")
        if len(mine) > 12:
            lines.append(f"      ... and {len(mine) - 12} more stores (positions.csv)")
    batches = {(r.terminal_id, r.batch, r.close_id) for r in d.reconciliation}
    bad = {(r.terminal_id, r.batch, r.close_id) for r in d.reconciliation if not r.balanced}
    lines.append(f"  reconciliation   {len(batches)} batches, {len(batches) - len(bad)} in balance"
                 + (f", {len(bad)} OUT OF BALANCE (reconciliation.csv)" if bad else ""))
    lines.append(f"  files            {out} ({seconds:.1f} s)")
    return "\n".join(lines)
