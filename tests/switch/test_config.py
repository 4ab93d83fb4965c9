"""Configuration: the example is accepted as it is; every fault names the file, key and problem."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from switch.config import ConfigError, load_config, parse_config
from tests.switch.support import EXAMPLE


def test_example_is_accepted_as_it_is() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.switch.listen_ascii is not None and cfg.switch.listen_ascii.port == 8583
    assert cfg.switch.listen_bcd is not None and cfg.switch.listen_bcd.port == 8584
    assert cfg.switch.business_day_cutover == dt.time(23, 30)
    assert cfg.switch.timezone == "Asia/Tehran" and not cfg.switch.require_mac
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
        (lambda d: d["switch"].update(business_day_cutover="25:99"),
         "switch.business_day_cutover", "HH:MM"),
        (lambda d: d["switch"].update(require_mac="no"), "switch.require_mac", "true or false"),
        (lambda d: d["switch"].update(hsm="ftp://x"), "switch.hsm", "inproc"),
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
