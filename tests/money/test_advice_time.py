"""When a store-and-forward advice's purchase happened, for its campaign (docs/programs.md,
"Campaign windows"): DE13 (MMDD) + DE12 (hhmmss) as local time in the switch's `timezone`, in
the year that puts it no later than now; a value that is not a date and a time is ignored and the
switch's clock used. The example runs in Asia/Tehran (UTC+03:30).

Each case earns DE4 = 1,000,000 at STORE0000000002 (T2): 200 points, 400 inside its campaign
(multiplier 2), so `EP` tells which instant the switch judged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switch.core.programs.rules import program_rules
from tests.money.support import Shell, rc, scratch_dir, tags, tehran
from tests.programs.support import C2, config_with
from tests.switch.support import T2, card, request

#: A happy hour over the whole of 2026, 16:00 to 17:59 local time.
HAPPY_2026 = {"name": "happy", "from": "2026-01-01", "to": "2026-12-31", "hours": [16, 18],
              "multiplier": 2.0}
#: The first week of 2027, all day.
FIRST_WEEK_2027 = {"name": "first week", "from": "2027-01-01", "to": "2027-01-07",
                   "multiplier": 2.0}


@pytest.fixture
def db() -> Iterator[Path]:
    with scratch_dir() as path:
        yield path / "lps.db"


def advice_points(db: Path, campaign: dict[str, Any], now: dt.datetime,
                  local: dict[int, str]) -> int:
    """`EP` of an approved 0220 earn forwarded at `now` with DE12/DE13 `local`."""
    def change(data: dict[str, Any]) -> None:
        data["store"][C2]["campaigns"] = [campaign]
    cfg = config_with(change)
    sh = Shell(db, cfg, rules=program_rules(cfg), now=now)
    try:
        resp = sh.send(request("0220", T2, sh.next_stan(), pan=card(701), pc="000000",
                               amount=1_000_000, now=now, extra=local), now)
        assert rc(resp) == "00"
        return int(tags(resp)["EP"])
    finally:
        sh.close()


@pytest.mark.parametrize(("now", "local", "points"), [
    # 17:20:45 is ten minutes before now, inside the happy hour
    (tehran(2026, 12, 17, 17, 30), {13: "1217", 12: "172045"}, 400),
    # the same purchase time ten minutes after now: a year back, before the campaign
    (tehran(2026, 12, 17, 17, 10), {13: "1217", 12: "172045"}, 200),
    # to the second: fifteen seconds after now is a year back
    (tehran(2026, 12, 17, 17, 29, 30), {13: "1217", 12: "172945"}, 200),
    # 17:30:00 bought in the happy hour, forwarded at 20:00 after it
    (tehran(2026, 12, 17, 20, 0), {13: "1217", 12: "173000"}, 400),
    # bought on 31 December, forwarded on 2 January: last year's campaign
    (tehran(2027, 1, 2, 10, 0), {13: "1231", 12: "170500"}, 400),
    # only DE13: not a date and a time, so the switch's clock (20:00, after the happy hour)
    (tehran(2026, 12, 17, 20, 0), {13: "1217"}, 200),
    # only DE12: the same
    (tehran(2026, 12, 17, 17, 0), {12: "120000"}, 400),
])
def test_an_advice_is_judged_at_its_purchase_time(db: Path, now: dt.datetime,
                                                 local: dict[int, str], points: int) -> None:
    assert advice_points(db, HAPPY_2026, now, local) == points


def test_the_year_of_an_advice_is_the_local_year(db: Path) -> None:
    """Half an hour into 1 January 2027 in Tehran is still 31 December in UTC: a purchase of
    1 January 00:10 is of 2027 (the local year), inside the first week's campaign."""
    now = tehran(2027, 1, 1, 0, 30)
    assert now.year == 2026
    assert advice_points(db, FIRST_WEEK_2027, now, {13: "0101", 12: "001000"}) == 400
