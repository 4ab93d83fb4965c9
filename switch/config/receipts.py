"""`[store.<id>.receipts]`: which stores send a receipt SMS per transaction, and its wording
(docs/messaging.md, "Receipts").

A store turns receipts on with `sms = true`. Each operation has its template in
`[messaging.templates]` (`receipt_earn`, `receipt_redeem`, ...); one the file does not define
gets the Persian wording below, and the usual coalition and store overrides word it per
coalition or store. A receipt template naming a field a receipt does not fill, or one marked
promotional, stops `lps` when the file loads, as does a store with receipts on and no
`[messaging.sms]` to send them through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from switch.config.reader import ConfigError, Reader
from switch.core.catalog import Store, SwitchSettings
from switch.core.codes import Kind

if TYPE_CHECKING:
    from switch.messaging.settings import MessagingSettings

__all__ = ["RECEIPT_FIELDS", "RECEIPT_TEMPLATES", "RECEIPT_WORDING", "read_receipts"]

#: The template of each entry kind that gets a receipt when approved: earns (online and
#: offline), redemptions, returns, stored value sold and spent, discounts at the till.
RECEIPT_TEMPLATES: Mapping[str, str] = {
    Kind.EARN: "receipt_earn",
    Kind.ADVICE: "receipt_earn",
    Kind.REDEEM: "receipt_redeem",
    Kind.RETURN: "receipt_return",
    Kind.TOPUP: "receipt_topup",
    Kind.SV_PURCHASE: "receipt_purchase",
    Kind.DISCOUNT: "receipt_discount",
}

#: What every receipt fills (docs/messaging.md, "Receipts"): `store` and `coalition` come from
#: the message's scope.
RECEIPT_FIELDS = frozenset({"name", "points", "balance", "amount", "credit", "date", "time",
                            "store", "coalition"})

_WHEN = "{date} ساعت {time}"
#: The wording of a receipt template the file does not define.
RECEIPT_WORDING: Mapping[str, str] = {
    "receipt_earn": "{name} عزیز، خرید {amount} در {store}: {points} امتیاز گرفتید. "
                    "امتیاز شما: {balance}. " + _WHEN,
    "receipt_redeem": "{name} عزیز، {points} امتیاز برای {amount} در {store} خرج شد. "
                      "امتیاز شما: {balance}. " + _WHEN,
    "receipt_return": "{name} عزیز، مرجوعی {amount} در {store}: {points} امتیاز کم شد. "
                      "امتیاز شما: {balance}. " + _WHEN,
    "receipt_topup": "{name} عزیز، کیف پول شما در {store} با {amount} شارژ شد. "
                     "موجودی: {credit}. " + _WHEN,
    "receipt_purchase": "{name} عزیز، خرید {amount} در {store} از کیف پول. "
                        "موجودی: {credit}. " + _WHEN,
    "receipt_discount": "{name} عزیز، خرید {amount} در {store} با تخفیف باشگاه؛ "
                        "{points} امتیاز خرج شد. امتیاز شما: {balance}. " + _WHEN,
}

#: The key of a store's table this module reads (the store's own reader leaves it alone).
RECEIPTS_KEY = "receipts"


def read_receipts(file: str, store_tables: Mapping[str, Any], stores: Mapping[str, Store],
                  switch: SwitchSettings, messaging: MessagingSettings | None
                  ) -> tuple[frozenset[str], MessagingSettings | None]:
    """The stores that send receipts, and `messaging` with every receipt template (those the
    file lacks in their default wording); `ConfigError` naming the key otherwise."""
    on: set[str] = set()
    first = ""
    for sid, table in store_tables.items():
        value = table.get(RECEIPTS_KEY) if isinstance(table, dict) else None
        if value is None:
            continue
        prefix = f"store.{sid}"
        if not isinstance(value, dict):
            raise ConfigError(file, f"{prefix}.{RECEIPTS_KEY}", "must be a table")
        r = Reader(file, f"{prefix}.{RECEIPTS_KEY}", value)
        if r.boolean("sms", False):
            on.add(sid)
            first = first or r.key("sms")
        r.done()
    if not on:
        return frozenset(), messaging
    if switch.shared:
        raise ConfigError(file, first, 'receipts are written by a single node; [switch] nodes '
                                       '= "shared" does not send them')
    if messaging is None or messaging.sms is None:
        raise ConfigError(file, first, "receipts need [messaging.sms], the SMSC they go "
                                       "through (docs/messaging.md)")
    templates = _with_receipts(file, messaging, {sid: stores[sid].coalition for sid in on})
    return frozenset(on), replace(messaging, templates=templates)


def _with_receipts(file: str, messaging: MessagingSettings,
                   on: Mapping[str, str]) -> dict[str, Any]:
    from switch.messaging.settings import TemplateSet
    from switch.messaging.templates import Template

    templates = dict(messaging.templates)
    for name in dict.fromkeys(RECEIPT_TEMPLATES.values()):
        ts = templates.get(name)
        key = f"messaging.templates.{name}"
        if ts is None:
            templates[name] = TemplateSet(name, "transactional",
                                          Template(sms=RECEIPT_WORDING[name]))
            continue
        if ts.kind != "transactional":
            raise ConfigError(file, f"{key}.kind", "a receipt is transactional (it goes in "
                                                   "the quiet hours, to opted-out customers)")
        extra = sorted(ts.fields() - RECEIPT_FIELDS)
        if extra:
            raise ConfigError(file, key, f"names {', '.join(extra)}, which a receipt does not "
                                         f"fill; a receipt fills "
                                         f"{', '.join(sorted(RECEIPT_FIELDS))}")
        for sid, coalition in sorted(on.items()):
            if ts.resolve(coalition, sid).sms is None:
                raise ConfigError(file, f"{key}.sms", f"store {sid} sends receipts by SMS: "
                                                      "its wording needs an sms text")
    return templates
