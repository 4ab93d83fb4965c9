"""`lps draw-commit`, `lps draw` and `lps draw-verify`: prize draws nobody can re-roll.

The procedure is docs/programs.md "Draws". In short: the commitment (the SHA-256 of a secret
seed, the draw's parameters and, optionally, a named public randomness beacon and the round
that will decide) is made, audited and published *before* the draw day; the seed is drawn by
the OS and kept in a 0600 file. After the draw day is over the entries are computed as they
stood at its end, the seed is revealed, and the winners follow from seed, beacon value and
entries alone. One commitment per coalition and day: a second is refused (the audit log says
which exists), so the operator cannot commit twice and reveal the one that suits.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lps.cli_input import (
    EXIT_FAILED,
    Failed,
    InputError,
    audit_home,
    day,
    name,
    require_journal,
    whole,
)
from lps.commands import add_config_argument, config_from
from lps.console.cli_audit import append_cli
from switch.config import Config, ConfigError
from switch.core.calendar import business_day
from switch.core.luhn import mask_pan
from switch.core.programs.draw import Entrant, commitment, draw, entries_digest
from switch.core.text import is_digits

FORMAT = "lps-draw/2"
COMMITMENT, SECRET, ENTRIES, PRIVATE, RESULT = (
    "commitment.json", "seed.secret", "entries.csv", "private.csv", "result.json")


def today(config: Config) -> dt.date:
    cfg = config.switch
    return business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)


def draw_seed(seed: bytes, beacon_value: str | None) -> bytes:
    """The bytes the winners follow from: the seed alone, or mixed with the beacon's value.

    With a beacon the operator, who knows the seed from the start, cannot foresee the winners
    either: the beacon's value is published after the entries are final.
    """
    if beacon_value is None:
        return seed
    return hashlib.sha256(seed + beacon_value.encode("utf-8")).digest()


def entrants(config: Config, coalition: str, when: dt.date, by: str) -> list[Entrant]:
    """Members of `coalition` enrolled by `when` and active now, with their entries, by PAN.

    `points`: one entry per point usable on `when` as the journal stood at that business day's
    end (the lot moves of business days up to `when`; lots not expired on `when`, debts
    counted), so a draw run later, or run again, sees the same entries; `card`: one each.
    """
    from switch.journal import open_reader

    reader = open_reader(require_journal(config.switch))
    try:
        cards = reader.members(coalition, when)
        if by == "card":
            return [Entrant(pan, 1) for pan in cards]
        points = reader.usable_points_at(coalition, when)
    finally:
        reader.close()
    return [Entrant(pan, max(points.get(pan, 0), 0)) for pan in cards]


def _audited_commitments(db: Path, target: str) -> list[dict[str, Any]]:
    """The `draw.commit` rows of the audit log for one draw (the log is append-only)."""
    from lps.console.cli_audit import read_cli

    return [json.loads(r.after) for r in read_cli(db, "draw.commit", target) if r.after]


def _target(coalition: str, when: dt.date) -> str:
    return f"draw:{coalition}/{when.isoformat()}"


def cmd_commit(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.coalition not in config.coalitions:
        raise ConfigError(config.path, f"coalition.{args.coalition}", "no such coalition")
    db = audit_home(config.switch)
    now_day = today(config)
    if args.date <= now_day:
        raise InputError(f"--date {args.date} must be after today's business day {now_day}: "
                         "a commitment is published before the draw day, never on or after it")
    target = _target(args.coalition, args.date)
    earlier = _audited_commitments(db, target)
    if earlier:
        raise Failed(f"the draw of {args.coalition} on {args.date} is already committed (seed "
                     f"sha256 {earlier[0].get('seed_sha256')}, in the audit log); a draw is "
                     "committed once")
    out = Path(args.out)
    if out.exists():
        raise Failed(f"{out} exists; a draw is committed into a new directory")
    seed = os.urandom(32)
    data: dict[str, Any] = {
        "format": FORMAT, "coalition": args.coalition, "date": args.date.isoformat(),
        "entries_by": args.entries, "winners": args.winners, "seed_sha256": commitment(seed),
        "beacon": args.beacon, "committed_at": dt.datetime.now(dt.UTC).isoformat(
            timespec="seconds"),
    }
    out.mkdir(parents=True)
    _write_secret(out / SECRET, seed.hex() + "\n")
    _write_json(out / COMMITMENT, data)
    rc = append_cli(db, "draw.commit", target, None,
                    {k: data[k] for k in ("seed_sha256", "winners", "entries_by", "beacon")})
    print(f"draw {args.coalition} {args.date}: committed, seed sha256 {data['seed_sha256']}")
    print(f"publish {out / COMMITMENT} now; keep {out / SECRET} (mode 0600) secret until the "
          f"draw, run `lps draw {out}` once business day {args.date} is over")
    if args.beacon:
        print(f"the winners also depend on {args.beacon}: give its value to `lps draw "
              "--beacon-value` once it is published")
    return rc


@dataclass(frozen=True, slots=True)
class Committed:
    coalition: str
    date: dt.date
    entries_by: str
    winners: int
    seed_sha256: str
    beacon: str | None


def _read_commitment(directory: Path) -> Committed:
    try:
        c = _json_file(directory / COMMITMENT)
        winners, beacon = c["winners"], c.get("beacon")
        if type(winners) is not int or winners < 0:
            raise ValueError(f"winners is {str(winners)[:20]!r}, not a count of 0 or more")
        if beacon is not None and not isinstance(beacon, str):
            raise ValueError("beacon is neither text nor null")
        return Committed(str(c["coalition"]), dt.date.fromisoformat(c["date"]),
                         str(c["entries_by"]), winners, str(c["seed_sha256"]), beacon)
    except FileNotFoundError:
        raise Failed(f"{directory} holds no {COMMITMENT}: commit the draw first "
                     "(lps draw-commit)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failed(f"{directory / COMMITMENT} cannot be read: {exc}") from None


def _json_file(path: Path) -> Any:
    """A published JSON file (`ValueError` for one nested too deep to read)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("its JSON is nested too deep") from None


#: The most digits a count of entries may have in a published entries.csv: counts are points
#: or visits, and the pot's total stays far below the 2^256 the draw samples from.
MAX_ENTRY_DIGITS = 18


def _read_entries(path: Path) -> list[Entrant]:
    """The published entry list as `_write_entries` writes it (`Failed`: it is not)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            if next(reader, None) != ["label", "entries"]:
                raise Failed(f"{path}: the first line is not label,entries")
            people = []
            for row in reader:
                if len(row) != 2 or not is_digits(row[1]) or len(row[1]) > MAX_ENTRY_DIGITS:
                    raise Failed(f"{path}, line {reader.line_num}: not a label and a count of "
                                 f"entries (1-{MAX_ENTRY_DIGITS} ASCII digits)")
                people.append(Entrant(row[0], int(row[1])))
        except csv.Error as exc:
            raise Failed(f"{path}, line {reader.line_num}: not CSV ({exc})") from None
    return people


def cmd_draw(args: argparse.Namespace) -> int:
    config = config_from(args)
    directory = Path(args.directory)
    c = _read_commitment(directory)
    if c.coalition not in config.coalitions:
        raise ConfigError(config.path, f"coalition.{c.coalition}", "no such coalition")
    db = audit_home(config.switch)
    if (directory / RESULT).exists():
        raise Failed(f"{directory} is drawn already ({RESULT}); a draw is drawn once "
                     "(lps draw-verify checks it)")
    if c.date >= today(config):
        raise Failed(f"business day {c.date} is not over yet: the entries are final only "
                     "after its cutover")
    audited = [a.get("seed_sha256") for a in _audited_commitments(db, _target(c.coalition,
                                                                                c.date))]
    if audited != [c.seed_sha256]:
        raise Failed(f"{directory / COMMITMENT} is not the commitment the audit log holds for "
                     f"this draw ({', '.join(map(str, audited)) or 'none'})")
    seed = _read_seed(directory, c)
    beacon_value = args.beacon_value
    if c.beacon and not beacon_value:
        raise InputError(f"the commitment names the beacon {c.beacon}: give its published "
                         "value with --beacon-value")
    if beacon_value and not c.beacon:
        raise InputError("--beacon-value given, but the commitment names no beacon")
    members = entrants(config, c.coalition, c.date, c.entries_by)
    eligible = sum(1 for m in members if m.entries > 0)
    if eligible == 0:
        raise Failed(f"no member of {c.coalition} has an entry on {c.date} ({len(members)} "
                     "members, none with entries): there is nothing to draw; the seed stays "
                     "secret")
    # Published under a label (entry number + masked card number, docs/protocol.md §6);
    # the operator keeps the label -> card number map (private.csv, mode 0600).
    people = [Entrant(f"{i:07d}-{mask_pan(m.pan)}", m.entries) for i, m in enumerate(members, 1)]
    digest = entries_digest(people)
    won = draw(draw_seed(seed, beacon_value), people, c.winners)
    _write_private(directory / PRIVATE, people, members)
    _write_entries(directory / ENTRIES, people)
    _write_json(directory / RESULT, {
        "format": FORMAT, "seed": seed.hex(), "beacon_value": beacon_value,
        "entries_sha256": digest, "members": len(people), "eligible": eligible,
        "winners": [x.pan for x in won]})
    rc = append_cli(db, "draw.run", _target(c.coalition, c.date), None, {
        "seed_sha256": c.seed_sha256, "entries_sha256": digest, "members": len(people),
        "beacon_value": beacon_value, "winners": [x.pan for x in won]})
    print(f"draw {c.coalition} {c.date}: {len(people)} members, {eligible} with entries, "
          f"{sum(e.entries for e in people)} entries; seed revealed")
    if eligible < c.winners:
        print(f"only {eligible} eligible member{'s' if eligible != 1 else ''} for the "
              f"{c.winners} winners committed: every eligible member wins")
    for i, x in enumerate(won, 1):
        print(f"  {i}. {x.pan} ({x.entries} entries)")
    return rc


def _read_seed(directory: Path, c: Committed) -> bytes:
    try:
        seed = bytes.fromhex((directory / SECRET).read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise Failed(f"{directory / SECRET}: the committed seed cannot be read: "
                     f"{type(exc).__name__}") from None
    if commitment(seed) != c.seed_sha256:
        raise Failed(f"{directory / SECRET} does not match the commitment's seed sha256")
    return seed


def verify(directory: Path) -> list[str]:
    """Recompute a published draw; returns the problems (empty: it checks out). The files are
    anyone's to publish: each is read for exactly what `lps draw` writes there."""
    try:
        c = _read_commitment(directory)
        r = _json_file(directory / RESULT)
        people = _read_entries(directory / ENTRIES)
        seed = bytes.fromhex(r["seed"])
        beacon_value = r.get("beacon_value")
        winners = r["winners"]
        if beacon_value is not None and not isinstance(beacon_value, str):
            raise Failed(f"{directory / RESULT}: beacon_value is neither text nor null")
        if not isinstance(winners, list) or not all(isinstance(w, str) for w in winners):
            raise Failed(f"{directory / RESULT}: winners is not a list of labels")
    except Failed as exc:
        return [str(exc)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"the published files cannot be read: {type(exc).__name__}: {exc}"]
    problems = []
    if commitment(seed) != c.seed_sha256:
        problems.append("the published seed does not match the commitment")
    if entries_digest(people) != r.get("entries_sha256"):
        problems.append("entries.csv does not match the digest published with the result")
    if bool(c.beacon) != bool(beacon_value):
        problems.append("the beacon named in the commitment and the value in the result "
                        "do not go together")
    if [x.pan for x in draw(draw_seed(seed, beacon_value), people, c.winners)] != winners:
        problems.append("the winners do not follow from the seed, the beacon value and the "
                        "entries")
    return problems


def cmd_verify(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    problems = verify(directory)
    for p in problems:
        print(f"lps draw-verify: {p}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    c = _read_commitment(directory)
    print("draw verified: the seed matches its commitment, the entries their digest, and the "
          "winners follow")
    if c.beacon:
        value = json.loads((directory / RESULT).read_text(encoding="utf-8"))["beacon_value"]
        print(f"check yourself that {c.beacon} published {value}")
    print(f"check that {COMMITMENT} (seed sha256 {c.seed_sha256}) was published before "
          f"business day {c.date}")
    return 0


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="ascii") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _write_private(path: Path, people: list[Entrant], members: list[Entrant]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "pan"])
        writer.writerows((p.pan, m.pan) for p, m in zip(people, members, strict=True))
        fh.flush()
        os.fsync(fh.fileno())


def _write_entries(path: Path, people: list[Entrant]) -> None:
    with open(path, "x", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "entries"])
        writer.writerows((e.pan, e.entries) for e in people)
        fh.flush()
        os.fsync(fh.fileno())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "x", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("draw-commit", help="commit to a prize draw before its day (step 1)")
    p.add_argument("--coalition", required=True, help="the coalition whose members take part")
    p.add_argument("--date", required=True, type=day("--date"),
                   help="the draw's business day YYYY-MM-DD, after today: members enrolled "
                        "by then, with the points usable at its end")
    p.add_argument("--winners", type=whole("--winners", 1, 1000), default=1,
                   help="how many different members win (default: %(default)s)")
    p.add_argument("--entries", choices=("points", "card"), default="points",
                   help="one entry per usable point (default) or one per card")
    p.add_argument("--beacon", type=name("--beacon", 200),
                   help="a public randomness source and the round or block that will decide, "
                        "published after the draw day, e.g. 'drand quicknet round 1234567' "
                        "(optional; recommended)")
    p.add_argument("--out", required=True,
                   help="new directory for commitment.json (publish it) and the secret seed")
    add_config_argument(p)
    p.set_defaults(func=cmd_commit)

    p = sub.add_parser("draw", help="draw the winners of a committed draw (step 2)")
    p.add_argument("directory", help="the directory lps draw-commit wrote")
    p.add_argument("--beacon-value", type=name("--beacon-value", 1000),
                   help="the value the committed beacon published, as it published it "
                        "(needed when the commitment names one)")
    add_config_argument(p)
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("draw-verify", help="recompute a published draw (anyone can)")
    p.add_argument("directory", help="the published commitment.json, entries.csv and "
                                     "result.json")
    p.set_defaults(func=cmd_verify)
