"""The configuration as the core reads it: frozen data, no reading.

`switch.config` reads the TOML file into these (and checks every value, naming the key that is
wrong); the core decides against them and never sees a file, a TOML table or a reader. So the
core's imports stay inside `switch.core` (the import contracts in pyproject.toml). The paths
here (`database`, `lmk`, TLS files) are values the shell opens; nothing in this module opens
them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "Campaign",
    "Catalog",
    "Coalition",
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
]


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
    #: How many answered requests of the idempotency window stay in memory; older ones are
    #: looked up in the journal (docs/switch.md, "Memory").
    replay_memory: int = 1_000_000
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
class Catalog:
    """Everything a decision reads of the configuration: the switch's settings, coalitions,
    stores and terminals (`switch.config.Config` adds the file's path and the sections the
    core has no use for)."""

    switch: SwitchSettings
    coalitions: Mapping[str, Coalition]
    stores: Mapping[str, Store]
    terminals: Mapping[str, Terminal]

    def coalition_of_store(self, store_id: str) -> Coalition:
        return self.coalitions[self.stores[store_id].coalition]
