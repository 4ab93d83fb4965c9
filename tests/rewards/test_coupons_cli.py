"""`lps coupons` with the switch stopped (docs/programs.md "Coupons"): every wrong argument is
refused with its reason and writes nothing; an issue, show and void straight on the journal."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from lps.cli import main
from tests.switch.test_crash import write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path)[0]


def lps(config: Path, *args: str) -> int:
    return main([*args, "--config", str(config)])


def issues(config: Path) -> int:
    db = config.parent / "lps.db"
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM coupon_issues").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize("args, said", [
    (["--store", "STORE9", "--amount", "1000"], "no such store"),
    (["--coalition", "nowhere", "--amount", "1000"], "no such coalition"),
    (["--store", "STORE0000000001", "--percent", "101"], "at most 100"),
    (["--store", "STORE0000000001", "--percent", "0"], "at least 1"),
    (["--store", "STORE0000000001", "--amount", "-5"], "at least 1"),
    (["--store", "STORE0000000001", "--amount", "1e3"], "whole number"),
    (["--store", "STORE0000000001", "--amount", "1000", "--max-discount", "5"],
     "caps a --percent"),
    (["--store", "STORE0000000001", "--amount", "1000", "--count", "0"], "at least 1"),
    (["--store", "STORE0000000001", "--amount", "1000", "--expires", "2020-01-01"],
     "before today"),
    (["--store", "STORE0000000001", "--amount", "1000", "--expires", "2026-02-30"], "--expires"),
])
def test_a_wrong_argument_is_refused_and_nothing_is_issued(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        said: str) -> None:
    out = tmp_path / "codes.csv"
    base = {"--count": "3", "--expires": "2099-01-01"}
    for key in list(base):
        if key in args:
            del base[key]
    full = ["coupons", "issue", *args, *(x for kv in base.items() for x in kv), "--out", str(out)]
    assert lps(config, *full) != 0
    assert said in capsys.readouterr().err
    assert not out.exists() and issues(config) == 0


def test_an_existing_file_is_not_overwritten(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "codes.csv"
    out.write_text("keep me\n")
    assert lps(config, "coupons", "issue", "--store", "STORE0000000001", "--amount", "1000",
               "--count", "2", "--expires", "2099-01-01", "--out", str(out)) != 0
    assert out.read_text() == "keep me\n" and issues(config) == 0


def test_issue_show_and_void_with_the_switch_stopped(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "codes.csv"
    assert lps(config, "coupons", "issue", "--store", "STORE0000000002", "--percent", "20",
               "--max-discount", "۵۰۰۰۰", "--per-customer", "1",
               "--segment", "loyal",
               "--count", "50", "--expires", "2099-01-01", "--out", str(out)) == 0
    codes = [r["code"] for r in csv.DictReader(out.open(encoding="utf-8"))]
    assert len(set(codes)) == 50
    capsys.readouterr()
    assert lps(config, "coupons", "show", codes[7].lower().replace("-", " ")) == 0
    shown = capsys.readouterr().out
    assert "20% off up to 50000 IRR" in shown and "status     active" in shown
    assert "segment loyal" in shown
    assert lps(config, "coupons", "void", codes[7], "--by", "ops") == 0
    assert lps(config, "coupons", "void", codes[7]) != 0
    assert "void already" in capsys.readouterr().err
    assert lps(config, "coupons", "show", codes[7]) == 0
    assert "status     void" in capsys.readouterr().out
    typo = ("1" if codes[0][0] != "1" else "2") + codes[0][1:]
    assert lps(config, "coupons", "show", typo) != 0
    assert "check symbol" in capsys.readouterr().err
