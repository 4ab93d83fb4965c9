"""Message templates: `{field}` placeholders from a fixed vocabulary, rendered for Persian readers.

A template is text with `{name}`-style fields (Python's format syntax without conversions,
format specs, attribute or index access: `{name.__class__}` would otherwise reach into
objects). Each field has a type that decides how its value is checked when a message is queued
and how it is shown: numbers and dates in Persian digits, amounts in rials or tomans, dates in
the Jalali calendar (docs/messaging.md §Templates). A template naming a field outside `FIELDS`
is refused when the configuration loads, not when the message is due at night.
"""

from __future__ import annotations

import datetime as dt
import html
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from switch.core.text import TextError, normalize_text
from switch.i18n import format_money, format_number, jalali_date_long, tehran_time
from switch.i18n.numbers import MoneyUnit

__all__ = [
    "FIELDS",
    "SCOPE_FIELDS",
    "Template",
    "TemplateError",
    "check_params",
    "fields_of",
    "render",
]

FieldType = Literal["text", "number", "money", "date", "time"]

#: Every field a template may name, with its type. Triggers fill them (docs/messaging.md).
FIELDS: Mapping[str, FieldType] = {
    "name": "text",          # the customer's name as enrolled
    "points": "number",      # points earned, spent or granted by the event
    "balance": "number",     # the card's points after the event
    "bonus": "number",       # bonus points granted
    "stamps": "number",
    "days": "number",        # e.g. days left before points expire
    "amount": "money",       # rials; shown in rials or tomans
    "credit": "money",       # gift credit put in the purse, rials
    "date": "date",          # the event's day
    "expiry_date": "date",
    "time": "time",          # an instant, shown as Tehran wall-clock time
    "tier": "text",
    "code": "text",          # a referral code
    "reward": "text",
    "store": "text",         # filled from the message's store when not given
    "coalition": "text",     # filled from the message's coalition when not given
}
#: Fields the sender fills from the message's scope (its store or coalition in the config).
SCOPE_FIELDS = frozenset({"store", "coalition"})

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template or a message's parameters that cannot be used, with the reason."""


def fields_of(text: str) -> tuple[str, ...]:
    """The fields `text` names, in order; `TemplateError` for anything but plain `{field}`."""
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise TemplateError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
                            ) from None
    names: list[str] = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name:
            raise TemplateError("an empty {} names no field")
        if conversion or spec:
            raise TemplateError(f"{{{name}}}: conversions and format specs are not allowed")
        if name not in FIELDS:
            known = ", ".join(sorted(FIELDS))
            raise TemplateError(f"unknown field {{{name}}}; the fields are: {known}")
        names.append(name)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Template:
    """One wording: the SMS text and the email subject and body (each optional)."""

    sms: str | None = None
    email_subject: str | None = None
    email_body: str | None = None
    money: MoneyUnit = "rial"

    def fields(self) -> frozenset[str]:
        out: set[str] = set()
        for text in (self.sms, self.email_subject, self.email_body):
            if text is not None:
                out.update(fields_of(text))
        return frozenset(out)


def _check_value(name: str, value: Any) -> Any:
    """A parameter as it is stored in the outbox (JSON), or `TemplateError`."""
    kind = FIELDS.get(name)
    if kind is None:
        raise TemplateError(f"unknown parameter {name!r}; the fields are: {', '.join(FIELDS)}")
    if kind in ("number", "money"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TemplateError(f"{name} must be an integer, got {type(value).__name__}")
        return value
    if kind == "date":
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
            raise TemplateError(f"{name} must be a date")
        try:
            day = value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
        except ValueError:
            raise TemplateError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
        return day.isoformat()
    if kind == "time":
        moment = value if isinstance(value, dt.datetime) else None
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            raise TemplateError(f"{name} must be an aware date and time (with its zone)")
        return moment.astimezone(dt.UTC).isoformat()
    if not isinstance(value, str):
        raise TemplateError(f"{name} must be text, got {type(value).__name__}")
    try:
        return normalize_text(value, name, max_length=200)
    except TextError as exc:
        raise TemplateError(str(exc)) from None


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters checked and converted to their stored (JSON) form."""
    return {name: _check_value(name, value) for name, value in params.items()}


def _display(name: str, value: Any, money: MoneyUnit) -> str:
    kind = FIELDS[name]
    if kind == "number":
        return format_number(int(value))
    if kind == "money":
        return format_money(int(value), money)
    if kind == "date":
        return jalali_date_long(dt.date.fromisoformat(str(value)))
    if kind == "time":
        return tehran_time(dt.datetime.fromisoformat(str(value)))
    return str(value)


def render(text: str, params: Mapping[str, Any], *, money: MoneyUnit = "rial",
           escape_html: bool = False) -> str:
    """`text` with each field shown for a Persian reader; `TemplateError` if one is missing."""
    values: dict[str, str] = {}
    for name in fields_of(text):
        if name not in params:
            raise TemplateError(f"the message has no value for {{{name}}}")
        shown = _display(name, params[name], money)
        values[name] = html.escape(shown) if escape_html else shown
    return text.format_map(values)
