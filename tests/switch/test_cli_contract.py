"""What every `lps` command promises (docs/cli.md): help for every option, the exit-code table,
one sentence for a missing database, typed values read on input, no traceback for a busy port
or a reader that leaves early."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_sim.cli import _parser as hsm_parser
from lps.cli import build_parser, main
from switch.core import coupon_code
from switch.core.luhn import luhn_complete
from terminal_agent.cli import build_parser as agent_parser
from tests.security.support import write_config
from tests.waits import START

ROOT = Path(__file__).resolve().parents[2]
PAN = luhn_complete("628000000000031")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
COUPON = coupon_code.display(coupon_code.new_code(lambda n: 7))


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every command a user can run: (words, its parser, the help its parent gives it)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser, None
        return
    helps = {c.dest: c.help for c in subs[0]._choices_actions}
    for name, sub in subs[0].choices.items():
        for words, leaf, text in leaves(sub, (*path, name)):
            yield words, leaf, text if len(words) > len(path) + 1 else helps.get(name)


PROGRAMS = {"lps": build_parser, "lps-hsm": hsm_parser, "lps-agent": agent_parser}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_command_and_option_has_help_and_no_backticks(program: str) -> None:
    parser = PROGRAMS[program]()
    assert "`" not in parser.format_help(), parser.format_help()
    missing = []
    for words, leaf, text in leaves(parser):
        if not text:
            missing.append(f"{program} {' '.join(words)}")
        for action in leaf._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                name = action.option_strings or action.dest
                missing.append(f"{program} {' '.join(words)} {name}")
        assert "`" not in leaf.format_help(), leaf.format_help()
    assert not missing, f"without help text: {missing}"


def test_option_help_says_the_format() -> None:
    helps = {" ".join(w): leaf.format_help() for w, leaf, _ in leaves(build_parser())}
    assert "YYYY-MM-DD" in helps["report"] and "YYYY-MM-DD" in helps["settle"]
    assert "--coalition" in helps["draw-commit"] and "how many different members win" in \
        helps["draw-commit"]
    serve = next(leaf for w, leaf, _ in leaves(hsm_parser()) if w == ("serve",))
    assert "the LMK file to serve with" in " ".join(serve.format_help().split())


# -- the exit-code table -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("contract")
    cfg = write_config(tmp)
    assert main(["cards", "enroll", PAN, "--config", str(cfg)]) == 0
    gone = tmp / "gone"
    gone.mkdir()
    missing = write_config(gone)
    (gone / "lps.db").unlink(missing_ok=True)
    bad = tmp / "bad.toml"
    bad.write_text(cfg.read_text().replace('timezone = "Asia/Tehran"', 'timezone = "Mars/Olympus"'))
    return {"cfg": cfg, "missing": missing, "missing_db": gone / "lps.db", "bad": bad,
            "tmp": tmp}


#: Each command: arguments that parse, a typed value it must refuse as bad input (exit 3), and
#: whether it reads the switch's database (then exit 1 and the one sentence without it).
TABLE: dict[str, tuple[list[str], list[str] | None, bool]] = {
    "check": ([], None, True),
    "serve": ([], None, False),
    "cards": (["show", PAN], ["show", "abcd"], True),
    "balance": ([PAN], ["abcd"], True),
    "settle": (["--date", "2026-03-02", "--out", "OUT"], ["--date", "2026-02-30", "--out", "x"],
               True),
    "report": (["--from", "2026-03-01", "--to", "2026-03-02"], ["--from", "1st", "--to", "x"],
               True),
    "keys new-terminal": (["T0000001"], ["T000000001"], False),
    "keys load-bdk": (["T0000001"], ["T000000001"], False),
    "keys show": ([], None, False),
    "pin": (["reset", PAN], ["reset", "abcd"], True),
    "cards-issue": (["--bin", "628000", "--count", "1", "--out", "OUT"],
                    ["--bin", "628000", "--count", "many", "--out", "x"], False),
    "club": ([PAN], ["62800012"], True),
    "draw-commit": (["--coalition", "tehran-mall", "--date", "2099-01-01", "--out", "OUT"],
                    ["--coalition", "tehran-mall", "--date", "2099-13-01", "--out", "x"], True),
    "draw": (["OUT"], ["x", "--beacon-value", "a\x07b"], False),
    "draw-verify": (["OUT"], None, False),
    "staff": (["list"], None, False),
    "console": ([], ["--listen", "localhost"], False),
    "messages send": (["--once"], None, True),
    "messages status": ([], ["--limit", "many"], True),
    "messages requeue": (["1"], ["first"], True),
    "messages optout": (["09121234567"], ["0912"], True),
    "messages optin": (["09121234567"], ["0912"], True),
    "customers enroll": (["--name", "ندا", "--mobile", "09121234567"],
                         ["--name", "ندا", "--mobile", "0912"], True),
    "customers update": (["1", "--name", "ندا"], ["1", "--mobile", "0912"], True),
    "customers show": (["1"], ["first"], True),
    "customers search": (["09121234567"], ["12345"], True),
    "customers link": (["1", PAN], ["1", "abcd"], True),
    "customers unlink": (["1", PAN], ["1", "abcd"], True),
    "customers import": (["OUT"], ["no-such-file.csv"], True),
    "customers export": (["1"], ["x"], True),
    "customers erase": (["1"], ["x"], True),
    "customers segments": (["--day", "2026-11-23"], ["--day", "2026-13-01"], True),
    "customers nightly": (["--day", "2026-11-23"], ["--day", "1405-09-02x"], True),
    "customers referral": (["1"], ["x"], True),
    "customers refer": (["1", "7KQ4M2XD"], ["x", "7KQ4M2XD"], True),
    "coupons issue": (["--store", "STORE0000000001", "--amount", "1000", "--count", "1",
                       "--expires", "2099-01-01", "--out", "OUT"],
                      ["--store", "STORE0000000001", "--amount", "1000", "--count", "many",
                       "--expires", "2099-01-01", "--out", "x"], False),
    "coupons show": ([COUPON], ["abcd"], True),
    "coupons void": ([COUPON], ["abcd"], True),
    "programs reload": ([], None, False),
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def takes_config(words: str) -> bool:
    leaf = dict((" ".join(w), p) for w, p, _ in leaves(build_parser()))[words]
    return any("--config" in a.option_strings for a in leaf._actions)


def test_the_table_covers_every_command() -> None:
    assert {" ".join(w) for w, _, _ in leaves(build_parser())} == set(TABLE)


@pytest.mark.parametrize("words", sorted(TABLE))
def test_exit_codes(words: str, setup: dict[str, Path], capsys: pytest.CaptureFixture[str],
                    tmp_path: Path) -> None:
    ok, bad_input, reads_db = TABLE[words]
    cmd = words.split()
    ok = [str(tmp_path / "o") if a == "OUT" else a for a in ok]
    code, err = run([*cmd, *ok, "--no-such-option"], capsys)
    assert code == 2 and "unrecognized arguments: --no-such-option" in err  # usage
    if takes_config(words):
        code, err = run([*cmd, *ok, "--config", str(setup["bad"])], capsys)
        assert code == 2 and f"{setup['bad']}: switch.timezone" in err, err  # configuration
    if bad_input is not None:
        extra = ["--config", str(setup["cfg"])] if takes_config(words) else []
        code, err = run([*cmd, *bad_input, *extra], capsys)
        assert code == 3, err  # bad input: one line naming what is wrong
        assert err.count("\n") == 1 and err.startswith(f"lps {cmd[0]}"), err
    if reads_db:
        code, err = run([*cmd, *ok, "--config", str(setup["missing"])], capsys)
        assert code == 1
        assert err == (f"lps {words}: no switch database at {setup['missing_db']} (check "
                       "[switch] database in the configuration; `lps serve` or `lps cards "
                       "enroll` creates it)\n")
        assert not setup["missing_db"].exists()  # and it was not created on the way


def test_balance_names_the_typo_and_never_prints_a_valid_pan(
        setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(setup["cfg"])]
    assert run(["balance", "abcd", *cfg], capsys) == (
        3, "lps balance: 'abcd' is not a card number (13-19 digits, 0-9 or ۰-۹)\n")
    typo = PAN[:-1] + str((int(PAN[-1]) + 1) % 10)
    code, err = run(["balance", typo, *cfg], capsys)
    assert code == 3 and typo not in err and f"'{typo[:6]}******{typo[-4:]}'" in err
    assert "check digit (Luhn) is wrong" in err
    code, err = run(["balance", PAN[:-1] + "x", *cfg], capsys)
    assert code == 3 and PAN[:-1] not in err
    code, err = run(["balance", luhn_complete("628000000000099"), *cfg], capsys)
    assert code == 1 and err == "lps balance: card 628000******" + \
        luhn_complete("628000000000099")[-4:] + " is not enrolled\n"


def test_persian_digits_are_read_as_ascii(setup: dict[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ["--config", str(setup["cfg"])]
    code, _ = run(["balance", PAN.translate(PERSIAN), *cfg], capsys)
    out = capsys.readouterr().out
    assert code == 0
    arabic = PAN.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    code, _ = run(["balance", f"{arabic[:4]} {arabic[4:8]} {arabic[8:12]} {arabic[12:]}", *cfg],
                  capsys)
    assert code == 0 and capsys.readouterr().out == out


# -- the process: a busy port, a reader that leaves ---------------------------------------------


def lps_process(*argv: str, capture_output: bool = False, stdout: int | None = None,
                stderr: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lps.cli", *argv], cwd=ROOT, text=True,
                          timeout=START, check=False, capture_output=capture_output,
                          stdout=stdout, stderr=stderr)


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("key", ["listen_ascii", "metrics"])
def test_serve_on_a_busy_address_is_one_line_and_exit_3(key: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    with taken_port() as port:
        text = cfg.read_text()
        start = text.index(f"{key} = ")
        end = text.index("\n", start)
        cfg.write_text(text[:start] + f'{key} = "127.0.0.1:{port}"' + text[end:])
        done = lps_process("serve", "--config", str(cfg), "--log-level", "ERROR",
                           capture_output=True)
    assert done.returncode == 3, done.stderr
    assert done.stderr == (f"lps serve: cannot listen on 127.0.0.1:{port} ([switch] {key}): "
                           "the address is in use (another switch or program listens there)\n")


def test_a_reader_that_leaves_early_costs_no_traceback(setup: dict[str, Path]) -> None:
    cfg = str(setup["cfg"])
    assert main(["cards", "block", PAN, "--config", cfg]) == 0
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has already gone: every write is EPIPE
    try:
        done = lps_process("cards", "unblock", PAN, "--config", cfg, stdout=write,
                           stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    with contextlib.closing(sqlite3.connect(setup["cfg"].parent / "lps.db")) as conn:
        assert conn.execute("SELECT status FROM cards WHERE pan = ?", (PAN,)).fetchone() == (
            "active",)  # the command ran to its end


def test_piped_into_head(setup: dict[str, Path]) -> None:
    done = subprocess.run(
        f"set -o pipefail; {sys.executable} -m lps.cli cards show {PAN} --config "
        f"{setup['cfg']} | head -1", shell=True, executable="/bin/bash", cwd=ROOT, text=True,
        capture_output=True, timeout=START, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == f"card       {PAN[:6]}******{PAN[-4:]}\n"
