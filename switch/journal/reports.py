"""What recovery and the checks report, the same for every engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RecoveryReport:
    """What `load` rebuilt, for the switch's `recovered` log line."""

    cards: int = 0
    #: The live lots read (0 when `load` left them in the journal: `lazy`).
    lots: int = 0
    transactions: int = 0
    journal_entries: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of checking the journal rows (after, upto]; no problems: sound."""

    after: int
    upto: int
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """`lps check [--full]`: what was checked (one line) and the violations found."""

    what: str
    problems: list[str]

    @property
    def sound(self) -> bool:
        return not self.problems
