"""The demo's entry point: set up the directory and the switch, run the steps, summarise."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from switch.config import ConfigError, load_config
from switch.core.programs.rules import program_rules
from switch.journal import open_reader
from switch.server import Switch, install_event_loop

from . import __doc__ as DESCRIPTION
from .agent import Skip, run_agent
from .common import demo_config, heading
from .macs import run_macs
from .programs import enroll, programs_card, run_programs
from .settle import run_settlement
from .traffic import run_traffic

ROOT = Path(__file__).resolve().parents[2]


async def run_demo(args: argparse.Namespace) -> int:
    """The demo in its directory: a temporary one (removed when every step passed, kept and
    named otherwise) or the one `--database` names (the user's: always kept)."""
    if args.database:
        db = Path(args.database).resolve()
        if db.exists():
            print(f"demo: {db} exists; the demo writes a new journal (give a new file)",
                  file=sys.stderr)
            return 2
        workdir = db.parent
        workdir.mkdir(parents=True, exist_ok=True)
        temporary = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="lps-demo-"))
        db = workdir / "lps.db"
        temporary = True
    print(f"LPS demo in {workdir}: " + (
        "a temporary directory, removed at the end when every step passed (--keep keeps it), "
        "kept when one failed" if temporary else "the directory you chose, kept"), flush=True)
    code = 1
    try:
        code = await _run_steps(args, workdir, db)
        return code
    finally:
        _tidy(workdir, db, temporary and code == 0 and not args.keep, temporary)


def _tidy(workdir: Path, db: Path, remove: bool, temporary: bool) -> None:
    """Say where the demo's files are, or remove the temporary directory it made."""
    for handler in logging.getLogger().handlers[:]:  # the switch's log file is in workdir
        handler.close()
        logging.getLogger().removeHandler(handler)
    if remove:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"removed {workdir} (the demo's journal, settlement files and logs)")
    elif temporary:
        print(f"kept {workdir}: journal {db.name}, settlement/, switch.log, agent/; remove it "
              "when done (rm -r)", flush=True)


async def _run_steps(args: argparse.Namespace, workdir: Path, db: Path) -> int:
    started = time.monotonic()
    out = Path(args.out).resolve() if args.out else workdir / "settlement"
    config_path = demo_config(Path(args.config), workdir, db)
    log = workdir / "switch.log"  # the switch's log lines (a refused MAC is one) go here
    logging.basicConfig(filename=log, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = load_config(config_path)
    pan = programs_card(config)
    birth = enroll(config_path, config, pan)  # before the start: the switch reads profiles then
    sw = Switch(config, program_rules(config))
    await sw.start()
    print(f"switch up on {config_path.name}: ascii {sw.addresses.get('ascii')}, bcd "
          f"{sw.addresses.get('bcd')}, metrics http://{sw.addresses.get('metrics')}/metrics, "
          f"log {log.name}")
    results: dict[str, str] = {}
    try:
        heading(1, "Programs: tiers, birthday bonus, stamps, receipt text, a coupon, a gift card")
        ok = await run_programs(sw, config, pan, birth, config_path)
        results["programs"] = "OK" if ok else "FAILED"
        heading(2, "MACs: a terminal keyed, key exchange, MACed traffic, one tampered message")
        ok, key = await run_macs(sw, config)
        results["MACs"] = "OK" if ok else "FAILED"
        heading(3, "Traffic: three stores, both wire profiles, batch close")
        ok = await run_traffic(sw, config, args)
        results["traffic"] = "OK" if ok else "FAILED (a batch out of balance)"
        heading(4, "Settlement of the day: positions, obligations, netting, report")
        ok, _report = await asyncio.to_thread(run_settlement, config, out)
        results["settlement"] = "OK" if ok else "FAILED (a batch out of balance)"
        heading(5, "Terminal agent with a virtual card and a cash register")
        try:
            ok = await asyncio.to_thread(run_agent, config, workdir, key, pan)
            results["agent"] = "OK" if ok else "FAILED"
        except Skip as exc:
            print(f"skipped: {exc}")
            results["agent"] = f"skipped ({exc})"
        except (OSError, RuntimeError) as exc:  # TimeoutError is an OSError
            print(f"FAILED: {exc}")
            results["agent"] = f"FAILED ({exc})".splitlines()[0]
    finally:
        await sw.stop()
    reader = open_reader(db)
    try:
        invariants = reader.check(full=True).problems
        entries, cards = reader.size()
    finally:
        reader.close()
    heading(6, "Summary")
    for step, outcome in results.items():
        print(f"{step:12} {outcome}")
    print(f"journal: {entries} entries, {cards} cards, database {db}")
    print("invariants (each card's lots = its journal; each lot = its moves): "
          + ("OK" if not invariants else "BROKEN: " + "; ".join(invariants)))
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    failed = invariants or any(v.startswith("FAILED") for v in results.values())
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lps.demo", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "examples" / "lps.toml"),
                        help="the switch configuration the demo's is derived from")
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("LPS_DEMO_SECONDS", "20")),
                        help="duration of the traffic step (default 20, or $LPS_DEMO_SECONDS)")
    parser.add_argument("--database", help="a new journal file (default: in a temporary "
                                           "directory, with everything else)")
    parser.add_argument("--out", help="root of the settlement's output, the day in OUT/<day>/ "
                                      "(default: beside the journal, settlement/)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory even when every step passed")
    parser.add_argument("--cards", type=int, default=40,
                        help="cards in the traffic step (default %(default)s)")
    parser.add_argument("--lanes", type=int, default=4,
                        help="concurrent POS lanes per terminal ID (each with its own STANs)")
    parser.add_argument("--tps", type=float, default=15.0, help="requests/s per lane")
    parser.add_argument("--seed", type=int, default=8583,
                        help="seed of the traffic step's random choices (default %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    install_event_loop()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(run_demo(args))
    except ConfigError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    return 130


if __name__ == "__main__":
    sys.exit(main())
