"""`lps messages ...`: the sender and the operator's commands over the outbox.

`send [--once]` delivers due messages (docs/messaging.md §Operator commands); `status` counts
messages by state and lists the dead letters; `requeue` sends dead or failed ones again;
`optout` / `optin` are the operator's switch for a number's promotional messages (with
`--receipts`, its receipt SMS).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
import threading

from lps.cli_input import MAX_ID, Failed, InputError, require_journal, whole
from lps.commands import add_config_argument, config_from
from switch.config import Config
from switch.core.text import TextError, parse_int
from switch.journal import Outbox, open_outbox
from switch.messaging import outbox as ob
from switch.messaging.address import mask_address, pseudonym
from switch.messaging.consent import set_consent, set_receipts
from switch.messaging.mobile import MobileError, mask_mobile, normalize_mobile

__all__ = ["register_commands"]


def _open(config: Config) -> Outbox:
    """The outbox of the switch's database (never created here: docs/cli.md's
    missing-database sentence)."""
    return open_outbox(require_journal(config.switch))


def _config(args: argparse.Namespace) -> Config:
    return config_from(args)


def cmd_send(args: argparse.Namespace) -> int:
    from switch.messaging.sender import Sender, SenderBusy, sender_lock

    config = _config(args)
    require_journal(config.switch)
    if config.messaging is None or (config.messaging.sms is None
                                    and config.messaging.email is None):
        print(f"lps messages send: {config.path}: no [messaging.sms] or [messaging.email]",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level or config.switch.log_level),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with sender_lock(config.switch.database):
            box = _open(config)
            try:
                report = Sender(box, config, stop=stop).run(once=args.once)
            finally:
                box.close()
    except SenderBusy as exc:
        raise Failed(str(exc)) from None
    recovered = ", ".join(f"{n} {s}" for s, n in sorted(report.recovered.items())) or "none"
    print(f"sent {report.sent}, retry later {report.retried}, dead {report.dead}, "
          f"failed {report.failed}, held for quiet hours {report.deferred}, receipts "
          f"{report.receipts}, opt-outs {report.opt_outs}; interrupted before: {recovered}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    box = _open(_config(args))
    try:
        counts = ob.counts(box)
        for state in ("queued", "sending", "sent", "delivered", "failed", "dead"):
            print(f"{state:10} {counts.get(state, 0)}")
        rows = box.in_state("dead", newest_first=True, limit=args.limit)
        if rows:
            print("dead letters (newest first):")
        for r in rows:
            print(f"  #{r.id:<8} {r.channel:5} {mask_address(r.recipient):18} "
                  f"{pseudonym(r.customer_ref)} {r.template} attempts={r.attempts} "
                  f"{r.last_error or ''}")
    finally:
        box.close()
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    try:
        ids = [parse_int(text, "message id", minimum=1, maximum=MAX_ID) for text in args.ids]
    except TextError as exc:
        raise InputError(str(exc)) from None
    box = _open(_config(args))
    try:
        if args.dead:
            ids += [r.id for r in box.in_state("dead")]
        done = ob.requeue(box, ids, dt.datetime.now(dt.UTC))
    finally:
        box.close()
    print(f"requeued {done} message(s)")
    return 0


def cmd_consent(args: argparse.Namespace) -> int:
    try:
        number = normalize_mobile(args.number)
    except MobileError as exc:
        raise InputError(str(exc)) from None
    box = _open(_config(args))
    on = args.command_name == "optin"
    try:
        if args.receipts:
            set_receipts(box, number, on, "operator", dt.datetime.now(dt.UTC))
        else:
            set_consent(box, number, on, "operator", dt.datetime.now(dt.UTC))
    finally:
        box.close()
    what = "receipt SMS" if args.receipts else "promotional messages"
    print(f"{what} to {mask_mobile(number)}: {'on' if on else 'off'}")
    return 0


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("messages", help="the outbox: send SMS and email, dead letters, opt-out")
    msub = p.add_subparsers(dest="messages_command", required=True, metavar="ACTION")

    q = msub.add_parser("send", help="deliver due messages (SMPP, SMTP)")
    q.add_argument("--once", action="store_true",
                   help="drain what is due now and exit (default: keep running until SIGTERM)")
    q.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="how much the sender logs (default INFO)")
    add_config_argument(q)
    q.set_defaults(func=cmd_send)

    q = msub.add_parser("status", help="messages by state, and the dead letters")
    q.add_argument("--limit", type=whole("--limit", 1, 10_000), default=20,
                   help="dead letters shown (default 20)")
    add_config_argument(q)
    q.set_defaults(func=cmd_status)

    q = msub.add_parser("requeue", help="send dead or failed messages again")
    q.add_argument("ids", nargs="*", help="message ids")
    q.add_argument("--dead", action="store_true", help="every dead letter")
    add_config_argument(q)
    q.set_defaults(func=cmd_requeue)

    for name, what in (("optout", "stop"), ("optin", "allow")):
        q = msub.add_parser(name, help=f"{what} promotional messages to a mobile number")
        q.add_argument("number", help="mobile number, e.g. 09121234567 (Persian digits accepted)")
        q.add_argument("--receipts", action="store_true",
                       help=f"{what} receipt SMS instead (transactional; docs/messaging.md)")
        add_config_argument(q)
        q.set_defaults(func=cmd_consent, command_name=name)
