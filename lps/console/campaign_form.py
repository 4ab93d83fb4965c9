"""The campaign form: what marketing types, read as a campaign's TOML table (docs/console.md,
"Editing campaigns"), and a campaign shown back in the form.

Only types are checked here: ranges and rules are the switch's loader's, so a typed campaign
gets the same messages as a hand edit of the file. Persian and Arabic-Indic digits are read as
ASCII; the name accepts Persian with ZWNJ and is stored normalised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lps.console.campaigns import EditError
from lps.console.i18n import text_refusal, ungrouped, without_card_number
from lps.console.messages import N_, Label
from switch.config import Campaign
from switch.core.text import TextError, is_digits, normalize_text, parse_int, to_ascii_digits
from switch.i18n import DateError, parse_date

#: The form's field names as messages name them, and what each whole number is.
FIELDS = (N_("from"), N_("to"), N_("bonus"), N_("hour_from"), N_("hour_to"),
          N_("expire_after_days"), N_("points added to each earn"), N_("an hour 0-24"),
          N_("days"))
MAX_NAME = 60


def form_values(c: Campaign) -> dict[str, str]:
    """A campaign as the edit form's field values."""
    return {"name": c.name, "from": c.start.isoformat(), "to": c.end.isoformat(),
            "multiplier": f"{c.multiplier + 0.0:g}", "bonus": str(c.bonus) if c.bonus else "",
            "weekdays": ",".join(map(str, c.weekdays)),
            "hour_from": str(c.hours[0]) if c.hours else "",
            "hour_to": str(c.hours[1]) if c.hours else "",
            "expire_after_days": str(c.expire_after_days or "")}


def _whole(form: Mapping[str, str], name: str, what: str) -> int | None:
    """A typed whole number (Persian digits read as ASCII, thousands separated as
    `i18n.ungrouped` reads them); None when left empty."""
    text = form.get(name, "").strip().replace("_", "")
    if not text:
        return None
    try:
        return parse_int(ungrouped(text), name, minimum=-10**15, maximum=10**15)
    except TextError:
        raise EditError(N_("{field}: must be a whole number ({what}), got {typed}"),
                        field=Label(name), what=Label(what), typed=text[:20]) from None


def _day(form: Mapping[str, str], name: str) -> str:
    """A typed date (Jalali or Gregorian, docs/console.md "Dates") as the file's ISO date."""
    text = form.get(name, "")
    try:
        return parse_date(text).isoformat()
    except DateError as exc:
        if exc.reason == "day":
            raise EditError(N_("{field}: {typed}: that month has only {days} days"),
                            field=Label(name), typed=exc.text, days=exc.days) from None
        raise EditError(N_("{field}: must be a date YYYY/MM/DD (Jalali) or YYYY-MM-DD, got "
                           "{typed}"), field=Label(name), typed=text[:20]) from None


def parse_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's fields as a campaign's TOML table; empty optional fields are left out.

    Only types are checked here; ranges and rules are the switch's loader's (the same messages
    as for a hand edit).
    """
    try:  # Persian with ZWNJ welcome; stored normalised (docs/console.md)
        name = normalize_text(form.get("name", ""), "name", allow_empty=True)
    except TextError as exc:
        raise text_refusal(exc, "name", N_("name")) from None
    if not name:
        raise EditError(N_("name: must not be empty"))
    without_card_number(name, N_("name"))
    if len(name) > MAX_NAME:
        raise EditError(N_("name: must be 1-{max} printable characters"), max=MAX_NAME)
    out: dict[str, Any] = {"name": name, "from": _day(form, "from"), "to": _day(form, "to")}
    text = to_ascii_digits(form.get("multiplier", "")).strip().replace("\u066b", ".")
    if text:
        try:
            if not is_digits(text.replace(".", "", 1).lstrip("+-")):
                raise ValueError
            multiplier = float(text)
        except ValueError:
            multiplier = math.nan
        if not math.isfinite(multiplier):
            raise EditError(N_("multiplier: must be a number such as 1.5, got {typed}"),
                            typed=text[:20])
        # A sign is read as in a whole number, where -0 is 0: a float would keep it (-0.0).
        # A negative multiplier is the loader's to refuse (docs/console.md, "Typed values").
        out["multiplier"] = multiplier + 0.0
    bonus = _whole(form, "bonus", "points added to each earn")
    if bonus is not None:
        out["bonus"] = bonus
    text = to_ascii_digits(form.get("weekdays", "")).strip().replace("\u060c", ",")
    if text:
        try:
            typed = text.replace(" ", "").split(",")
            if not all(is_digits(w, 1) for w in typed):
                raise ValueError
            out["weekdays"] = [int(w) for w in typed]
        except ValueError:
            raise EditError(N_("weekdays: must be numbers 0 (Monday) to 6 (Sunday) separated by "
                               "commas, got {typed}"), typed=text[:40]) from None
    start = _whole(form, "hour_from", "an hour 0-24")
    end = _whole(form, "hour_to", "an hour 0-24")
    if (start is None) != (end is None):
        raise EditError(N_("hours: give both the first hour and the hour it ends, or neither "
                           "(all day)"))
    if start is not None:
        out["hours"] = [start, end]
    days = _whole(form, "expire_after_days", "days")
    if days is not None:
        out["expire_after_days"] = days
    return out


def parse_index(text: str) -> int:
    bare = to_ascii_digits(text).strip()
    if not is_digits(bare) or len(bare) > 6:
        raise EditError(N_("index: must be a campaign's number, got {typed}"), typed=text[:20])
    return int(bare)
