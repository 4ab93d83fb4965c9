"""`[coalition.X.segments]`, `[coalition.X.triggers.*]` and `[coalition.X.segment_messages.*]`:
what the club's nightly job computes and sends (docs/customers.md, "Segments" and "Triggers").

Read beside the coalition (the core never sees them): a segment definition is RFM thresholds,
a trigger names its message template and, for the bonuses, the points and the store whose
liability they are. A trigger's template must exist in `[messaging.templates]` and name only
fields the trigger fills, so a wording mistake stops `lps` when the file loads, not at night.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switch.config.reader import ConfigError, Reader
from switch.core.catalog import Campaign, Coalition, Store

if TYPE_CHECKING:
    from switch.messaging.settings import MessagingSettings

__all__ = [
    "CLUB_KEYS",
    "SEGMENT_NAME",
    "TRIGGER_FIELDS",
    "ClubSettings",
    "SegmentMessage",
    "SegmentRule",
    "Trigger",
    "club_settings",
    "default_segments",
    "read_clubs",
]

#: The coalition keys this module reads (the coalition's own reader leaves them alone).
CLUB_KEYS = frozenset({"segments", "triggers", "segment_messages"})
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: What a segment's name may be (a campaign names one too: switch/config/programs.py).
SEGMENT_NAME = _NAME
CHANNELS = ("sms", "email", "both")

#: The fields each trigger fills for its template (docs/messaging.md, "Templates"); `store`
#: and `coalition` come from the message's scope.
TRIGGER_FIELDS: Mapping[str, frozenset[str]] = {
    "birthday": frozenset({"name", "date", "bonus"}),
    "welcome": frozenset({"name", "date", "bonus"}),
    "expiring": frozenset({"name", "date", "points", "days", "expiry_date"}),
    "winback": frozenset({"name", "date", "days", "bonus", "credit"}),
    "segment": frozenset({"name", "date", "bonus"}),
    "referral": frozenset({"name", "date", "bonus", "code"}),
    "tier_up": frozenset({"name", "date", "tier"}),
    "tier_down": frozenset({"name", "date", "tier"}),
}
_TRIGGERS = ("birthday", "welcome", "expiring", "winback", "referral", "tier_up", "tier_down")
_NO_BONUS = ("expiring", "tier_up", "tier_down")
_SCOPE = frozenset({"store", "coalition"})
#: The largest win-back gift credit, IRR: one top-up's limit (docs/protocol.md §10).
MAX_GIFT = 999_999_999_999


@dataclass(frozen=True, slots=True)
class SegmentRule:
    """One segment: every threshold given must hold (None: not asked). Recency in days since
    the last purchase; frequency and monetary over the segments' `window_days`."""

    name: str
    joined_within_days: int | None = None
    bought_within_days: int | None = None
    absent_days: int | None = None
    min_purchases: int | None = None
    min_spend: int | None = None


def default_segments() -> tuple[SegmentRule, ...]:
    """The five segments a coalition gets when its table names none (as examples/lps.toml)."""
    return (
        SegmentRule("new", joined_within_days=30),
        SegmentRule("champions", bought_within_days=30, min_purchases=8, min_spend=20_000_000),
        SegmentRule("loyal", bought_within_days=90, min_purchases=4),
        SegmentRule("at_risk", absent_days=60, bought_within_days=180, min_purchases=2),
        SegmentRule("lost", absent_days=180),
    )


@dataclass(frozen=True, slots=True)
class Trigger:
    """One message the nightly job sends (`kind` names which), with its optional bonus."""

    kind: str
    template: str
    channel: str = "sms"
    #: The trigger's number of days: points expiring within, no purchase for.
    days: int = 0
    #: Bonus points, a journaled earn of `store` (0: none).
    bonus: int = 0
    store: str = ""
    #: A referral's bonus to the friend (`bonus` goes to the customer whose code it was).
    friend_bonus: int = 0
    #: Win-back gift credit to the purse, IRR (0: none): a purse lot of `store`, its
    #: liability (docs/customers.md "Gift credit to the purse").
    gift: int = 0


@dataclass(frozen=True, slots=True)
class SegmentMessage:
    """A campaign message to a segment's customers, at most once per `every_days`."""

    name: str
    segment: str
    template: str
    channel: str = "sms"
    every_days: int = 30
    bonus: int = 0
    store: str = ""


@dataclass(frozen=True, slots=True)
class ClubSettings:
    """One coalition's segments (first match names a customer's), triggers and campaigns."""

    window_days: int = 365
    segments: tuple[SegmentRule, ...] = field(default_factory=default_segments)
    triggers: Mapping[str, Trigger] = field(default_factory=dict)
    segment_messages: tuple[SegmentMessage, ...] = ()
    #: Per store, by trigger: what a customer whose home store it is gets instead of the
    #: coalition's (None: off there). docs/customers.md "Per store".
    store_triggers: Mapping[str, Mapping[str, Trigger | None]] = field(default_factory=dict)

    def segment_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)

    def trigger(self, kind: str, home: str | None = None) -> Trigger | None:
        """The trigger `kind` for a customer whose home store is `home` (None: the
        coalition's), or None when it is off for them."""
        if home is not None:
            mine = self.store_triggers.get(kind)
            if mine is not None and home in mine:
                return mine[home]
        return self.triggers.get(kind)


def _optional(r: Reader, name: str, minimum: int = 0) -> int | None:
    return None if name not in r.table else r.integer(name, minimum=minimum)


def _optional_days(r: Reader, name: str) -> int | None:
    return None if name not in r.table else r.days(name, minimum=1)


def _segments(r: Reader) -> tuple[int, tuple[SegmentRule, ...]]:
    window = r.days("window_days", 365, minimum=1)
    rules: list[SegmentRule] = []
    for name, table in r.table.items():
        if name == "window_days":
            continue
        r.used.add(name)
        if not _NAME.fullmatch(name):
            raise r.fail(name, "a segment's name is a-z, 0-9 and _ (at most 32), first a letter")
        if not isinstance(table, dict):
            raise r.fail(name, "must be a table of thresholds")
        sr = r.child(name, table)
        rule = SegmentRule(
            name, joined_within_days=_optional_days(sr, "joined_within_days"),
            bought_within_days=_optional_days(sr, "bought_within_days"),
            absent_days=_optional_days(sr, "absent_days"),
            min_purchases=_optional(sr, "min_purchases"), min_spend=_optional(sr, "min_spend"))
        sr.done()
        if rule == SegmentRule(name):
            raise r.fail(name, "names no threshold (joined_within_days, bought_within_days, "
                         "absent_days, min_purchases, min_spend)")
        rules.append(rule)
    r.done()
    return window, (tuple(rules) if rules else default_segments())


def _template(r: Reader, kind: str, default: str, messaging: MessagingSettings | None) -> str:
    name = r.string("template", default)
    templates = messaging.templates if messaging is not None else {}
    ts = templates.get(name)
    if ts is None:
        raise r.fail("template", f"no [messaging.templates.{name}] for this {kind} message")
    extra = sorted(ts.fields() - TRIGGER_FIELDS[kind] - _SCOPE)
    if extra:
        raise r.fail("template", f"template {name!r} names {', '.join(extra)}, which a {kind} "
                     f"message does not fill; it fills: "
                     f"{', '.join(sorted(TRIGGER_FIELDS[kind] | _SCOPE))}")
    return name


def _bonus(r: Reader, cid: str, stores: Mapping[str, Store]) -> tuple[int, str]:
    bonus = r.integer("bonus", 0)
    store = r.string("store", "", nonempty=False)
    if bonus and not store:
        raise r.fail("store", "a bonus needs the store whose points it is (a store of the "
                     "coalition)")
    if store and (store not in stores or stores[store].coalition != cid):
        raise r.fail("store", f"{store!r} is not a store of coalition {cid}")
    return bonus, store


def _trigger(r: Reader, kind: str, cid: str, stores: Mapping[str, Store],
             messaging: MessagingSettings | None) -> Trigger | None:
    if not r.boolean("enabled", True):
        r.used.update(r.table)
        return None
    days = 0
    if kind == "expiring":
        days = r.days("days", 14, minimum=1)
    elif kind == "winback":
        days = r.days("days", 60, minimum=1)
    elif kind == "welcome":
        days = r.days("days", 7, minimum=1)  # enrolled this many days ago at most
    bonus, store = (0, "") if kind in _NO_BONUS else _bonus(r, cid, stores)
    friend = r.integer("friend_bonus", bonus) if kind == "referral" else 0
    if friend and not store:
        raise r.fail("store", "a bonus needs the store whose points it is (a store of the "
                     "coalition)")
    gift = r.integer("gift", 0) if kind == "winback" else 0
    if gift > MAX_GIFT:
        raise r.fail("gift", f"must be at most {MAX_GIFT:,} rials, got {gift:,}")
    if gift and not store:
        raise r.fail("store", "gift credit needs the store whose purse credit it is (a store "
                     "of the coalition)")
    template = _template(r, kind, kind, messaging)
    if gift and messaging is not None and "credit" not in messaging.templates[template].fields():
        raise r.fail("template", f"template {template!r} does not name {{credit}}: a message "
                     "that comes with gift credit says how much")
    trigger = Trigger(kind, template, r.choice("channel", CHANNELS), days, bonus, store, friend,
                      gift)
    r.done()
    return trigger


def club_settings(r: Reader, cid: str, stores: Mapping[str, Store],
                  messaging: MessagingSettings | None) -> ClubSettings:
    """A coalition's club settings from its table (`r`, the coalition's reader)."""
    window, segments = 365, default_segments()
    sr = r.section("segments")
    if sr is not None:
        window, segments = _segments(sr)
    names = {s.name for s in segments}
    triggers: dict[str, Trigger] = {}
    by_store: dict[str, dict[str, Trigger | None]] = {}
    tt = r.table_of("triggers") or {}
    tr = r.child("triggers", tt)
    for kind in _TRIGGERS:
        table = tr.table_of(kind)
        if table is None:
            continue
        one = tr.child(kind, {k: v for k, v in table.items() if k != "stores"})
        found = _trigger(one, kind, cid, stores, messaging)
        if found is not None:
            triggers[kind] = found
        if "stores" in table:
            by_store[kind] = _store_triggers(tr.child(kind, table), kind, cid, stores,
                                             messaging)
    tr.done()
    campaigns: list[SegmentMessage] = []
    mt = r.table_of("segment_messages") or {}
    mr = r.child("segment_messages", mt)
    for name, table in mt.items():
        mr.used.add(name)
        if not _NAME.fullmatch(name) or not isinstance(table, dict):
            raise mr.fail(name, "a table named with a-z, 0-9 and _")
        one = mr.child(name, table)
        segment = one.string("segment")
        if segment not in names:
            raise one.fail("segment", f"no segment {segment!r}; the segments are: "
                           f"{', '.join(sorted(names))}")
        bonus, store = _bonus(one, cid, stores)
        campaigns.append(SegmentMessage(
            name, segment, _template(one, "segment", name, messaging),
            one.choice("channel", CHANNELS), one.days("every_days", 30, minimum=1),
            bonus, store))
        one.done()
    mr.done()
    return ClubSettings(window, segments, triggers, tuple(campaigns), by_store)


def _store_triggers(r: Reader, kind: str, cid: str, stores: Mapping[str, Store],
                    messaging: MessagingSettings | None) -> dict[str, Trigger | None]:
    """`[coalition.C.triggers.KIND.stores.S]`: the trigger for the customers whose home store
    is S, each key the store's or else the coalition's (`enabled`, the wording, the days, the
    bonus and its store)."""
    if kind == "referral":
        raise r.fail("stores", "a referral joins two customers: it is the coalition's only")
    table = r.table_of("stores") or {}
    sr = r.child("stores", table)
    base = {k: v for k, v in r.table.items() if k != "stores"}
    out: dict[str, Trigger | None] = {}
    for sid, own in table.items():
        sr.used.add(sid)
        if sid not in stores or stores[sid].coalition != cid:
            raise sr.fail(sid, f"{sid!r} is not a store of coalition {cid}")
        if not isinstance(own, dict):
            raise sr.fail(sid, "must be a table of the trigger's keys")
        for key in own:
            if key == "stores" or (key == "days" and kind == "expiring"):
                why = "unknown key" if key == "stores" else \
                    "the window of expiring points is the coalition's"
                raise sr.child(sid, own).fail(key, why)
        out[sid] = _trigger(sr.child(sid, {**base, **own}), kind, cid, stores, messaging)
    return out


def read_clubs(file: str, raw: Mapping[str, Any], coalitions: Mapping[str, Coalition],
               stores: Mapping[str, Store], messaging: MessagingSettings | None
               ) -> dict[str, ClubSettings]:
    """Every coalition's club settings (defaults for a coalition without the tables)."""
    out: dict[str, ClubSettings] = {}
    for cid in coalitions:
        table = raw.get(cid) or {}
        club = {k: v for k, v in table.items() if k in CLUB_KEYS}
        r = Reader(file, f"coalition.{cid}", club)
        out[cid] = club_settings(r, cid, stores, messaging)
        if set(club) - r.used:
            raise ConfigError(file, f"coalition.{cid}", "unread club keys")
    check_campaign_segments(file, coalitions, stores, out)
    return out


def check_campaign_segments(file: str, coalitions: Mapping[str, Coalition],
                            stores: Mapping[str, Store], clubs: Mapping[str, ClubSettings]
                            ) -> None:
    """Each campaign's `segment` is one its coalition defines (docs/programs.md "Campaigns
    for a segment"): a misspelt one would silently reach nobody."""
    owners: list[tuple[str, str, tuple[Campaign, ...]]] = [
        (f"coalition.{cid}", cid, c.campaigns) for cid, c in coalitions.items()]
    owners += [(f"store.{sid}", s.coalition, s.campaigns) for sid, s in stores.items()]
    for where, cid, campaigns in owners:
        names = clubs[cid].segment_names()
        for i, campaign in enumerate(campaigns):
            if campaign.segment and campaign.segment not in names:
                raise ConfigError(file, f"{where}.campaigns[{i}].segment",
                                  f"no segment {campaign.segment!r} in coalition {cid}; its "
                                  f"segments are: {', '.join(names)}")
