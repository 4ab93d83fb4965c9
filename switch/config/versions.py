"""Which keys of the file are programs, their canonical form, and what a reload may change
(docs/programs.md, "Changing programs while the switch runs").

Programs are the loyalty rules: a coalition's tiers, campaigns, daily cap, default earn rule,
receipt language, points' expiry, coupon rules, gift-card expiry policy, till discounts and
memberships; a store's earn rule, campaigns, stamps, birthday bonus and window, language and
till discounts. They change while the switch runs (`lps programs reload`, SIGHUP). Everything
else (listeners, the database, the HSM, the business day, stores and terminals coming or
going, a store's coalition, account or stored value, point values, card and gift-card BINs,
operators and fees, messaging) is read at start only, and a reload that changes any of it is
refused with the first such key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["COALITION_PROGRAMS", "STORE_PROGRAMS", "digest", "document", "outside_programs"]

COALITION_PROGRAMS = frozenset({"tiers", "campaigns", "daily_earn_cap", "earn", "language",
                                "points_expire_after_days", "coupons", "gift_cards",
                                "discounts", "memberships"})
STORE_PROGRAMS = frozenset({"earn", "campaigns", "stamps", "birthday_bonus",
                            "birthday_window_days", "language", "discounts"})
#: Keys inside a program table that are not programs: which cards are gift cards.
_NOT_PROGRAMS = {("coalition", "gift_cards"): frozenset({"bins"})}
_SECTIONS = {"coalition": COALITION_PROGRAMS, "store": STORE_PROGRAMS}


def _split(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the program keys by section and ID, everything else) of a parsed TOML document."""
    programs: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for top, value in raw.items():
        keys = _SECTIONS.get(top)
        if keys is None or not isinstance(value, Mapping):
            rest[top] = value
            continue
        programs[top], rest[top] = {}, {}
        for ident, table in value.items():
            if not isinstance(table, Mapping):
                rest[top][ident] = table
                continue
            mine: dict[str, Any] = {}
            other: dict[str, Any] = {}
            for key, v in table.items():
                if key not in keys:
                    other[key] = v
                    continue
                kept = _NOT_PROGRAMS.get((top, key), frozenset())
                if kept and isinstance(v, Mapping):
                    mine[key] = {k: x for k, x in v.items() if k not in kept}
                    other[key] = {k: x for k, x in v.items() if k in kept}
                else:
                    mine[key] = v
            programs[top][ident] = mine
            rest[top][ident] = other
    return programs, rest


def document(raw: Mapping[str, Any]) -> str:
    """The program keys of a parsed file as canonical JSON (sorted keys, dates as ISO text):
    equal programs give equal text, whatever order or layout the file has."""
    programs, _ = _split(raw)
    return json.dumps(programs, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def digest(text: str) -> str:
    """The SHA-256 of a version's canonical form (what tells two versions apart)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def outside_programs(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The first key outside the programs whose value differs between two parsed files (None:
    they differ in programs only), dotted as errors name keys: `store.STORE0000000002.iban`."""
    return _first_difference(_split(old)[1], _split(new)[1], "")


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return where
            found = _first_difference(a[key], b[key], where)
            if found is not None:
                return found
        return None
    if type(a) is not type(b) or a != b:
        return path or "(the whole file)"
    return None
