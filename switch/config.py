"""The switch's TOML configuration, read once into typed, frozen objects.

Every error names the file, the dotted key and what is wrong, so an operator can fix a typo
without reading code. Unknown keys are refused for the same reason (a misspelt `min_amout`
would otherwise silently earn points below the minimum). Other packages (settlement, agent,
programs) import `load_config` and the dataclasses here rather than re-reading the TOML.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from switch.messaging.settings import MessagingSettings

__all__ = [
    "Campaign",
    "Coalition",
    "Config",
    "ConfigError",
    "EarnRule",
    "FeeSchedule",
    "HostPort",
    "Limits",
    "Operator",
    "Stamps",
    "Store",
    "StoredValue",
    "SwitchSettings",
    "Terminal",
    "Tier",
    "TlsFiles",
    "load_config",
    "parse_config",
    "parse_iban",
]


class ConfigError(ValueError):
    """A configuration that cannot be used: `file: key: reason`."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f"{file}: {key}: {reason}" if key else f"{file}: {reason}")


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Limits:
    """Server limits; all optional in the TOML (`[switch.limits]`)."""

    max_frame: int = 4096
    idle_timeout: float = 300.0
    max_connections: int = 5000
    max_inflight_per_connection: int = 64
    max_inflight: int = 20000
    max_batch: int = 4096


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A listener's TLS certificate chain and private key (PEM), `[switch.tls.<listener>]`."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class SwitchSettings:
    listen_ascii: HostPort | None
    listen_bcd: HostPort | None
    metrics: HostPort | None
    database: Path
    hsm: str
    require_mac: bool
    business_day_cutover: dt.time
    timezone: str
    idempotency_days: int = 7
    return_window_days: int = 365
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)
    #: The in-process HSM's LMK file (default: `lmk.json` beside the database).
    lmk: Path | None = None
    #: TLS per terminal listener (`ascii`, `bcd`); a listener without an entry is plain TCP.
    tls: Mapping[str, TlsFiles] = field(default_factory=dict)

    @property
    def lmk_path(self) -> Path:
        return self.lmk if self.lmk is not None else self.database.with_name("lmk.json")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_spend_12m: int
    earn_multiplier: float

    @property
    def multiplier_milli(self) -> int:
        """The multiplier in thousandths (validated exact), so points are integer arithmetic."""
        return round(self.earn_multiplier * 1000)


@dataclass(frozen=True, slots=True)
class Coalition:
    id: str
    name: str
    point_value: int
    currency: str
    points_expire_after_days: int
    card_bins: tuple[str, ...]
    auto_enroll: bool
    tiers: tuple[Tier, ...] = ()
    #: Programs (docs/programs.md): per-card daily cap on earned points (0: none), campaigns of
    #: every store, the default earn rule of stores without one, the receipt language.
    daily_earn_cap: int = 0
    campaigns: tuple[Campaign, ...] = ()
    earn: EarnRule | None = None
    language: str = "fa"
    #: The coalition operator and its account (`[coalition.X.operator]`), None without one.
    operator: Operator | None = None
    #: The operator's fee (`[coalition.X.fee]`, docs/settlement.md "The coalition's fee").
    fee: FeeSchedule | None = None
    #: How the console shows this coalition's amounts: "rial" or "toman" (ten rials). Display
    #: only: every amount stays an integer of rials (docs/console.md "Languages, dates, money").
    display_currency: str = "rial"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who runs the coalition: the fee's payee and the settlement account of the bank batch."""

    name: str
    #: SHEBA, stored compact: `IR` and 24 ASCII digits.
    iban: str
    #: "net": stores pay or are paid their net through this account; "gross": one transfer per
    #: obligation (docs/settlement.md "The bank transfer batch").
    bank_batch: str = "net"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The operator's fee in integer rials and basis points (docs/settlement.md)."""

    #: Rials per point redeemed at the store (net of reversals).
    per_redeemed_point: int = 0
    #: Rials per point the store issued (earned, less returns and reversals).
    per_issued_point: int = 0
    #: Basis points (1/10,000) of the store's gross payable obligations, rounded down.
    gross_basis_points: int = 0
    #: Rials per store per month, charged on the month's last business day.
    monthly_per_store: int = 0
    #: The calendar whose months the monthly fee and the invoices follow: jalali or gregorian.
    calendar: str = "jalali"


@dataclass(frozen=True, slots=True)
class EarnRule:
    points_per: int
    points: int
    min_amount: int = 0


@dataclass(frozen=True, slots=True)
class Stamps:
    needed: int
    reward: str


@dataclass(frozen=True, slots=True)
class Campaign:
    name: str
    start: dt.date
    end: dt.date
    multiplier: float = 1.0
    bonus: int = 0
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, int] | None = None
    #: Its bonus points go to a lot of their own expiring this many days after the earn.
    expire_after_days: int | None = None

    @property
    def multiplier_milli(self) -> int:
        return round(self.multiplier * 1000)


@dataclass(frozen=True, slots=True)
class StoredValue:
    topup_bonus_percent: int
    coalition_wide: bool


@dataclass(frozen=True, slots=True)
class Store:
    id: str
    name: str
    coalition: str
    earn: EarnRule
    stamps: Stamps | None = None
    birthday_bonus: int = 0
    campaigns: tuple[Campaign, ...] = ()
    stored_value: StoredValue | None = None
    birthday_window_days: int = 7
    language: str = "fa"
    #: The store's account for the bank batch (SHEBA, compact), None when not configured.
    iban: str | None = None


@dataclass(frozen=True, slots=True)
class Terminal:
    id: str
    store: str


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    switch: SwitchSettings
    coalitions: Mapping[str, Coalition]
    stores: Mapping[str, Store]
    terminals: Mapping[str, Terminal]
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)
    #: `[messaging]` (docs/messaging.md); None when the section is absent.
    messaging: MessagingSettings | None = None

    def coalition_of_store(self, store_id: str) -> Coalition:
        return self.coalitions[self.stores[store_id].coalition]


# -- reading ------------------------------------------------------------------------------------


class _Reader:
    """Typed accessors over one TOML table that raise `ConfigError` naming the key."""

    def __init__(self, file: str, prefix: str, table: Mapping[str, Any]) -> None:
        self.file = file
        self.prefix = prefix
        self.table = table
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), reason)

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.table:
            if required:
                raise self.fail(name, "is missing")
            return None
        return self.table[name]

    def string(self, name: str, default: str | None = None, *, nonempty: bool = True) -> str:
        value = self._get(name, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {type(value).__name__} {value!r}")
        if nonempty and not value.strip():
            raise self.fail(name, "must not be empty")
        return value

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self._get(name, default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be an integer, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float | None = None, *, minimum: float = 0.0) -> float:
        value = self._get(name, default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"must be a number, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {value}")
        return float(value)

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self._get(name, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value

    def table_of(self, name: str, required: bool = False) -> Mapping[str, Any] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table, got {type(value).__name__}")
        return value

    def list_of(self, name: str) -> list[Any]:
        value = self._get(name, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(name, f"must be an array, got {type(value).__name__}")
        return value

    def date(self, name: str) -> dt.date:
        value = self._get(name, True)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(name, f"must be a date YYYY-MM-DD, got {value!r}")

    def child(self, name: str, table: Mapping[str, Any]) -> _Reader:
        return _Reader(self.file, self.key(name), table)

    def done(self) -> None:
        """Refuse keys nobody asked for: most often a typo."""
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(self.file, self.key(unknown[0]), "unknown key")


LANGUAGES = ("fa", "en")


def _multiplier(r: _Reader, name: str) -> float:
    """A multiplier with at most 3 decimals (points are computed in thousandths, exactly)."""
    value = r.number(name, 1.0)
    if abs(value * 1000 - round(value * 1000)) > 1e-6 or value > 1000:
        raise r.fail(name, f"must have at most 3 decimals and be at most 1000, got {value}")
    return value


def _language(r: _Reader, default: str) -> str:
    lang = r.string("language", default)
    if lang not in LANGUAGES:
        raise r.fail("language", f"must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def _earn_rule(r: _Reader) -> EarnRule:
    rule = EarnRule(
        points_per=r.integer("points_per", minimum=1),
        points=r.integer("points", minimum=0),
        min_amount=r.integer("min_amount", 0),
    )
    r.done()
    return rule


def _host_port(r: _Reader, name: str) -> HostPort | None:
    value = r._get(name, False)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise r.fail(name, f"must be a string HOST:PORT, got {value!r}")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise r.fail(name, f"must be HOST:PORT with a port 0-65535, got {value!r}")
    return HostPort(host.strip("[]"), int(port))


def _tls(r: _Reader) -> dict[str, TlsFiles]:
    """`[switch.tls.ascii]` / `[switch.tls.bcd]`, each with `tls_cert` and `tls_key`."""
    table = r.table_of("tls")
    if table is None:
        return {}
    tr = r.child("tls", table)
    out: dict[str, TlsFiles] = {}
    for name in ("ascii", "bcd"):
        lt = tr.table_of(name)
        if lt is not None:
            lr = tr.child(name, lt)
            out[name] = TlsFiles(Path(lr.string("tls_cert")), Path(lr.string("tls_key")))
            lr.done()
    tr.done()
    return out


def _switch(r: _Reader) -> SwitchSettings:
    cut = r.string("business_day_cutover", "00:00")
    try:
        cutover = dt.time.fromisoformat(cut)
    except ValueError:
        raise r.fail("business_day_cutover", f"must be a time HH:MM, got {cut!r}") from None
    tz = r.string("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("timezone", f"unknown time zone {tz!r}") from None
    hsm = r.string("hsm", "inproc")
    if hsm != "inproc" and not hsm.startswith("tcp://"):
        raise r.fail("hsm", f"must be 'inproc' or 'tcp://HOST:PORT', got {hsm!r}")
    level = r.string("log_level", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise r.fail("log_level", f"must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    limits = Limits()
    lt = r.table_of("limits")
    if lt is not None:
        lr = r.child("limits", lt)
        limits = Limits(
            max_frame=lr.integer("max_frame", 4096, minimum=64),
            idle_timeout=lr.number("idle_timeout", 300.0, minimum=0.1),
            max_connections=lr.integer("max_connections", 5000, minimum=1),
            max_inflight_per_connection=lr.integer("max_inflight_per_connection", 64, minimum=1),
            max_inflight=lr.integer("max_inflight", 20000, minimum=1),
            max_batch=lr.integer("max_batch", 4096, minimum=1),
        )
        lr.done()
        if limits.max_frame > 65535:
            raise lr.fail("max_frame", "must fit the 2-byte length header (at most 65535)")
    settings = SwitchSettings(
        listen_ascii=_host_port(r, "listen_ascii"),
        listen_bcd=_host_port(r, "listen_bcd"),
        metrics=_host_port(r, "metrics"),
        database=Path(r.string("database")),
        hsm=hsm,
        require_mac=r.boolean("require_mac", False),
        business_day_cutover=cutover,
        timezone=tz,
        idempotency_days=r.integer("idempotency_days", 7, minimum=7),
        return_window_days=r.integer("return_window_days", 365, minimum=1),
        log_level=level,
        limits=limits,
        lmk=Path(r.string("lmk")) if "lmk" in r.table else None,
        tls=_tls(r),
    )
    r.done()
    if settings.listen_ascii is None and settings.listen_bcd is None:
        raise r.fail("listen_ascii", "at least one of listen_ascii and listen_bcd is needed")
    return settings


def _coalition(r: _Reader, cid: str) -> Coalition:
    currency = r.string("currency", "364")
    if not (len(currency) == 3 and currency.isdigit()):
        raise r.fail("currency", f"must be an ISO 4217 numeric code of 3 digits, got {currency!r}")
    bins = r.list_of("card_bins")
    for i, b in enumerate(bins):
        if not isinstance(b, str) or not b.isdigit() or not 1 <= len(b) <= 12:
            raise r.fail(f"card_bins[{i}]", f"must be a string of 1-12 digits, got {b!r}")
    tiers: list[Tier] = []
    for i, t in enumerate(r.list_of("tiers")):
        if not isinstance(t, dict):
            raise r.fail(f"tiers[{i}]", "must be a table")
        tr = r.child(f"tiers[{i}]", t)
        tiers.append(
            Tier(
                name=tr.string("name"),
                min_spend_12m=tr.integer("min_spend_12m", 0),
                earn_multiplier=_multiplier(tr, "earn_multiplier"),
            )
        )
        tr.done()
    names = [t.name for t in tiers]
    if len(set(names)) != len(names):
        raise r.fail("tiers", f"tier names must be unique, got {names}")
    for i, t in enumerate(tiers):
        if not t.name.isascii() or not t.name.isprintable() or len(t.name) > 20:
            raise r.fail(f"tiers[{i}].name", "must be 1-20 printable ASCII characters (DE48 TR)")
    spends = [t.min_spend_12m for t in tiers]
    if len(set(spends)) != len(spends):
        raise r.fail("tiers", f"two tiers share one min_spend_12m: {sorted(spends)}")
    campaigns = []
    for i, c in enumerate(r.list_of("campaigns")):
        if not isinstance(c, dict):
            raise r.fail(f"campaigns[{i}]", "must be a table")
        campaigns.append(_campaign(r.child(f"campaigns[{i}]", c)))
    et = r.table_of("earn")
    default_earn = _earn_rule(r.child("earn", et)) if et is not None else None
    coalition = Coalition(
        id=cid,
        name=r.string("name"),
        point_value=r.integer("point_value", minimum=1),
        currency=currency,
        points_expire_after_days=r.integer("points_expire_after_days", 365, minimum=1),
        card_bins=tuple(bins),
        auto_enroll=r.boolean("auto_enroll", False),
        tiers=tuple(sorted(tiers, key=lambda t: t.min_spend_12m)),
        daily_earn_cap=r.integer("daily_earn_cap", 0),
        campaigns=tuple(campaigns),
        earn=default_earn,
        language=_language(r, "fa"),
        operator=_operator(r),
        fee=_fee(r),
        display_currency=_display_currency(r, currency),
    )
    if coalition.fee is not None and coalition.operator is None:
        raise r.fail("fee", "needs an [operator] table beside it (the fee's payee: name, iban)")
    r.done()
    return coalition


DISPLAY_CURRENCIES = ("rial", "toman")


def _display_currency(r: _Reader, currency: str) -> str:
    """`display_currency`: tomans are a way of writing Iranian rials (ISO 4217 364) only."""
    unit = r.string("display_currency", "rial")
    if unit not in DISPLAY_CURRENCIES:
        raise r.fail("display_currency", f"must be rial or toman, got {unit!r}")
    if unit == "toman" and currency != "364":
        raise r.fail("display_currency", f"toman needs the rial (currency 364), got {currency}")
    return unit


def _campaign(r: _Reader) -> Campaign:
    start, end = r.date("from"), r.date("to")
    if end < start:
        raise r.fail("to", f"ends ({end}) before it starts ({start})")
    weekdays = r.list_of("weekdays")
    for i, w in enumerate(weekdays):
        if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 6:
            raise r.fail(f"weekdays[{i}]", f"must be 0 (Monday) to 6 (Sunday), got {w!r}")
    hours_raw = r.list_of("hours")
    hours: tuple[int, int] | None = None
    if hours_raw:
        ok = len(hours_raw) == 2 and all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in hours_raw
        )
        if not ok or hours_raw[0] >= hours_raw[1]:
            raise r.fail("hours", f"must be [from, to) hours 0-24, got {hours_raw!r}")
        hours = (hours_raw[0], hours_raw[1])
    campaign = Campaign(
        name=r.string("name"),
        start=start,
        end=end,
        multiplier=_multiplier(r, "multiplier"),
        bonus=r.integer("bonus", 0),
        weekdays=tuple(weekdays),
        hours=hours,
        expire_after_days=(r.integer("expire_after_days", minimum=1)
                           if "expire_after_days" in r.table else None),
    )
    r.done()
    return campaign


def _store(r: _Reader, sid: str, coalitions: Mapping[str, Coalition]) -> Store:
    if not 1 <= len(sid) <= 15 or not sid.isascii() or not sid.isprintable():
        raise ConfigError(r.file, r.prefix, "a store ID (DE42) is 1-15 printable ASCII characters")
    coalition = r.string("coalition")
    if coalition not in coalitions:
        raise r.fail("coalition", f"names no [coalition.{coalition}] table")
    default_earn = coalitions[coalition].earn
    et = r.table_of("earn", required=default_earn is None)
    earn = _earn_rule(r.child("earn", et)) if et is not None else default_earn
    assert earn is not None
    stamps = None
    st = r.table_of("stamps")
    if st is not None:
        sr = r.child("stamps", st)
        stamps = Stamps(needed=sr.integer("needed", minimum=1), reward=sr.string("reward"))
        sr.done()
    campaigns = []
    for i, c in enumerate(r.list_of("campaigns")):
        if not isinstance(c, dict):
            raise r.fail(f"campaigns[{i}]", "must be a table")
        campaigns.append(_campaign(r.child(f"campaigns[{i}]", c)))
    sv = None
    svt = r.table_of("stored_value")
    if svt is not None:
        svr = r.child("stored_value", svt)
        sv = StoredValue(
            topup_bonus_percent=svr.integer("topup_bonus_percent", 0),
            coalition_wide=svr.boolean("coalition_wide", False),
        )
        svr.done()
    store = Store(
        id=sid,
        name=r.string("name"),
        coalition=coalition,
        earn=earn,
        stamps=stamps,
        birthday_bonus=r.integer("birthday_bonus", 0),
        campaigns=tuple(campaigns),
        stored_value=sv,
        birthday_window_days=r.integer("birthday_window_days", 7, minimum=1),
        language=_language(r, coalitions[coalition].language),
        iban=_iban(r, "iban") if "iban" in r.table else None,
    )
    if store.birthday_window_days > 366:
        raise r.fail("birthday_window_days", f"must be at most 366, got "
                     f"{store.birthday_window_days}")
    r.done()
    return store


# -- the coalition's fee and bank accounts (docs/settlement.md) ---------------------------------

#: Bounds that catch a typo (a fee in the billions per point) without limiting real schedules.
MAX_FEE = 10**12
BASIS_POINTS = 10_000
CALENDARS = ("jalali", "gregorian")
BANK_BATCHES = ("net", "gross")
_IBAN_SPACES = frozenset(" \t\u00a0\u200e\u200f")


def parse_iban(text: str) -> str:
    """An Iranian IBAN (SHEBA) as typed, in its compact form `IR` + 24 ASCII digits.

    Spaces between groups (and the invisible direction marks a copy from Persian text brings)
    are dropped, Persian and Arabic-Indic digits read as ASCII, `ir` accepted; the check digits
    are ISO 13616's mod 97 (python-stdnum's ISO 7064 Mod 97-10). Raises `ValueError` saying
    what is wrong without repeating the number.
    """
    from stdnum.iso7064 import mod_97_10

    from switch.core.text import is_digits, to_ascii_digits

    bare = "".join(ch for ch in to_ascii_digits(text) if ch not in _IBAN_SPACES)
    if bare[:2].upper() != "IR":
        raise ValueError("must be an Iranian IBAN (SHEBA) starting with IR")
    digits = bare[2:]
    if not is_digits(digits):
        bad = next((ch for ch in digits if not is_digits(ch)), "")
        raise ValueError("must be IR followed by 24 digits (0-9 or ۰-۹, spaces allowed)"
                         + (f"; it holds U+{ord(bad):04X}" if bad else ""))
    if len(digits) != 24:
        raise ValueError(f"must be IR followed by 24 digits, got {len(digits)} digits")
    iban = "IR" + digits
    if not mod_97_10.is_valid(iban[4:] + iban[:4]):
        raise ValueError("its check digits are wrong (ISO 13616 mod 97): a digit was probably "
                         "mistyped")
    return iban


def _iban(r: _Reader, name: str) -> str:
    value = r.string(name)
    try:
        return parse_iban(value)
    except ValueError as exc:
        raise r.fail(name, str(exc)) from None


def _choice(r: _Reader, name: str, choices: tuple[str, ...]) -> str:
    value = r.string(name, choices[0])
    if value not in choices:
        raise r.fail(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _operator(coalition: _Reader) -> Operator | None:
    """`[coalition.X.operator]`: name (Persian with ZWNJ allowed), iban, bank_batch."""
    table = coalition.table_of("operator")
    if table is None:
        return None
    from switch.core.text import TextError, normalize_text

    r = coalition.child("operator", table)
    try:
        name = normalize_text(r.string("name"), "the name", max_length=120)
    except TextError as exc:
        raise r.fail("name", str(exc)) from None
    operator = Operator(name=name, iban=_iban(r, "iban"),
                        bank_batch=_choice(r, "bank_batch", BANK_BATCHES))
    r.done()
    return operator


def _fee(coalition: _Reader) -> FeeSchedule | None:
    """`[coalition.X.fee]`: integer rials per point and per store-month, basis points."""
    table = coalition.table_of("fee")
    if table is None:
        return None
    r = coalition.child("fee", table)
    fee = FeeSchedule(
        per_redeemed_point=r.integer("per_redeemed_point", 0),
        per_issued_point=r.integer("per_issued_point", 0),
        gross_basis_points=r.integer("gross_basis_points", 0),
        monthly_per_store=r.integer("monthly_per_store", 0),
        calendar=_choice(r, "calendar", CALENDARS),
    )
    for name in ("per_redeemed_point", "per_issued_point", "monthly_per_store"):
        if getattr(fee, name) > MAX_FEE:
            raise r.fail(name, f"must be at most {MAX_FEE:_} rials, got {getattr(fee, name)}")
    if fee.gross_basis_points > BASIS_POINTS:
        raise r.fail("gross_basis_points", f"is in basis points (1/10,000): at most "
                     f"{BASIS_POINTS}, got {fee.gross_basis_points}")
    r.done()
    return fee


def parse_config(data: Mapping[str, Any], file: str = "<config>") -> Config:
    """Validate an already-parsed TOML document (tests build these as dicts)."""
    top = _Reader(file, "", data)
    st = top.table_of("switch", required=True)
    assert st is not None
    switch = _switch(top.child("switch", st))

    coalitions: dict[str, Coalition] = {}
    for cid, ct in (top.table_of("coalition", required=True) or {}).items():
        if not isinstance(ct, dict):
            raise ConfigError(file, f"coalition.{cid}", "must be a table")
        coalitions[cid] = _coalition(_Reader(file, f"coalition.{cid}", ct), cid)
    if not coalitions:
        raise ConfigError(file, "coalition", "at least one coalition is needed")

    stores: dict[str, Store] = {}
    for sid, stt in (top.table_of("store", required=True) or {}).items():
        if not isinstance(stt, dict):
            raise ConfigError(file, f"store.{sid}", "must be a table")
        stores[sid] = _store(_Reader(file, f"store.{sid}", stt), sid, coalitions)

    terminals: dict[str, Terminal] = {}
    for tid, tt in (top.table_of("terminal") or {}).items():
        key = f"terminal.{tid}"
        if not isinstance(tt, dict):
            raise ConfigError(file, key, "must be a table")
        if not 1 <= len(tid) <= 8 or not tid.isascii() or not tid.isprintable():
            raise ConfigError(file, key, "a terminal ID (DE41) is 1-8 printable ASCII characters")
        tr = _Reader(file, key, tt)
        store = tr.string("store")
        if store not in stores:
            raise tr.fail("store", f"names no [store.{store}] table")
        tr.done()
        terminals[tid.ljust(8)] = Terminal(id=tid.ljust(8), store=store)

    # Two coalitions claiming one BIN would make auto-enrolment ambiguous.
    owner: dict[str, str] = {}
    for c in coalitions.values():
        for b in c.card_bins:
            for other_bin, other in owner.items():
                if other != c.id and (b.startswith(other_bin) or other_bin.startswith(b)):
                    raise ConfigError(
                        file, f"coalition.{c.id}.card_bins",
                        f"BIN {b} overlaps {other_bin} of coalition {other}",
                    )
            owner[b] = c.id
    messaging = _messaging(top, coalitions, stores)
    top.done()
    return Config(
        path=file, switch=switch, coalitions=coalitions, stores=stores, terminals=terminals,
        raw=data, messaging=messaging,
    )


def _messaging(top: _Reader, coalitions: Mapping[str, Coalition],
               stores: Mapping[str, Store]) -> MessagingSettings | None:
    """`[messaging]`, read by the messaging package (docs/messaging.md §Configuration)."""
    table = top.table_of("messaging")
    if table is None:
        return None
    from switch.messaging.settings import parse_messaging

    return parse_messaging(top.child("messaging", table), coalitions, stores)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raises `ConfigError` naming file, key and fault."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(file, "", "no such file") from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    return parse_config(data, file)
