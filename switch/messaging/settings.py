"""The `[messaging]` section of the switch's TOML, read into frozen settings.

Parsed by `switch.config.parse_config` (through `parse_messaging`), so a wrong key, a template
naming an unknown field or an override for a store that does not exist stops the
configuration from loading, with the file, the dotted key and the reason (docs/messaging.md
§Configuration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from email.errors import MessageError
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from switch.config.reader import ConfigError, Reader
from switch.core.catalog import HostPort
from switch.core.text import is_digits
from switch.messaging.templates import Template, TemplateError, fields_of

__all__ = [
    "EmailSettings",
    "MessagingSettings",
    "QuietHours",
    "RetryPolicy",
    "SmsSettings",
    "TemplateSet",
    "parse_messaging",
]

Kind = Literal["transactional", "promotional"]
KINDS: tuple[Kind, ...] = ("transactional", "promotional")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: first, 2×first, 4×first ... at most `max_seconds`; then dead."""

    max_attempts: int = 6
    first_seconds: float = 30.0
    max_seconds: float = 3600.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones (attempts >= 1)."""
        return float(min(self.max_seconds, self.first_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours [start, end) in which promotional SMS wait (the window may span midnight)."""

    start: dt.time = dt.time(21, 0)
    end: dt.time = dt.time(8, 0)
    timezone: str = "Asia/Tehran"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _quiet_local(self, local: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def is_quiet(self, now: dt.datetime) -> bool:
        return self._quiet_local(now.astimezone(self.zone).time().replace(tzinfo=None))

    def ends_after(self, now: dt.datetime) -> dt.datetime:
        """The first instant after `now` that is outside the window (now itself if it is)."""
        if not self.is_quiet(now):
            return now
        local = now.astimezone(self.zone)
        end = dt.datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = dt.datetime.combine(local.date() + dt.timedelta(days=1), self.end,
                                      tzinfo=self.zone)
        return end.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    smpp: HostPort
    system_id: str
    password: str = field(repr=False)
    source_addr: str
    source_ton: int
    source_npi: int
    system_type: str = ""
    window: int = 10
    rate: float = 20.0
    max_parts: int = 6
    timeout: float = 10.0
    enquire_link: float = 30.0
    registered_delivery: bool = True


@dataclass(frozen=True, slots=True)
class EmailSettings:
    smtp: HostPort
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    rate: float = 5.0
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class TemplateSet:
    """One message's wordings: the default and its per-coalition and per-store overrides."""

    name: str
    kind: Kind
    default: Template
    coalitions: Mapping[str, Template] = field(default_factory=dict)
    stores: Mapping[str, Template] = field(default_factory=dict)

    def resolve(self, coalition: str | None, store: str | None) -> Template:
        """The store's wording over the coalition's over the default, part by part."""
        chosen = self.default
        for layer in (self.coalitions.get(coalition or ""), self.stores.get(store or "")):
            if layer is not None:
                chosen = replace(
                    chosen,
                    sms=layer.sms if layer.sms is not None else chosen.sms,
                    email_subject=(layer.email_subject if layer.email_subject is not None
                                   else chosen.email_subject),
                    email_body=(layer.email_body if layer.email_body is not None
                                else chosen.email_body),
                    money=layer.money,
                )
        return chosen

    def fields(self) -> frozenset[str]:
        out = set(self.default.fields())
        for t in (*self.coalitions.values(), *self.stores.values()):
            out |= t.fields()
        return frozenset(out)


@dataclass(frozen=True, slots=True)
class MessagingSettings:
    sms: SmsSettings | None = None
    email: EmailSettings | None = None
    templates: Mapping[str, TemplateSet] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    batch: int = 200
    poll_seconds: float = 5.0


# -- reading ------------------------------------------------------------------------------------


def _time(r: Reader, name: str, default: str) -> dt.time:
    text = r.string(name, default)
    try:
        value = dt.time.fromisoformat(text)
    except ValueError:
        raise r.fail(name, f"must be a time HH:MM, got {text!r}") from None
    if value.tzinfo is not None:
        raise r.fail(name, "must be a local time without a zone (set timezone)")
    return value


def _ascii(r: Reader, name: str, value: str, longest: int) -> str:
    if not (value.isascii() and value.isprintable()) or len(value) > longest:
        raise r.fail(name, f"must be at most {longest} printable ASCII characters (SMPP 3.4 "
                           f"C-Octet String)")
    return value


def _sms(r: Reader) -> SmsSettings:
    source = _ascii(r, "source_addr", r.string("source_addr"), 20)
    alphanumeric = not is_digits(source)
    settings = SmsSettings(
        smpp=r.host_port("smpp"),
        system_id=_ascii(r, "system_id", r.string("system_id"), 15),
        password=_ascii(r, "password", r.string("password", "", nonempty=False), 8),
        system_type=_ascii(r, "system_type", r.string("system_type", "", nonempty=False), 12),
        source_addr=source,
        # SMPP 3.4 §5.2.5/§5.2.6: an alphanumeric sender is TON 5 NPI 0, digits default to
        # TON 0 (unknown) NPI 1 (ISDN); an SMSC that wants otherwise sets them.
        source_ton=r.integer("source_ton", 5 if alphanumeric else 0),
        source_npi=r.integer("source_npi", 0 if alphanumeric else 1),
        window=r.integer("window", 10, minimum=1),
        rate=r.number("rate", 20.0, minimum=0.01),
        max_parts=r.integer("max_parts", 6, minimum=1),
        timeout=r.number("timeout", 10.0, minimum=0.1),
        enquire_link=r.number("enquire_link", 30.0, minimum=1.0),
        registered_delivery=r.boolean("registered_delivery", True),
    )
    if settings.max_parts > 255:
        raise r.fail("max_parts", "a concatenated SMS has at most 255 parts (UDH)")
    if settings.source_ton > 6 or settings.source_npi > 18:
        raise r.fail("source_ton", "TON is 0-6 and NPI 0-18 (SMPP 3.4 §5.2.5, §5.2.6)")
    r.done()
    return settings


def _email(r: Reader) -> EmailSettings:
    sender = r.string("from")
    display, address = parseaddr(sender)
    try:
        Address(display_name=display, addr_spec=address)
    except (ValueError, IndexError, MessageError):
        raise r.fail("from", f"must be an address such as 'Club <club@example.ir>', got "
                             f"{sender!r}") from None
    if "@" not in address:
        raise r.fail("from", f"must be an address such as 'Club <club@example.ir>', got "
                             f"{sender!r}")
    username = r.string("username", "", nonempty=False) or None
    password = r.string("password", "", nonempty=False) or None
    if (username is None) != (password is None):
        raise r.fail("password" if username else "username",
                     "username and password go together (or neither)")
    cafile = r.string("cafile", "", nonempty=False)
    settings = EmailSettings(
        smtp=r.host_port("smtp"),
        sender=sender,
        username=username,
        password=password,
        cafile=Path(cafile) if cafile else None,
        rate=r.number("rate", 5.0, minimum=0.01),
        timeout=r.number("timeout", 30.0, minimum=0.1),
    )
    r.done()
    return settings


def _wording(r: Reader, money_default: str) -> Template:
    texts: dict[str, str | None] = {}
    for key in ("sms", "email_subject", "email_body"):
        text = r.string(key, "", nonempty=False) or None
        if text is not None:
            try:
                fields_of(text)
            except TemplateError as exc:
                raise r.fail(key, str(exc)) from None
            if key == "email_subject" and ("\n" in text or "\r" in text):
                raise r.fail(key, "an email subject is one line")
        texts[key] = text
    money = r.string("money", money_default)
    if money not in ("rial", "toman"):
        raise r.fail("money", f"must be 'rial' or 'toman', got {money!r}")
    return Template(sms=texts["sms"], email_subject=texts["email_subject"],
                    email_body=texts["email_body"],
                    money="toman" if money == "toman" else "rial")


def _template_set(r: Reader, name: str, money: str, coalitions: Mapping[str, Any],
                  stores: Mapping[str, Any]) -> TemplateSet:
    if not (name.isascii() and name.replace("_", "").replace("-", "").isalnum()):
        raise ConfigError(r.file, r.prefix, "a template name is ASCII letters, digits, _ and -")
    kind = r.string("kind", "transactional")
    if kind not in KINDS:
        raise r.fail("kind", f"must be transactional or promotional, got {kind!r}")
    overrides: dict[str, dict[str, Template]] = {"coalition": {}, "store": {}}
    for scope, known in (("coalition", coalitions), ("store", stores)):
        table = r.table_of(scope) or {}
        sr = r.child(scope, table)
        for key, value in table.items():
            sr.used.add(key)
            if key not in known:
                raise sr.fail(key, f"names no [{scope}.{key}] table")
            if not isinstance(value, dict):
                raise sr.fail(key, "must be a table")
            wr = sr.child(key, value)
            overrides[scope][key] = _wording(wr, money)
            wr.done()
        sr.done()
    default = _wording(r, money)
    r.done()
    ts = TemplateSet(name=name, kind="promotional" if kind == "promotional" else "transactional",
                     default=default, coalitions=overrides["coalition"],
                     stores=overrides["store"])
    every = [default, *ts.coalitions.values(), *ts.stores.values()]
    if not any(t.sms or t.email_body for t in every):
        raise r.fail("sms", "a template needs an sms text or an email_body")
    return ts


def parse_messaging(r: Reader, coalitions: Mapping[str, Any],
                    stores: Mapping[str, Any]) -> MessagingSettings:
    """`[messaging]` as `MessagingSettings`; `ConfigError` naming the key otherwise."""
    money = r.string("money", "rial")
    if money not in ("rial", "toman"):
        raise r.fail("money", f"must be 'rial' or 'toman', got {money!r}")
    retry = RetryPolicy(
        max_attempts=r.integer("max_attempts", 6, minimum=1),
        first_seconds=r.number("retry_first_seconds", 30.0, minimum=0.0),
        max_seconds=r.number("retry_max_seconds", 3600.0, minimum=0.0),
    )
    quiet = QuietHours()
    qr = r.section("quiet_hours")
    if qr is not None:
        tz = qr.time_zone("timezone", "Asia/Tehran")
        quiet = QuietHours(start=_time(qr, "from", "21:00"), end=_time(qr, "to", "08:00"),
                           timezone=tz)
        qr.done()
    sms = r.section("sms")
    email = r.section("email")
    templates: dict[str, TemplateSet] = {}
    tt = r.table_of("templates") or {}
    tr = r.child("templates", tt)
    for name, table in tt.items():
        tr.used.add(name)
        if not isinstance(table, dict):
            raise tr.fail(name, "must be a table")
        templates[name] = _template_set(tr.child(name, table), name, money, coalitions, stores)
    tr.done()
    settings = MessagingSettings(
        sms=_sms(sms) if sms is not None else None,
        email=_email(email) if email is not None else None,
        templates=templates,
        retry=retry,
        quiet_hours=quiet,
        batch=r.integer("batch", 200, minimum=1),
        poll_seconds=r.number("poll_seconds", 5.0, minimum=0.05),
    )
    r.done()
    return settings
