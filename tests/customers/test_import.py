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


#: Files the import refuses as a whole (exit 3), with the words of the refusal: before, a
#: value over the CSV reader's limit ended in a traceback, and a quote left open swallowed
#: every line after it into one name.
BROKEN = [
    (HEADER + "\n" + "x" * 200_000 + ",09121234567,,,,,,\n",
     "line 2: not CSV the import can read (field larger than field limit"),
    (HEADER + '\n"نسرین,09121234567,,,,,,\nعلی,09121234568,,,,,,\n',
     "line 3: not CSV the import can read (unexpected end of data)"),
    (HEADER + '\n"نسرین"x,09121234567,,,,,,\n', "line 2: not CSV the import can read"),
    (HEADER + ",name\nنسرین,09121234567,,,,,,,x\n", "the first line names name twice"),
]


@pytest.mark.parametrize(("text", "words"), BROKEN)
def test_a_file_the_csv_reader_cannot_read_is_refused_with_its_line(
        cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
        words: str) -> None:
    before = counts(cfg)
    path = tmp_path / "broken.csv"
    path.write_text(text, encoding="utf-8")
    code, _, err = lps(capsys, "customers", "import", str(path), "--skip-bad",
                       "--config", str(cfg))
    assert code == 3 and words in err, err
    assert counts(cfg) == before


def test_a_device_with_no_end_is_refused_at_the_size_bound(
        cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A device or a pipe has no size to check before reading: the import reads to its
    bound (before, /dev/zero was read until memory ran out)."""
    code, _, err = lps(capsys, "customers", "import", "/dev/zero", "--dry-run",
                       "--config", str(cfg))
    assert code == 3 and "larger than 64 MiB" in err


def test_rows_are_named_by_the_line_they_start_on_and_extra_values_are_refused(
        cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = counts(cfg)
    rows = ["",                                         # line 2, blank: skipped
            '"نسرین\nمحمدی",09121234567,,,,,,',         # lines 3-4: a name of two lines
            "",                                         # line 5
            "سارا,09121234568,,,,,,,دو,سه",             # line 6: two values too many
            "سارا,09121234569,,,,,,,,",                 # line 7: empty ones past the end
            "مینا,,,,,,,"]                              # line 8
    code, out, _ = lps(capsys, "customers", "import", str(write(tmp_path, rows)), "--dry-run",
                       "--config", str(cfg))
    assert code == 0
    refused = [line for line in out.splitlines() if line.startswith("line ")]
    assert [line.split(":")[0] for line in refused] == ["line 3", "line 6", "line 8"], out
    assert "2 value(s) past the header's columns" in refused[1]
    assert "4 row(s): 1 valid, 3 refused" in out
    assert counts(cfg) == before
