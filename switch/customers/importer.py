"""A member list from another system, as CSV (docs/customers.md, "Import"): every row checked
like a desk enrolment, a report of the rows refused with the reason, then all or nothing
(or the valid rows only, when asked). A re-import of the same file changes nothing: a row whose
mobile already has an account of the same name is "already there", not a refusal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from switch.core.luhn import luhn_ok, mask_pan
from switch.core.text import is_digits, search_key, to_ascii_digits
from switch.customers.desk import Desk
from switch.customers.inputs import CustomerError, EnrolForm, InvalidValue
from switch.journal.customers import NewAccount

__all__ = ["COLUMNS", "ImportReport", "Rejected", "Row", "import_csv", "read_rows"]

#: The header an import file starts with (any order; `name` and `mobile` are required).
COLUMNS = ("name", "mobile", "email", "birth_date", "anniversary", "cards", "sms",
           "email_offers")
REQUIRED = ("name", "mobile")
MAX_ROWS = 200_000
_YES = {"yes": True, "y": True, "1": True, "true": True, "بله": True,
        "no": False, "n": False, "0": False, "false": False, "خیر": False, "": None}


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused row: its line in the file (the header is line 1) and why."""

    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    rows: int = 0
    created: list[int] = field(default_factory=list)
    #: Rows whose mobile already has an account of the same name: nothing to do.
    already: int = 0
    #: Valid rows (created, or to be created in a dry run).
    valid: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    #: Cards the rows name that are not enrolled yet (the switch enrolls them first).
    new_cards: list[str] = field(default_factory=list)
    written: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """A row of the file: the line it starts on (the header is line 1), its values by column,
    and how many values it holds past the header's columns (none is right)."""

    line: int
    values: dict[str, str]
    extra: int = 0


def read_rows(text: str) -> list[Row]:
    """The file's rows; `CustomerError` for a header that is not `COLUMNS`' or a file the CSV
    reader cannot read (a quote left open to the end, a value over the reader's limit)."""
    # strict: a quote left open to the end of the file, or text after a closing quote, is
    # an error of the file, not a value that swallowed the lines after it.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        unknown = [h for h in header if h not in COLUMNS]
        missing = [h for h in REQUIRED if h not in header]
        if unknown or missing:
            raise CustomerError(
                "the first line names the columns: " + ",".join(COLUMNS) + " (name and mobile "
                "required)" + (f"; unknown {[u[:40] for u in unknown[:8]]}" if unknown else "")
                + (f"; missing {missing}" if missing else ""))
        twice = sorted({h for h in header if header.count(h) > 1})
        if twice:
            raise CustomerError(f"the first line names {', '.join(twice)} twice")
        rows: list[Row] = []
        # Where the next row starts: a quoted value may hold line breaks, so a row may end
        # lines after the one it starts on.
        line = reader.line_num + 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not fields:
                continue  # a blank line
            if len(rows) >= MAX_ROWS:
                raise CustomerError(f"more than {MAX_ROWS:,} rows: split the file")
            values = dict(zip(header, fields, strict=False))
            extra = sum(1 for f in fields[len(header):] if f.strip())
            rows.append(Row(start, values, extra))
    except csv.Error as exc:
        raise CustomerError(f"line {reader.line_num}: not CSV the import can read ({exc})"
                            ) from None
    return rows


def _cards(text: str) -> tuple[str, ...]:
    out = []
    for part in to_ascii_digits(text).replace(";", " ").split():
        bare = part.replace("-", "")
        if not (is_digits(bare) and 13 <= len(bare) <= 19 and luhn_ok(bare)):
            raise InvalidValue(f"cards: {mask_pan(bare) if is_digits(bare) else part[:20]!r} "
                                "is not a card number (13-19 digits, Luhn-valid)")
        out.append(bare)
    return tuple(out)


def _flag(row: dict[str, str], column: str) -> bool | None:
    value = to_ascii_digits(row.get(column, "")).strip().lower()
    if value not in _YES:
        raise InvalidValue(f"{column}: yes or no, got {value[:10]!r}")
    return _YES[value]


def import_csv(desk: Desk, text: str, now: dt.datetime, *, coalition: str | None,
               dry_run: bool, skip_bad: bool,
               enroll_cards: Callable[[list[str]], None]) -> ImportReport:
    """Check every row, then (unless `dry_run`, and only when no row was refused or
    `skip_bad`) enrol the missing cards through `enroll_cards` and write the accounts in one
    transaction."""
    report = ImportReport()
    rows = read_rows(text)
    report.rows = len(rows)
    accepted: list[NewAccount] = []
    seen_mobiles: dict[str, int] = {}
    seen_cards: dict[str, int] = {}
    for line, row, extra in ((r.line, r.values, r.extra) for r in rows):
        try:
            if extra:
                raise CustomerError(f"{extra} value(s) past the header's columns: a comma "
                                    "inside a value needs the value in quotes")
            form = EnrolForm(name=row.get("name", ""), mobile=row.get("mobile", ""),
                             coalition=coalition, email=row.get("email") or None,
                             birth_date=row.get("birth_date") or None,
                             anniversary=row.get("anniversary") or None,
                             cards=_cards(row.get("cards", "")), sms=_flag(row, "sms"),
                             emails=_flag(row, "email_offers"), source="import")
            if _already(desk, form, coalition):
                report.already += 1
                continue
            new = desk.new_account(_without_cards(form), now)
            if new.mobile in seen_mobiles:
                raise CustomerError(f"the same mobile as line {seen_mobiles[new.mobile]}")
            for pan in form.cards:
                if pan in seen_cards:
                    raise CustomerError(f"card {mask_pan(pan)} is on line {seen_cards[pan]} too")
                _card_free(desk, pan, new.coalition)
        except CustomerError as exc:
            report.rejected.append(Rejected(line, str(exc)))
            continue
        seen_mobiles[new.mobile] = line
        seen_cards.update(dict.fromkeys(form.cards, line))
        report.new_cards += [p for p in form.cards if desk.customers.card_row(p) is None]
        accepted.append(NewAccount(new.coalition, new.name, new.mobile, new.email,
                                   new.birth_date, new.anniversary, "import", form.cards,
                                   new.consent))
    report.valid = len(accepted)
    if dry_run or (report.rejected and not skip_bad) or not accepted:
        return report
    if report.new_cards:
        enroll_cards(report.new_cards)
    with desk.customers.transaction():
        for new in accepted:
            report.created.append(desk.customers.create(new, now))
    report.written = True
    return report


def _without_cards(form: EnrolForm) -> EnrolForm:
    return EnrolForm(form.name, form.mobile, form.coalition, form.email, form.birth_date,
                     form.anniversary, (), form.sms, form.emails, form.source)


def _already(desk: Desk, form: EnrolForm, coalition: str | None) -> bool:
    """The row's mobile has an account of the same name already (a re-import)."""
    from switch.customers.inputs import parse_mobile, parse_name

    try:
        mobile, name = parse_mobile(form.mobile), parse_name(form.name)
    except CustomerError:
        return False
    return any(search_key(a.name) == search_key(name)
               for a in desk.customers.by_mobile(mobile, coalition))


def _card_free(desk: Desk, pan: str, coalition: str) -> None:
    """A card a row may take: not another account's, and of this coalition (enrolled, or in
    its card ranges: the switch enrolls it before the accounts are written)."""
    card = desk.customers.card_row(pan)
    if card is None:
        bins = desk.config.coalitions[coalition].card_bins
        if not any(pan.startswith(b) for b in bins):
            raise CustomerError(f"card {mask_pan(pan)} is not enrolled and not in coalition "
                                f"{coalition}'s card ranges")
        return
    if card[0] != coalition:
        raise CustomerError(f"card {mask_pan(pan)} is in coalition {card[0]}")
    owner = desk.customers.owner(pan)
    if owner is not None:
        raise CustomerError(f"card {mask_pan(pan)} belongs to account {owner}")
