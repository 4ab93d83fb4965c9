"""The console's languages: Babel gettext catalogues, messages that wait for a reader, and the
display forms of numbers, money, dates and times (docs/console.md, "Languages").

The Persian catalogue's source is `locale/fa/LC_MESSAGES/console.po`; it is compiled in memory
(Babel's `read_po` + `write_mo`) the first time a page asks for it, so there is no compiled
file to build at install time or to forget to rebuild: the `.po` in the package is what runs.
English is the source language (the msgids), so it needs no catalogue.

Code that refuses something raises a `Refusal` (lps/console/messages.py) with a template marked
`N_(...)` and its values; the page renders it in the reader's language.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from lps.console.messages import N_, Label, Refusal, Verbatim, holds_card_number
from switch.core.text import TextError, is_digits, to_ascii_digits
from switch.i18n import (
    format_money,
    format_number,
    jalali_date,
    persian_digits,
    weekday_name,
)
from switch.i18n.numbers import DECIMAL, MoneyUnit

#: `N_` is also here for the modules that mark their messages through this one.
__all__ = ["DEFAULT", "LANGUAGES", "N_", "Translator", "catalogue", "text_refusal"]

LANGUAGES = ("fa", "en")
DEFAULT = "fa"
DOMAIN = "console"
#: FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE: a value inside a sentence keeps its own
#: direction (a Latin store code inside Persian text stays in order; docs/console.md, "Bidi").
FSI, PDI = "\u2068", "\u2069"


@functools.cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language` (English: the msgids themselves)."""
    if language == "en":
        return gettext.NullTranslations()
    source = resources.files("lps.console").joinpath(
        f"locale/{language}/LC_MESSAGES/{DOMAIN}.po")
    with source.open("rb") as fh:
        po = read_po(fh, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, po, use_fuzzy=False)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


class Translator:
    """One reader's language: messages, numbers, money, dates and times as they read them."""

    def __init__(self, language: str, zone: ZoneInfo,
                 units: Mapping[str, MoneyUnit] | None = None) -> None:
        self.language = language if language in LANGUAGES else DEFAULT
        self.persian = self.language == "fa"
        self.zone = zone
        #: Each coalition's display currency (`[coalition.X] display_currency`); rials when
        #: a coalition is not named.
        self.units: Mapping[str, MoneyUnit] = units or {}
        self._cat = catalogue(self.language)

    @property
    def dir(self) -> str:
        return "rtl" if self.persian else "ltr"

    def gettext(self, text: str) -> str:
        return self._cat.gettext(text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._cat.ngettext(singular, plural, n)

    def format(self, template: str, /, **params: Any) -> str:
        """The template in this language with its values in their display form."""
        return self.gettext(template).format(**{k: self.value(v) for k, v in params.items()})

    def value(self, value: Any) -> str:
        """A message's value as plain text in this language (isolated inside Persian)."""
        if isinstance(value, Refusal):
            return value.render(self)
        if isinstance(value, Verbatim):
            return f"{self.gettext(value.label)} {self._isolated(value.text)}"
        if isinstance(value, Label):
            return self.gettext(value)
        if isinstance(value, bool):
            return self.gettext("yes") if value else self.gettext("no")
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, float):
            return self.decimal(value)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return self.date(value)
        return self._isolated(str(value))

    def _isolated(self, text: str) -> str:
        return f"{FSI}{text}{PDI}" if self.persian and text else text

    def number(self, value: int) -> str:
        return format_number(value, persian=self.persian)

    def decimal(self, value: float) -> str:
        """A decimal number (a multiplier) with the digits Python prints, grouped as a whole
        number is and with the reader's decimal mark: `-۰٫۵`, `۱٬۰۰۰٫۵`; `0.0` is `۰`."""
        text = repr(value + 0.0).removesuffix(".0")  # -0.0 is 0
        sign, bare = ("-", text[1:]) if text.startswith("-") else ("", text)
        whole, _, fraction = bare.partition(".")
        if not (is_digits(whole) and (not fraction or is_digits(fraction))):
            return self._isolated(text)  # 1e-05, inf: as Python says it
        out = sign + self.number(int(whole))
        if fraction:
            out += (DECIMAL + persian_digits(fraction)) if self.persian else "." + fraction
        return out

    def digits(self, text: object) -> str:
        """A code or count as it is, its digits Persian in Persian (never a card or ID)."""
        return persian_digits(str(text)) if self.persian else str(text)

    def money(self, rials: int, coalition: str | None = None) -> str:
        """An amount of rials in the display currency of `coalition` (rials or tomans)."""
        unit = self.units.get(coalition or "", "rial")
        text = format_money(rials, unit, persian=self.persian)
        if self.persian:
            return text
        return text.rsplit(" ", 1)[0] + (" tomans" if unit == "toman" else " rials")

    def date(self, day: dt.date | str | None) -> str:
        """The Jalali date (`۱۴۰۵/۰۹/۰۲`)."""
        if day is None or day == "":
            return ""
        d = dt.date.fromisoformat(day) if isinstance(day, str) else day
        return jalali_date(d, persian=self.persian)

    def date_both(self, day: dt.date | str | None) -> str:
        """Jalali with the Gregorian date beside it, for an auditor (`۱۴۰۵/۰۹/۰۲ (2026-11-23)`)."""
        if day is None or day == "":
            return ""
        d = dt.date.fromisoformat(day) if isinstance(day, str) else day
        return f"{self.date(d)} ({d.isoformat()})"

    def moment(self, at: dt.datetime | str | None, *, gregorian: bool = False) -> str:
        """An instant as the coalition's local date and time (`۱۴۰۵/۰۹/۰۲ ۱۴:۳۰`)."""
        if at is None or at == "":
            return ""
        t = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        local = t.astimezone(self.zone)
        clock = local.strftime("%H:%M")
        text = f"{self.date(local.date())} {self.digits(clock)}"
        return f"{text} ({local.date().isoformat()} {clock})" if gregorian else text

    def weekday(self, number: int) -> str:
        return weekday_name(number, persian=self.persian)


def text_refusal(exc: TextError, what: str, label: str) -> Refusal:
    """A refusal of typed text (switch.core.text, which named it `what`) with the reason in
    words a page translates; `label` is the field's name marked with `N_`."""
    rest = str(exc).removeprefix(what).strip()
    for pattern, template in _TEXT_REASONS:
        m = pattern.fullmatch(rest)
        if m:
            return Refusal(template, what=Label(label), **m.groupdict())
    return Refusal(N_("{what}: not accepted ({detail})"), what=Label(label), detail=rest)


#: A whole number typed with its thousands separated (`,` or the Arabic `٬`), ASCII digits.
_GROUPED = re.compile(r"-?[0-9]{1,3}(?:[,\u066c][0-9]{3})+")


def ungrouped(text: str) -> str:
    """A typed whole number without its thousands separators when they stand between groups
    of three digits (`۱٬۵۰۰`, `-12,500`); otherwise as typed, for the parser to refuse: `1,5`
    or `۱٬۵` is not fifteen (the Arabic `٬` looks like the decimal `٫`)."""
    bare = to_ascii_digits(text).strip()
    return re.sub("[,\u066c]", "", bare) if _GROUPED.fullmatch(bare) else text


def without_card_number(text: str, label: str) -> str:
    """`text` (a reason, a name), refused when it holds a card number: free text is stored,
    shown and audited as typed, and card numbers are never kept in clear (docs/console.md,
    "Hostile input")."""
    if holds_card_number(text):
        raise Refusal(N_("{what} holds a card number: leave it out (card numbers are shown "
                         "and recorded masked)"), what=Label(label))
    return text


def shown_back(typed: Mapping[str, str]) -> dict[str, str]:
    """A refused form's values to show in it again, but a value holding a card number (pages
    carry card numbers masked only)."""
    return {k: "" if holds_card_number(v) else v for k, v in typed.items()}


_TEXT_REASONS = [
    (re.compile(r"holds an unpaired surrogate"), N_("{what} holds a broken character")),
    (re.compile(r"holds a control character \((?P<code>U\+[0-9A-F]+)\)"),
     N_("{what} holds a control character ({code})")),
    (re.compile(r"must be one line"), N_("{what} must be one line")),
    (re.compile(r"holds an invisible formatting character \((?P<code>U\+[0-9A-F]+)\)"),
     N_("{what} holds an invisible formatting character ({code})")),
    (re.compile(r"is empty"), N_("{what} is empty")),
    (re.compile(r"is longer than (?P<n>\d+) characters"),
     N_("{what} is longer than {n} characters")),
]
