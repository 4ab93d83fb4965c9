"""Marketing reads a report in Persian in headless Chromium at 1280 and 420 px: a range typed in
Persian digits, the figures and their trend charts (titles, mirrored axes, Persian digits),
an impossible date refused with the reason, the CSV downloaded equal to `lps report`'s; no
English left and a layout that fits on each page (tests/console/pagecheck.py), a screenshot
of each step in the folder the test prints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lps.cli import main as lps_main
from tests.console import pagecheck
from tests.console.support import Console, Env, add_staff
from tests.console.test_browser import _downloaded, _jalali  # the desk test's helpers
from tests.console.webdriver import Browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("width", [1280, 420])
def test_marketing_reads_a_report_in_persian(env: Env, console: Console, browser: Browser,
                                             screenshots: Path, tmp_path: Path,
                                             width: int) -> None:
    add_staff(env, "mia", "marketing", language="fa")
    allowed = pagecheck.proper_names(env.config, ["mia"])
    chunks = pagecheck.english_chunks(str(ROOT / "lps" / "console"))
    b, n = browser, [0]
    b.resize(width)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    b.allow_downloads(downloads)

    def step(name: str) -> None:
        assert b.run("return [document.documentElement.lang, "
                     "document.documentElement.dir]") == ["fa", "rtl"], name
        assert pagecheck.english_left(b, allowed, chunks) == [], name
        assert pagecheck.layout_problems(b) == [], name
        n[0] += 1
        b.screenshot(screenshots / f"{n[0]:02d}-{name}.png")

    pagecheck.sign_in(b, console.url, "mia")
    b.click('a[href="/reports"]')
    assert b.text("h1") == "گزارش‌ها"
    step("reports-default")

    # The range typed in Persian digits, by week: yesterday and today.
    start, end = env.yesterday, env.yesterday + dt.timedelta(days=1)
    b.type("#from", _jalali(start))
    b.type("#to", _jalali(end))
    b.run("document.querySelector('#grain').value = 'week'")
    b.click("#show")
    assert _jalali(start) in b.text("#range") and _jalali(end) in b.text("#range")
    table = b.content("#figures")
    assert "Cafe Naderi" in table and "۱۰۰٫۰۰٪" in table  # every Cafe customer came twice
    assert b.count("svg.trend") == 5
    title = b.content("#chart-repeat-rate title")
    assert title == "نرخ مشتریان بازگشتی"
    assert b.attribute("#chart-repeat-rate", "role") == "img"
    ticks = b.run("return [...document.querySelectorAll('#chart-repeat-rate text.tick')]"
                  ".map(e => e.textContent)")
    assert "۱۰۰٫۰۰٪" in ticks and not any(c.isascii() and c.isdigit() for t in ticks for c in t)
    # Time runs right to left: the value axis is on the chart's right.
    axis = b.run("const s = document.querySelector('#chart-repeat-rate');"
                 "const box = s.getBoundingClientRect();"
                 "const t = s.querySelector('text.tick').getBoundingClientRect();"
                 "return [t.left - box.left, box.width];")
    assert axis[0] > axis[1] / 2, axis
    b.press("#section-repeat-rate summary")
    assert "۱۰۰٫۰۰٪" in b.content("#section-repeat-rate table.chart-data")
    step("reports-range")

    # The CSV download is lps report's, for the same days.
    b.press("#download-csv")
    got = _downloaded(downloads, f"lps-report-{start}-{end}.csv")
    expected = tmp_path / "expected.csv"
    assert lps_main(["report", "--config", str(env.config_path), "--from", str(start), "--to",
                     str(end), "--csv", str(expected)]) == 0
    assert got == expected.read_bytes()

    # Esfand 1405 has 29 days: the 31st is refused with the reason, in Persian.
    b.type("#from", "۱۴۰۵/۱۲/۳۱")
    b.click("#show")
    error = b.text("p.error")
    assert "۱۴۰۵/۱۲/۳۱" in error and "۲۹" in error
    assert b.count("svg.trend") == 0
    step("reports-refused")
