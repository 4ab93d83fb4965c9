"""RFM segments as docs/customers.md "Segments" tells them: the definitions and their checks
when the configuration loads, which segment a customer's figures name, and `lps customers
segments` over a real journal (purchases decided by the switch's own path, a reversed one
left out), on both journal engines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from switch.config import ConfigError, load_config, parse_config
from switch.config.club import SegmentRule, default_segments
from switch.customers.segments import NO_SEGMENT, Rfm, classify
from tests.customers.support import (
    backdate,
    enroll_customers,
    lps,
    mobile_config,
    run_through_switch,
)
from tests.engines import query
from tests.switch.support import T1, card, earn, reversal

DAY = dt.date(2026, 11, 23)


def rfm(joined_days: int, last_days: int | None, purchases: int = 0, spend: int = 0) -> Rfm:
    last = None if last_days is None else DAY - dt.timedelta(days=last_days)
    return Rfm(1, DAY - dt.timedelta(days=joined_days), last, purchases, spend)


@pytest.mark.parametrize(("figures", "segment"), [
    (rfm(3, None), "new"),                              # joined this month
    (rfm(3, 1, 20, 90_000_000), "new"),                 # the first definition met wins
    (rfm(400, 5, 9, 25_000_000), "champions"),
    (rfm(400, 5, 9, 19_999_999), "loyal"),              # spent a rial too little
    (rfm(400, 89, 4), "loyal"),
    (rfm(400, 90, 4), "at_risk"),                       # 90 days is no longer "within 90"
    (rfm(400, 59, 3), NO_SEGMENT),                      # recent, but too few for loyal
    (rfm(400, 179, 2), "at_risk"),
    (rfm(400, 180, 30, 10**9), "lost"),
    (rfm(200, None), "lost"),                           # never bought: absent since joining
    (rfm(100, None), NO_SEGMENT),
])
def test_the_default_definitions(figures: Rfm, segment: str) -> None:
    assert classify(default_segments(), figures, DAY) == segment


def test_a_definition_asks_only_what_it_names() -> None:
    big = SegmentRule("big", min_spend=1_000)
    assert classify((big,), rfm(900, None, 0, 1_000), DAY) == "big"
    assert classify((big,), rfm(900, 1, 50, 999), DAY) == NO_SEGMENT


def without_segments(text: str) -> str:
    """The example's text without its `[coalition.tehran-mall.segments*]` tables, so that a
    test can give its own."""
    kept, inside = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            inside = line.startswith("[coalition.tehran-mall.segments")
        elif not line.strip() or line.startswith("#"):
            inside = False
        if not inside:
            kept.append(line)
    return "".join(kept)


def _config(tmp: Path, extra: str, *, journal: dict[str, Any] | None = None) -> Path:
    path, _port = mobile_config(tmp, journal=journal)
    path.write_text(without_segments(path.read_text()) + "\n" + extra)
    return path


def test_segments_from_the_configuration_in_its_order(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, """
[coalition.tehran-mall.segments]
window_days = 90
[coalition.tehran-mall.segments.vip]
min_spend = 50000000
[coalition.tehran-mall.segments.sleeping]
absent_days = 30
"""))
    club = config.clubs["tehran-mall"]
    assert club.window_days == 90
    assert club.segment_names() == ("vip", "sleeping")


@pytest.mark.parametrize(("extra", "key", "why"), [
    ("[coalition.tehran-mall.segments.vip]\nmin_spnd = 5\n",
     "coalition.tehran-mall.segments.vip.min_spnd", "unknown key"),
    ("[coalition.tehran-mall.segments.vip]\nabsent_days = 0\n",
     "coalition.tehran-mall.segments.vip.absent_days", "at least 1"),
    ("[coalition.tehran-mall.segments.vip]\n", "coalition.tehran-mall.segments.vip",
     "names no threshold"),
    ("[coalition.tehran-mall.segments.VIP]\nmin_spend = 5\n",
     "coalition.tehran-mall.segments.VIP", "a-z"),
    ('[coalition.tehran-mall.segments."vip\\n"]\nmin_spend = 5\n',
     "coalition.tehran-mall.segments.vip\n", "a-z"),
    ('[coalition.tehran-mall.segments.vip]\nmin_spend = 5\n'
     '[coalition.tehran-mall.segment_messages."offer\\n"]\nsegment = "vip"\n',
     "coalition.tehran-mall.segment_messages.offer\n", "a-z"),
    ("[coalition.tehran-mall.segments.vip]\nmin_spend = -5\n",
     "coalition.tehran-mall.segments.vip.min_spend", "at least 0"),
    ("[coalition.tehran-mall.segment_messages.offer]\nsegment = \"gold\"\n",
     "coalition.tehran-mall.segment_messages.offer.segment", "no segment 'gold'"),
    ("[coalition.tehran-mall.triggers.birthday]\nchannel = \"sms\"\n",
     "coalition.tehran-mall.triggers.birthday.template", "no [messaging.templates.birthday]"),
    ("[coalition.tehran-mall.triggers.lottery]\n", "coalition.tehran-mall.triggers.lottery",
     "unknown key"),
])
def test_a_wrong_definition_stops_the_load(tmp_path: Path, extra: str, key: str,
                                           why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, extra))
    assert err.value.key == key and why in err.value.reason


def _at(days_ago: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(DAY - dt.timedelta(days=days_ago), dt.time(hour),
                               tzinfo=dt.UTC)


def test_segments_over_the_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   journal_settings: dict[str, Any]) -> None:
    path = _config(tmp_path, "", journal=journal_settings)
    cfg = str(path)
    champion, faded, fresh, reversed_ = card(801), card(802), card(803), card(804)
    enroll_customers(capsys, cfg, (champion, faded, fresh, reversed_), "0912000000")
    config = load_config(path)
    # Who joined when: the third ten days ago, the others long ago.
    backdate(config.switch.journal, {a: _at(days) for a, days in
                                     ((1, 400), (2, 400), (3, 10), (4, 400))})
    stan = iter(range(1, 1000))
    # The champion: 8 purchases of 3,000,000 in the last month.
    for d in range(8):
        run_through_switch(path, [earn(T1, next(stan), champion, 3_000_000, now=_at(d + 1))],
                           _at(d + 1))
    # Faded: 3 purchases four months ago.
    for d in range(3):
        run_through_switch(path, [earn(T1, next(stan), faded, 500_000, now=_at(120 + d))],
                           _at(120 + d))
    # A purchase reversed: it does not count, so that customer never bought.
    original = earn(T1, next(stan), reversed_, 9_000_000, now=_at(2))
    replies = run_through_switch(path, [original, reversal(original, next(stan), now=_at(2))],
                                 _at(2))
    assert [r[39] for r in replies] == ["00", "00"]

    code, out, err = lps(capsys, "customers", "segments", "--day", DAY.isoformat(), "-c", cfg)
    assert code == 0, err
    rows = query(config.switch.journal,
                 "SELECT account_id, segment, purchases, spend FROM customer_segments "
                 "ORDER BY account_id")
    assert [tuple(int(v) if k != 1 else v for k, v in enumerate(r)) for r in rows] == [
        (1, "champions", 8, 24_000_000), (2, "at_risk", 3, 1_500_000), (3, "new", 0, 0),
        (4, "lost", 0, 0)]
    assert "tehran-mall: 4 customers on 2026-11-23" in out and "champions 1" in out

    # The report counts them; a run for the same day again changes nothing.
    assert lps(capsys, "customers", "segments", "--day", DAY.isoformat(), "-c", cfg)[0] == 0
    assert query(config.switch.journal, "SELECT COUNT(*) FROM customer_segments") == [(4,)]
    code, out, err = lps(capsys, "report", "--segments", "-c", cfg)
    assert code == 0, err
    assert "champions" in out and "at_risk" in out


def test_the_examples_segments_are_the_defaults() -> None:
    from tests.switch.support import example_config

    config = example_config()
    assert config.clubs["tehran-mall"].segments == default_segments()   # the example's table
    assert config.clubs["tehran-mall"].segment_names() == (
        "new", "champions", "loyal", "at_risk", "lost")
    assert parse_config(dict(config.raw)).clubs == config.clubs


NIGHTLY = """
[messaging]
[messaging.templates.welcome]
sms = "{name} عزیز، خوش آمدید! {bonus} امتیاز هدیه گرفتید."
[messaging.templates.winback]
kind = "promotional"
sms = "{name} عزیز، {days} روز است شما را ندیده‌ایم."
[coalition.tehran-mall.triggers.welcome]
bonus = 100
store = "STORE0000000001"
[coalition.tehran-mall.triggers.winback]
days = 60
[coalition.tehran-mall.triggers.winback.stores.STORE0000000002]
enabled = false               # the home-store query on each engine (nobody's home here)
"""


def test_the_nightly_job_on_each_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        journal_settings: dict[str, Any]) -> None:
    """Segments, messages and a bonus through the journal (the switch stopped), twice."""
    path = _config(tmp_path, NIGHTLY, journal=journal_settings)
    cfg = str(path)
    newcomer, absent = card(821), card(822)
    enroll_customers(capsys, cfg, (newcomer, absent), "0912300000")
    config = load_config(path)
    backdate(config.switch.journal, {1: _at(2), 2: _at(300)})
    for _ in range(2):
        code, out, err = lps(capsys, "customers", "nightly", "--day", DAY.isoformat(), "-c", cfg)
        assert code == 0, err
    journal = config.switch.journal
    keys = sorted(str(r[0]) for r in query(journal, "SELECT dedupe_key FROM outbox"))
    assert keys == ["welcome:1:sms", "winback:2:never:sms"]
    bonuses = query(journal, "SELECT pan, points FROM journal WHERE kind = 'card_admin' "
                             "AND points <> 0")
    assert [(str(p), int(n)) for p, n in bonuses] == [(newcomer, 100)]
    assert [str(r[0]) for r in query(journal, "SELECT state FROM club_bonuses")] == ["granted"]
    code, out, err = lps(capsys, "check", "-c", cfg)
    assert code == 0, err + out


def test_a_bonus_goes_through_the_running_switch(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """With `lps serve` running, the welcome bonus is the switch's own adjustment (its admin
    socket): the switch holds it in memory and journals it once."""
    import signal

    from tests.switch.test_crash import start
    from tests.waits import EVENT

    path, port = mobile_config(tmp_path)
    gift = NIGHTLY.replace("ندیده‌ایم.", "ندیده‌ایم. {credit} شارژ هدیه گرفتید.").replace(
        "days = 60\n", 'days = 60\ngift = 250_000\nstore = "STORE0000000003"\n')
    path.write_text(without_segments(path.read_text()) + gift)
    cfg = str(path)
    newcomer, absent = card(831), card(832)
    enroll_customers(capsys, cfg, (newcomer, absent), "0912400000")
    backdate(load_config(path).switch.journal, {2: dt.datetime.now(dt.UTC)
                                                - dt.timedelta(days=100)})
    proc = start(path, port)
    try:
        for _ in range(2):
            code, out, err = lps(capsys, "customers", "nightly", "-c", cfg)
            assert code == 0, err
        code, out, err = lps(capsys, "balance", newcomer, "-c", cfg)
        assert code == 0 and "100" in out, err + out
        code, out, err = lps(capsys, "balance", absent, "-c", cfg)
        assert code == 0 and "250000" in out.replace(",", ""), err + out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0
    config = load_config(path)
    rows = query(config.switch.journal, "SELECT pan, points, sv FROM journal "
                                        "WHERE kind = 'card_admin' AND (points <> 0 OR sv <> 0)")
    assert [(str(p), int(n), int(v)) for p, n, v in rows] == [(newcomer, 100, 0),
                                                             (absent, 0, 250_000)]
    assert lps(capsys, "check", "-c", cfg)[0] == 0
