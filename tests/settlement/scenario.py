"""The hand-computed day of `expected/three_stores`: three stores, cross redemptions, a
reversal the same day and one across midnight, a declined burn, a coalition-wide purse spent at
another store, lapsing lots, and three batch closes (one short, one long, one in balance)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from settlement.records import BatchClose, Draw, LotExpiry, Row, Totals

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lps.toml"
EXPECTED = Path(__file__).parent / "expected" / "three_stores"
DAY = dt.date(2026, 11, 23)
PREV = DAY - dt.timedelta(days=1)
S1, S2, S3 = "STORE0000000001", "STORE0000000002", "STORE0000000003"
T1, T2, T3 = "T0000001", "T0000002", "T0000003"


def row(i: int, kind: str, store: str, term: str, pan: str, amount: int, *draws: Draw,
        pc: str = "900000", mti: str = "0200", rc: str = "00", batch: str = "",
        day: dt.date = DAY, original_id: int | None = None, original_kind: str = "") -> Row:
    return Row(
        id=i, business_day=day, kind=kind, mti=mti, pc=pc, terminal_id=term, store_id=store,
        pan=pan, amount=amount, points=sum(d.delta for d in draws if d.kind == "points"),
        sv=sum(d.delta for d in draws if d.kind == "sv"), response_code=rc, batch=batch,
        rrn=f"{i:012d}", original_id=original_id, original_kind=original_kind,
        draws=tuple(draws),
    )


def p(lot: int, store: str, delta: int) -> Draw:
    return Draw(lot, "points", store, delta)


A, B, C, D, E, F, G = (f"628000000000000{i}" for i in range(1, 8))

PREV_EARN = row(50, "earn", S2, T2, A, 200_000, p(9, S2, 40), pc="000000", batch="000001",
                day=PREV)
ROWS = [
    row(101, "earn", S1, T1, A, 1_000_000, p(1, S1, 100), pc="000000", batch="000007"),
    row(102, "redeem", S2, T2, A, 60_000, p(1, S1, -60), batch="000001"),
    row(103, "redeem", S1, T1, B, 50_000, p(5, S3, -30), p(6, S1, -20), batch="000007"),
    row(104, "redeem", S3, T3, C, 50_000, p(7, S2, -50), batch="000003"),
    row(105, "redeem", S2, T2, A, 10_000, p(1, S1, -10), batch="000001"),
    row(106, "reversal", S2, T2, A, 10_000, p(1, S1, 10), mti="0400", original_id=105,
        original_kind="redeem"),
    # Reverses a burn of yesterday (entry 60, settled then as S1 owing S3 25 points).
    row(107, "reversal", S3, T3, D, 25_000, p(8, S1, 25), mti="0400", original_id=60,
        original_kind="redeem"),
    row(108, "redeem", S2, T2, E, 20_000, rc="51", batch="000001"),
    row(109, "redeem", S2, T2, F, 15_000, p(9, S2, -15), batch="000001"),
    row(110, "sv_purchase", S1, T1, G, 50_000, Draw(20, "sv", S3, -50_000), pc="006000",
        batch="000007"),
    row(111, "batch_close", S2, T2, "", 0, pc="920000", mti="0500", rc="95", batch="000001"),
    row(112, "batch_close", S1, T1, "", 0, pc="920000", mti="0500", batch="000007"),
    row(113, "inquiry", S1, T1, A, 0, pc="310000"),
    row(114, "batch_close", S3, T3, "", 0, pc="920000", mti="0500", rc="95", batch="000003"),
]
BY_ID = {r.id: r for r in [PREV_EARN, *ROWS]}

LOTS = [
    LotExpiry(30, S1, DAY, 40, 40),
    LotExpiry(31, S2, DAY, 0, 0),
    LotExpiry(32, S3, DAY - dt.timedelta(days=10), 0, 15),
    LotExpiry(33, S1, DAY - dt.timedelta(days=3), 20, 5),
]


def _close(i: int, ids: list[int], **totals: int) -> BatchClose:
    c = BY_ID[i]
    return BatchClose(i, c.terminal_id, c.store_id, c.batch, c.response_code, Totals(**totals),
                      rows=tuple(BY_ID[j] for j in ids))


CLOSES = [
    _close(111, [50, 102, 105, 106, 108, 109], credits=1, credit_amount=200_000, debits=4,
           debit_amount=105_000, debit_reversals=1, debit_reversal_amount=10_000),
    _close(112, [101, 103, 110], credits=1, credit_amount=1_000_000, debits=2,
           debit_amount=100_000),
    _close(114, [104]),
]
