"""`lps-agent`: run the terminal agent, check its config, list card readers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .config import ConfigError, load_config


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"lps-agent: config error: {exc}", file=sys.stderr)
        return 2
    from .agent import Agent

    async def main() -> None:
        agent = Agent(cfg, args.config)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await agent.run_forever()
        except asyncio.CancelledError:
            logging.getLogger("lps.agent").info("stopped")

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"lps-agent: {exc}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"lps-agent: config error: {exc}", file=sys.stderr)
        return 2
    hosts = ", then ".join(cfg.hosts)
    print(f"{args.config}: ok (terminal {cfg.terminal_id}, store {cfg.store_id}, "
          f"switch {hosts} {cfg.profile})")
    return 0


def _readers(_args: argparse.Namespace) -> int:
    from .card.pcsc import PcscUnavailable, card_present, describe_reader, list_readers

    try:
        readers = list_readers()
    except PcscUnavailable as exc:
        print(f"lps-agent: {exc}", file=sys.stderr)
        return 1
    if not readers:
        print("no PC/SC readers")
        return 0
    for reader in readers:
        print(f"{reader}: {describe_reader(reader, card_present(reader))}")
    return 0


DESCRIPTION = ("The LPS terminal agent: between the cash register (serial), the card reader "
               "(PC/SC) or barcode scanner, and the switch (docs/agent.md).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lps-agent", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the agent")
    run.add_argument("--config", required=True, help="agent TOML file")
    run.set_defaults(func=_run)
    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", required=True, help="the agent TOML file to check")
    check.set_defaults(func=_check)
    rd = sub.add_parser("readers", help="list PC/SC readers and what the card in each answers")
    rd.set_defaults(func=_readers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
