"""The domain's codes, one source for Python and for the SQL the journal is read with.

`RC` are the response codes of docs/protocol.md §5, `PC` the processing codes of §4, `Kind`
the journal entry kinds (docs/switch.md, the journal) and `LotKind` what a lot holds. They are
`StrEnum`s, so a member is its string: it goes into a message field, a JSON detail or an SQL
parameter as it is, and the journal (switch/journal) builds its SQL literals from them (`sql_list`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class RC(StrEnum):
    """DE39 response codes (docs/protocol.md §5)."""

    APPROVED = "00"
    UNKNOWN_TERMINAL = "03"
    DO_NOT_HONOUR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    INVALID_CARD = "14"
    ORIGINAL_NOT_FOUND = "25"
    FORMAT_ERROR = "30"
    INSUFFICIENT = "51"
    EXPIRED_CARD = "54"
    WRONG_PIN = "55"
    NOT_PERMITTED_CARD = "57"
    NOT_PERMITTED_TERMINAL = "58"
    OVER_LIMIT = "61"
    CARD_BLOCKED = "62"
    SECURITY_VIOLATION = "63"
    #: A coupon issue's limit per customer is reached (docs/protocol.md §5).
    COUNT_LIMIT = "65"
    PIN_TRIES_EXCEEDED = "75"
    SWITCH_UNAVAILABLE = "91"
    DUPLICATE = "94"
    OUT_OF_BALANCE = "95"
    SYSTEM_ERROR = "96"


class PC(StrEnum):
    """DE3 processing codes (docs/protocol.md §4)."""

    EARN = "000000"
    REDEEM = "900000"
    INQUIRY = "310000"
    RETURN = "200000"
    TOPUP = "210060"
    SV_PURCHASE = "006000"
    STAMP = "930000"
    BATCH_CLOSE = "920000"
    #: A discount at the till on DE4 (docs/protocol.md §4 "Discounts at the till").
    DISCOUNT = "940000"
    #: A club card (paid membership) sold at DE4 (docs/protocol.md §4 "Paid memberships").
    MEMBERSHIP = "950000"


class Kind(StrEnum):
    """The `kind` column of the journal: what one row records."""

    EARN = "earn"
    ADVICE = "advice"
    REDEEM = "redeem"
    INQUIRY = "inquiry"
    RETURN = "return"
    TOPUP = "topup"
    SV_PURCHASE = "sv_purchase"
    STAMP = "stamp"
    REVERSAL = "reversal"
    BATCH_CLOSE = "batch_close"
    NETWORK = "network"
    REJECT = "reject"
    CARD_ADMIN = "card_admin"
    #: A coupon redeemed (`900000` with DE48 `CP`, docs/protocol.md §4).
    COUPON = "coupon"
    #: An operator's change to a coupon (`lps coupons void`).
    COUPON_ADMIN = "coupon_admin"
    #: A new version of the programs, loaded while the switch runs (`lps programs reload`).
    PROGRAMS = "programs"
    #: A discount given at the till (`940000`), points converted included.
    DISCOUNT = "discount"
    #: A club card sold (`950000`).
    MEMBERSHIP = "membership"


class LotKind(StrEnum):
    """What a lot holds: points, or stored value (the purse)."""

    POINTS = "points"
    STORED_VALUE = "sv"


#: The journal kind of a 0200 by processing code (a 0220 of `000000` is an `advice`).
KIND_BY_PC: dict[str, Kind] = {
    PC.EARN: Kind.EARN, PC.REDEEM: Kind.REDEEM, PC.INQUIRY: Kind.INQUIRY,
    PC.RETURN: Kind.RETURN, PC.TOPUP: Kind.TOPUP, PC.SV_PURCHASE: Kind.SV_PURCHASE,
    PC.STAMP: Kind.STAMP, PC.DISCOUNT: Kind.DISCOUNT, PC.MEMBERSHIP: Kind.MEMBERSHIP,
}
#: 0500 counts approved earns as credits and redemptions as debits (docs/protocol.md §4).
#: The members the request path reads on every request, as module names to import: on Python
#: 3.11 reading `PC.EARN` off its class goes through `EnumType.__getattr__`'s hook (about 850
#: instructions), an imported name is one global load (benches/README.md, "The decision and
#: commit side, fourth session").
PC_EARN, PC_REDEEM, PC_RETURN, PC_INQUIRY, PC_TOPUP = (
    PC.EARN, PC.REDEEM, PC.RETURN, PC.INQUIRY, PC.TOPUP)
RC_APPROVED = RC.APPROVED
KIND_REDEEM, KIND_COUPON, KIND_RETURN, KIND_REVERSAL, KIND_STAMP = (
    Kind.REDEEM, Kind.COUPON, Kind.RETURN, Kind.REVERSAL, Kind.STAMP)

CREDIT_PCS = frozenset({PC.EARN})
DEBIT_PCS = frozenset({PC.REDEEM, PC.SV_PURCHASE})
#: Processing codes that spend value and so need the cardholder's PIN (docs/protocol.md §6).
PIN_PCS = frozenset({PC.REDEEM, PC.SV_PURCHASE, PC.DISCOUNT})
#: Journal kinds counted in a batch's totals (the `batch_totals` table, docs/switch.md).
COUNTED_KINDS = (Kind.EARN, Kind.ADVICE, Kind.REDEEM, Kind.SV_PURCHASE, Kind.COUPON)
#: Kinds that are not remembered transactions (recovery skips them).
UNREMEMBERED_KINDS = (Kind.REJECT, Kind.NETWORK, Kind.CARD_ADMIN, Kind.COUPON_ADMIN,
                      Kind.PROGRAMS)
#: Kinds a reversal cannot name: it answers `25` for them, as for an unknown original.
NOT_REVERSIBLE = frozenset({Kind.REVERSAL, Kind.BATCH_CLOSE})
#: Kinds a return may name as its original (`OR`).
EARN_KINDS = (Kind.EARN, Kind.ADVICE)


def sql_list(values: Iterable[str]) -> str:
    """`('a', 'b')` for an SQL `IN`: the literals come from these enums, never typed twice."""
    quoted = []
    for value in values:
        if "'" in value:
            raise ValueError(f"not an SQL literal: {value!r}")
        quoted.append(f"'{value}'")
    return f"({', '.join(quoted)})"


def sql_text(value: str) -> str:
    """One code as an SQL string literal."""
    if "'" in value:
        raise ValueError(f"not an SQL literal: {value!r}")
    return f"'{value}'"
