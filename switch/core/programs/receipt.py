"""Receipt text (DE48 `MS`): at most 120 UTF-8 bytes, in the store's language.

Parts are added by importance (earned/redeemed, balance, tier, stamps, expiring points) and a
part that does not fit whole is left out, so the text is never cut inside a word or a character.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_BYTES = 120
SEP = " | "


@dataclass(slots=True)
class ReceiptFacts:
    """What a receipt line says; read once per reply (a slots dataclass:
    `switch.core.request.Request` says why)."""

    earned: int | None = None
    redeemed: int | None = None
    balance: int | None = None
    tier: str = ""
    stamps: int | None = None
    stamps_needed: int = 0
    rewards: int = 0
    expiring: int = 0
    expiring_on: dt.date | None = None
    stored_value: int | None = None
    reward: str = ""


_TEXT = {
    "en": {
        "earned": "Earned {} pts", "redeemed": "Redeemed {} pts", "balance": "Balance {}",
        "tier": "Tier {}", "stamps": "Stamps {}/{}", "rewards": "{} free reward(s)",
        "expiring": "{} pts expire {}", "sv": "Purse {}", "reward": "Enjoy your {}",
    },
    "fa": {
        "earned": "امتیاز این خرید {}", "redeemed": "امتیاز کسرشده {}", "balance": "مانده {}",
        "tier": "سطح {}", "stamps": "مهر {}/{}", "rewards": "{} جایزه رایگان",
        "expiring": "{} امتیاز تا {} منقضی", "sv": "اعتبار {}", "reward": "جایزه: {}",
    },
}


def receipt_text(language: str, facts: ReceiptFacts) -> str:
    t = _TEXT.get(language, _TEXT["en"])
    parts: list[str] = []
    if facts.reward:
        parts.append(t["reward"].format(facts.reward))
    if facts.earned is not None:
        parts.append(t["earned"].format(facts.earned))
    if facts.redeemed is not None:
        parts.append(t["redeemed"].format(facts.redeemed))
    if facts.balance is not None:
        parts.append(t["balance"].format(facts.balance))
    if facts.rewards > 0:
        parts.append(t["rewards"].format(facts.rewards))
    if facts.stamps is not None and facts.stamps_needed:
        parts.append(t["stamps"].format(max(facts.stamps, 0), facts.stamps_needed))
    if facts.tier:
        parts.append(t["tier"].format(facts.tier))
    if facts.expiring > 0 and facts.expiring_on is not None:
        parts.append(t["expiring"].format(facts.expiring, facts.expiring_on.isoformat()))
    if facts.stored_value is not None:
        parts.append(t["sv"].format(facts.stored_value))
    return fit(parts)


def fit(parts: list[str], limit: int = MAX_BYTES) -> str:
    """Join the parts that fit in `limit` bytes, in order, skipping those that do not."""
    whole = SEP.join(parts)
    if len(whole.encode("utf-8")) <= limit and "" not in parts:
        return whole  # every part fits (most receipts): the loop below would keep them all
    out = ""
    for part in parts:
        candidate = out + SEP + part if out else part
        if len(candidate.encode("utf-8")) <= limit:
            out = candidate
    return out
