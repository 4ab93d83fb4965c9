"""The switch's functional core: state, rules, and the request path as three steps.

`needs(state, request)` says what a decision reads besides the state, `decide(state, request,
facts, now)` computes the whole outcome without changing anything, `apply(state, decision)`
installs it (docs/switch.md, "The request path"). Pure: no I/O, no clock.
"""

from switch.core.admin import (
    AdminError,
    card_command,
    decide_adjust,
    decide_card_command,
    journaled,
    new_state,
    prune,
)
from switch.core.apply import apply
from switch.core.authorizer import Fetch, Fill, handle, handle_request
from switch.core.codes import PC, RC, Kind, LotKind
from switch.core.decide import decide
from switch.core.entries import Entry
from switch.core.facts import NO_CHECKS, Checks, Facts, Needs, SessionKeyRefs
from switch.core.ledger import available_points
from switch.core.limits import DEFAULT_LIMITS, MoneyLimits
from switch.core.model import Card, Lot, Remembered, TerminalState, Totals
from switch.core.needs import in_memory, needs
from switch.core.outcome import Changes, Decision, system_error
from switch.core.request import Ignored, Request, parse_request, request_digest, undecodable
from switch.core.rules import BaseRules, EarnContext, EarnResult, RuleBook, StampResult
from switch.core.snapshot import Snapshot, snapshot
from switch.core.state import State

__all__ = [
    "DEFAULT_LIMITS",
    "NO_CHECKS",
    "PC",
    "RC",
    "AdminError",
    "BaseRules",
    "Card",
    "Changes",
    "Checks",
    "Decision",
    "EarnContext",
    "EarnResult",
    "Entry",
    "Facts",
    "Fetch",
    "Fill",
    "Ignored",
    "Kind",
    "Lot",
    "LotKind",
    "MoneyLimits",
    "Needs",
    "Remembered",
    "Request",
    "RuleBook",
    "SessionKeyRefs",
    "Snapshot",
    "StampResult",
    "State",
    "TerminalState",
    "Totals",
    "apply",
    "available_points",
    "card_command",
    "decide",
    "decide_adjust",
    "decide_card_command",
    "handle",
    "handle_request",
    "in_memory",
    "journaled",
    "needs",
    "new_state",
    "parse_request",
    "prune",
    "request_digest",
    "snapshot",
    "system_error",
    "undecodable",
]
