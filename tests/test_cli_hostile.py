"""The `lps` commands given hostile values: each is taken or refused with the command's own
error and exit code, never an exception out of `main` or a traceback on stderr."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from lps.cli import main
from lps.cli_input import FIRST_DAY, LAST_DAY, MAX_ID
from lps.console import auth
from lps.console.db import open_console
from tests.switch.support import EXAMPLE

#: What an operator (or a script gone wrong) can type: empty, blank, Persian and Arabic-Indic
#: digits, a NUL, ZWNJ, very long, out of every range, dates the calendar or `datetime`
#: cannot hold, a path and a format string, a name with a newline after it, and what Python
#: makes of a command line's byte that is not UTF-8 (a lone surrogate).
HOSTILE = ["", " ", "۶۲۸۰۰۰۱۲۳۴۵۶۷۸۹۵", "6280001234567895\x00", "x" * 5000, "-1", "9" * 40,
           str(MAX_ID + 1), "2026-02-30", "0001-01-01", "9999-12-31", "1405/01/01", "\u200c",
           "../../etc/passwd", "%s%n", "NaN", "1e309", "١٢٣", "ann\n", "\udcff"]


def commands(cfg: Path, out: Path) -> list[Callable[[str], list[str]]]:
    c = ["--config", str(cfg)]
    return [
        lambda h: ["balance", h, *c],
        lambda h: ["cards", "show", h, *c],
        lambda h: ["cards", "block", h, *c],
        lambda h: ["cards", "enroll", h, *c],
        lambda h: ["club", h, *c],
        lambda h: ["pin", "reset", h, *c],
        lambda h: ["report", *c, "--from", h, "--to", "2026-12-01"],
        lambda h: ["report", *c, "--from", "2026-11-01", "--to", h],
        lambda h: ["settle", *c, "--date", h, "--out", str(out / "settle")],
        lambda h: ["coupons", "show", h, *c],
        lambda h: ["customers", "show", h, *c],
        lambda h: ["customers", "search", h, *c],
        lambda h: ["customers", "enroll", "--mobile", h, "--name", "علی", *c],
        lambda h: ["customers", "enroll", "--mobile", "09121234567", "--name", h, *c],
        lambda h: ["messages", "requeue", h, *c],
        lambda h: ["draw-verify", h],
        lambda h: ["cards-issue", "--bin", h, "--count", "2", "--out", str(out / "c.csv")],
        lambda h: ["cards-issue", "--bin", "628000", "--count", h, "--out", str(out / "c.csv")],
        lambda h: ["cards", "replace", "6280001234567895", h, "--reason", "lost", *c],
        lambda h: ["cards", "enroll", "6280001234567887", "--name", h, *c],
        lambda h: ["cards", "enroll", "6280001234567887", "--phone", h, *c],
        lambda h: ["cards", "enroll", "6280001234567887", "--birth-date", h, *c],
        lambda h: ["coupons", "issue", "--coalition", "tehran-mall", "--count", h, "--percent",
                   "10", "--out", str(out / "coupons.csv"), *c],
        lambda h: ["coupons", "issue", "--coalition", "tehran-mall", "--count", "1", "--amount",
                   h, "--out", str(out / "coupons.csv"), *c],
        lambda h: ["coupons", "issue", "--coalition", h, "--count", "1", "--percent", "10",
                   "--out", str(out / "coupons.csv"), *c],
        lambda h: ["keys", "new-terminal", h, *c],
        lambda h: ["draw-commit", "--coalition", "tehran-mall", "--date", h, "--out",
                   str(out / "draw"), *c],
        lambda h: ["draw-commit", "--coalition", "tehran-mall", "--date", "2026-12-31",
                   "--winners", h, "--out", str(out / "draw"), *c],
        lambda h: ["customers", "link", h, "6280001234567895", *c],
        lambda h: ["customers", "erase", h, *c],
        lambda h: ["report", *c, "--month", h],
        lambda h: ["check", h, *c],
    ]


def _escapes(argv: list[str], case: str) -> list[str]:
    """What escaped `main(argv)` instead of the command's own error: an exception, a
    traceback on stderr, or the codec's words where a reason belongs."""
    err = io.StringIO()
    found: list[str] = []
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            main(argv)
    except SystemExit:  # argparse's usage error (exit 2)
        pass
    except Exception as exc:  # what these tests are for
        found.append(f"{case}: {exc!r:.100}")
    if "Traceback" in err.getvalue():
        found.append(f"{case}: a traceback on stderr")
    if "codec can't" in err.getvalue():
        found.append(f"{case}: the codec's words, not a reason")
    return found


def test_no_hostile_value_escapes_a_command(tmp_path: Path) -> None:
    """A date before 1900 or a 40-digit account number raised `OverflowError` out of
    `lps report`, `lps settle` and `lps customers show`."""
    cfg = tmp_path / "lps.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        '"var/lps.db"', f'"{tmp_path / "lps.db"}"'), encoding="utf-8")
    assert main(["cards", "enroll", "6280001234567895", "--config", str(cfg)]) == 0
    escaped: list[str] = []
    for command in commands(cfg, tmp_path):
        for value in HOSTILE:
            argv = command(value)
            escaped += _escapes(argv, f"{argv[:3]} {value!r:.30}")
    assert not escaped, escaped


@pytest.mark.parametrize("day", [FIRST_DAY, LAST_DAY])
def test_the_first_and_last_dates_a_command_takes_are_reported(
        tmp_path: Path, day: object, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "lps.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        '"var/lps.db"', f'"{tmp_path / "lps.db"}"'), encoding="utf-8")
    assert main(["cards", "enroll", "6280001234567895", "--config", str(cfg)]) == 0
    assert main(["report", "--config", str(cfg), "--from", str(day), "--to", str(day)]) == 0
    capsys.readouterr()
    assert main(["report", "--config", str(cfg), "--from", "1899-12-31", "--to",
                 "2026-12-01"]) != 0
    assert ("--from must be a date from 1900-01-01 to 9899-12-31, got '1899-12-31'"
            in capsys.readouterr().err)


def test_no_hostile_value_escapes_the_staff_commands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lps staff` with each hostile value as the username, role, store and password (one
    line of stdin, also as bytes that are not UTF-8): refused with exit 1 and its message, or
    taken; never an exception or a traceback."""
    cfg = tmp_path / "lps.toml"
    cfg.write_text(EXAMPLE.read_text(encoding="utf-8").replace(
        '"var/lps.db"', f'"{tmp_path / "lps.db"}"'), encoding="utf-8")
    c = ["--config", str(cfg), "--password-stdin"]
    # zoe exists, so a password line that passes the checks is set, not refused for her name
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["staff", "add", "zoe", "--role", "support", *c]) == 0
    lines = [(h + "\n").encode("utf-8", "surrogatepass") for h in HOSTILE] + [
        b"\xff\xfe not UTF-8 at all\n", b"a long password\r\n"]
    cases = [(["staff", "add", h, "--role", "admin", *c], b"a long password\n")
             for h in HOSTILE]
    cases += [(["staff", "add", "ann", "--role", h, *c], b"a long password\n") for h in HOSTILE]
    cases += [(["staff", "add", "bob", "--role", "support", "--store", h, *c],
               b"a long password\n") for h in HOSTILE]
    cases += [(["staff", "disable", h, *c], b"") for h in HOSTILE]
    cases += [(["staff", "reset-password", "zoe", *c], line) for line in lines]
    escaped: list[str] = []
    for argv, stdin in cases:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        escaped += _escapes(argv, f"{argv[:4]} {stdin[:20]!r}")
    assert not escaped, escaped
    conn = open_console(cfg.parent / "lps.db")
    try:  # what was refused was not stored: every account has a name `check_username` takes
        names = [s.username for s in auth.list_staff(conn)]
        assert "zoe" in names and all(auth.USERNAME.fullmatch(n) for n in names), names
    finally:
        conn.close()
