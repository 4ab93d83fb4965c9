"""The core's side of message security (docs/protocol.md §6, docs/security.md): whether a
request passes message authentication, and how wrong PINs are counted. The shell asks the HSM
(switch/security/shell.py) only for what `core.needs` names and hands the verdicts in `Checks`.
"""

from __future__ import annotations

from switch.core.codes import RC
from switch.core.facts import Checks
from switch.core.model import Card
from switch.core.outcome import Decision
from switch.core.protocol import MACED
from switch.core.request import Request
from switch.core.state import State

#: Wrong PINs in a row after which PIN use is blocked (`75`) until an operator resets it.
PIN_TRIES = 3
#: The key of `Entry.detail` under which a decision hands key and PIN state to the journal.
SECURITY = "security"


def mac_refusal(state: State, req: Request, checks: Checks) -> str:
    """Why a request fails message authentication ("" when it passes)."""
    if not checks.mac_ok:
        return "MAC verification failed"
    if req.canonical in MACED and not checks.mac_present:
        term = state.terminals.get(req.tid)
        if term is not None and term.mac_key_ref is not None:
            return "MAC missing (the terminal has a session MAC key)"
        if state.config.switch.require_mac:
            return "MAC missing (require_mac)"
    return ""


def pin_verifiable(card: Card | None, req: Request) -> bool:
    """Whether the HSM is asked to verify this request's PIN block (`Needs.pin`)."""
    return (card is not None and card.pin_ref is not None and card.pin_tries < PIN_TRIES
            and req.pin_block)


def pin_outcome(card: Card, req: Request, checks: Checks) -> tuple[RC | None, int]:
    """A spend on a card with a PIN needs a verified DE52: the decline code (None: passes)
    and the card's count of wrong PINs in a row after this request.

    The `PIN_TRIES`th wrong PIN and every later try is `75` until an operator resets it; a
    right PIN resets the count. No PIN (or none verifiable) is `55` and not counted.
    """
    tries = card.pin_tries
    if card.pin_ref is None:
        return None, tries
    if tries >= PIN_TRIES:
        return RC.PIN_TRIES_EXCEEDED, tries
    stale = checks.pin_ref is not None and checks.pin_ref != card.pin_ref
    if not req.pin_block or checks.pin_ok is None or stale:
        return RC.WRONG_PIN, tries
    if checks.pin_ok:
        return None, 0
    tries += 1
    return (RC.PIN_TRIES_EXCEEDED if tries >= PIN_TRIES else RC.WRONG_PIN), tries


def reply_mac_key(state: State, decision: Decision) -> str | None:
    """The session MAC key a reply is MACed under (None: sent without a MAC).

    The terminal's key as the decision leaves it, so the 0810 of a key exchange is MACed
    under the new key; a retransmission is sent as first sent, MAC included.
    """
    resp = decision.response
    if resp is None or decision.retransmission:
        return None
    changes = decision.changes
    if changes is not None and changes.terminal is not None:
        return changes.terminal.mac_key_ref
    tid = resp.fields.get(41)
    term = state.terminals.get(tid) if isinstance(tid, str) else None
    return term.mac_key_ref if term is not None else None
