"""Card changes go to the running switch's admin socket, so its cache and its journal stay one.

The console never writes the switch's database, not even under the switch's lock: when no
switch runs on this database, a change is refused and nothing happens (docs/console.md, "Card
changes go through the switch"); `lps cards` remains the tool for a stopped switch.
"""

from __future__ import annotations

from lps.commands import admin_request
from lps.console import switch_words
from lps.console.messages import N_, SYSTEM, Refusal, Verbatim
from switch.config import Config
from switch.server import admin_socket_path


class GatewayError(Refusal):
    """The switch refused or could not be reached; the message says which."""


def _send(config: Config, request: dict[str, object]) -> None:
    if not admin_socket_path(config.switch.database).exists():
        raise GatewayError(N_("the switch is not running, so the card cannot be changed now "
                              "(nothing was changed): start it with lps serve, or use lps cards "
                              "on the switch's machine"))
    try:
        reply = admin_request(config, request)
    except (OSError, ValueError) as exc:
        raise GatewayError(N_("the switch's admin socket did not answer ({detail}); nothing "
                              "was changed"), detail=Verbatim(str(exc)[:200], SYSTEM)) from None
    if not reply.get("ok"):
        raise GatewayError(N_("the switch refused: {detail}"),
                           detail=switch_words.admin(str(reply.get("error"))[:300]))


def card_status(config: Config, action: str, pan: str) -> None:
    """`block` or `unblock` a card."""
    _send(config, {"cmd": action, "pan": pan})


def adjust(config: Config, pan: str, points: int, store: str, reason: str, actor: str) -> None:
    """Credit or debit points (`switch.core.admin.adjust_command`, run by the switch)."""
    _send(config, {"cmd": "adjust", "pan": pan, "points": points, "store": store,
                   "reason": reason, "by": actor})


def replace(config: Config, old_pan: str, new_pan: str, reason: str, actor: str) -> None:
    """Block a lost card and move its lots to a new one (`switch.core.card_replace`, run by
    the switch: both journal rows in one commit)."""
    _send(config, {"cmd": "replace", "pan": old_pan, "new": new_pan, "reason": reason,
                   "by": actor})


def reload_profile(config: Config, pan: str) -> None:
    """Have the switch load the profile of the account `pan` was just linked to."""
    _send(config, {"cmd": "profile", "pan": pan})
