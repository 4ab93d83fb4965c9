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

from switch.core.till_terms import CoalitionDiscounts, MembershipLevel, StoreDiscounts

__all__ = [
    "ANYWHERE",
    "AT_ISSUER",
    "TO_OPERATOR",
    "TO_SELLER",
    "Campaign",
    "Catalog",
    "Coalition",
    "CouponRules",
    "EarnRule",
    "FeeSchedule",
    "GiftCards",
    "HostPort",
    "Limits",
    "MobileAccounts",
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
    #: Seconds a call to a `tcp://` HSM may take, connect included, before it fails and the
    #: connection is dropped (docs/hsm.md, section 4).
    hsm_timeout: float = 5.0
    #: How many answered requests of the idempotency window stay in memory; older ones are
    #: looked up in the journal (docs/switch.md, "Memory").
    replay_memory: int = 1_000_000
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)
    #: The in-process HSM's LMK file (default: `lmk.json` beside the database).
    lmk: Path | None = None
    #: TLS per terminal listener (`ascii`, `bcd`); a listener without an entry is plain TCP.
    tls: Mapping[str, TlsFiles] = field(default_factory=dict)
    #: The PostgreSQL journal's URL when `[switch] database` names one (it may hold a
    #: password: never printed); `database` is then a name in `[switch] state_dir` whose
    #: siblings hold this node's own files (lock, admin socket, LMK).
    journal_url: str | None = field(default=None, repr=False)
    #: `single` (this node is the journal's only writer) or `shared` (several nodes on one
    #: PostgreSQL journal take turns to commit: docs/switch.md, "Several nodes").
    nodes: str = "single"

    @property
    def shared(self) -> bool:
        return self.nodes == "shared"

    @property
    def journal(self) -> str | Path:
        """Where the journal is: the PostgreSQL URL, or the SQLite file."""
        return self.journal_url if self.journal_url is not None else self.database

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
class MobileAccounts:
    """Accounts a POS names by a mobile number (DE48 `MB`, docs/protocol.md §3), each with a
    virtual card behind it: `virtual_bin` + serial + Luhn check digit, `length` digits long,
    never printed (`[coalition.X.mobile]`, docs/customers.md)."""

    virtual_bin: str
    length: int = 16
    #: A POS may enrol a mobile number the club does not know yet (on its first use).
    enroll: bool = False


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
    #: Mobile-number accounts (`[coalition.X.mobile]`), None: DE48 `MB` is not accepted.
    mobile: MobileAccounts | None = None
    #: Where coupons are taken and the largest discount (`[coalition.X.coupons]`,
    #: docs/programs.md "Coupons").
    coupons: CouponRules = field(default_factory=lambda: CouponRules())
    #: The gift-card BIN range and its expiry (`[coalition.X.gift_cards]`), None: no gift cards.
    gift_cards: GiftCards | None = None
    #: How the console shows this coalition's amounts: "rial" or "toman" (ten rials). Display
    #: only: every amount stays an integer of rials (docs/console.md "Languages, dates, money").
    display_currency: str = "rial"
    #: Tier perks and the points-to-discount rule (`[coalition.X.discounts]`) and the club
    #: cards it sells by level (`[coalition.X.memberships]`), docs/programs.md.
    discounts: CoalitionDiscounts = field(default_factory=lambda: CoalitionDiscounts())
    memberships: Mapping[str, MembershipLevel] = field(default_factory=dict)

    def is_gift_card(self, pan: str) -> bool:
        """Whether `pan` is in this coalition's gift-card BIN range (docs/programs.md)."""
        return self.gift_cards is not None and pan.startswith(self.gift_cards.bins)


#: `CouponRules.store_coupons`: a store's coupon is taken at that store only, or at every store
#: of the coalition (the issuing store then pays the accepting one its discount).
AT_ISSUER = "issuer"
ANYWHERE = "anywhere"
#: `GiftCards.breakage`: who keeps the value of a gift card that lapses unspent.
TO_SELLER = "seller"
TO_OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class CouponRules:
    """A coalition's rules for every coupon it takes (docs/programs.md "Coupons"); a coupon's
    own terms (percent or amount, minimum, expiry) are fixed when it is issued."""

    store_coupons: str = AT_ISSUER
    #: No coupon discounts more than this at one purchase, IRR (0: only the coupon's terms).
    max_discount: int = 0


@dataclass(frozen=True, slots=True)
class GiftCards:
    """A coalition's gift cards: coalition-wide purses on cards of their own BIN range, sold
    and spent at any of its stores (docs/programs.md "Gift cards")."""

    bins: tuple[str, ...]
    #: The value of each sale is usable until this many months after its business day.
    expire_after_months: int
    #: Who keeps what lapses: the store that sold it (`seller`) or the operator (`operator`).
    breakage: str = TO_SELLER
    #: The most a gift card may hold, IRR (0: only the limit of docs/protocol.md §10).
    max_balance: int = 0


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
    #: Only for cards whose customer the club's nightly job put in this segment ("": every
    #: card; docs/programs.md "Campaigns for a segment").
    segment: str = ""

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
    #: What the store gives at its till (`[store.X.discounts]`, docs/programs.md).
    discounts: StoreDiscounts | None = None


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
