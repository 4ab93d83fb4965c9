"""A coupon issued for a segment (`lps coupons issue --segment`) is taken from the customers the
nightly job put in that segment and declined `57` for every other card, with no effect
(docs/programs.md "Coupons", docs/customers.md "Segments"), through the switch's own path on
a real journal, on both engines."""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest

from switch.config import Config, load_config
from switch.core import coupon_code
from switch.core.rewards import CouponTerms
from switch.journal import open_journal
from tests.customers.support import (
    lps,
    mobile_config,
    run_through_switch,
    three_customers,
)
from tests.engines import query
from tests.rewards.support import redeem_coupon, tag
from tests.switch.support import T1

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def _issue_for_new(config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   engine: str) -> list[str]:
    """Four coupons of 100,000 IRR for segment `new`: by `lps coupons issue` on SQLite (the
    command opens the SQLite file only), through the journal on PostgreSQL."""
    if engine == "sqlite":
        out = tmp_path / "new.csv"
        code, _o, err = lps(capsys, "coupons", "issue", "--store", "STORE0000000001",
                            "--amount", "100000", "--count", "4", "--expires", "2099-01-01",
                            "--segment", "new", "--out", str(out), "-c", config.path)
        assert code == 0, err
        return [r["code"] for r in csv.DictReader(out.open(encoding="utf-8"))]
    codes = [coupon_code.new_code(secrets.randbelow) for _ in range(4)]
    journal = open_journal(config.switch.journal)
    try:
        journal.issue_coupons(
            CouponTerms(0, "tehran-mall", "STORE0000000001", 0, 100_000, 0, 0, 0, "new",
                        dt.date(2099, 1, 1)),
            [coupon_code.digest(c) for c in codes], "new.csv", NOW, "test", lambda _i: None)
    finally:
        journal.close()
    return codes


def test_a_segment_coupon_is_for_that_segment_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        journal_settings: dict[str, Any], engine: str) -> None:
    path, _port = mobile_config(tmp_path, journal=journal_settings)
    cfg = str(path)
    newcomer, old_timer, stranger = three_customers(capsys, cfg, 811, "0935000000", NOW)
    config = load_config(path)
    assert lps(capsys, "customers", "segments", "--day", "2026-11-23", "-c", cfg)[0] == 0

    codes = _issue_for_new(config, tmp_path, capsys, engine)

    # A segment the coalition does not define is refused when issuing.
    code, _o, err = lps(capsys, "coupons", "issue", "--store", "STORE0000000001", "--amount",
                        "1", "--count", "1", "--expires", "2099-01-01", "--segment", "gold",
                        "--out", str(tmp_path / "gold.csv"), "-c", cfg)
    assert code != 0 and "no such segment" in err and "at_risk" in err

    replies = run_through_switch(path, [
        redeem_coupon(T1, 1, old_timer, codes[0], 1_000_000, now=NOW),
        redeem_coupon(T1, 2, stranger, codes[1], 1_000_000, now=NOW),
        redeem_coupon(T1, 3, newcomer, codes[2], 1_000_000, now=NOW),
    ], NOW)
    assert [r.text(39) for r in replies] == ["57", "57", "00"]
    assert tag(replies[2], "CD") == "100000"
    # The declines changed nothing: only the newcomer's coupon is used.
    used = query(config.switch.journal,
                 "SELECT COUNT(*) FROM coupons WHERE redeemed_by IS NOT NULL")
    assert [tuple(int(v) for v in r) for r in used] == [(1,)]
