"""A coalition's settlement terms: its operator, the operator's account and fee (plain data).

Made from `switch.config` (`Coalition.operator`, `Coalition.fee`) by
`settlement.day.stores_from_config`, so settlement's pure code and its tests need no TOML.
"""

from __future__ import annotations

from dataclasses import dataclass

from switch.config import FeeSchedule

JALALI = "jalali"
GREGORIAN = "gregorian"


#: A coalition's fee rates: the configuration's own record (one definition of the schedule).
Schedule = FeeSchedule


def rate(schedule: Schedule, fee: str) -> int:
    """The rate of a fee line (`settlement.fees.FEE_KINDS`)."""
    return {"issued_points": schedule.per_issued_point,
            "redeemed_points": schedule.per_redeemed_point,
            "gross_obligations": schedule.gross_basis_points,
            "monthly": schedule.monthly_per_store}[fee]


def schedule_line(schedule: Schedule) -> str:
    return (f"{schedule.per_issued_point}|{schedule.per_redeemed_point}|"
            f"{schedule.gross_basis_points}|{schedule.monthly_per_store}|{schedule.calendar}")


@dataclass(frozen=True, slots=True)
class Terms:
    """A coalition's operator: its name and account, how the bank batch pays, its fee."""

    coalition: str
    operator_name: str
    operator_iban: str
    bank_batch: str = "net"
    schedule: Schedule | None = None

    @property
    def operator_id(self) -> str:
        return operator_id(self.coalition)

    def line(self) -> str:
        fee = schedule_line(self.schedule) if self.schedule else "-"
        return (f"terms|{self.coalition}|{self.operator_name}|{self.operator_iban}|"
                f"{self.bank_batch}|{fee}")


def operator_id(coalition: str) -> str:
    """The operator's party ID in the netting's files: `operator:<coalition>`
    (`settlement.day.parties` refuses a store whose ID would clash)."""
    return f"operator:{coalition}"
