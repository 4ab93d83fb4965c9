"""``lps-hsm``: create an LMK, serve it over TCP, compute check values, make keys, and enter or
leave the running server's Authorised state from its console (docs/hsm.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hsm_sim import primitives
from hsm_sim.authority import MAX_MINUTES
from hsm_sim.console import console_request
from hsm_sim.engine import HsmEngine
from hsm_sim.errors import HsmError
from hsm_sim.lmk import KeyType, create_lmk_file, load_lmk, parse_key_type
from hsm_sim.server import parse_listen, serve

_TYPES = ", ".join(t.name for t in KeyType)


def _ascii_int(text: str) -> int:
    """An argparse type: ASCII digits only (`int()` also reads '٥' and '５')."""
    if not primitives.is_ascii_digits(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (ASCII digits 0-9)")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lps-hsm", description="LPS HSM simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)

    init = sub.add_parser("init", help="create a new LMK file (mode 0600)")
    init.add_argument("--lmk", required=True, help="path of the LMK file to create")
    init.add_argument("--force", action="store_true", help="replace an existing LMK file")

    srv = sub.add_parser("serve", help="serve the host command protocol over TCP")
    srv.add_argument("--lmk", required=True,
                     help="the LMK file to serve with (made by lps-hsm init; mode 0600)")
    srv.add_argument("--listen", default="127.0.0.1:1500", help="host:port (default %(default)s)")
    srv.add_argument("--console", help="path of the local console socket (mode 0600) from which "
                     "'lps-hsm authorise' and 'cancel' reach the Authorised state; none by "
                     "default")
    srv.add_argument("-v", "--verbose", action="store_true", help="log every rejected command")

    auth = sub.add_parser("authorise", help="put a running server in the Authorised state "
                          "(NE may then hand out clear key components)")
    auth.add_argument("--console", required=True, help="the server's --console socket")
    auth.add_argument("--minutes", type=_ascii_int, default=10,
                      help=f"how long, 1 to {MAX_MINUTES} (default %(default)s)")

    cancel = sub.add_parser("cancel", help="leave the Authorised state")
    cancel.add_argument("--console", required=True, help="the server's --console socket")

    kcv = sub.add_parser("kcv", help="check value of a clear key, or of a key under the LMK")
    kcv.add_argument("key", help="clear key in hex, or a key under the LMK ('U' + 32 hex)")
    kcv.add_argument("--lmk", help="LMK file (needed for a key under the LMK)")
    kcv.add_argument("--type", help=f"key type of a key under the LMK: {_TYPES}")
    kcv.add_argument("--algorithm", choices=("tdes", "aes"), default="tdes",
                     help="cipher of a clear key (default %(default)s)")
    kcv.add_argument("--length", type=_ascii_int, default=3, help="bytes of KCV (default 3)")

    new = sub.add_parser("new-key", help="generate a key, or form one from clear components")
    new.add_argument("--lmk", required=True,
                     help="the LMK file the new key is stored under (made by lps-hsm init)")
    new.add_argument("--type", required=True, help=_TYPES)
    new.add_argument(
        "--component",
        action="append",
        default=[],
        help="clear component (32 hex); give 2 or more to form a known key instead",
    )
    new.add_argument(
        "--components",
        action="store_true",
        help="also print two clear components of the new key (for key injection)",
    )
    return ap


def _cmd_init(args: argparse.Namespace) -> int:
    Path(args.lmk).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lmk = create_lmk_file(args.lmk, force=args.force)
    print(f"LMK created in {args.lmk} (mode 0600); check value {lmk.check_value()}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    parse_listen(args.listen)
    engine = HsmEngine(load_lmk(args.lmk))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(engine, args.listen, args.console))
    return 0


def _cmd_authorise(args: argparse.Namespace) -> int:
    if not 1 <= args.minutes <= MAX_MINUTES:
        raise HsmError(f"--minutes must be 1 to {MAX_MINUTES}")
    reply = console_request(args.console, f"A {args.minutes}")
    print(f"lps-hsm: {reply.split()[0]} for {args.minutes} minutes: NE hands out clear key "
          f"components until then, or until lps-hsm cancel")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    print(f"lps-hsm: {console_request(args.console, 'C')}")
    return 0


def _cmd_kcv(args: argparse.Namespace) -> int:
    if args.key.startswith("U"):
        if not args.lmk or not args.type:
            raise HsmError("a key under the LMK needs --lmk and --type")
        engine = HsmEngine(load_lmk(args.lmk))
        print(engine.kcv(args.key, parse_key_type(args.type)))
        return 0
    try:
        clear = bytes.fromhex(args.key)
    except ValueError:
        raise HsmError("the key must be hex, or 'U' + 32 hex with --lmk") from None
    print(primitives.kcv(clear, args.algorithm, args.length).hex().upper())
    return 0


def _cmd_new_key(args: argparse.Namespace) -> int:
    engine = HsmEngine(load_lmk(args.lmk))
    key_type = parse_key_type(args.type)
    if args.component:
        parts = []
        for comp in args.component:
            try:
                parts.append(bytes.fromhex(comp))
            except ValueError:
                raise HsmError(f"component {comp!r} is not hex") from None
        key = engine.form_key(key_type, parts)
    else:
        key = engine.generate_key(key_type)
    print(f"{key_type.name} under LMK: {key.key_lmk}")
    print(f"KCV: {key.kcv}")
    if args.components:
        for i, comp in enumerate(engine.split_key(key.key_lmk, key_type, 2), 1):
            print(f"component {i}: {comp.component}  KCV {comp.kcv}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"init": _cmd_init, "serve": _cmd_serve, "kcv": _cmd_kcv, "new-key": _cmd_new_key,
                "authorise": _cmd_authorise, "cancel": _cmd_cancel}
    try:
        return handlers[args.cmd](args)
    except (HsmError, ValueError, OSError) as exc:
        print(f"lps-hsm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
