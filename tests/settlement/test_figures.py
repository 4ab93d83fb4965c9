"""Each figure of settlement.figures against a small journal built by hand through the switch's
own core, with the expected numbers worked out here from the definitions (docs/settlement.md,
"The figures"), not by calling the code under test."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from pathlib import Path

import pytest

from settlement import figures, report
from settlement.day import stores_from_config
from settlement.figure_columns import BY_KEY, plain
from settlement.figures import Figures
from settlement.journal import Journal
from settlement.netting import StoreInfo
from settlement.periods import Period, PeriodError, periods
from switch.config import load_config
from switch.core.admin import adjust_command
from switch.core.authorizer import handle
from switch.core.programs.rules import program_rules
from switch.journal.sqlite.journal import SqliteJournal
from tests.switch.support import T1, T2, burn, card, earn, reversal, sign_on

A, B = "STORE0000000001", "STORE0000000002"
CONFIG = """
[switch]
listen_ascii = "127.0.0.1:0"
database = "{db}"
timezone = "Asia/Tehran"
[coalition.c]
name = "C"
point_value = 10
currency = "364"
points_expire_after_days = 3
card_bins = ["628000"]
auto_enroll = true
[store.{a}]
name = "Store A"
coalition = "c"
earn = {{ points_per = 1_000, points = 1 }}
[store.{b}]
name = "Store B"
coalition = "c"
earn = {{ points_per = 1_000, points = 1 }}
[terminal.{t1}]
store = "{a}"
[terminal.{t2}]
store = "{b}"
"""
#: Business days: Saturday 2026-11-21 (Aban 30, 1405) to Tuesday 2026-11-24 (Azar 3).
D1, D2, D3, D4 = (dt.date(2026, 11, 21) + dt.timedelta(days=n) for n in range(4))
P1, P2, P3 = card(1), card(2), card(3)
#: The journal's SQLite file and the store table settlement reads it with.
JournalPath = tuple[Path, dict[str, StoreInfo]]


def at(day: dt.date) -> dt.datetime:
    """09:00 UTC, 12:30 in Tehran: well inside the business day."""
    return dt.datetime.combine(day, dt.time(9, 0), dt.UTC)


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> JournalPath:
    """Day 1: A earns P1 10,000 and 20,000 and P2 5,000; B earns P3 30,000 and P2 8,000, the
    latter reversed. Day 2: B redeems 120 rials (12 points) of P1; A earns P3 3,000; an
    operator credits P2 7 points at A (goodwill). Lots live three days: day 1's lapse at the
    end of day 4, day 2's are outstanding then."""
    root = tmp_path_factory.mktemp("figures")
    db = root / "lps.db"
    (root / "lps.toml").write_text(CONFIG.format(db=db, a=A, b=B, t1=T1, t2=T2))
    config = load_config(root / "lps.toml")
    store = SqliteJournal(db)
    try:
        state = store.load(config, program_rules(config), at(D1))
        p2_earn_at_b = earn(T2, 5, P2, 8_000, now=at(D1))
        day1 = [sign_on(T1, now=at(D1)), sign_on(T2, now=at(D1)),
                earn(T1, 1, P1, 10_000, now=at(D1)), earn(T1, 2, P1, 20_000, now=at(D1)),
                earn(T1, 3, P2, 5_000, now=at(D1)), earn(T2, 4, P3, 30_000, now=at(D1)),
                p2_earn_at_b, reversal(p2_earn_at_b, 6, now=at(D1))]
        day2 = [burn(T2, 7, P1, 120, now=at(D2)), earn(T1, 8, P3, 3_000, now=at(D2))]
        for msg, when in [*((m, at(D1)) for m in day1), *((m, at(D2)) for m in day2)]:
            decision = handle(state, msg, when)
            assert decision.response is not None and decision.response.text(39) == "00", msg
            store.append(decision.entries)
        store.append([adjust_command(state, P2, 7, A, "goodwill", "test", at(D2))])
    finally:
        store.close()
    return db, stores_from_config(config)


def rows(journal_path: JournalPath, start: dt.date = D1, end: dt.date = D4, **kw: bool
         ) -> dict[str, Figures]:
    db, stores = journal_path
    with Journal(db) as j:
        return {f.scope: f for f in figures.compute(j.reader, stores, start, end, **kw)}


def test_active_and_new_customers(journal_path: JournalPath) -> None:
    by = rows(journal_path)
    # A: P1, P2, P3 earned there; B: P3 and P2 earned (P2's reversed: still a visit), P1
    # redeemed. All three cards were enrolled in the range.
    assert (by[A].active_customers, by[A].new_customers) == (3, 3)
    assert (by[B].active_customers, by[B].new_customers) == (3, 3)
    assert (by["ALL"].active_customers, by["ALL"].new_customers) == (3, 3)
    # Day 2 alone: P3 is new at A that day, P1 at B (first activity there); nobody enrolled.
    day2 = rows(journal_path, D2, D2)
    assert (day2[A].active_customers, day2[A].new_customers) == (1, 1)
    assert (day2[B].active_customers, day2[B].new_customers) == (1, 1)
    assert day2["ALL"].new_customers == 0


def test_purchases_repeat_rate_frequency_and_basket(journal_path: JournalPath) -> None:
    by = rows(journal_path)
    # A: P1 twice, P2 and P3 once: 4 purchases by 3 customers, 1 of them twice.
    a = by[A]
    assert (a.purchases, a.purchasing_customers, a.repeat_customers) == (4, 3, 1)
    assert a.repeat_customer_rate == Fraction(1, 3)
    assert a.purchase_frequency == Fraction(4, 3)
    assert a.average_basket == (10_000 + 20_000 + 5_000 + 3_000) // 4
    # B: the reversed purchase is no purchase.
    b = by[B]
    assert (b.purchases, b.purchasing_customers, b.repeat_customers) == (1, 1, 0)
    assert b.repeat_customer_rate == 0 and b.average_basket == 30_000
    # The coalition: P1 twice at A, P3 once at A and once at B: 2 repeat customers of 3.
    total = by["ALL"]
    assert (total.purchases, total.purchasing_customers, total.repeat_customers) == (5, 3, 2)
    assert total.purchase_frequency == Fraction(5, 3)
    assert total.average_basket == 68_000 // 5


def test_points_issued_adjusted_redeemed_and_the_redemption_rate(journal_path: JournalPath) -> None:
    by = rows(journal_path)
    # Issued by A: 10 + 20 + 5 + 3; by B: 30, and 8 given and taken back by the reversal.
    assert by[A].points_issued == 38 and by[B].points_issued == 30
    # The goodwill credit is adjusted, not issued.
    assert by[A].points_adjusted == 7 and by[B].points_adjusted == 0
    assert by[A].points_redeemed == 0 and by[B].points_redeemed == 12
    assert by[B].redemption_rate == Fraction(12, 30)
    assert by[A].redemption_rate == 0
    assert by["ALL"].redemption_rate == Fraction(12, 68)


def test_points_expired_outstanding_and_liability(journal_path: JournalPath) -> None:
    by = rows(journal_path)
    # Day 1's lots lapse at the end of day 4: A's 30 + 5 less the 12 P1 spent, B's 30 (P2's
    # reversed lot holds nothing). Day 2's lots (A: 3 earned, 7 adjusted) are outstanding.
    assert by[A].points_expired == 35 - 12 and by[B].points_expired == 30
    assert (by[A].points_outstanding, by[B].points_outstanding) == (10, 0)
    assert by[A].liability == 10 * 10 and by["ALL"].liability == 100
    total = by["ALL"]
    assert total.points_issued + total.points_adjusted - total.points_redeemed \
        - total.points_expired == total.points_outstanding
    # Up to day 3 nothing has lapsed: everything issued or adjusted and not spent is there.
    early = rows(journal_path, D1, D3)
    assert early["ALL"].points_expired == 0
    assert early["ALL"].points_outstanding == 68 + 7 - 12


def test_a_store_scoped_reader_gets_the_same_store_row_and_no_total(
        journal_path: JournalPath) -> None:
    db, stores = journal_path
    whole = rows(journal_path)
    with Journal(db) as j:
        scoped = figures.compute(j.reader, {A: stores[A]}, D1, D4, totals=False)
    assert [f.scope for f in scoped] == [A]
    assert scoped[0] == whole[A]


def test_the_csv_cells_show_percentages_and_ratios(journal_path: JournalPath) -> None:
    by = rows(journal_path)
    assert plain(by[A], BY_KEY["repeat_customer_rate"]) == "33.33%"
    assert plain(by[A], BY_KEY["purchase_frequency"]) == "1.33"
    assert plain(by["ALL"], BY_KEY["redemption_rate"]) == "17.65%"
    assert plain(by["ALL"], BY_KEY["purchase_frequency"]) == "1.67"
    empty = rows(journal_path, D4, D4)
    assert plain(empty[A], BY_KEY["repeat_customer_rate"]) == ""
    assert plain(empty[A], BY_KEY["average_basket"]) == "0"


def test_lps_report_prints_the_same_figures(journal_path: JournalPath) -> None:
    db, stores = journal_path
    with Journal(db) as j:
        rep = report.build(j, stores, D1, D4)
    text = report.text_table(rep)
    line = next(x for x in text.splitlines() if x.startswith(A))
    assert "33.33%" in line and "1.33" in line and "9,500" in line
    csv = report.csv_bytes(rep).decode().splitlines()
    assert csv[0].startswith("from,to,store,name,coalition,active customers,new customers,")
    assert csv[1].startswith(f"{D1},{D4},{A},Store A,c,3,3,4,33.33%,1.33,9500,38,7,0,23,10,100,")


def test_periods_days_weeks_from_saturday_and_jalali_months() -> None:
    thu = dt.date(2026, 11, 19)
    assert periods(thu, thu + dt.timedelta(days=2), "day") == [
        Period(thu, thu), Period(thu + dt.timedelta(days=1), thu + dt.timedelta(days=1)),
        Period(thu + dt.timedelta(days=2), thu + dt.timedelta(days=2))]
    # 2026-11-21 is a Saturday: the week before ends on Friday the 20th.
    assert periods(thu, dt.date(2026, 12, 1), "week") == [
        Period(thu, dt.date(2026, 11, 20)),
        Period(dt.date(2026, 11, 21), dt.date(2026, 11, 27)),
        Period(dt.date(2026, 11, 28), dt.date(2026, 12, 1))]
    # Aban 1405 ends on 2026-11-21, Azar (30 days) on 2026-12-21, then Dey.
    assert periods(dt.date(2026, 11, 1), dt.date(2026, 12, 25), "month") == [
        Period(dt.date(2026, 11, 1), dt.date(2026, 11, 21)),
        Period(dt.date(2026, 11, 22), dt.date(2026, 12, 21)),
        Period(dt.date(2026, 12, 22), dt.date(2026, 12, 25))]
    # Esfand 1404 (a common year) has 29 days: 2026-02-20 to 2026-03-20, then Farvardin 1405.
    assert periods(dt.date(2026, 3, 1), dt.date(2026, 3, 22), "month") == [
        Period(dt.date(2026, 3, 1), dt.date(2026, 3, 20)),
        Period(dt.date(2026, 3, 21), dt.date(2026, 3, 22))]
    with pytest.raises(PeriodError):
        periods(thu, thu, "year")
    with pytest.raises(PeriodError):
        periods(thu, thu - dt.timedelta(days=1), "day")


def test_a_series_is_the_figures_of_each_period(journal_path: JournalPath) -> None:
    db, stores = journal_path
    with Journal(db) as j:
        days = figures.series(j.reader, stores, D1, D4, "day")
    assert [p[0].start for p in days] == [D1, D2, D3, D4]
    purchases = [{f.scope: f.purchases for f in p} for p in days]
    assert [p[A] for p in purchases] == [3, 1, 0, 0]
    assert [p["ALL"] for p in purchases] == [4, 1, 0, 0]
    assert [{f.scope: f.points_expired for f in p}["ALL"] for p in days] == [0, 0, 0, 53]
    # New customers by day: A's P1 and P2 and B's P3 and P2 on day 1 (all three enrolled),
    # A's P3 and B's P1 on day 2.
    new = [{f.scope: f.new_customers for f in p} for p in days]
    assert [(p[A], p[B], p["ALL"]) for p in new] == [(2, 2, 3), (1, 1, 0), (0, 0, 0),
                                                      (0, 0, 0)]


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_a_series_reads_once_what_each_period_would_read_alone(journal_path: JournalPath,
                                                               grain: str) -> None:
    """The series reads the new customers of all days at once and each lot boundary once:
    every period's figures are still the figures of that period computed alone."""
    db, stores = journal_path
    start, end = dt.date(2026, 11, 18), dt.date(2026, 11, 30)
    with Journal(db) as j:
        cut = figures.series(j.reader, stores, start, end, grain)
        alone = [figures.compute(j.reader, stores, p.start, p.end)
                 for p in periods(start, end, grain)]
    assert cut == alone
