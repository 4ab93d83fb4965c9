"""One line on the switch's admin socket, read into a command or refused (docs/switch.md,
"The admin socket").

The socket is the operator's (the switch's user alone may connect), but what it carries moves
points and money, so a line is held to the shape its senders (`lps cards`, `lps keys`, the
console, the nightly job) write: a JSON object whose `cmd` is a known command, with that
command's fields and no others, each of its type. An amount is a JSON integer: `2.5` or `true`
is refused, where `int()` would have made them 2 and 1, and so is a string of digits (Persian
ones included), which the senders convert before they send. A wrong line is answered "bad admin
request: ..." and decides nothing.
"""

from __future__ import annotations

import json
from typing import Any

#: A field of a command: a `str`, an `int` (a JSON integer, never a bool), or a `str` or null.
STR, INT, OPTIONAL_STR = "a string", "a JSON integer", "a string or null"

#: Per command, its fields: name -> (kind, required).
COMMANDS: dict[str, dict[str, tuple[str, bool]]] = {
    "reload": {},
    "enroll": {"pan": (STR, True), "coalition": (OPTIONAL_STR, False)},
    "block": {"pan": (STR, True), "coalition": (OPTIONAL_STR, False)},
    "unblock": {"pan": (STR, True), "coalition": (OPTIONAL_STR, False)},
    "profile": {"pan": (STR, True)},
    "adjust": {"pan": (STR, True), "points": (INT, True), "store": (STR, True),
               "reason": (STR, True), "by": (STR, False)},
    "purse_credit": {"pan": (STR, True), "amount": (INT, True), "store": (STR, True),
                     "reason": (STR, True), "by": (STR, False)},
    "replace": {"pan": (STR, True), "new": (STR, True), "reason": (STR, True),
                "by": (STR, False)},
    "coupon_void": {"digest": (STR, True), "by": (STR, False)},
    "set-tmk": {"tid": (STR, True), "key": (STR, True), "kcv": (STR, True)},
    "set-bdk": {"tid": (STR, True), "key": (STR, True), "kcv": (STR, True)},
    "set-pin": {"pan": (STR, True), "pin": (STR, True)},
    "pin-reset": {"pan": (STR, True)},
}

#: The longest line the socket reads (a command is a few hundred bytes).
ADMIN_LINE_LIMIT = 65_536

#: How much of a name the refusal quotes.
_QUOTED = 40


class AdminRequestError(ValueError):
    """Why a line is not an admin command (the reply's "bad admin request: ..." text)."""


def admin_command(line: bytes) -> dict[str, Any]:
    """The command `line` holds, checked (`AdminRequestError` when it is not one)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise AdminRequestError("the line is not UTF-8 text") from None
    try:
        request = json.loads(text)
    except RecursionError:
        raise AdminRequestError("the JSON is nested too deep") from None
    except ValueError as exc:
        raise AdminRequestError(f"not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise AdminRequestError("the request is not a JSON object")
    cmd = request.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise AdminRequestError(f"cmd must be one of {', '.join(sorted(COMMANDS))}")
    fields = COMMANDS[cmd]
    for name in request:
        if name != "cmd" and name not in fields:
            raise AdminRequestError(f"{cmd} takes no field {_quoted(name)}")
    for name, (kind, required) in fields.items():
        if name not in request:
            if required:
                raise AdminRequestError(f"{cmd} needs the field {name!r}")
            continue
        if not _of_kind(request[name], kind):
            raise AdminRequestError(f"{cmd}: the field {name!r} must be {kind}")
    return request


def _of_kind(value: object, kind: str) -> bool:
    if kind == INT:
        return type(value) is int
    if kind == OPTIONAL_STR and value is None:
        return True
    return isinstance(value, str)


def _quoted(name: str) -> str:
    """A field name as the refusal shows it: clipped, and in `repr` so that no control
    character reaches the reply as it came."""
    return repr(name[:_QUOTED]) + ("..." if len(name) > _QUOTED else "")
