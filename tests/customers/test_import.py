"""`lps customers import` (docs/customers.md, "Import"): every row checked, a report of the
refused rows with the reason, all or nothing unless --skip-bad, a dry run that writes nothing,
and a re-import that changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lps.cli import main as lps_main
from switch.config import load_config
from tests.customers.support import mobile_config
from tests.switch.support import card

GOOD = [
    "نسرین محمدی\u200cپور,۰۹۱۲۱۲۳۴۵۶۷,nasrin@example.ir,۱۳۷۰/۰۵/۱۲,,{c1},بله,",
    "كاظم يزدي,+98 935 111 2222,,1985-02-01,2010-09-09,,no,",
]
BAD = [
    "رضا,۰۲۱۸۸۸۸۱۲۳۴,,,,,,",                      # a landline
    "مینا,09121234567,,,,,,",                      # the same mobile as line 2
    ",09191112233,,,,,,",                          # no name
    "سارا,09191112234,,۱۴۰۲/۱۲/۳۰,,,,",            # Esfand 1402 has 29 days
    "علی,09191112235,,,,{c1},,",                   # the card of line 2
    "لیلا,09191112236,,,,123456,,",                # not a card number
]
HEADER = "name,mobile,email,birth_date,anniversary,cards,sms,email_offers"


def write(tmp: Path, rows: list[str]) -> Path:
    path = tmp / "members.csv"
    path.write_text("\n".join([HEADER, *rows]).format(c1=card(801)) + "\n", encoding="utf-8")
    return path


def lps(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = lps_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def counts(cfg: Path) -> tuple[int, int, int]:
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        return (conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM account_cards").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM cards").fetchone()[0])


@pytest.fixture()
def cfg(tmp_path: Path) -> Path:
    path, _ = mobile_config(tmp_path)
    assert lps_main(["cards", "enroll", card(800), "--config", str(path)]) == 0
    return path


def test_a_dry_run_reports_every_bad_row_and_writes_nothing(
        cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = counts(cfg)
    code, out, _ = lps(capsys, "customers", "import", str(write(tmp_path, GOOD + BAD)),
                       "--dry-run", "--config", str(cfg))
    assert code == 0
    refused = [line for line in out.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in refused] == [f"line {n}" for n in range(4, 10)]
    assert "not an Iranian mobile number" in refused[0] and "+989121234567" in refused[0]
    assert "the same mobile as line 2" in refused[1]
    assert "29 days" in refused[3] and "on line 2 too" in refused[4]
    assert "8 row(s): 2 valid, 6 refused" in out and "nothing written" in out
    assert counts(cfg) == before


def test_bad_rows_stop_the_whole_import_unless_skip_bad(
        cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = counts(cfg)
    path = write(tmp_path, GOOD + BAD)
    code, _, err = lps(capsys, "customers", "import", str(path), "--config", str(cfg))
    assert code == 1 and "nothing imported" in err
    assert counts(cfg) == before
    code, out, _ = lps(capsys, "customers", "import", str(path), "--skip-bad",
                       "--config", str(cfg))
    assert code == 0 and "imported 2 account(s)" in out
    # The card of the first row was enrolled through the switch, then linked.
    assert counts(cfg) == (before[0] + 2, before[1] + 1, before[2] + 1)
    with sqlite3.connect(load_config(cfg).switch.database) as conn:
        rows = conn.execute("SELECT name, mobile, birth_date, source FROM accounts "
                            "ORDER BY id").fetchall()
    assert rows == [("نسرین محمدی\u200cپور", "989121234567", "1991-08-03", "import"),
                    # Arabic kaf and yeh stored as the Persian letters (normalize_text).
                    ("کاظم یزدی", "989351112222", "1985-02-01", "import")]
    # Again: the same file changes nothing (the valid rows are there already).
    code, out, _ = lps(capsys, "customers", "import", str(path), "--skip-bad",
                       "--config", str(cfg))
    assert code == 0 and "2 already there" in out and "nothing to import" in out
    assert counts(cfg) == (before[0] + 2, before[1] + 1, before[2] + 1)
    code, out, _ = lps(capsys, "customers", "search", "کاظم یزدی", "--config", str(cfg))
    assert code == 0 and "98935***2222" in out


def test_a_file_without_the_header_is_refused_as_a_whole(
        cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    path = tmp_path / "x.csv"
    path.write_text("نام,موبایل\nنسرین,09121234567\n", encoding="utf-8")
    code, _, err = lps(capsys, "customers", "import", str(path), "--config", str(cfg))
    assert code == 3 and "name,mobile,email" in err
    path.write_bytes(b"name,mobile\n\xff\xfe,0912\n")
    code, _, err = lps(capsys, "customers", "import", str(path), "--config", str(cfg))
    assert code == 3 and "not UTF-8" in err
