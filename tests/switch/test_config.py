"""Configuration: the example is accepted as it is; every fault names the file, key and problem."""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from switch.config import ConfigError, load_config, parse_config
from switch.config.reader import MAX_DAYS
from switch.core import handle
from switch.core.admin import prune
from switch.journal import open_journal
from tests.switch.support import EXAMPLE, NOW, T2, card, earn, sign_on

PAN = card(51)


def test_example_is_accepted_as_it_is() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.switch.listen_ascii is not None and cfg.switch.listen_ascii.port == 8583
    assert cfg.switch.listen_bcd is not None and cfg.switch.listen_bcd.port == 8584
    assert cfg.switch.business_day_cutover == dt.time(23, 30)
    assert cfg.switch.timezone == "Asia/Tehran" and not cfg.switch.require_mac
    assert cfg.switch.hsm_timeout == 5.0
    c = cfg.coalitions["tehran-mall"]
    assert (c.point_value, c.currency, c.card_bins, c.auto_enroll) == (1000, "364", ("628000",),
                                                                       True)
    assert [t.name for t in c.tiers] == ["BLUE", "SILVER", "GOLD"]
    s2 = cfg.stores["STORE0000000002"]
    assert (s2.earn.points_per, s2.earn.points, s2.earn.min_amount) == (10_000, 2, 100_000)
    assert s2.campaigns[0].multiplier == 3.0
    s3 = cfg.stores["STORE0000000003"]
    assert s3.stored_value is not None and s3.stored_value.topup_bonus_percent == 15
    assert cfg.stores["STORE0000000001"].stamps is not None
    assert cfg.terminals["T0000002"].store == "STORE0000000002"


def _doc() -> dict[str, Any]:
    with open(EXAMPLE, "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["switch"].pop("database"), "switch.database", "missing"),
        (lambda d: d["switch"].update(listen_ascii="localhost"), "switch.listen_ascii",
         "HOST:PORT"),
        (lambda d: d["switch"].update(timezone="Mars/Base"), "switch.timezone", "unknown"),
        # too long for a file name: zoneinfo raised OSError (a traceback, not this error)
        (lambda d: d["switch"].update(timezone="x" * 10_000), "switch.timezone",
         f"unknown time zone {'x' * 64!r}"),
        (lambda d: d["switch"].update(business_day_cutover="25:99"),
         "switch.business_day_cutover", "HH:MM"),
        (lambda d: d["switch"].update(require_mac="no"), "switch.require_mac", "true or false"),
        (lambda d: d["switch"].update(hsm="ftp://x"), "switch.hsm", "inproc"),
        (lambda d: d["switch"].update(hsm_timeout=0.01), "switch.hsm_timeout",
         "must be at least 0.05, got 0.01"),
        (lambda d: d["switch"].update(hsm_timeout=61), "switch.hsm_timeout",
         "must be at most 60 seconds, got 61"),
        (lambda d: d["switch"].update(hsm_timeout="5s"), "switch.hsm_timeout", "a number"),
        (lambda d: d["switch"].update(limits={"max_frame": 70000}), "switch.limits.max_frame",
         "65535"),
        (lambda d: d["coalition"]["tehran-mall"].update(point_value=0),
         "coalition.tehran-mall.point_value", "at least 1"),
        (lambda d: d["coalition"]["tehran-mall"].update(currency="IRR"),
         "coalition.tehran-mall.currency", "3 digits"),
        (lambda d: d["coalition"]["tehran-mall"].update(card_bins=["62x"]),
         "coalition.tehran-mall.card_bins[0]", "digits"),
        # Numbers in the file are ASCII: a Persian-digit BIN would never match a PAN.
        (lambda d: d["coalition"]["tehran-mall"].update(card_bins=["۶۲۸۰۰۰"]),
         "coalition.tehran-mall.card_bins[0]", "digits"),
        (lambda d: d["coalition"]["tehran-mall"].update(currency="۳۶۴"),
         "coalition.tehran-mall.currency", "3 digits"),
        (lambda d: d["switch"].update(listen_ascii="127.0.0.1:۸۵۸۳"), "switch.listen_ascii",
         "HOST:PORT"),
        (lambda d: d["switch"].update(metrics=9100), "switch.metrics", "HOST:PORT"),
        (lambda d: d["coalition"]["tehran-mall"]["tiers"][1].update(earn_multiplier="x"),
         "coalition.tehran-mall.tiers[1].earn_multiplier", "number"),
        # TOML's nan and inf: a multiplier raised a bare ValueError or OverflowError, an idle
        # timeout of nan was taken (no connection would ever time out)
        (lambda d: d["coalition"]["tehran-mall"]["tiers"][1].update(earn_multiplier=math.nan),
         "coalition.tehran-mall.tiers[1].earn_multiplier", "must be a finite number, got nan"),
        (lambda d: d["coalition"]["tehran-mall"]["tiers"][1].update(earn_multiplier=math.inf),
         "coalition.tehran-mall.tiers[1].earn_multiplier", "must be a finite number, got inf"),
        (lambda d: d["switch"].update(limits={"idle_timeout": math.nan}),
         "switch.limits.idle_timeout", "must be a finite number, got nan"),
        (lambda d: d["switch"].update(limits={"idle_timeout": -math.inf}),
         "switch.limits.idle_timeout", "must be a finite number, got -inf"),
        (lambda d: d["store"]["STORE0000000002"]["earn"].update(points_per=0),
         "store.STORE0000000002.earn.points_per", "at least 1"),
        (lambda d: d["store"]["STORE0000000002"]["earn"].update(min_amout=5),
         "store.STORE0000000002.earn.min_amout", "unknown key"),
        (lambda d: d["store"]["STORE0000000001"].update(coalition="nowhere"),
         "store.STORE0000000001.coalition", "nowhere"),
        (lambda d: d["store"]["STORE0000000002"]["campaigns"][0].update(to="2026-12-01"),
         "store.STORE0000000002.campaigns[0].to", "before"),
        (lambda d: d["terminal"]["T0000001"].update(store="STORE9"), "terminal.T0000001.store",
         "STORE9"),
        (lambda d: d["terminal"].update({"TOOLONG123": {"store": "STORE0000000001"}}),
         "terminal.TOOLONG123", "1-8"),
    ],
)
def test_errors_name_file_key_and_fault(change: Any, key: str, words: str) -> None:
    doc = _doc()
    change(doc)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "lps.toml")
    assert info.value.file == "lps.toml" and info.value.key == key
    assert words in str(info.value) and str(info.value).startswith(f"lps.toml: {key}: ")


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[switch\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)
    # tomllib reads nested values recursively: too deep was a RecursionError, and bytes that
    # are not UTF-8 a UnicodeDecodeError, out of `lps serve` and a reload alike.
    for deep in ("x = " + "[" * 100_000 + "]" * 100_000, "y = " + "{a = " * 5_000 + "1"
                 + "}" * 5_000):
        bad.write_text(deep + "\n")
        with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML: .*nested too deep"):
            load_config(bad)
    bad.write_bytes(b"[switch]\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not UTF-8 text \(byte 14\)"):
        load_config(bad)


#: Every setting counted in days, and where it is in the example (`_doc`).
_DAY_SETTINGS: list[tuple[str, Any]] = [
    ("switch.idempotency_days", lambda d, v: d["switch"].update(idempotency_days=v)),
    ("switch.return_window_days", lambda d, v: d["switch"].update(return_window_days=v)),
    ("coalition.tehran-mall.points_expire_after_days",
     lambda d, v: d["coalition"]["tehran-mall"].update(points_expire_after_days=v)),
    ("coalition.tehran-mall.segments.window_days",
     lambda d, v: d["coalition"]["tehran-mall"]["segments"].update(window_days=v)),
    ("coalition.tehran-mall.segments.new.joined_within_days",
     lambda d, v: d["coalition"]["tehran-mall"]["segments"]["new"].update(
         joined_within_days=v)),
    ("coalition.tehran-mall.segments.loyal.bought_within_days",
     lambda d, v: d["coalition"]["tehran-mall"]["segments"]["loyal"].update(
         bought_within_days=v)),
    ("coalition.tehran-mall.segments.lost.absent_days",
     lambda d, v: d["coalition"]["tehran-mall"]["segments"]["lost"].update(absent_days=v)),
    ("coalition.tehran-mall.triggers.winback.days",
     lambda d, v: d["coalition"]["tehran-mall"].update(triggers={"winback": {"days": v}})),
    ("store.STORE0000000002.campaigns[0].expire_after_days",
     lambda d, v: d["store"]["STORE0000000002"]["campaigns"][0].update(expire_after_days=v)),
]


@pytest.mark.parametrize(("key", "change"), _DAY_SETTINGS, ids=[k for k, _ in _DAY_SETTINGS])
def test_a_span_of_days_past_a_hundred_years_is_refused(key: str, change: Any) -> None:
    """Beyond `MAX_DAYS` a date of the span would leave what `datetime.date` holds (from about
    2.9 million days ahead or 740,000 back): refused here, not at the start or in every
    decision that uses it (an earn answered 96 with `points_expire_after_days = 3000000`)."""
    doc = _doc()
    change(doc, MAX_DAYS + 1)
    with pytest.raises(ConfigError) as info:
        parse_config(doc, "lps.toml")
    assert info.value.key == key
    assert str(info.value) == (f"lps.toml: {key}: must be at most {MAX_DAYS} days "
                               f"(a hundred years), got {MAX_DAYS + 1}")


def test_the_longest_spans_load_and_serve(tmp_path: Path) -> None:
    """At `MAX_DAYS` an earn is approved, its points expiring a hundred years on, and the
    switch loads its journal again (whose start looks back `idempotency_days`) and prunes."""
    doc = _doc()
    doc["switch"].update(idempotency_days=MAX_DAYS, return_window_days=MAX_DAYS,
                         database=str(tmp_path / "lps.db"))
    doc["coalition"]["tehran-mall"]["points_expire_after_days"] = MAX_DAYS
    cfg = parse_config(doc, "lps.toml")
    assert cfg.switch.idempotency_days == cfg.switch.return_window_days == MAX_DAYS
    store = open_journal(cfg.switch.journal)
    try:
        state = store.load(cfg, None, NOW)
        entries = []
        for msg in (sign_on(T2), earn(T2, 1, PAN, 500_000)):
            decision = handle(state, msg, NOW)
            assert decision.response is not None and decision.response.fields[39] == "00"
            entries += decision.entries
        lots = [lot for e in entries for lot in e.new_lots]
        assert lots and all(lot.expires_on is not None
                            and (lot.expires_on - lot.earned_on).days == MAX_DAYS
                            for lot in lots)
        store.append(entries)
        again = store.load(cfg, None, NOW)
        assert again.cards[PAN].points == state.cards[PAN].points > 0
        prune(again, NOW)
    finally:
        store.close()


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """The paths of the example's values (a list of tables is walked, other lists are values)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


#: Values TOML can hold that no key of the example expects.
_HOSTILE: list[Any] = [
    math.nan, math.inf, -math.inf, -1, 0, 10**30, -(10**30), 2**63, 1.5, True, "", " ",
    "۱۲۳", "\u200c", "\x00", "x" * 10_000, "9999-12-31", "23:59-00:00", "25:00", [], ["x"],
    [1, 2], {}, dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.time(23, 59),
    dt.datetime(9999, 12, 31, 23, 59),
]


def test_no_value_at_any_key_escapes_as_another_error() -> None:
    """Every value of the example replaced by each hostile value in turn: the configuration
    loads or is refused with `ConfigError` naming the file and key, never another exception
    (a ten-thousand-letter time zone raised `OSError`, a multiplier of nan `ValueError`)."""
    escaped: list[str] = []
    for path in _leaves(_doc()):
        for value in _HOSTILE:
            doc = _doc()
            node: Any = doc
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
            try:
                parse_config(doc, "lps.toml")
            except ConfigError as exc:
                assert str(exc).startswith("lps.toml: "), exc
            except Exception as exc:  # what this test is for
                escaped.append(f"{'.'.join(map(str, path))} = {value!r:.40}: {exc!r:.120}")
    assert not escaped, escaped[:10]
