"""The switch's own English messages in the reader's language.

The switch words its refusals in English: its configuration loader (`switch.config`, shown when
a campaign edit is refused), its admin socket (`switch.core.admin`, when a card change or an
adjustment is refused) and its database (`queries.QueryError`). Their stable messages are
templates with values; each is matched here to the same template in the console's catalogue,
so a Persian reader reads it in Persian with its values in Persian digits and the Jalali
calendar. A message that matches none is shown as it is, isolated and labelled as the switch's
own (`Verbatim`): never dropped, never guessed at.

tests/console/test_switch_words.py makes each message with the switch's own code, so a reworded
message there fails a test here instead of silently falling back to English.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lps.console.messages import N_, Code, Refusal, Verbatim
from switch.core.text import is_digits

Kind = Callable[[str], Any]


def _whole(text: str) -> Any:
    """A whole number (`10,000,000` too) as an int, shown in the reader's digits; else text."""
    bare = text.replace(",", "")
    return int(bare) if is_digits(bare.removeprefix("-")) and len(bare) <= 18 else Code(text)


def _number(text: str) -> Any:
    """A whole number as `_whole`, or a decimal as the loader prints a float it refuses
    (`-0.5`, `1000.5`: a multiplier) as a float, shown in the reader's digits; else text."""
    if re.fullmatch(r"-?[0-9]{1,15}\.[0-9]{1,15}", text):
        return float(text)
    return _whole(text)


def _day(text: str) -> Any:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return Code(text)


#: (pattern, template, kinds of its values); a value not named is shown as a code.
Table = Sequence[tuple[re.Pattern[str], str, Mapping[str, Kind]]]


def _pattern(template: str) -> re.Pattern[str]:
    """The template as a regular expression: its text literally, each `{name}` a group."""
    parts = re.split(r"\{(\w+)\}", template)
    out = [re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)]
    return re.compile("".join(out), re.S)


def _table(rows: Sequence[tuple[str, Mapping[str, Kind]]]) -> Table:
    return [(_pattern(template), template, kinds) for template, kinds in rows]


#: `switch.config`'s reasons (after `key: `), the generic ones of its reader and a campaign's.
LOADER = _table([
    (N_("is missing"), {}),
    (N_("unknown key"), {}),
    (N_("must not be empty"), {}),
    (N_("must be a table"), {}),
    (N_("must be a table, got {type}"), {}),
    (N_("must be an array, got {type}"), {}),
    (N_("must be a string, got {type} {value}"), {}),
    (N_("must be an integer, got {type} {value}"), {}),
    (N_("must be a number, got {type} {value}"), {}),
    (N_("must be true or false, got {value}"), {}),
    (N_("must be at least {minimum}, got {value}"), {"minimum": _number, "value": _number}),
    (N_("must be a date YYYY-MM-DD, got {value}"), {}),
    (N_("ends ({end}) before it starts ({start})"), {"end": _day, "start": _day}),
    (N_("must be 0 (Monday) to 6 (Sunday), got {value}"), {"value": _whole}),
    (N_("must be [from, to) hours 0-24, got {value}"), {}),
    (N_("must have at most 3 decimals and be at most 1000, got {value}"), {"value": _number}),
    (N_("must be rial or toman, got {value}"), {}),
])

#: `switch.core.admin`'s refusals (and the limits of docs/protocol.md §10), as its admin
#: socket answers them.
ADMIN = _table([
    (N_("not a Luhn-valid card number of 13-19 digits"), {}),
    (N_("card is not enrolled"), {}),
    (N_("card is not enrolled in the running switch"), {}),
    (N_("card is already enrolled in coalition {coalition}"), {}),
    (N_("points must be a non-zero whole number within +-{max}"), {"max": _whole}),
    (N_("store '{store}' is not a store of the card's coalition {coalition}"), {}),
    (N_("an adjustment needs a reason"), {}),
    (N_("the card has {available} points available, fewer than {wanted}"),
     {"available": _whole, "wanted": _whole}),
    (N_("the card's points would pass their limit"), {}),
    (N_("the card's stored value would pass its limit"), {}),
    # switch.core.card_replace
    (N_("the number is not a Luhn-valid card number of 13-19 digits"), {}),
    (N_("{card} is not a Luhn-valid card number of 13-19 digits"), {}),
    (N_("the new card is the card being replaced"), {}),
    (N_("card {card} is not enrolled"), {}),
    (N_("card {card} is a mobile account's virtual card: it is never lost"), {}),
    (N_("card {card} is already in use: a replacement must be a card never enrolled"), {}),
    (N_("card {card} is outside coalition {coalition}'s card BINs"), {}),
    (N_("card {card} is in the range of virtual cards (mobile accounts): it cannot be a "
        "printed card"), {}),
    (N_("a gift card is replaced by a gift card, a loyalty card by a loyalty card (their "
        "purses are spent under different rules)"), {}),
    (N_("card {card} owes {owed} on a reversed earn already spent: a debt cannot move to a "
        "new card; credit it with an adjustment of its store first"), {"owed": _whole}),
])

#: The switch's database as `queries.reading` finds it.
DATABASE = _table([
    (N_("the switch's database {path} does not exist yet (start the switch once)"), {}),
])


def _match(text: str, table: Table) -> Refusal | None:
    for pattern, template, kinds in table:
        m = pattern.fullmatch(text)
        if m:
            return Refusal(template, **{name: kinds.get(name, Code)(value)
                                        for name, value in m.groupdict().items()})
    return None


def _said(text: str, table: Table) -> Refusal:
    return _match(text, table) or Refusal(N_("{message}"), message=Verbatim(text))


def loader(reason: str) -> Refusal:
    """A reason of the switch's configuration loader (`ConfigError.reason`)."""
    return _said(reason, LOADER)


def admin(error: str) -> Refusal:
    """The error of the switch's admin socket's answer."""
    if error.startswith("bad admin request: "):
        return Refusal(N_("bad admin request: {detail}"),
                       detail=Verbatim(error.removeprefix("bad admin request: ")))
    return _said(error, ADMIN)


def database(error: str) -> Refusal:
    """Why the switch's database could not be read (`queries.QueryError`)."""
    return _said(error, DATABASE)
