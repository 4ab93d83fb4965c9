"""Properties over generated days: positions sum to zero and match a plain recomputation,
every entry is counted once, pre-aggregated and entry-by-entry settlement agree, breakage adds
up over days, and a batch short by one transaction is explained by that transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement import digest as dg
from settlement.day import DayBook, settle_rows
from settlement.expiry import breakage
from settlement.fees import activity_of
from settlement.netting import StoreInfo, flows_of
from settlement.reconcile import reconcile, switch_side
from settlement.records import BatchClose, Draw, InvariantError, LotExpiry, Row, Totals
from settlement.terms import Schedule, Terms

DAY = dt.date(2026, 5, 5)
#: Coalition A has an operator with a fee (rates chosen so rounding bites), B has none.
TERMS_A = Terms("A", "Operator A", "IR960120000000004159832601", "net",
                Schedule(per_issued_point=7, per_redeemed_point=13, gross_basis_points=37,
                         monthly_per_store=0))
STORES = {
    f"S{i}": StoreInfo(f"S{i}", f"Store {i}", "A" if i < 4 else "B", 1000 if i < 4 else 7,
                       "364" if i < 4 else "978", "IR920170000000212345678001",
                       TERMS_A if i < 4 else None)
    for i in range(1, 7)
}
BY_COALITION = {c: [s for s in STORES if STORES[s].coalition == c] for c in ("A", "B")}
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def rows(draw: st.DrawFn) -> list[Row]:
    out = []
    for i in range(draw(st.integers(0, 40))):
        coalition = draw(st.sampled_from(["A", "B"]))
        store = draw(st.sampled_from(BY_COALITION[coalition]))
        kind = draw(st.sampled_from(["redeem", "sv_purchase", "return", "reversal", "earn",
                                     "inquiry"]))
        rc = draw(st.sampled_from(["00", "00", "00", "51"]))
        original_kind = draw(st.sampled_from(["redeem", "sv_purchase", "return", "earn"])) \
            if kind == "reversal" else ""
        spend = kind in ("redeem", "sv_purchase", "return")
        unit = "sv" if "sv_purchase" in (kind, original_kind) else "points"
        draws: tuple[Draw, ...] = ()
        if rc == "00" and kind != "inquiry":
            n = draw(st.integers(0, 3))
            draws = tuple(
                Draw(draw(st.integers(1, 50)), unit,
                     draw(st.sampled_from(BY_COALITION[coalition])),
                     -draw(st.integers(1, 500)) if spend else draw(st.integers(1, 500)))
                for _ in range(n))
        out.append(Row(id=i + 1, business_day=DAY, kind=kind, pc="", store_id=store,
                       amount=draw(st.integers(0, 10**6)), response_code=rc,
                       original_kind=original_kind, draws=draws))
    return out


def plain_nets(rs: list[Row]) -> tuple[Counter[str], Counter[str]]:
    """Net positions the long way: every moving draw, one at a time, no netting code."""
    points: Counter[str] = Counter()
    sv: Counter[str] = Counter()
    for r in rs:
        moving = r.kind in ("redeem", "sv_purchase", "return") or (
            r.kind == "reversal" and r.original_kind in ("redeem", "sv_purchase", "return"))
        if not moving or r.response_code != "00":
            continue
        for d in r.draws:
            c = points if d.kind == "points" else sv
            c[r.store_id] -= d.delta   # a burn (delta < 0) is a receivable of the acceptor
            c[d.issuer] += d.delta     # and a payable of the issuer
    return points, sv


@SETTINGS
@given(rows())
def test_positions_sum_to_zero_and_match_a_plain_recomputation(rs: list[Row]) -> None:
    day = settle_rows(DAY, STORES, rs)
    points, sv = plain_nets(rs)
    for side, expect in ((day.points, points), (day.stored_value, sv)):
        for coalition in ("A", "B"):
            mine = [p for p in side.positions if p.coalition == coalition]
            assert sum(p.net for p in mine) == 0
            assert sum(p.net_amount for p in mine) == 0
        assert {p.store_id: p.net for p in side.positions} == \
            {s: expect.get(s, 0) for s in STORES}
        gross = sum(o.units for o in side.obligations)
        assert sum(p.payable for p in side.positions) == gross
        for s in side.summaries:
            assert 0 <= s.net_amount <= s.gross_amount
        assert all(o.units > 0 and o.payer != o.payee for o in side.obligations)


def plain_fees(rs: list[Row]) -> dict[str, int]:
    """Coalition A's fee per store from docs/settlement.md, the long way: points issued by the
    lot's issuer (earn, advice, return and their reversals) x 7, points redeemed at the store
    (redemptions and their reversals) x 13, and 37 basis points of each store's gross payable
    (the day's flows summed per ordered pair of stores, a negative pair turned around, valued
    at 1,000 rials a point), rounded down."""
    issued: Counter[str] = Counter()
    redeemed: Counter[str] = Counter()
    pair: Counter[tuple[str, str, str]] = Counter()
    for r in rs:
        if r.response_code != "00":
            continue
        kind = r.original_kind if r.kind == "reversal" else r.kind
        for d in r.draws:
            if d.kind == "points" and kind in ("earn", "advice", "return"):
                issued[d.issuer] += d.delta
            if d.kind == "points" and kind == "redeem":
                redeemed[r.store_id] -= d.delta
            if kind in ("redeem", "sv_purchase", "return") and d.issuer != r.store_id:
                pair[(d.kind, d.issuer, r.store_id)] -= d.delta
    payable: Counter[str] = Counter()
    for (kind, payer, payee), units in pair.items():
        if units < 0:
            payer, units = payee, -units
        payable[payer] += units * (1000 if kind == "points" else 1)
    return {s: issued[s] * 7 + redeemed[s] * 13 + payable[s] * 37 // 10_000
            for s in ("S1", "S2", "S3")}


@SETTINGS
@given(rows())
def test_the_fee_matches_a_plain_recomputation_and_money_sums_to_zero(rs: list[Row]) -> None:
    day = settle_rows(DAY, STORES, rs)
    fees: Counter[str] = Counter()
    for f in day.fee_lines:
        fees[f.store_id] += f.amount
        assert f.coalition == "A"
    expect = plain_fees(rs)
    assert {s: fees[s] for s in expect} == expect
    assert day.fees is not None and day.money is not None
    for side in (day.fees, day.money):
        for coalition in ("A", "B"):
            assert sum(p.net_amount for p in side.positions if p.coalition == coalition) == 0
    operator = {p.store_id: p.net_amount for p in day.fees.positions}["operator:A"]
    assert operator == sum(expect.values())
    # Every store's money net is its points (at their value), purse and fee nets together.
    parts: Counter[str] = Counter()
    for side in (day.points, day.stored_value, day.fees):
        for p in side.positions:
            parts[p.store_id] += p.net_amount
    assert {p.store_id: p.net_amount for p in day.money.positions} == \
        {k: parts[k] for k in [*STORES, "operator:A"]}
    # The net batch moves each position of A through the operator's account, nothing else.
    assert sorted(t.amount for t in day.transfers) == sorted(
        abs(p.net_amount) for p in day.money.positions
        if p.coalition == "A" and p.store_id != "operator:A" and p.net_amount)


@SETTINGS
@given(rows())
def test_every_entry_is_counted_once(rs: list[Row]) -> None:
    day = settle_rows(DAY, STORES, rs)
    assert day.entries == len(rs) == sum(day.counts.values())
    assert day.counts == dict(sorted(Counter(f"{r.kind}/{r.response_code}" for r in rs).items()))
    assert day.settling_draws == sum(len(flows_of(r)) for r in rs)
    if rs:
        with pytest.raises(InvariantError, match="read twice"):
            settle_rows(DAY, STORES, [*rs, rs[-1]])


@SETTINGS
@given(rows(), st.randoms(use_true_random=False))
def test_pre_aggregated_feed_equals_entry_by_entry(rs: list[Row], rnd: random.Random) -> None:
    """What the SQLite reader does (sums, in any order) gives the very same settlement."""
    book = DayBook(DAY, STORES)
    # As a worker process does: one chunk of journal IDs hashed whole.
    book.add_chunk("entries", 0, len(rs), dg.items_digest([dg.entry_item(r) for r in rs]))
    draws = [dg.draw_item(r.id, d) for r in rs for d in r.draws]
    book.add_chunk("draws", 0, len(draws), dg.items_digest(draws))
    for key, n in Counter((r.kind, r.response_code) for r in rs).items():
        book.add_count(*key, n)
    flows = [f for r in rs for f in flows_of(r)]
    rnd.shuffle(flows)
    for f in flows:
        book.add_flow(f.kind, f.payer, f.payee, f.units)
    book.add_settling(len(flows))
    counted = [a for r in rs for a in activity_of(r)]
    rnd.shuffle(counted)
    for measure, store, points in counted:
        book.add_activity(measure, store, points)
    assert book.finish([], []) == settle_rows(DAY, STORES, rs)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(sorted(STORES)), st.integers(0, 9),
                          st.lists(st.integers(-50, 50), min_size=10, max_size=10)),
                max_size=25))
def test_breakage_over_the_days_adds_up_to_what_lapsed(
        lots: list[tuple[str, int, list[int]]]) -> None:
    """Summed over days, breakage equals the positive remaining of every lapsed lot."""
    start = DAY
    days = [start + dt.timedelta(days=i) for i in range(10)]
    # remaining[i] of a lot at the end of day i: a random walk from 100
    walks = [[100 + sum(steps[: i + 1]) for i in range(10)] for _, _, steps in lots]
    total: Counter[str] = Counter()
    for i, day in enumerate(days):
        due = []
        for lid, ((issuer, exp_i, _), walk) in enumerate(zip(lots, walks, strict=True)):
            expires = days[exp_i]
            before = walk[i - 1] if i else 100
            if expires == day or (expires < day and walk[i] != before):
                due.append(LotExpiry(lid, issuer, expires, before, walk[i]))
        for b in breakage(due, STORES, day):
            total[b.store_id] += b.points
    lapsed: Counter[str] = Counter()
    for (issuer, _exp_i, _), walk in zip(lots, walks, strict=True):
        lapsed[issuer] += max(walk[-1], 0)
    assert {s: total[s] for s in STORES} == {s: lapsed[s] for s in STORES}


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["earn", "redeem", "sv_purchase"]),
                          st.integers(1, 10**7), st.booleans(), st.booleans()),
                min_size=1, max_size=30), st.data())
def test_a_batch_short_by_one_is_explained_by_that_transaction(
        txns: list[tuple[str, int, bool, bool]], data: st.DataObject) -> None:
    rows_: list[Row] = []
    for i, (kind, amount, approved, reversed_) in enumerate(txns):
        pc = {"earn": "000000", "redeem": "900000", "sv_purchase": "006000"}[kind]
        rows_.append(Row(id=10 + 2 * i, business_day=DAY, kind=kind, pc=pc, terminal_id="T1",
                         store_id="S1", amount=amount, response_code="00" if approved else "51",
                         batch="000001"))
        if reversed_ and approved:
            rows_.append(Row(id=11 + 2 * i, business_day=DAY, kind="reversal", pc=pc,
                             terminal_id="T1", store_id="S1", amount=amount,
                             response_code="00", original_id=10 + 2 * i))
    close = BatchClose(1000, "T1", "S1", "000001", "00", Totals(), rows=tuple(rows_))
    switch = switch_side(close)[0]
    balanced = BatchClose(1000, "T1", "S1", "000001", "00", switch, rows=tuple(rows_))
    assert [line.category for line in reconcile(balanced)] == ["all"]
    debits = [r for r in rows_ if r.kind != "earn" and r.kind != "reversal" and r.approved]
    if not debits:
        return
    gone = data.draw(st.sampled_from(debits))
    short = dataclasses.replace(switch, debits=switch.debits - 1,
                                debit_amount=switch.debit_amount - gone.amount)
    lines = reconcile(BatchClose(1000, "T1", "S1", "000001", "95", short, rows=tuple(rows_)))
    assert [line.category for line in lines] == ["debits"]
    (found,) = lines[0].explained_by
    assert found.amount == gone.amount and found.approved
