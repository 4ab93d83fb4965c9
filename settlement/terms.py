"""A coalition's settlement terms: its operator, the operator's account and fee (plain data).

Copied from `switch.config` (`Coalition.operator`, `Coalition.fee`) by
`settlement.day.stores_from_config`, so settlement's pure code and its tests need no TOML.
"""

from __future__ import annotations

from dataclasses import dataclass

JALALI = "jalali"
GREGORIAN = "gregorian"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A coalition's fee rates (`switch.config.FeeSchedule`, copied so settlement is plain)."""

    per_issued_point: int = 0
    per_redeemed_point: int = 0
    gross_basis_points: int = 0
    monthly_per_store: int = 0
    calendar: str = JALALI

    def rate(self, fee: str) -> int:
        """The rate of a fee line (`settlement.fees.FEE_KINDS`)."""
        return {"issued_points": self.per_issued_point,
                "redeemed_points": self.per_redeemed_point,
                "gross_obligations": self.gross_basis_points,
                "monthly": self.monthly_per_store}[fee]

    def line(self) -> str:
        return (f"{self.per_issued_point}|{self.per_redeemed_point}|{self.gross_basis_points}|"
                f"{self.monthly_per_store}|{self.calendar}")


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
        fee = self.schedule.line() if self.schedule else "-"
        return (f"terms|{self.coalition}|{self.operator_name}|{self.operator_iban}|"
                f"{self.bank_batch}|{fee}")


def operator_id(coalition: str) -> str:
    """The operator's party ID in the netting's files: `operator:<coalition>`
    (`settlement.day.parties` refuses a store whose ID would clash)."""
    return f"operator:{coalition}"
