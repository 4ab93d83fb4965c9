"""Today's figures for the dashboard, from the journal (read-only queries)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field

from switch.config import Config
from switch.core.calendar import business_day

#: Journal kinds that are terminal traffic with an approve/decline answer.
FINANCIAL = ("earn", "advice", "redeem", "inquiry", "return", "topup", "sv_purchase", "stamp",
             "reversal")


@dataclass(slots=True)
class Dashboard:
    day: dt.date
    by_store: list[tuple[str, int, int]] = field(default_factory=list)
    by_code: list[tuple[str, int]] = field(default_factory=list)
    issued: int = 0
    redeemed: int = 0
    terminals: list[tuple[str, str, bool]] = field(default_factory=list)


def build(conn: sqlite3.Connection, config: Config, now: dt.datetime) -> Dashboard:
    cfg = config.switch
    today = business_day(now, cfg.zone, cfg.business_day_cutover)
    d = Dashboard(today)
    marks = ",".join("?" * len(FINANCIAL))
    args = (today.isoformat(), *FINANCIAL)
    d.by_store = [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT COALESCE(store_id, ''), SUM(response_code = '00'), SUM(response_code != '00') "
        f"FROM journal WHERE business_day = ? AND kind IN ({marks}) GROUP BY 1 ORDER BY 1",
        args)]
    d.by_code = [(r[0], r[1]) for r in conn.execute(
        "SELECT COALESCE(response_code, ''), COUNT(*) FROM journal WHERE business_day = ? "
        f"AND kind IN ({marks}) GROUP BY 1 ORDER BY 2 DESC, 1", args)]
    # Points moved today by lot movements: credits to points lots are issued, debits by
    # redemptions (and the reversal of earns) are redeemed.
    issued, redeemed = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN j.points > 0 THEN j.points END), 0), "
        "COALESCE(-SUM(CASE WHEN j.kind = 'redeem' AND j.points < 0 THEN j.points END), 0) "
        "FROM journal j WHERE j.business_day = ? AND j.response_code = '00'",
        (today.isoformat(),)).fetchone()
    d.issued, d.redeemed = int(issued), int(redeemed)
    signed = dict(conn.execute("SELECT id, signed_on FROM terminals").fetchall())
    d.terminals = [(tid, t.store, bool(signed.get(tid, 0)))
                   for tid, t in sorted(config.terminals.items())]
    return d
