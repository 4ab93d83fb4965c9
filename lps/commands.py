"""What every `lps` command module shares: the `--config` option, the card-number help and
the running switch's admin socket (docs/cli.md).

Below `lps.cli` (the entry point, which imports the command modules) so that a command
module never imports the entry point back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from switch.config import Config, load_config

if TYPE_CHECKING:
    from switch.core.entries import Entry
    from switch.core.state import State

__all__ = ["DEFAULT_CONFIG", "PAN_HELP", "add_config_argument", "admin_request",
           "card_via_switch", "config_from", "via_switch"]

DEFAULT_CONFIG = "lps.toml"
PAN_HELP = "card number, 13-19 digits (Persian digits are read as ASCII)"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` the same way for every subcommand (default: $LPS_CONFIG or lps.toml)."""
    parser.add_argument("--config", "-c", default=os.environ.get("LPS_CONFIG", DEFAULT_CONFIG),
                        help="the switch's TOML configuration (default: %(default)s)")


def config_from(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def admin_request(config: Config, request: dict[str, Any]) -> dict[str, Any]:
    """One command to the running switch over its admin socket (docs/switch.md), its reply."""
    from switch import unix_socket
    from switch.server import admin_socket_path

    path = admin_socket_path(config.switch.database)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        unix_socket.connect(sock, path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data or b"{}")
    return reply


def via_switch(config: Config, request: dict[str, Any],
               entry_for: Callable[[State, dt.datetime], Entry | list[Entry]]) -> None:
    """A command that writes the journal's money tables, applied by the switch: `request` on
    its admin socket when it runs, else `entry_for`'s entry (or entries, in one append)
    appended by the journal itself (docs/cli.md). `AdminError`: the running switch's refusal,
    or `entry_for`'s."""
    from switch.core.admin import AdminError
    from switch.core.card_store import reading_lots
    from switch.journal import open_journal
    from switch.server import database_in_use

    if database_in_use(config.switch.database):
        reply = admin_request(config, request)
        if not reply.get("ok"):
            raise AdminError(str(reply.get("error")))
        return
    journal = open_journal(config.switch.journal, shared=config.switch.shared)
    try:
        now = dt.datetime.now(dt.UTC)
        # Recovered as `lps serve` recovers: each card's lots read when the command first
        # needs them (`entry_for` decides before it applies, so it is run again after).
        state = journal.load(config, None, now, lazy=True)
        made = reading_lots(lambda: entry_for(state, now), functools.partial(journal.fill, state))
        journal.append(made if isinstance(made, list) else [made])
    finally:
        journal.close()


def card_via_switch(config: Config, action: str, pan: str, coalition: str | None) -> None:
    """Enroll, block or unblock a card through the switch (`via_switch`: a card is a money
    table's row); a refusal is `Failed`."""
    from lps.cli_input import Failed
    from switch.core.admin import AdminError, card_command

    try:
        via_switch(config, {"cmd": action, "pan": pan, "coalition": coalition},
                   lambda state, now: card_command(state, action, pan, now, coalition))
    except AdminError as exc:
        raise Failed(str(exc)) from None
