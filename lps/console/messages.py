"""Messages that wait for a reader: a template marked `N_(...)` and its values, rendered in the
reader's language when a page shows it (docs/console.md, "Languages, dates, money").

A value is shown by its kind: a `Label` is a word of the interface (translated), a `Code` an
identifier (shown as it is, left to right), `Verbatim` words that are not the console's (the
switch's or the system's own message: shown as they are, isolated, labelled with whose they
are), a nested `Refusal` its own sentence; numbers and dates in the reader's digits and
calendar. `str()` of a message is the English the CLI prints.

A message kept for later (a pending adjustment's last error) is stored as JSON
(`to_json`/`from_json`), so it is rendered in the language of whoever reads it then.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from dataclasses import dataclass
from typing import Any, Protocol

from markupsafe import Markup, escape

from switch.core.luhn import luhn_ok, mask_pan
from switch.core.text import to_ascii_digits


class Translator(Protocol):
    """What a message needs of the reader's language (`lps.console.i18n.Translator` is one)."""

    def gettext(self, text: str) -> str: ...
    def format(self, template: str, /, **params: Any) -> str: ...
    def value(self, value: Any) -> str: ...


def N_(text: str) -> str:
    """Marks a message for the catalogue; it is translated when shown."""
    return text


#: Whose words a `Verbatim` value is, as its label says.
SWITCH = N_("the switch's own message:")
SYSTEM = N_("the system's own message:")
RECORDED = N_("as recorded:")
VERBATIM_LABELS = (SWITCH, SYSTEM, RECORDED)


class Label(str):
    """A word of the interface used as a message's value (`the reason`): translated when shown."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Code:
    """An identifier inside a sentence (a configuration key, a file): as it is, left to right."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Verbatim:
    """Words that have no translation (the switch's own English, an operating-system error):
    shown as they are, isolated, after a label that says whose they are."""

    text: str
    label: str = SWITCH

    def __str__(self) -> str:
        return self.text


class Refusal(ValueError):
    """A refused input or action: a message template (marked with `N_`) and its values.

    A text value may be what someone typed, echoed (`got 2026-13-01`, an owner as a code, the
    switch's loader quoting a value): a card number in it is masked, as everywhere else
    (docs/console.md, "Hostile input")."""

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template = template
        params = {k: _masked(v) for k, v in params.items()}
        self.params = params
        super().__init__(template.format(**{k: _english(v) for k, v in params.items()}))

    def render(self, t: Translator) -> str:
        """Plain text in the reader's language (values isolated with FSI/PDI)."""
        return t.format(self.template, **self.params)

    def html(self, t: Translator) -> Markup:
        """HTML in the reader's language: codes and the switch's own words in elements of
        their own (`<bdi>`, with `lang="en"` on words that are not translated)."""
        return escape(t.gettext(self.template)).format(
            **{k: value_html(t, v) for k, v in self.params.items()})

    def __eq__(self, other: object) -> bool:
        """Two messages are equal when they say the same thing (template and values)."""
        if not isinstance(other, Refusal):
            return NotImplemented
        return (self.template, self.params) == (other.template, other.params)

    def __hash__(self) -> int:
        return hash((self.template, str(self)))

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template,
                "params": {k: _encode(v) for k, v in self.params.items()}}


#: 13-19 digits, in groups or not (`6280 0012 3456 7890`), with no digit on either side.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


def holds_card_number(text: str) -> bool:
    """Whether `text` holds a card number: 13-19 digits in any script, grouped or not, that
    pass the Luhn check."""
    return any(luhn_ok(re.sub("[ -]", "", run.group()))
               for run in _DIGIT_RUN.finditer(to_ascii_digits(text)))


def mask_card_numbers(text: str) -> str:
    """`text` with each card number in it masked as pages show them (`628000******1006`; the
    text's digits then read as ASCII)."""
    def masked(run: re.Match[str]) -> str:
        digits = re.sub("[ -]", "", run.group())
        return mask_pan(digits) if luhn_ok(digits) else run.group()

    return _DIGIT_RUN.sub(masked, to_ascii_digits(text)) if holds_card_number(text) else text


def _masked(value: Any) -> Any:
    """A message's value with any card number in its text masked (a `Label` is a word of the
    interface, kept)."""
    if type(value) is str:
        return mask_card_numbers(value)
    if isinstance(value, Code):
        return Code(mask_card_numbers(value.text))
    if isinstance(value, Verbatim):
        return Verbatim(mask_card_numbers(value.text), value.label)
    return value


def _english(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def value_html(t: Translator, value: Any) -> Markup | str:
    """One value inside a sentence, as HTML (a plain string is escaped by the caller)."""
    if isinstance(value, Refusal):
        return value.html(t)
    if isinstance(value, Verbatim):
        return Markup('<span class="theirs">{label} <bdi lang="en" dir="ltr">{text}</bdi>'
                      '</span>').format(label=t.gettext(value.label), text=value.text)
    if isinstance(value, Code):
        return Markup('<bdi class="code" dir="ltr">{}</bdi>').format(value.text)
    return t.value(value)


# -- kept for later: JSON ----------------------------------------------------------------------


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, Refusal):
        return {"refusal": value.to_json()}
    if isinstance(value, Verbatim):
        return {"verbatim": value.text, "label": value.label}
    if isinstance(value, Code):
        return {"code": value.text}
    if isinstance(value, Label):
        return {"label": str(value)}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return {"date": value.isoformat()}
    return {"text": str(value)}


def from_json(data: Any) -> Refusal:
    """A stored message back; anything that is not one (a row written before messages were
    stored, a hand edit) is shown as recorded, never used as a template."""
    try:
        return _decode_refusal(data)
    except (KeyError, TypeError, ValueError):
        return Refusal(N_("{message}"), message=Verbatim(str(data)[:500], RECORDED))


def _decode_refusal(data: Any) -> Refusal:
    template, params = data["template"], data["params"]
    if not isinstance(template, str) or not isinstance(params, dict):
        raise TypeError("not a stored message")
    # Plain `{name}` fields only: a stored template never reaches attributes or indexes.
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is not None and (spec or conversion or not name.isidentifier()
                                 or name not in params):
            raise ValueError("not a template of plain fields")
    return Refusal(template, **{k: _decode(v) for k, v in params.items()})


def _decode(item: Any) -> Any:
    if not isinstance(item, dict) or len(item) not in (1, 2):
        raise TypeError("not a stored value")
    if "refusal" in item:
        return _decode_refusal(item["refusal"])
    if "verbatim" in item:
        label = item.get("label")
        return Verbatim(str(item["verbatim"]), label if label in VERBATIM_LABELS else RECORDED)
    if "code" in item:
        return Code(str(item["code"]))
    if "label" in item:
        return Label(str(item["label"]))
    if "bool" in item and isinstance(item["bool"], bool):
        return item["bool"]
    if "int" in item and isinstance(item["int"], int) and not isinstance(item["int"], bool):
        return item["int"]
    if "date" in item:
        return dt.date.fromisoformat(str(item["date"]))
    if "text" in item:
        return str(item["text"])
    raise TypeError("not a stored value")
