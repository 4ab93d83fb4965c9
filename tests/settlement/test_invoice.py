"""Monthly invoices from sealed days: Azar 1405 (2026-11-22 to 2026-12-21) spans two Gregorian
months; the invoice sums exactly what the sealed days charged, and is sealed itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from lps import settle_cli as cli
from lps.cli import main as lps_main
from lps.console.db import console_path
from settlement import invoice, render
from settlement.day import settle_rows, stores_from_config
from settlement.netting import StoreInfo
from settlement.records import InputError, Row
from settlement.seal import Register, SealError
from switch.config import load_config
from tests.settlement import scenario as sc

AZAR = [dt.date(2026, 11, 22) + dt.timedelta(days=n) for n in range(30)]
#: The scenario's day (1405-09-02, in November) and the same rows again on 2026-12-10
#: (1405-09-19, in December).
DECEMBER = dt.date(2026, 12, 10)


def moved(rows: Iterable[Row], day: dt.date, offset: int) -> list[Row]:
    return [dataclasses.replace(r, id=r.id + offset, business_day=day,
                                original_id=None if r.original_id is None
                                else r.original_id + offset) for r in rows]


@pytest.fixture(scope="module")
def stores() -> dict[str, StoreInfo]:
    return stores_from_config(load_config(sc.EXAMPLE))


def seal_days(stores: Mapping[str, StoreInfo], register: Register, root: Path,
              days: Iterable[dt.date],
              rows_of: Mapping[dt.date, Sequence[Row]] | None = None) -> None:
    rows_of = rows_of or {sc.DAY: sc.ROWS, DECEMBER: moved(sc.ROWS, DECEMBER, 1000)}
    for day in days:
        d = settle_rows(day, stores, rows_of.get(day, []))
        register.seal(day.isoformat(), d.inputs_digest, render.render(d), root, "t", False)


@pytest.fixture(scope="module")
def azar(stores: dict[str, StoreInfo], tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Register, Path]]:
    root = tmp_path_factory.mktemp("azar")
    register = Register(root / "days.db")
    seal_days(stores, register, root / "settle", AZAR)
    yield register, root
    register.close()


@pytest.fixture
def sealed(azar: tuple[Register, Path]) -> Register:
    return azar[0]


def by_store(month: invoice.Month) -> dict[str, dict[tuple[str, int], tuple[int, int, int]]]:
    return {i.store_id: {(line.fee, line.rate): (line.quantity, line.amount, line.days)
                         for line in i.lines} for i in month.invoices}


def test_the_invoice_sums_the_sealed_days_of_a_jalali_month(stores: dict[str, StoreInfo],
                                                            sealed: Register) -> None:
    """Twice the hand-computed day of test_fees (once in each Gregorian month) and the monthly
    fee on 1405-09-30 = 2026-12-21."""
    m = invoice.build("1405-09", "jalali", stores, sealed)
    assert (m.days[0], m.days[-1], len(m.days)) == (dt.date(2026, 11, 22),
                                                    dt.date(2026, 12, 21), 30)
    assert [d for d, _ in m.sources] == [d.isoformat() for d in AZAR]
    assert by_store(m) == {
        sc.S1: {("issued_points", 10): (200, 2_000, 2), ("redeemed_points", 20): (100, 2_000, 2),
                ("gross_obligations", 50): (120_000, 600, 2),
                ("monthly", 5_000_000): (1, 5_000_000, 1)},
        sc.S2: {("redeemed_points", 20): (150, 3_000, 2),
                ("gross_obligations", 50): (100_000, 500, 2),
                ("monthly", 5_000_000): (1, 5_000_000, 1)},
        sc.S3: {("redeemed_points", 20): (50, 1_000, 2),
                ("gross_obligations", 50): (210_000, 1_050, 2),
                ("monthly", 5_000_000): (1, 5_000_000, 1)},
    }
    totals = {i.store_id: i.total for i in m.invoices}
    assert totals == {sc.S1: 5_004_600, sc.S2: 5_003_500, sc.S3: 5_002_050}
    # What the invoices bill is what the days' net positions paid the operator.
    paid = 0
    for day in AZAR:
        rows = {sc.DAY: sc.ROWS, DECEMBER: moved(sc.ROWS, DECEMBER, 1000)}.get(day, [])
        fees = settle_rows(day, stores, rows).fees
        assert fees is not None
        paid += {p.store_id: p.net_amount for p in fees.positions}["operator:tehran-mall"]
    assert paid == sum(totals.values())


def test_the_invoice_pages_are_persian_first_with_both_calendars(stores: dict[str, StoreInfo],
                                                                 sealed: Register) -> None:
    m = invoice.build("1405-09", "jalali", stores, sealed)
    files = invoice.render(m)
    assert sorted(files) == sorted([*(f"invoice-{s}.{x}" for s in (sc.S1, sc.S2, sc.S3)
                                      for x in ("html", "csv")),
                                    invoice.SUMMARY_CSV, invoice.SUMMARY_JSON])
    page = files[f"invoice-{sc.S1}.html"].decode()
    assert page.startswith('<!DOCTYPE html>\n<html lang="fa" dir="rtl">')
    assert "۱ آذر ۱۴۰۵ تا ۳۰ آذر ۱۴۰۵" in page and "2026-11-22 – 2026-12-21" in page
    assert "Cafe Naderi" in page and "شرکت باشگاه مشتریان تهران\u200cمال" in page
    assert "۵٬۰۰۴٬۶۰۰ ریال" in page and "۵٬۰۰۰٬۰۰۰ ریال برای ماه" in page
    assert "۵۰ در ده‌هزار (۰٫۵۰٪)" in page
    assert "IR92 0170 0000 0021 2345 6780 01" in page
    assert "<script" not in page and "http" not in page
    rows = files[f"invoice-{sc.S1}.csv"].decode().splitlines()
    assert rows[0].startswith("invoice,month,calendar,period_from,period_to,coalition,")
    assert rows[-1].split(",")[-8:] == ["total", "جمع کل", "", "", "", "", "5004600", "364"]
    assert len(rows) == 1 + 4 + 1
    doc = json.loads(files[invoice.SUMMARY_JSON])
    assert doc["period"] == ["2026-11-22", "2026-12-21"] and doc["month"] == "1405-09"
    assert doc["totals"] == {"tehran-mall": 15_010_150}


def test_a_month_with_a_day_not_settled_is_refused_naming_it(stores: dict[str, StoreInfo],
                                                             tmp_path: Path) -> None:
    register = Register(tmp_path / "days.db")
    try:
        seal_days(stores, register, tmp_path / "settle", [d for d in AZAR
                                                          if d != dt.date(2026, 12, 1)])
        with pytest.raises(InputError, match=r"business day\(s\) 2026-12-01 of the month"):
            invoice.build("1405-09", "jalali", stores, register)
    finally:
        register.close()


def test_a_sealed_fees_file_changed_on_disk_is_refused(stores: dict[str, StoreInfo],
                                                       azar: tuple[Register, Path]) -> None:
    register, root = azar
    path = root / "settle" / DECEMBER.isoformat() / render.FEES
    body = path.read_bytes()
    try:
        path.write_bytes(body.replace(b",1000,364", b",1,364", 1))
        with pytest.raises(SealError, match=f"{render.FEES} differs from what was sealed"):
            invoice.build("1405-09", "jalali", stores, register)
    finally:
        path.write_bytes(body)
    assert invoice.build("1405-09", "jalali", stores, register).invoices


def test_a_month_of_the_other_calendar_is_refused(stores: dict[str, StoreInfo],
                                                  sealed: Register) -> None:
    with pytest.raises(InputError, match="no coalition's fee follows the gregorian calendar"):
        invoice.build("2026-11", "gregorian", stores, sealed)


def test_an_unsafe_store_id_never_becomes_a_path() -> None:
    assert invoice.file_stem("STORE-1_a") == "invoice-STORE-1_a"
    assert invoice.file_stem("../etc") == "invoice-x" + b"../etc".hex()
    assert invoice.file_stem(".hidden") == "invoice-x" + b".hidden".hex()


# -- lps report --invoices ----------------------------------------------------------------------

ABAN = [dt.date(2026, 10, 23) + dt.timedelta(days=n) for n in range(30)]


@pytest.fixture(scope="module")
def aban(stores: dict[str, StoreInfo], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Aban 1405's days sealed once (their folders are only read afterwards)."""
    root = tmp_path_factory.mktemp("aban")
    register = Register(root / "days.db")
    try:
        seal_days(stores, register, root / "settle", ABAN,
                  {dt.date(2026, 11, 2): moved(sc.ROWS, dt.date(2026, 11, 2), 0)})
    finally:
        register.close()
    return root / "days.db"


@pytest.fixture
def database(aban: Path, tmp_path: Path) -> Path:
    """A switch database of its own (for the audit log) with that register beside it."""
    db = tmp_path / "lps.db"
    sqlite3.connect(db).close()
    db.chmod(0o600)  # the switch's database is 0600 (switch/filemode.py)
    with sqlite3.connect(aban) as src, sqlite3.connect(db.with_name("lps.db.settlement.db")) \
            as dst:
        src.backup(dst)
    return db


def report(db: Path, out: Path, *extra: str) -> int:
    return lps_main(["report", "--config", str(sc.EXAMPLE), "--database", str(db),
                     "--invoices", "--out", str(out), *extra])


def test_lps_report_invoices_seals_the_month_and_reruns_identically(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "invoices"
    # Persian digits in the month, as staff type it.
    assert report(database, out, "--month", "۱۴۰۵-۰۸") == 0
    text = capsys.readouterr().out
    assert "LPS invoices of jalali month 1405-08 (2026-10-23 to 2026-11-21): sealed" in text
    assert "coalition tehran-mall: 3 invoices, 15,005,075 in total" in text
    first = {p.name: p.read_bytes() for p in (out / "1405-08").iterdir()}
    assert f"invoice-{sc.S2}.html" in first
    assert report(database, out, "--month", "1405-08") == 0
    assert "identical to the sealed run" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in (out / "1405-08").iterdir()} == first
    with sqlite3.connect(console_path(database)) as conn:  # the console's own audit log
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["invoices.run", "invoices.run"]


def test_changed_terms_are_refused_unless_reopened(database: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "invoices"
    assert report(database, out, "--month", "1405-08") == 0
    other = tmp_path / "other.toml"
    other.write_text(sc.EXAMPLE.read_text().replace('name = "Book City"',
                                                    'name = "Book City Enghelab"'))
    args = ["report", "--config", str(other), "--database", str(database), "--invoices",
            "--out", str(out), "--month", "1405-08"]
    assert lps_main(args) == cli.EXIT_SEALED
    assert "invoiced month 1405-08 is sealed with inputs" in capsys.readouterr().err
    assert lps_main([*args, "--reopen"]) == 0
    assert (out / "1405-08.replaced-1").is_dir()
    assert "Book City Enghelab" in (out / "1405-08" / f"invoice-{sc.S2}.html").read_text()


@pytest.mark.parametrize(("extra", "code", "message"), [
    (["--month", "1405-13"], cli.EXIT_INPUT, "--month must be a month YYYY-MM"),
    (["--month", "1405-8"], cli.EXIT_INPUT, "--month must be a month YYYY-MM"),
    (["--month", "1405-09"], cli.EXIT_INPUT, "are not settled"),
    ([], cli.EXIT_CONFIG, "--invoices needs --month"),
    (["--month", "1405-08", "--from", "2026-10-23"], cli.EXIT_CONFIG, "not --from"),
])
def test_bad_invoice_requests_are_refused_and_write_nothing(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
        code: int, message: str) -> None:
    out = tmp_path / "invoices"
    assert report(database, out, *extra) == code
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert not database.with_name("lps.db.invoices.db").exists() or code == cli.EXIT_INPUT


def test_no_register_of_settled_days_is_one_sentence(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "lps.db"
    assert report(db, tmp_path / "out", "--month", "1405-08") == cli.EXIT_FAILED
    assert "no register of settled days at" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
