"""Monthly fee invoices: what each store was charged over a month of sealed settlements.

docs/settlement.md "Monthly invoices". An invoice bills exactly what the month's settlements
moved: it is made from the `fees.csv` of every sealed business day of the month (each checked
against the SHA-256 the register sealed), never recomputed from the journal, so an invoice and
the transfers that paid it cannot disagree. The month is one of the calendar the coalition's fee
names (Jalali by default: a Jalali month spans two Gregorian months). Every file is a pure
function of its inputs and is sealed like a settled day, in its own register.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settlement.fees import (
    FEE_KINDS,
    GROSS,
    ISSUED,
    MONTHLY,
    RATE_UNITS,
    REDEEMED,
    FeeLine,
    month_days,
)
from settlement.netting import StoreInfo
from settlement.records import InputError
from settlement.render import FEES
from settlement.seal import Register, SealError
from settlement.terms import JALALI, Terms
from switch.core.text import is_digits
from switch.i18n import format_money, format_number, jalali_date, jalali_date_long, persian_digits
from switch.i18n.numbers import DECIMAL

FORMAT = "lps-invoices/1"
SUMMARY_CSV = "invoices.csv"
SUMMARY_JSON = "invoices.json"

#: What each fee line is called on an invoice, Persian first (the rate's wording beside it).
FEE_NAMES_FA = {ISSUED: "کارمزد امتیاز صادرشده", REDEEMED: "کارمزد امتیاز خرج‌شده",
                GROSS: "کارمزد تسویه (سهم از بدهی ناخالص)", MONTHLY: "حق ماهانهٔ فروشگاه"}
FEE_NAMES_EN = {ISSUED: "points issued", REDEEMED: "points redeemed",
                GROSS: "share of gross obligations", MONTHLY: "monthly store fee"}
_FEE_COLUMNS = ("coalition", "store_id", "store_name", "fee", "quantity", "rate", "rate_unit",
                "amount", "currency")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def default_register(database: Path) -> Path:
    """The invoices' own register beside the journal (the days' is `<db>.settlement.db`)."""
    return database.with_name(database.name + ".invoices.db")


@dataclass(frozen=True, slots=True)
class Line:
    """One fee at one rate over the month: quantities and amounts of its days summed."""

    fee: str
    rate: int
    quantity: int
    amount: int
    days: int


@dataclass(frozen=True, slots=True)
class Invoice:
    number: str
    coalition: str
    operator_name: str
    operator_iban: str
    store_id: str
    store_name: str
    store_iban: str | None
    currency: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(frozen=True, slots=True)
class Month:
    month: str
    calendar: str
    days: list[dt.date]
    inputs_digest: str
    #: (business day, SHA-256 of its sealed fees.csv) for every day of the month.
    sources: list[tuple[str, str]]
    invoices: list[Invoice]


def _int(text: str, where: str) -> int:
    body = text[1:] if text.startswith("-") else text
    if not is_digits(body):
        raise InputError(f"{where}: {text[:20]!r} is not a whole number")
    return int(text)


def _rows(body: bytes, where: str) -> list[FeeLine]:
    reader = csv.reader(io.StringIO(body.decode("utf-8")))
    if tuple(next(reader, ())) != _FEE_COLUMNS:
        raise InputError(f"{where}: not a fees.csv of this version (its header differs)")
    out = []
    for n, cells in enumerate(reader, start=2):
        at = f"{where} line {n}"
        if len(cells) != len(_FEE_COLUMNS) or cells[3] not in FEE_KINDS:
            raise InputError(f"{at}: not a fee line")
        out.append(FeeLine(cells[0], cells[1], cells[2], cells[3], _int(cells[4], at),
                           _int(cells[5], at), _int(cells[7], at), cells[8]))
    return out


def _sealed_fees(register: Register, days: Sequence[dt.date]) -> list[tuple[str, str, bytes]]:
    """(day, SHA-256, bytes) of each day's sealed fees.csv; refuses a day not settled, sealed
    without fees, or whose file changed on disk since."""
    missing = [d.isoformat() for d in days if register.get(d.isoformat()) is None]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                          else "")
        raise InputError(f"business day(s) {shown} of the month ({days[0]} to {days[-1]}) "
                         "are not settled: settle every day of the month first (lps settle)")
    out = []
    for d in days:
        day = d.isoformat()
        sealed = register.get(day)
        assert sealed is not None
        sha = register.sealed_files(day).get(FEES)
        if sha is None:
            raise InputError(f"business day {day} was sealed without {FEES} (before the fee "
                             "was settled): settle it again with --reopen")
        path = Path(sealed.out_dir) / FEES
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise SealError(f"{path}: the sealed file cannot be read ({exc.strerror}); restore "
                            "it (the register holds its SHA-256)") from None
        if hashlib.sha256(body).hexdigest() != sha:
            raise SealError(f"{path} differs from what was sealed for business day {day}; "
                            "restore it or settle the day again with --reopen")
        out.append((day, sha, body))
    return out


def build(month: str, calendar: str, stores: Mapping[str, StoreInfo],
          register: Register) -> Month:
    """The month's invoices of every coalition whose fee follows `calendar`, from the register
    of sealed days; one per store (configured, or charged that month), by coalition then store.
    """
    terms: dict[str, Terms] = {s.coalition: s.terms for s in stores.values()
                               if s.terms is not None and s.terms.schedule is not None
                               and s.terms.schedule.calendar == calendar}
    if not terms:
        raise InputError(f"no coalition's fee follows the {calendar} calendar, and {month} is a "
                         f"{calendar} month ([coalition.X.fee] calendar)")
    days = month_days(month, calendar)
    sources = _sealed_fees(register, days)
    sums: dict[tuple[str, str], dict[tuple[str, int], list[int]]] = {}
    names: dict[str, tuple[str, str, str]] = {}
    for day, _, body in sources:
        for r in _rows(body, f"{day}/{FEES}"):
            if r.coalition not in terms:
                continue
            names.setdefault(r.store_id, (r.coalition, r.store_name, r.currency))
            acc = sums.setdefault((r.coalition, r.store_id), {}).setdefault((r.fee, r.rate),
                                                                           [0, 0, 0])
            acc[0] += r.quantity
            acc[1] += r.amount
            acc[2] += 1
    for s in stores.values():
        if s.coalition in terms and s.id != terms[s.coalition].operator_id:
            names[s.id] = (s.coalition, s.name, s.currency)
            sums.setdefault((s.coalition, s.id), {})
    order = {fee: i for i, fee in enumerate(FEE_KINDS)}
    invoices = []
    for (coalition, sid), by_fee in sorted(sums.items()):
        t = terms[coalition]
        store = stores.get(sid)
        lines = tuple(Line(fee, rate, q, a, n) for (fee, rate), (q, a, n)
                      in sorted(by_fee.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])))
        invoices.append(Invoice(f"LPS-{month}-{sid}", coalition, t.operator_name,
                                t.operator_iban, sid, names[sid][1],
                                store.iban if store else None, names[sid][2], lines))
    digest = hashlib.sha256(f"{FORMAT}\n{month}|{calendar}\n".encode())
    for day, sha, _ in sources:
        digest.update(f"day|{day}|{sha}\n".encode())
    for t in sorted(terms.values(), key=lambda t: t.coalition):
        digest.update(f"{t.line()}\n".encode())
    for s in sorted(stores.values(), key=lambda s: s.id):
        if s.coalition in terms:
            digest.update(f"store|{s.id}|{s.name}|{s.iban or '-'}\n".encode())
    return Month(month, calendar, days, digest.hexdigest(), [(d, h) for d, h, _ in sources],
                 invoices)


# -- files --------------------------------------------------------------------------------------


def file_stem(store_id: str) -> str:
    """`invoice-<store>`: a store ID is any printable ASCII (DE42), so one that is not plain
    letters, digits, `_` and `-` is written in hex, never as a path."""
    return "invoice-" + (store_id if _SAFE_ID.fullmatch(store_id)
                         else "x" + store_id.encode().hex())


def _rate_fa(line: Line) -> str:
    """The rate as a Persian reader says it: `۵۰ در ده‌هزار (۰٫۵۰٪)`, `۲۰ ریال برای هر امتیاز`."""
    if line.fee == GROSS:
        pct = persian_digits(f"{line.rate // 100}{DECIMAL}{line.rate % 100:02d}")
        return f"{format_number(line.rate)} در ده‌هزار ({pct}٪)"
    unit = "هر امتیاز" if line.fee in (ISSUED, REDEEMED) else "ماه"
    return f"{format_money(line.rate)} برای {unit}"

CSS = """body{font-family:Vazirmatn,Tahoma,system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.35em .7em}
td.n{text-align:left;direction:ltr;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
tfoot td{font-weight:bold}.en{direction:ltr;text-align:left;color:#555;font-size:.9em}
code{font-size:.9em;direction:ltr;unicode-bidi:embed}"""


def _e(v: object) -> str:
    return html.escape(str(v))


def _iban_shown(iban: str | None) -> str:
    if not iban:
        return "—"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def invoice_html(m: Month, inv: Invoice) -> str:
    """A self-contained page, Persian first (`lang="fa" dir="rtl"`), Gregorian dates beside the
    Jalali ones for the auditor, amounts in rials with separators; no script, no resource."""
    first, last = m.days[0], m.days[-1]
    if m.calendar == JALALI:
        period = f"{jalali_date_long(first)} تا {jalali_date_long(last)}"
    else:
        period = f"{jalali_date(first)} تا {jalali_date(last)}"
    gregorian = f"{first.isoformat()} – {last.isoformat()}"
    rows = "".join(
        f"<tr><td>{_e(FEE_NAMES_FA[line.fee])}<div class=\"en\">{_e(FEE_NAMES_EN[line.fee])}"
        f"</div></td><td class=\"n\">{_e(format_number(line.quantity))}</td>"
        f"<td>{_e(_rate_fa(line))}<div class=\"en\">{line.rate:,} {_e(RATE_UNITS[line.fee])}"
        f"</div></td><td class=\"n\">{_e(format_money(line.amount))}</td></tr>\n"
        for line in inv.lines)
    if not rows:
        rows = '<tr><td colspan="4">در این ماه کارمزدی نیست (no fee this month)</td></tr>\n'
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="fa" dir="rtl"><head><meta charset="utf-8">',
        f"<title>صورتحساب کارمزد {_e(persian_digits(m.month))} — {_e(inv.store_name)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>صورتحساب کارمزد باشگاه مشتریان</h1>",
        f'<p>شماره صورتحساب: <code>{_e(inv.number)}</code></p>',
        "<table>",
        f"<tr><th>دوره</th><td>{_e(period)}<div class=\"en\">{_e(gregorian)} "
        f"(month {_e(m.month)}, {_e(m.calendar)})</div></td></tr>",
        f"<tr><th>صادرکننده</th><td>{_e(inv.operator_name)}<div class=\"en\">IBAN "
        f"<code>{_e(_iban_shown(inv.operator_iban))}</code></div></td></tr>",
        f"<tr><th>فروشگاه</th><td>{_e(inv.store_name)} (<code>{_e(inv.store_id)}</code>)"
        f"<div class=\"en\">IBAN <code>{_e(_iban_shown(inv.store_iban))}</code></div>"
        "</td></tr>",
        f"<tr><th>باشگاه</th><td><code>{_e(inv.coalition)}</code></td></tr>",
        "</table>",
        "<table><thead><tr><th>شرح</th><th>مقدار</th><th>نرخ</th><th>مبلغ</th></tr></thead>",
        f"<tbody>\n{rows}</tbody>",
        f"<tfoot><tr><td colspan=\"3\">جمع کل</td><td class=\"n\">"
        f"{_e(format_money(inv.total))}</td></tr></tfoot></table>",
        "<p>مبلغ هر خط جمع مبالغ روزهای تسویه‌شدهٔ ماه است؛ سهم از بدهی ناخالص هر روز به ریال "
        "کامل رو به پایین گرد می‌شود.</p>",
        f'<p class="en" lang="en">Monthly fee invoice {_e(inv.number)}: {_e(inv.store_name)} '
        f"owes {_e(inv.operator_name)} {inv.total:,} rials (currency {_e(inv.currency)}) for "
        f"business days {_e(gregorian)}. Each line sums the sealed days' amounts; the share of "
        "gross obligations is rounded down to the rial each day.</p>",
        "</body></html>\n",
    ])


INVOICE_COLUMNS = ("invoice", "month", "calendar", "period_from", "period_to", "coalition",
                   "operator_name", "operator_iban", "store_id", "store_name", "store_iban",
                   "fee", "description", "quantity", "rate", "rate_unit", "days", "amount",
                   "currency")


def invoice_csv(m: Month, inv: Invoice) -> bytes:
    """One row per line, then a `total` row; the invoice's head repeated on each row so a
    spreadsheet can filter it. UTF-8, amounts in rials without separators."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INVOICE_COLUMNS)
    head = (inv.number, m.month, m.calendar, m.days[0].isoformat(), m.days[-1].isoformat(),
            inv.coalition, inv.operator_name, inv.operator_iban, inv.store_id, inv.store_name,
            inv.store_iban or "")
    for line in inv.lines:
        w.writerow((*head, line.fee, FEE_NAMES_FA[line.fee], line.quantity, line.rate,
                    RATE_UNITS[line.fee], line.days, line.amount, inv.currency))
    w.writerow((*head, "total", "جمع کل", "", "", "", "", inv.total, inv.currency))
    return buf.getvalue().encode()


def render(m: Month) -> dict[str, bytes]:
    """Every file of the month's invoices, by name."""
    files: dict[str, bytes] = {}
    for inv in m.invoices:
        stem = file_stem(inv.store_id)
        files[f"{stem}.html"] = invoice_html(m, inv).encode()
        files[f"{stem}.csv"] = invoice_csv(m, inv)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("invoice", "coalition", "store_id", "store_name", "total", "currency", "file"))
    for inv in m.invoices:
        w.writerow((inv.number, inv.coalition, inv.store_id, inv.store_name, inv.total,
                    inv.currency, f"{file_stem(inv.store_id)}.html"))
    files[SUMMARY_CSV] = buf.getvalue().encode()
    doc: dict[str, Any] = {
        "format": FORMAT, "month": m.month, "calendar": m.calendar,
        "period": [m.days[0].isoformat(), m.days[-1].isoformat()],
        "inputs_digest": m.inputs_digest,
        "days": {day: sha for day, sha in m.sources},
        "totals": {c: sum(i.total for i in m.invoices if i.coalition == c)
                   for c in sorted({i.coalition for i in m.invoices})},
        "files": {n: hashlib.sha256(b).hexdigest() for n, b in sorted(files.items())},
    }
    files[SUMMARY_JSON] = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
                           + "\n").encode()
    return dict(sorted(files.items()))

