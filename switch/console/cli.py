"""`lps staff add|disable|reset-password|list` and `lps console` (registered in switch/cli.py).

Passwords are read from the terminal (twice) or, for scripts, from one line of stdin with
`--password-stdin`; never from the command line, where `ps` and the shell history would show
them. CLI changes are audited with the operating-system user as the actor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from switch.cli import add_config_argument, config_from
from switch.cli_input import InputError, whole
from switch.console.roles import ROLES
from switch.core.text import is_digits, to_ascii_digits


def _actor() -> str:
    from switch.console.audit import cli_actor

    return cli_actor()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_staff(args: argparse.Namespace) -> int:
    from switch.console import auth
    from switch.console.db import open_db

    config = config_from(args)
    conn = open_db(config.switch.database)
    now = dt.datetime.now(dt.UTC)
    try:
        if args.action == "list":
            for s in auth.list_staff(conn):
                print(f"{s.username:32} {s.role:11} {'active' if s.active else 'disabled':9} "
                      f"{s.created_at}")
            return 0
        if args.username is None:
            raise auth.AuthError(f"{args.action} needs a username")
        if args.action == "add":
            if args.role is None:
                raise auth.AuthError(f"add needs --role ({', '.join(ROLES)})")
            auth.check_username(args.username)
            auth.check_role(args.role)
            auth.add_staff(conn, _actor(), args.username, args.role, _password(args), now)
        elif args.action == "disable":
            auth.disable_staff(conn, _actor(), args.username, now)
        else:
            auth.reset_password(conn, _actor(), args.username, _password(args), now)
    except (auth.AuthError, ValueError) as exc:
        print(f"lps staff {args.action}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"staff {args.action}: done")
    return 0


def _listen(text: str) -> tuple[str, int]:
    """HOST:PORT (Persian digits in the port read as ASCII); InputError, exit 3, otherwise."""
    host, sep, port = to_ascii_digits(text).strip().rpartition(":")
    if not sep or not is_digits(port) or len(port) > 5 or not 0 <= int(port) < 65536:
        raise InputError(f"--listen: HOST:PORT expected (a port 0-65535), got {text[:60]!r}")
    return host or "127.0.0.1", int(port)


def _mqtt(text: str) -> str:
    from switch.console.fleet import parse_url

    try:
        parse_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_console(args: argparse.Namespace) -> int:
    from pathlib import Path

    from switch.console.auth import Limits
    from switch.console.server import App, Settings, make_server

    config = config_from(args)
    settings = Settings(
        approval_threshold=args.approval_threshold,
        limits=Limits(max_failures=args.max_failures,
                      session_ttl=dt.timedelta(minutes=args.session_minutes),
                      max_hashing=args.max_hashing, hashing_queue=args.hashing_queue),
        settlement_out=Path(args.settlement_out) if args.settlement_out else None,
        mqtt=args.mqtt, secure_cookies=args.secure_cookies)
    app = App(config, args.config, settings)
    host, port = args.listen
    server = make_server(app, host, port)
    print(f"lps console: http://{host}:{server.server_address[1]}/ "
          f"(database {config.switch.database})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("staff", help="console staff accounts: add, disable, reset-password, list")
    p.add_argument("action", choices=("add", "disable", "reset-password", "list"),
                   help="add an account (the first one makes the console usable), disable it, "
                        "set a new password, or list the accounts")
    p.add_argument("username", nargs="?", help="the account (not for list)")
    p.add_argument("--role", help=f"add: one of {', '.join(ROLES)}")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password as one line of stdin (scripts)")
    add_config_argument(p)
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("console", help="the operator web console")
    add_config_argument(p)
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080),
                   help="HOST:PORT (default: 127.0.0.1:8080; port 0 picks a free one)")
    p.add_argument("--approval-threshold", type=whole("--approval-threshold", 1), default=1000,
                   help="point adjustments above this need a second staff member "
                        "(default: %(default)s)")
    p.add_argument("--session-minutes", type=whole("--session-minutes", 1), default=30,
                   help="idle minutes before a session expires (default: %(default)s)")
    p.add_argument("--max-failures", type=whole("--max-failures", 1), default=5,
                   help="failed logins of one username from one address in 15 minutes before "
                        "each further try waits, 1 s doubling up to 15 minutes "
                        "(default: %(default)s)")
    p.add_argument("--max-hashing", type=whole("--max-hashing", 1), default=2,
                   help="password hashings at once, 64 MiB each (default: %(default)s)")
    p.add_argument("--hashing-queue", type=whole("--hashing-queue", 1), default=4,
                   help="logins waiting for a hashing slot; more are refused with HTTP 503 "
                        "(default: %(default)s)")
    p.add_argument("--settlement-out", help="where console runs write each day's files "
                                            "(default: <database>.settlement/<day>)")
    p.add_argument("--mqtt", type=_mqtt, help="mqtt://HOST:PORT of the agents' broker: "
                                               "the dashboard shows the terminals online")
    p.add_argument("--secure-cookies", action="store_true",
                   help="mark cookies Secure (when served through a TLS reverse proxy)")
    p.set_defaults(func=cmd_console)
