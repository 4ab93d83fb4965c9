"""What every `lps` command module shares: the `--config` option, the card-number help and
the running switch's admin socket (docs/cli.md).

Below `lps.cli` (the entry point, which imports the command modules) so that a command
module never imports the entry point back.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from typing import Any

from switch.config import Config, load_config

__all__ = ["DEFAULT_CONFIG", "PAN_HELP", "add_config_argument", "admin_request",
           "card_via_switch", "config_from"]

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
    from switch.server import admin_socket_path

    path = admin_socket_path(config.switch.database)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data or b"{}")
    return reply


def card_via_switch(config: Config, action: str, pan: str, coalition: str | None) -> None:
    """Enroll, block or unblock a card through the switch: its admin socket when it runs,
    else the journal's own append (a card is a money table's row, docs/cli.md)."""
    import datetime as dt

    from lps.cli_input import Failed
    from switch.core.admin import AdminError, card_command
    from switch.journal import open_journal
    from switch.server import database_in_use

    if database_in_use(config.switch.database):
        reply = admin_request(config, {"cmd": action, "pan": pan, "coalition": coalition})
        if not reply.get("ok"):
            raise Failed(str(reply.get("error")))
        return
    journal = open_journal(config.switch.journal)
    try:
        now = dt.datetime.now(dt.UTC)
        state = journal.load(config, None, now)
        try:
            entry = card_command(state, action, pan, now, coalition)
        except AdminError as exc:
            raise Failed(str(exc)) from None
        journal.append([entry])
    finally:
        journal.close()
