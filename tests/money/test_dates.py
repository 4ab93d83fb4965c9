"""Date boundaries: the expiry day, the card's expiry month and the business-day cutover.

docs/switch.md ("Decisions": card DE14, Earn, Redeem; "The journal": `business_day`),
docs/programs.md (expiry), docs/settlement.md ("Expiry and breakage"). The example runs in
Asia/Tehran (UTC+03:30) with `business_day_cutover = "23:30"`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from iso8583 import Message
from tests.money.support import Shell, points_balance, rc, rrn, scratch_dir, tags, tehran
from tests.switch.support import T1, T2, T3, burn, card, earn, example_config, inquiry

S1, S3 = "STORE0000000001", "STORE0000000003"
PAN = card(501)


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def spend(sh: Shell, tid: str, points: int, now: dt.datetime) -> Message:
    return sh.send(burn(tid, sh.next_stan(), PAN, points * 1_000, tags={"RP": str(points)},
                        now=now), now)


def earn_at(sh: Shell, tid: str, when: dt.datetime) -> Message:
    return sh.send(earn(tid, sh.next_stan(), PAN, 100_000, now=when), when)


def test_points_expire_on_their_expiry_day_and_break_that_day(db: Path) -> None:
    """An earn of business day D makes a lot with `expires_on = D + 365`
    (`points_expire_after_days`), usable through D + 364 and unusable from D + 365 on: a burn
    is `51` and the balance leaves it out. Settlement's breakage of D + 365 (and not of
    D + 364) is the lot's remaining, for its issuing store."""
    earned_at = tehran(2026, 11, 23, 12)
    sh = Shell(db, now=earned_at)
    sh.send(earn(T1, sh.next_stan(), PAN, 100_000, now=earned_at), earned_at)
    (lot,) = sh.lots(PAN).values()
    d = dt.date(2026, 11, 23)
    assert lot[1] == str(d + dt.timedelta(days=365))

    last_day = tehran(2027, 11, 22, 23, 0)           # D + 364, before the cutover
    used = spend(sh, T3, 4, last_day)
    assert (rc(used), points_balance(used)) == ("00", 6)
    expiry_day = tehran(2027, 11, 22, 23, 30)        # the cutover: business day D + 365
    assert rc(spend(sh, T3, 1, expiry_day)) == "51"
    seen = sh.send(inquiry(T3, sh.next_stan(), PAN, now=expiry_day), expiry_day)
    assert points_balance(seen) == 0

    before = sh.settle(d + dt.timedelta(days=364))
    assert [(b.store_id, b.points) for b in before.breakage if b.points] == []
    on_day = sh.settle(d + dt.timedelta(days=365))
    assert [(b.store_id, b.lots, b.points, b.amount) for b in on_day.breakage if b.points] == \
        [(S1, 1, 6, 6_000)]
    sh.close()


def test_a_card_expiring_this_month_is_still_valid(db: Path) -> None:
    """docs/switch.md: DE14 (YYMM) before this month is `54`; the current month and later are
    valid. The month is the business day's: after the cutover on the last evening of November
    the business day is already in December."""
    sh = Shell(db)
    now = tehran(2026, 11, 30, 12)
    for de14, expected in (("2611", "00"), ("2612", "00"), ("2610", "54"), ("2511", "54"),
                           ("2701", "00")):
        resp = sh.send(earn(T1, sh.next_stan(), PAN, 10_000, now=now, extra={14: de14}), now)
        assert rc(resp) == expected, de14
    after_cutover = tehran(2026, 11, 30, 23, 30)     # business day 2026-12-01
    resp = sh.send(earn(T1, sh.next_stan(), PAN, 10_000, now=after_cutover,
                        extra={14: "2611"}), after_cutover)
    assert rc(resp) == "54"
    resp = sh.send(earn(T1, sh.next_stan(), PAN, 10_000, now=after_cutover,
                        extra={14: "2612"}), after_cutover)
    assert rc(resp) == "00"
    sh.close()


def test_a_card_expiry_that_is_not_yymm_is_a_format_error(db: Path) -> None:
    """docs/protocol.md §2: DE14 is `n 4`, YYMM; content that breaks the format is `30`, with
    no effect, and the journal says why (without the card's data: the reason is logged too)."""
    sh = Shell(db)
    now = tehran(2026, 11, 30, 12)
    answers = [sh.send(earn(T1, sh.next_stan(), PAN, 10_000, now=now, extra={14: de14}), now)
               for de14 in ("2613", "2600", "261", "26112")]
    assert [rc(resp) for resp in answers] == ["30"] * 4
    (detail,), = sh.sql("SELECT detail FROM journal WHERE id = ?", (int(rrn(answers[0])),))
    assert json.loads(str(detail)) == {"reason": "DE14 is not YYMM"}
    assert sh.lots(PAN) == {}
    sh.close()


def test_the_cutover_minute_starts_the_next_business_day(db: Path) -> None:
    """docs/switch.md: a transaction at or after the cutover (23:30 local) belongs to the next
    business day, fixed at authorization: in the journal, in its lot's earn and expiry dates,
    and in which day settlement counts it."""
    sh = Shell(db)
    before = tehran(2026, 11, 23, 23, 29, 59)
    at = tehran(2026, 11, 23, 23, 30, 0)
    r1 = earn_at(sh, T1, before)
    r2 = earn_at(sh, T2, at)
    assert sh.business_days(r1, r2) == ["2026-11-23", "2026-11-24"]
    expiries = sorted(str(lot[1]) for lot in sh.lots(PAN).values())
    assert expiries == ["2027-11-23", "2027-11-24"]

    b1 = spend(sh, T3, 3, before)
    b2 = spend(sh, T3, 4, at)
    assert rc(b1) == rc(b2) == "00"
    assert sh.settle(dt.date(2026, 11, 23)).points.obligations[0].units == 3
    assert sh.settle(dt.date(2026, 11, 24)).points.obligations[0].units == 4
    assert tags(r2)["EP"] == "20"
    sh.close()


def test_a_midnight_cutover_means_calendar_days() -> None:
    """docs/switch.md: `business_day_cutover = "00:00"` means plain calendar days: 23:59:59
    local is still that day, 00:00 local the next."""
    with scratch_dir() as path:
        cfg = example_config(path / "lps.db", business_day_cutover=dt.time(0, 0))
        sh = Shell(path / "lps.db", cfg)
        late = tehran(2026, 11, 23, 23, 59, 59)
        midnight = tehran(2026, 11, 24, 0, 0, 0)
        days = sh.business_days(earn_at(sh, T1, late), earn_at(sh, T1, midnight))
        assert days == ["2026-11-23", "2026-11-24"]
        sh.close()
