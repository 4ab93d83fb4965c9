"""`lps settle` / `lps report`: sealed, repeatable, all or nothing;
each day in its own folder under `--out`, a sealed day's files never changed but by --reopen."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lps import settle_cli as cli
from lps.cli import main as lps_main
from settlement import render
from settlement.seal import Register
from tests.settlement import simulation
from tests.waits import START

CONFIG = str(simulation.EXAMPLE)
DAY = "2026-03-02"
NAMES = sorted([render.POSITIONS, render.OBLIGATIONS, render.RECONCILIATION, render.BREAKAGE,
                render.SETTLEMENT, render.REPORT, render.SV_POSITIONS, render.SV_OBLIGATIONS,
                render.TIERS, render.FEES, render.NET_POSITIONS, render.BANK_BATCH])


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "lps.db"
    simulation.run(path, seed=11, days=3, events=150)
    return path


@pytest.fixture
def db(master: Path, tmp_path: Path) -> Path:
    path = tmp_path / "lps.db"
    with sqlite3.connect(master) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    path.chmod(0o600)  # the switch's database is 0600 (switch/filemode.py)
    return path


def settle(db: Path, out: Path, *extra: str, day: str = DAY) -> int:
    return lps_main(["settle", "--config", CONFIG, "--database", str(db), "--date", day,
                     "--out", str(out), "--no-progress", *extra])


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `root` with its bytes and modification time (ns): what "untouched"
    means."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def register(db: Path) -> Register:
    return Register(db.with_name(db.name + ".settlement.db"))


def add_inquiry(db: Path, day: str) -> None:
    """An entry the journal gained after the day was sealed (say, a restored backup)."""
    with sqlite3.connect(db) as c:
        c.execute(
            "INSERT INTO journal (id, at, business_day, kind, mti, pc, terminal_id, store_id, "
            "pan, amount, points, sv, response_code) SELECT MAX(id) + 1, '2026-03-02T08:00:00', "
            "?, 'inquiry', '0200', '310000', 'T0000001', 'STORE0000000001', '6280000000000018',"
            " 0, 0, 0, '00' FROM journal", (day,))


def test_settle_writes_the_files_and_a_rerun_is_byte_identical(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert settle(db, out) == 0
    first = snapshot(out / DAY)
    assert sorted(first) == NAMES
    text = capsys.readouterr().out
    assert f"business day {DAY}: sealed" in text and "reconciliation   3 batches" in text
    assert f"files            {out / DAY} (" in text
    assert len(text.splitlines()) <= 24  # one screen
    sealed = tree(out)
    assert settle(db, out) == 0
    assert tree(out) == sealed  # not even rewritten
    assert "identical to the sealed run" in capsys.readouterr().out
    elsewhere = tmp_path / "again"
    assert settle(db, elsewhere) == 0
    assert snapshot(elsewhere / DAY) == first
    assert f"sealed in        {out / DAY} (this run wrote a copy)" in capsys.readouterr().out
    assert not [p for p in tmp_path.rglob(".*")]
    reg = register(db)
    try:  # the register holds each sealed file's SHA-256, and the sealed folder stays put
        assert reg.sealed_files(DAY) == {n: hashlib.sha256(b).hexdigest()
                                         for n, b in first.items()}
        record = reg.get(DAY)
        assert record is not None
        assert record.out_dir == str(out / DAY)
    finally:
        reg.close()


def test_one_root_for_every_night_keeps_every_day(db: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """The README's pattern: `--out var/settle` each night. Settling D1 again, even reopening
    it, never touches D2."""
    out, d1, d2 = tmp_path / "settle", "2026-03-01", DAY
    assert settle(db, out, day=d1) == 0
    assert settle(db, out, day=d2) == 0
    assert sorted(p.name for p in out.iterdir()) == [d1, d2]
    first_d1, sealed_d2 = snapshot(out / d1), tree(out / d2)
    assert settle(db, out, day=d1) == 0  # identical
    assert tree(out / d2) == sealed_d2
    add_inquiry(db, d1)
    assert settle(db, out, day=d1) == cli.EXIT_SEALED
    assert "settle it again only with --reopen" in capsys.readouterr().err
    assert snapshot(out / d1) == first_d1
    assert settle(db, out, "--reopen", day=d1) == 0
    assert tree(out / d2) == sealed_d2
    assert sorted(p.name for p in out.iterdir()) == [d1, f"{d1}.replaced-1", d2]
    assert snapshot(out / f"{d1}.replaced-1") == first_d1  # kept aside, never deleted
    assert snapshot(out / d1) != first_d1


def test_changed_inputs_are_refused_unless_reopened_and_logged(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    assert settle(db, out) == 0
    sealed = tree(out)
    add_inquiry(db, DAY)
    assert settle(db, out) == cli.EXIT_SEALED
    assert "settle it again only with --reopen" in capsys.readouterr().err
    assert tree(out) == sealed
    assert settle(db, out, "--reopen") == 0
    text = capsys.readouterr().out
    assert "REOPENED" in text
    aside = out / f"{DAY}.replaced-1"
    assert f"set aside        {aside} (the files sealed before, kept)" in text
    assert "reopened business day 2026-03-02" in caplog.text and str(aside) in caplog.text
    reg = register(db)
    try:
        (old, new, _at, _who), = reg.reopenings(DAY)
        record = reg.get(DAY)
        assert record is not None
        assert record.inputs_digest == new != old
        assert record.runs == 2
        assert reg.set_aside(DAY) == [str(aside)]
        assert reg.sealed_files(DAY) == {n: hashlib.sha256(b).hexdigest()
                                         for n, b in snapshot(out / DAY).items()}
    finally:
        reg.close()
    kept = {k.split("/", 1)[1]: v for k, v in tree(out).items()
            if k.startswith(f"{DAY}.replaced-1/")}
    assert kept == {k.split("/", 1)[1]: v for k, v in sealed.items()}  # bytes and times
    assert snapshot(out / DAY) != snapshot(aside)


def test_a_sealed_file_changed_on_disk_is_never_overwritten_silently(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert settle(db, out) == 0
    sealed = snapshot(out / DAY)
    (out / DAY / render.POSITIONS).write_text("edited by hand\n")
    assert settle(db, out) == cli.EXIT_SEALED
    assert "positions.csv" in capsys.readouterr().err
    assert (out / DAY / render.POSITIONS).read_text() == "edited by hand\n"
    assert settle(db, out, "--reopen") == 0  # the sealed bytes again, the edited file aside
    assert snapshot(out / DAY) == sealed
    assert (out / f"{DAY}.replaced-1" / render.POSITIONS).read_text() == "edited by hand\n"


def test_an_unregistered_settlement_in_the_days_folder_is_refused_untouched(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / DAY).mkdir(parents=True)
    (out / DAY / render.POSITIONS).write_text("a settlement this register never sealed\n")
    before = tree(out)
    assert settle(db, out) == cli.EXIT_SEALED
    assert "register does not know" in capsys.readouterr().err
    assert tree(out) == before


def test_a_failing_run_leaves_nothing_written(db: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(db) as c:
        jid = c.execute("SELECT m.journal_id FROM lot_moves m JOIN journal j ON j.id = "
                        "m.journal_id WHERE j.business_day = ? LIMIT 1", (DAY,)).fetchone()[0]
        c.execute("UPDATE journal SET response_code = '96' WHERE id = ?", (jid,))
    out = tmp_path / "out"
    assert settle(db, out) == cli.EXIT_INPUT
    assert f"journal entry {jid}: declined" in capsys.readouterr().err
    # No output, no temporary, no register: only the journal (and its WAL files).
    assert {p.name for p in tmp_path.iterdir()} <= {"lps.db", "lps.db-wal", "lps.db-shm"}


def test_an_output_directory_with_other_files_is_not_touched(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / DAY).mkdir(parents=True)
    (out / DAY / "notes.txt").write_text("mine")
    (out / "README").write_text("the root may hold anything")
    assert settle(db, out) == cli.EXIT_SEALED
    assert "notes.txt" in capsys.readouterr().err
    assert [p.name for p in (out / DAY).iterdir()] == ["notes.txt"]
    reg = Register(db.with_name(db.name + ".settlement.db"))
    try:
        assert reg.get(DAY) is None  # refused before anything was sealed
    finally:
        reg.close()


def test_an_unwritable_output_fails_cleanly_and_seals_nothing(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert settle(db, blocker / "out") == cli.EXIT_FAILED
    assert "cannot write" in capsys.readouterr().err
    reg = Register(db.with_name(db.name + ".settlement.db"))
    try:
        assert reg.get(DAY) is None
    finally:
        reg.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("lps.db")) \
        == ["file"]


def test_an_open_business_day_is_refused(db: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    today = dt.date.today() + dt.timedelta(days=1)
    assert settle(db, tmp_path / "out", day=today.isoformat()) == cli.EXIT_INPUT
    assert "is not over yet" in capsys.readouterr().err


def test_bad_config_and_bad_date_name_the_problem(db: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(simulation.EXAMPLE.read_text().replace("point_value = 1000",
                                                          "point_value = -1"))
    assert lps_main(["settle", "--config", str(bad), "--database", str(db), "--date", DAY,
                     "--out", str(tmp_path / "o")]) == cli.EXIT_CONFIG
    assert "coalition.tehran-mall.point_value" in capsys.readouterr().err
    assert lps_main(["settle", "--config", CONFIG, "--date", "2026-02-30", "--out", "x"]) \
        == cli.EXIT_INPUT
    assert "--date must be a date YYYY-MM-DD, got '2026-02-30'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        lps_main(["settle", "--config", CONFIG, "--out", "x"])
    assert usage.value.code == cli.EXIT_CONFIG  # a missing option is usage: 2


def test_persian_digits_in_dates_are_read_as_ascii(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    persian = DAY.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert settle(db, out, day=persian) == 0
    assert sorted(p.name for p in out.iterdir()) == [DAY]


def test_a_missing_database_is_one_sentence_and_exit_1(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.db"
    assert lps_main(["settle", "--config", CONFIG, "--database", str(missing), "--date", DAY,
                     "--out", str(tmp_path / "out")]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (f"lps settle: no switch database at {missing} (check [switch] database in "
                   "the configuration; `lps serve` or `lps cards enroll` creates it)\n")
    assert not (tmp_path / "out").exists()


def test_lps_entry_point_has_settle_and_report(db: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert lps_main(["settle", "--config", CONFIG, "--database", str(db), "--date", DAY,
                     "--out", str(out), "--no-progress"]) == 0
    mine = tmp_path / "mine"
    assert settle(db, mine) == 0
    assert snapshot(out / DAY) == snapshot(mine / DAY)
    capsys.readouterr()
    csv, page = tmp_path / "r.csv", tmp_path / "r.html"
    assert lps_main(["report", "--config", CONFIG, "--database", str(db), "--from",
                     "2026-03-01", "--to", "2026-03-03", "--csv", str(csv), "--html",
                     str(page)]) == 0
    table = capsys.readouterr().out
    assert "coalition tehran-mall" in table and "Book City" in table
    assert csv.read_text().splitlines()[0].startswith(
        "from,to,store,name,coalition,active customers,")
    assert page.read_text().count("<svg") == 2


def test_lps_settle_in_a_process_of_its_own(db: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-m", "lps.cli", "settle", "--config", CONFIG, "--database",
         str(db), "--date", DAY, "--out", str(tmp_path / "out")],
        cwd=root, capture_output=True, text=True, timeout=START, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "sealed" in proc.stdout and proc.stderr == ""
    shutil.rmtree(tmp_path / "out")


def test_the_nights_tier_downgrades_are_listed_masked(db: Path, tmp_path: Path) -> None:
    from switch.core.luhn import luhn_complete

    a, b, c, d = (luhn_complete(f"628000{n:09d}") for n in range(1, 5))
    spent = (dt.date.fromisoformat(DAY) - dt.timedelta(days=30)).isoformat()
    later = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM cards WHERE pan IN (?,?,?,?)",
                            (a, b, c, d)).fetchone()[0] == 4
        conn.executemany("INSERT INTO card_club (pan, tier, tier_day, earned, birthday_year) "
                         "VALUES (?, ?, '2026-02-01', 0, 0)",
                         [(a, "GOLD"), (b, "SILVER"), (c, "GOLD"), (d, "SILVER")])
        conn.executemany("INSERT INTO card_spend VALUES (?, ?, ?)",
                         [(a, spent, 60_000_000), (b, spent, 10_000_000),
                          (c, spent, 250_000_000), (d, later, 60_000_000)])
    out = tmp_path / "out"
    assert settle(db, out) == 0
    out = out / DAY
    masked = {p: p[:6] + "******" + p[-4:] for p in (a, b, d)}
    assert (out / render.TIERS).read_text().splitlines() == [
        "pan,coalition,tier_before,tier_after",
        *sorted([f"{masked[a]},tehran-mall,GOLD,SILVER", f"{masked[b]},tehran-mall,SILVER,BLUE",
                 f"{masked[d]},tehran-mall,SILVER,BLUE"],
                key=lambda line: {masked[a]: a, masked[b]: b, masked[d]: d}[line[:16]]),
    ]
    assert json.loads((out / render.SETTLEMENT).read_text())["coalitions"]["tehran-mall"][
        "tier_downgrades"] == 3


def test_progress_bar_draws_on_request_and_stays_quiet_otherwise() -> None:
    import io

    from settlement.progress import Bar

    out = io.StringIO()
    bar = Bar(1000, "settling", stream=out, enabled=True)
    for _ in range(4):
        bar(250)
    bar.finish()
    text = out.getvalue()
    assert text.startswith("\rsettling [") and "100% 1,000/1,000" in text and text.endswith("\n")
    quiet = io.StringIO()  # not a terminal: nothing unless asked
    bar = Bar(10, "settling", stream=quiet)
    bar(10)
    bar.finish()
    assert quiet.getvalue() == ""


def test_a_store_without_iban_refuses_the_night_naming_it_and_writes_nothing(
        db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = simulation.EXAMPLE.read_text()
    line = next(s for s in text.splitlines() if s.startswith("iban = \"IR25"))
    bad = tmp_path / "no-iban.toml"
    bad.write_text(text.replace(line + "\n", ""))
    out = tmp_path / "out"
    assert lps_main(["settle", "--config", str(bad), "--database", str(db), "--date", DAY,
                     "--out", str(out), "--no-progress"]) == cli.EXIT_CONFIG
    err = capsys.readouterr().err
    assert "store STORE0000000002 (Book City) has no iban" in err
    assert "[store.STORE0000000002]" in err and "nothing was written" in err
    assert not out.exists() and not db.with_name(db.name + ".settlement.db").exists()


def test_the_bank_batch_pays_the_net_positions_in_money(db: Path, tmp_path: Path) -> None:
    import csv

    out = tmp_path / "out"
    assert settle(db, out) == 0
    with open(out / DAY / render.NET_POSITIONS, encoding="utf-8") as fh:
        net = {r["party_id"]: int(r["net_amount"]) for r in csv.DictReader(fh)}
    with open(out / DAY / render.BANK_BATCH, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    op = "operator:tehran-mall"
    assert sum(net.values()) == 0 and net[op] > 0  # the day's fee
    paid = {r["payer_id"]: -int(r["amount"]) for r in rows if r["record"] == "D"
            and r["payee_id"] == op}
    paid |= {r["payee_id"]: int(r["amount"]) for r in rows if r["record"] == "D"
             and r["payer_id"] == op}
    assert paid == {k: v for k, v in net.items() if v and k != op}
    (trailer,) = [r for r in rows if r["record"] == "T"]
    details = [r for r in rows if r["record"] == "D"]
    assert int(trailer["seq"]) == len(details)
    assert int(trailer["amount"]) == sum(int(r["amount"]) for r in details)


@pytest.mark.parametrize(("args", "message"), [
    ([], "--from and --to are needed (or --invoices --month)"),
    (["--from", "2026-03-01"], "--from and --to are needed (or --invoices --month)"),
    (["--from", "2026-03-01", "--to", "2026-03-02", "--month", "1405-08"],
     "--month, --out and --reopen go with --invoices"),
])
def test_report_options_that_do_not_go_together_are_usage_errors(
        db: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert lps_main(["report", "--config", CONFIG, "--database", str(db), *args]) == \
        cli.EXIT_CONFIG
    assert capsys.readouterr().err == f"lps report: {message}\n"
