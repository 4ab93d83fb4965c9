"""`lps staff add|disable|reset-password|list` and `lps console` (registered in lps/cli.py).

Passwords are read from the terminal (twice) or, for scripts, from one line of stdin with
`--password-stdin`; never from the command line, where `ps` and the shell history would show
them. CLI changes are audited with the operating-system user as the actor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from lps.cli import add_config_argument, config_from
from lps.cli_input import InputError, whole
from lps.console.db import console_path
from lps.console.roles import ROLES
from switch.core.text import is_digits, to_ascii_digits


def _actor() -> str:
    from lps.console.cli_audit import cli_actor

    return cli_actor()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        try:
            return sys.stdin.readline().rstrip("\n")
        except UnicodeDecodeError:
            raise ValueError("the password line on stdin is not UTF-8 text") from None
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_staff(args: argparse.Namespace) -> int:
    from lps.console import auth
    from lps.console.db import open_console

    config = config_from(args)
    conn = open_console(config.switch.database)
    now = dt.datetime.now(dt.UTC)
    try:
        if args.action == "list":
            for s in auth.list_staff(conn):
                print(f"{s.username:32} {s.role:11} {'active' if s.active else 'disabled':9} "
                      f"{s.created_at} {','.join(s.stores) or 'all-stores'}")
            return 0
        if args.username is None:
            raise ValueError(f"{args.action} needs a username")
        if args.action == "add":
            if args.role is None:
                raise ValueError(f"add needs --role ({', '.join(ROLES)})")
            auth.check_username(args.username)
            auth.check_role(args.role)
            stores = auth.check_stores(args.store or (), config.stores)
            auth.add_staff(conn, _actor(), args.username, args.role, _password(args), now,
                           stores=stores, language=args.language)
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
    from lps.console.fleet import parse_url

    try:
        parse_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the console with uvicorn on a socket bound here (so port 0 is named at once)."""
    import json
    import os
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = config_from(args)
    host, port = args.listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise InputError(f"--listen {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    os.environ[ENV] = json.dumps({
        "config": str(args.config), "approval_threshold": args.approval_threshold,
        "max_failures": args.max_failures, "session_minutes": args.session_minutes,
        "max_hashing": args.max_hashing, "hashing_queue": args.hashing_queue,
        "settlement_out": args.settlement_out, "mqtt": args.mqtt,
        "secure_cookies": args.secure_cookies})
    proxy = args.forwarded_allow_ips
    server_config = uvicorn.Config(
        "lps.console.cli:app_from_environment", factory=True, workers=args.workers,
        proxy_headers=bool(proxy), forwarded_allow_ips=proxy or None, server_header=False,
        timeout_graceful_shutdown=args.shutdown_seconds, log_level="warning",
        access_log=False)
    print(f"lps console: http://{host}:{sock.getsockname()[1]}/ (database "
          f"{console_path(config.switch.database)}, {args.workers} worker(s))", flush=True)
    try:
        if args.workers > 1:
            Multiprocess(server_config, sockets=[sock]).run()
        else:
            uvicorn.Server(server_config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


ENV = "LPS_CONSOLE_SETTINGS"


def app_from_environment() -> object:
    """The ASGI app of one worker, from the settings `lps console` put in the environment."""
    import json
    import os
    from pathlib import Path

    from lps.console.asgi import asgi
    from lps.console.throttle import Limits
    from lps.console.web import Console, Settings
    from switch.config import load_config

    s = json.loads(os.environ[ENV])
    settings = Settings(
        approval_threshold=s["approval_threshold"],
        limits=Limits(max_failures=s["max_failures"],
                      session_ttl=dt.timedelta(minutes=s["session_minutes"]),
                      max_hashing=s["max_hashing"], hashing_queue=s["hashing_queue"]),
        settlement_out=Path(s["settlement_out"]) if s["settlement_out"] else None,
        mqtt=s["mqtt"], secure_cookies=s["secure_cookies"])
    return asgi(Console(load_config(s["config"]), s["config"], settings))


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("staff", help="console staff accounts: add, disable, reset-password, list")
    p.add_argument("action", choices=("add", "disable", "reset-password", "list"),
                   help="add an account (the first one makes the console usable), disable it, "
                        "set a new password, or list the accounts")
    p.add_argument("username", nargs="?", help="the account (not for list)")
    p.add_argument("--role", help=f"add: one of {', '.join(ROLES)}")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password as one line of stdin (scripts)")
    p.add_argument("--store", action="append",
                   help="add: limit the account to this store (repeat for several; default: "
                        "the whole coalition)")
    p.add_argument("--language", choices=("fa", "en"), default="fa",
                   help="add: the console's language for this account (default: %(default)s)")
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
    p.add_argument("--workers", type=whole("--workers", 1), default=1,
                   help="worker processes (default: %(default)s)")
    p.add_argument("--forwarded-allow-ips", default="",
                   help="comma-separated addresses of reverse proxies whose X-Forwarded-For "
                        "and X-Forwarded-Proto are believed (default: none)")
    p.add_argument("--shutdown-seconds", type=whole("--shutdown-seconds", 1), default=30,
                   help="on SIGTERM, how long requests in progress may finish "
                        "(default: %(default)s)")
    p.set_defaults(func=cmd_console)
