"""A campaign for a segment (docs/programs.md "Campaigns for a segment"): its multiplier
applies at the till to the cards whose customer the nightly job last put in that segment (by
card number or by DE48 `MB`), and every other card earns the base; a campaign naming a
segment the coalition does not define stops the load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from switch.config import ConfigError, load_config
from switch.core.catalog import Campaign
from switch.core.programs.rules import plan
from tests.customers.support import (
    by_mobile,
    lps,
    mobile_config,
    run_through_switch,
    three_customers,
)
from tests.rewards.support import tag
from tests.switch.support import T1, earn

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
FOR_NEW = ('campaigns = [{ name = "welcome x2", from = "2026-01-01", to = "2027-12-31", '
           'multiplier = 2.0, bonus = 7, segment = "new" }]\n')


def _with_campaign(tmp: Path, campaign: str = FOR_NEW) -> Path:
    path, _port = mobile_config(tmp)
    text = path.read_text()
    head = "[coalition.tehran-mall]\n"
    path.write_text(text.replace(head, head + campaign, 1))
    return path


def test_the_plan_takes_a_segments_campaign_for_its_segment_only() -> None:
    local = dt.datetime(2026, 6, 1, 12)
    both = (Campaign("all", dt.date(2026, 1, 1), dt.date(2026, 12, 31), multiplier=1.5),
            Campaign("champions", dt.date(2026, 1, 1), dt.date(2026, 12, 31), multiplier=3.0,
                     bonus=5, segment="champions"))
    assert plan(both, local, "champions").multiplier_milli == 3000
    assert plan(both, local, "champions").bonuses == ((5, None),)
    for other in (None, "", "loyal"):
        assert plan(both, local, other).multiplier_milli == 1500
        assert plan(both, local, other).bonuses == ()


def test_the_segment_multiplies_at_the_till_and_no_one_else(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _with_campaign(tmp_path)
    cfg = str(path)
    newcomer, old_timer, stranger = three_customers(capsys, cfg, 841, "0935100000", NOW)
    # Before any nightly run nobody is in a segment: the base for everyone.
    [before] = run_through_switch(path, [earn(T1, 1, newcomer, 1_000_000, now=NOW)], NOW)
    assert lps(capsys, "customers", "segments", "--day", "2026-11-23", "-c", cfg)[0] == 0
    replies = run_through_switch(path, [
        earn(T1, 2, newcomer, 1_000_000, now=NOW),
        earn(T1, 3, old_timer, 1_000_000, now=NOW),
        earn(T1, 4, stranger, 1_000_000, now=NOW),
        by_mobile("0200", T1, 5, "09351000000", "000000", 1_000_000, now=NOW),
    ], NOW)
    assert [r.text(39) for r in [before, *replies]] == ["00"] * 5
    base = int(tag(before, "EP") or 0)
    assert base > 0
    earned = [int(tag(r, "EP") or 0) for r in replies]
    assert earned == [2 * base + 7, base, base, 2 * base + 7]


@pytest.mark.parametrize(("campaign", "why"), [
    (FOR_NEW.replace('"new"', '"gold"'), "no segment 'gold' in coalition tehran-mall"),
    (FOR_NEW.replace('"new"', '"New!"'), "a-z, 0-9 and _"),
    (FOR_NEW.replace('"new"', '"new\\n"'), "a-z, 0-9 and _"),
])
def test_a_campaign_for_an_unknown_segment_stops_the_load(tmp_path: Path, campaign: str,
                                                          why: str) -> None:
    path = _with_campaign(tmp_path, campaign)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "coalition.tehran-mall.campaigns[0].segment"
    assert why in err.value.reason
