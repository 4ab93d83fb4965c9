"""The switch's functional core: state, rules and the authorizer. Pure: no I/O, no clock."""

from switch.core.admin import AdminError, card_command, new_state, prune
from switch.core.authorizer import (
    NO_CHECKS,
    Checks,
    Decision,
    available_points,
    handle,
    reject_undecodable,
    request_digest,
)
from switch.core.entries import Entry
from switch.core.model import Card, Lot, State, TerminalState, Totals, Txn
from switch.core.rules import BaseRules, EarnContext, EarnResult, RuleBook, StampResult

__all__ = [
    "NO_CHECKS",
    "AdminError",
    "BaseRules",
    "Card",
    "Checks",
    "Decision",
    "EarnContext",
    "EarnResult",
    "Entry",
    "Lot",
    "RuleBook",
    "StampResult",
    "State",
    "TerminalState",
    "Totals",
    "Txn",
    "available_points",
    "card_command",
    "handle",
    "new_state",
    "prune",
    "reject_undecodable",
    "request_digest",
]
