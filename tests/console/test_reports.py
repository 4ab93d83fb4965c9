"""The console's reports over real HTTP: the figures and charts of a range, the CSV and xlsx
downloads against `lps report` on the same journal, Jalali ranges typed and refused, the
empty state, a store-scoped reader's view, and the dashboard's points as the report counts
them (docs/console.md, "Reports"; the figures: docs/settlement.md, "The figures")."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import urllib.parse
import urllib.request
import zipfile
from email.message import Message
from pathlib import Path
from xml.etree import ElementTree

import pytest

from lps.cli import main as lps_main
from switch.core.admin import adjust_command
from switch.core.authorizer import handle
from switch.core.programs.rules import program_rules
from switch.i18n import jalali_date
from switch.journal.sqlite.journal import SqliteJournal
from tests.console.support import CSRF, Client, Console, Env, add_staff, cdb
from tests.switch.support import T1, earn, reversal

OTHERS = ("STORE0000000002", "STORE0000000003", "Book City", "Enghelab", "Tehran Mall")
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def lps_report_csv(env: Env, start: dt.date, end: dt.date, tmp_path: Path) -> bytes:
    out = tmp_path / f"report-{start}-{end}.csv"
    assert lps_main(["report", "--config", str(env.config_path), "--from", str(start),
                     "--to", str(end), "--csv", str(out)]) == 0
    return out.read_bytes()


def raw(client: Client, path: str) -> tuple[int, Message, bytes]:
    with client.opener.open(urllib.request.Request(client.base + path), timeout=60) as r:
        return r.status, r.headers, r.read()


def xlsx_rows(body: bytes, sheet: int = 1) -> list[list[str | float | None]]:
    """A sheet's cells read from the file's XML (an independent reader, not XlsxWriter's)."""
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        shared = [si.findtext(f"{MAIN}t") or "" for si in ElementTree.fromstring(
            z.read("xl/sharedStrings.xml")).iter(f"{MAIN}si")]
        root = ElementTree.fromstring(z.read(f"xl/worksheets/sheet{sheet}.xml"))
    rows: list[list[str | float | None]] = []
    for row in root.iter(f"{MAIN}row"):
        cells: dict[int, str | float] = {}
        for c in row.iter(f"{MAIN}c"):
            letters = re.match(r"[A-Z]+", c.get("r", ""))
            assert letters is not None
            col = 0
            for ch in letters.group(0):
                col = col * 26 + ord(ch) - 64
            v = c.findtext(f"{MAIN}v")
            if v is None:
                continue
            cells[col - 1] = shared[int(v)] if c.get("t") == "s" else float(v)
        width = max(cells, default=-1) + 1
        rows.append([cells.get(i) for i in range(width)])
    return rows


def same_figure(csv_cell: str, xlsx_cell: str | float | None) -> bool:
    """A CSV cell and the xlsx's: `33.33%` is 0.3333, `1.33` is 1.33, an integer the same."""
    if csv_cell == "":
        return xlsx_cell is None
    if isinstance(xlsx_cell, str):
        return xlsx_cell == csv_cell
    if csv_cell.endswith("%"):
        assert xlsx_cell is not None
        return round(float(xlsx_cell) * 100, 2) == float(csv_cell[:-1])
    return float(csv_cell) == xlsx_cell


def test_the_report_page_has_the_figures_and_five_charts(env: Env) -> None:
    add_staff(env, "mona", "marketing")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mona")
        page = client.get("/reports")
        assert page.status == 200, page.text()
        body = page.body
        assert body.count('role="img"') == 5 and "<script" not in body
        for title in ("Repeat-customer rate", "Purchases per customer",
                      "Active and new customers", "Points issued, redeemed and expired",
                      "Points outstanding"):
            assert f"-title\">{title}</title>" in body, title
        text = " ".join(page.text().split())
        # Eight cards earned twice at Cafe Naderi (yesterday and today), once at Book City.
        assert "Cafe Naderi 8 8 16 100.00% 2.00" in text
        assert "Book City 8 8 8 0.00% 1.00" in text
        assert "whole coalition" in text and "coalition tehran-mall" in text
        assert 'href="/reports/download?from=' in body


def test_the_downloads_are_lps_reports_figures(env: Env, tmp_path: Path) -> None:
    add_staff(env, "sara", "settlement")
    start, end = env.yesterday, env.yesterday + dt.timedelta(days=1)
    expected = lps_report_csv(env, start, end, tmp_path)
    with Console(env) as console:
        client = Client(console.url)
        client.login("sara")
        query = f"/reports/download?from={jalali_date(start)}&to={jalali_date(end)}"
        status, headers, body = raw(client, urllib.parse.quote(query + "&format=csv",
                                                               safe="/?=&"))
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        assert body == expected
        status, headers, book = raw(client, urllib.parse.quote(
            query + "&format=xlsx&grain=day", safe="/?=&"))
        assert status == 200 and "spreadsheetml" in headers["Content-Type"]
    table = list(csv.reader(io.StringIO(expected.decode())))
    sheet = xlsx_rows(book)
    assert sheet[0] == table[0]  # an English reader: the CSV's column names
    assert len(sheet) == len(table) == 1 + 3 + 1
    for want, got in zip(table[1:], sheet[1:], strict=True):
        got = got + [None] * (len(want) - len(got))
        assert all(same_figure(w, g) for w, g in zip(want, got, strict=True)), (want, got)
    # The second sheet: the same rows for each day of the range.
    assert len(xlsx_rows(book, 2)) == 1 + 2 * 4


def test_a_persian_readers_workbook_runs_right_to_left_with_persian_names(env: Env) -> None:
    add_staff(env, "nasrin", "marketing", language="fa")
    with Console(env) as console:
        client = Client(console.url)
        client.login("nasrin")
        status, _, book = raw(client, "/reports/download?format=xlsx")
    assert status == 200
    head = xlsx_rows(book)[0]
    assert head[2:5] == ["فروشگاه", "نام", "ائتلاف"] and "نرخ مشتریان بازگشتی" in head
    with zipfile.ZipFile(io.BytesIO(book)) as z:
        assert b'rightToLeft="1"' in z.read("xl/worksheets/sheet1.xml")
        assert "ارقام".encode() in z.read("xl/workbook.xml")


def test_persian_reports_mirror_the_chart_and_use_persian_digits(env: Env) -> None:
    add_staff(env, "nasrin", "marketing", language="fa")
    add_staff(env, "mona", "marketing")
    with Console(env) as console:
        fa, en = Client(console.url), Client(console.url)
        fa.login("nasrin")
        en.login("mona")
        persian = fa.get("/reports", grain="week").body
        english = en.get("/reports", grain="week").body
    assert '<html lang="fa" dir="rtl">' in persian
    for body, rtl in ((persian, True), (english, False)):
        chart = re.search(r'<svg[^>]*id="chart-customers".*?</svg>', body, re.S)
        assert chart is not None
        xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', chart.group(0))]
        weeks = len(xs) // 2
        assert weeks >= 2
        first, last = xs[0], xs[weeks - 1]
        assert (first > last) if rtl else (first < last), (rtl, xs)
        ticks = re.findall(r'class="(?:tick|period)">([^<]*)<', chart.group(0))
        assert ticks
        if rtl:
            assert not any(re.search(r"[0-9]", t) for t in ticks), ticks
            assert any(re.search(r"[۰-۹]", t) for t in ticks)
    assert "۱۰۰٫۰۰٪" in persian and "100.00%" in english


@pytest.mark.parametrize(("typed", "reason"), [
    ("۱۴۰۵/۱۲/۳۱", "that month has only 29 days"),
    ("1405/12/30", "that month has only 29 days"),
    ("1405/13/01", "a month is 1 to 12"),
    ("yesterday", "a date is YYYY/MM/DD"),
])
def test_an_impossible_date_is_refused_with_the_reason(env: Env, typed: str,
                                                       reason: str) -> None:
    add_staff(env, "mona", "marketing")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mona")
        page = client.get("/reports", **{"from": typed})
        assert page.status == 400 and reason in page.text()
        assert 'role="img"' not in page.body
        assert client.get("/reports/download", **{"from": typed}).status == 400


def test_ranges_typed_in_persian_digits_and_what_is_refused(env: Env) -> None:
    add_staff(env, "mona", "marketing")
    add_staff(env, "nasrin", "marketing", language="fa")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mona")
        start = jalali_date(env.yesterday)  # Persian digits, as the Persian form shows them
        page = client.get("/reports", **{"from": start, "to": start})
        assert page.status == 200
        assert f"Business days {jalali_date(env.yesterday, persian=False)}" in page.text()
        late = client.get("/reports", **{"from": "1405/09/10", "to": "1405/09/01"})
        assert late.status == 400 and "before it starts" in late.text()
        assert client.get("/reports", grain="year").status == 400
        many = client.get("/reports", **{"from": "1380/01/01", "to": "1405/01/01"})
        assert many.status == 400 and "too many for one chart" in many.text()
        fa = Client(console.url)
        fa.login("nasrin")
        refused = fa.get("/reports", **{"from": "۱۴۰۵/۱۲/۳۰"})
        assert refused.status == 400 and "۲۹" in refused.text()
        assert "that month" not in refused.text()


@pytest.mark.parametrize("query", [
    {"subject": "<script>alert(1)</script>"},
    {"from": "1405/09/01\x00"},
    {"from": "۱۴۰۵/۰۹/۰۱" * 50},
    {"to": "1405/09/01; DROP TABLE journal"},
    {"grain": "day\u202e"},
    {"format": "../../etc/passwd"},
])
def test_hostile_queries_are_refused_and_change_nothing(env: Env, query: dict[str, str]
                                                        ) -> None:
    add_staff(env, "mona", "marketing")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mona")
        before = audit_rows(env)
        path = "/reports/download" if "format" in query else "/reports"
        reply = client.get(path, **query)
        assert reply.status == 400, reply.text()
        assert "<script>alert" not in reply.body and 'role="img"' not in reply.body
        assert audit_rows(env) == before


def audit_rows(env: Env) -> int:
    conn = cdb(env)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
    finally:
        conn.close()


def test_a_quiet_range_says_what_will_appear(env: Env) -> None:
    add_staff(env, "mona", "marketing")
    with Console(env) as console:
        client = Client(console.url)
        client.login("mona")
        page = client.get("/reports", **{"from": "1400/01/01", "to": "1400/01/05"})
    assert page.status == 200
    assert "their customers, purchases and points will appear here" in page.text()


def test_a_store_scoped_reader_sees_only_their_store(env: Env) -> None:
    for role in ("marketing", "settlement", "auditor"):
        add_staff(env, f"cafe-{role}", role, stores=("STORE0000000001",))
    with Console(env) as console:
        for role in ("marketing", "settlement", "auditor"):
            client = Client(console.url)
            client.login(f"cafe-{role}")
            page = client.get("/reports", grain="month")
            assert page.status == 200 and "Cafe Naderi" in page.text()
            _, _, table = raw(client, "/reports/download?format=csv")
            _, _, book = raw(client, "/reports/download?format=xlsx")
            cells = " ".join(str(c) for r in xlsx_rows(book) + xlsx_rows(book, 2) for c in r)
            for text in (page.body, table.decode(), cells):
                for other in OTHERS:
                    assert other not in text, (role, other)
                # The coalition's total row; a form's random CSRF token may hold "ALL".
                assert "ALL" not in CSRF.sub("", text).replace("ALLOW", "")
            rows = list(csv.reader(io.StringIO(table.decode())))
            assert [r[2] for r in rows[1:]] == ["STORE0000000001"]
            # Another store's trend, asked for by its ID: refused without a word about it.
            theirs = client.get("/reports", subject="STORE0000000002")
            assert theirs.status == 400 and "Book City" not in theirs.body
            assert client.get("/reports", subject="coalition:tehran-mall").status == 400


def test_roles_without_reports_are_refused(env: Env) -> None:
    add_staff(env, "sam", "support")
    with Console(env) as console:
        client = Client(console.url)
        client.login("sam")
        assert client.get("/reports").status == 403
        assert client.get("/reports/download", format="csv").status == 403
        assert client.get("/reports/download", format="pdf").status == 403


def test_the_dashboards_points_are_the_reports(env: Env, tmp_path: Path) -> None:
    """Today a goodwill credit and an earn reversed at once: neither is points issued, on the
    dashboard as in `lps report`."""
    config = env.config
    store = SqliteJournal(config.switch.database)
    try:
        state = store.load(config, program_rules(config), env.now)
        store.append([adjust_command(state, env.cards[0], 250, "STORE0000000001", "goodwill",
                                     "test", env.now)])
        sale = earn(T1, 500, env.cards[1], 9_000_000, now=env.now)
        for msg in (sale, reversal(sale, 501, now=env.now)):
            decision = handle(state, msg, env.now, fetch=store.fetch)
            assert decision.response is not None and decision.response.text(39) == "00"
            store.append(decision.entries)
    finally:
        store.close()
    today = env.yesterday + dt.timedelta(days=1)
    table = list(csv.DictReader(io.StringIO(
        lps_report_csv(env, today, today, tmp_path).decode())))
    total = next(r for r in table if r["store"] == "ALL")
    # Today's earns: 100 points on each of the eight cards at Cafe Naderi.
    assert total["points issued"] == "800" and total["points adjusted"] == "250"
    add_staff(env, "ann", "admin")
    with Console(env) as console:
        client = Client(console.url)
        client.login("ann")
        text = " ".join(client.get("/").text().split())
    assert "Points issued 800" in text and "Points adjusted 250" in text
