"""`lps` commands of the programs: enrollment profiles, bulk card issue, verifiable draws.

Registered through `switch.cli.COMMAND_MODULES`. `lps cards enroll PAN --name --phone
--birth-date` (the profile arguments are added to the switch's `cards` command),
`lps cards-issue --bin ... --count N --out cards.csv`, `lps draw --coalition ID --date D`,
`lps draw-verify DIR`.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import sqlite3
import sys
from pathlib import Path

from switch.cli import add_config_argument, config_from
from switch.config import Config, ConfigError
from switch.console.audit import append_cli
from switch.core.calendar import business_day
from switch.core.luhn import mask_pan
from switch.core.programs.cards import issue_numbers
from switch.core.programs.club import Profile
from switch.core.programs.draw import Entrant, commitment, draw, entries_digest

PHONE = re.compile(r"^\+?[0-9]{7,15}$")


class UsageError(ValueError):
    """A command line that cannot be carried out; printed as `lps: ...`, exit 1."""


# -- profiles (lps cards enroll) ----------------------------------------------------------------


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="enroll: the customer's name")
    p.add_argument("--phone", help="enroll: mobile number, digits with an optional leading +")
    p.add_argument("--birth-date", help="enroll: YYYY-MM-DD (birthday bonus)")


def profile_from_args(args: argparse.Namespace, now: dt.datetime) -> Profile | None:
    """The profile the arguments describe (None: none given); raises UsageError."""
    name, phone, birth = (getattr(args, k, None) for k in ("name", "phone", "birth_date"))
    if name is None and phone is None and birth is None:
        return None
    if name is not None and not (0 < len(name.strip()) <= 100 and name.isprintable()):
        raise UsageError(f"--name must be 1-100 printable characters, got {name!r}")
    if phone is not None and not PHONE.match(phone):
        raise UsageError(f"--phone must be 7-15 digits with an optional +, got {phone!r}")
    birth_date = None
    if birth is not None:
        try:
            birth_date = dt.date.fromisoformat(birth)
        except ValueError:
            raise UsageError(f"--birth-date must be YYYY-MM-DD, got {birth!r}") from None
        if birth_date > now.date() or birth_date.year < 1900:
            raise UsageError(f"--birth-date {birth} is not a plausible birth date")
    return Profile((name or "").strip(), phone or "", birth_date, now)


def save_profile(config: Config, pan: str, profile: Profile) -> None:
    """Write the profile, and have a running switch load it into its cache at once."""
    from switch.programs_store import put_profile
    from switch.server import database_in_use
    from switch.store import connect, migrate

    running = database_in_use(config.switch.database)
    conn = connect(config.switch.database)
    try:
        migrate(conn)
        conn.execute("BEGIN IMMEDIATE")
        put_profile(conn, pan, profile)
        conn.execute("COMMIT")
    finally:
        conn.close()
    if running:
        from switch.cli import _admin_request

        reply = _admin_request(config, {"cmd": "profile", "pan": pan})
        if not reply.get("ok"):
            print(f"profile saved; the running switch did not load it: {reply.get('error')} "
                  "(it reads profiles at its next start)", file=sys.stderr)


# -- bulk issue -------------------------------------------------------------------------------


def cmd_issue(args: argparse.Namespace) -> int:
    config = config_from(args)
    coalition = config.coalitions.get(args.coalition) if args.coalition else None
    if args.coalition and coalition is None:
        raise ConfigError(config.path, f"coalition.{args.coalition}", "no such coalition")
    if coalition is not None and not any(args.bin.startswith(b) for b in coalition.card_bins):
        print(f"lps cards-issue: BIN {args.bin} is not in coalition {coalition.id}'s card_bins",
              file=sys.stderr)
        return 1
    out = Path(args.out)
    if out.exists():
        print(f"lps cards-issue: {out} exists; not overwriting a printer file", file=sys.stderr)
        return 1
    from switch.store import connect, migrate

    conn = connect(config.switch.database)
    try:
        migrate(conn)
        # One write transaction: two issues at once cannot hand out the same numbers.
        conn.execute("BEGIN IMMEDIATE")
        taken = {r[0] for r in conn.execute(
            "SELECT pan FROM cards WHERE pan LIKE ?1 AND length(pan) = ?2 UNION "
            "SELECT pan FROM issued_cards WHERE pan LIKE ?1 AND length(pan) = ?2",
            (args.bin + "%", args.length))}
        start = args.start
        if start is None:
            start = max((int(p[len(args.bin):-1]) for p in taken), default=0) + 1
        try:
            numbers = list(issue_numbers(args.bin, args.length, start, args.count, taken))
        except ValueError as exc:
            conn.execute("ROLLBACK")
            print(f"lps cards-issue: {exc}", file=sys.stderr)
            return 1
        _write_printer_file(out, numbers, args.bin, coalition.id if coalition else "")
        at = dt.datetime.now(dt.UTC).isoformat()
        conn.executemany("INSERT INTO issued_cards (pan, file, issued_at) VALUES (?,?,?)",
                         [(pan, str(out), at) for pan in numbers])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        out.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    rc = append_cli(config.switch.database, "cards.issue", f"bin:{args.bin}", None, {
        "count": len(numbers), "first": mask_pan(numbers[0]) if numbers else None,
        "last": mask_pan(numbers[-1]) if numbers else None, "file": str(out)})
    print(f"issued {len(numbers)} card numbers {mask_pan(numbers[0])} .. "
          f"{mask_pan(numbers[-1])} to {out}" if numbers else "issued 0 card numbers")
    return rc


def _write_printer_file(out: Path, numbers: list[str], bin_: str, coalition: str) -> None:
    """The CSV, written whole or not at all (temporary file, fsync, rename)."""
    width = len(numbers[0]) - len(bin_) - 1 if numbers else 0
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["pan", "bin", "serial", "coalition"])
        for pan in numbers:
            w.writerow([pan, bin_, pan[len(bin_):len(bin_) + width], coalition])
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out)


# -- draws ------------------------------------------------------------------------------------


def entrants(config: Config, coalition: str, day: dt.date, by: str) -> list[Entrant]:
    """Members of `coalition` enrolled by `day`, with their entries, sorted by PAN.

    `points`: one entry per point usable on `day` (lots not expired, net of debts, as the
    journal stands); `card`: one entry per active card.
    """
    db = config.switch.database
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        cards = conn.execute(
            "SELECT pan FROM cards WHERE coalition_id = ? AND status = 'active' AND "
            "enrolled_on <= ? ORDER BY pan", (coalition, day.isoformat())).fetchall()
        if by == "card":
            return [Entrant(pan, 1) for (pan,) in cards]
        points = dict(conn.execute(
            "SELECT pan, SUM(remaining) FROM lots WHERE kind = 'points' AND coalition_id = ? "
            "AND (remaining < 0 OR expires_on IS NULL OR expires_on > ?) GROUP BY pan",
            (coalition, day.isoformat())).fetchall())
        return [Entrant(pan, max(int(points.get(pan, 0)), 0)) for (pan,) in cards]
    finally:
        conn.close()


def cmd_draw(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.coalition not in config.coalitions:
        raise ConfigError(config.path, f"coalition.{args.coalition}", "no such coalition")
    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        print(f"lps draw: --date must be YYYY-MM-DD, got {args.date!r}", file=sys.stderr)
        return 1
    if not config.switch.database.exists():
        print(f"lps draw: {config.switch.database}: no database", file=sys.stderr)
        return 1
    out = Path(args.out)
    if out.exists():
        print(f"lps draw: {out} exists; a draw is published once", file=sys.stderr)
        return 1
    try:
        seed = bytes.fromhex(args.seed) if args.seed else os.urandom(32)
    except ValueError:
        print("lps draw: --seed must be hex", file=sys.stderr)
        return 1
    members = entrants(config, args.coalition, day, args.entries)
    # Published under a label (entry number + masked card number, PROTOCOL.md section 6);
    # the operator keeps the label -> card number map (private.csv, mode 0600).
    people = [Entrant(f"{i:07d}-{mask_pan(m.pan)}", m.entries) for i, m in enumerate(members, 1)]
    digest = entries_digest(people)
    out.mkdir(parents=True)
    fd = os.open(out / "private.csv", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "pan"])
        writer.writerows((p.pan, m.pan) for p, m in zip(people, members, strict=True))
    # 1. Publish the entries and the commitment to the seed, durably, before drawing.
    with open(out / "entries.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "entries"])
        writer.writerows((e.pan, e.entries) for e in people)
        fh.flush()
        os.fsync(fh.fileno())
    _write(out / "commitment.json", {
        "coalition": args.coalition, "date": day.isoformat(), "entries_by": args.entries,
        "winners": args.winners, "entries_sha256": digest, "seed_sha256": commitment(seed),
    })
    # 2. Draw, 3. publish the seed with the winners.
    won = draw(seed, people, args.winners)
    _write(out / "result.json", {"seed": seed.hex(), "winners": [x.pan for x in won]})
    rc = append_cli(config.switch.database, "draw.run", f"draw:{args.coalition}/{day}", None, {
        "seed_sha256": commitment(seed), "entries_sha256": digest, "members": len(people),
        "winners": [x.pan for x in won], "out": str(out)})
    print(f"draw {args.coalition} {day}: {len(people)} members, "
          f"{sum(e.entries for e in people)} entries, seed sha256 {commitment(seed)}")
    for i, x in enumerate(won, 1):
        print(f"  {i}. {x.pan} ({x.entries} entries)")
    return rc


def verify(directory: Path) -> list[str]:
    """Recompute a published draw; returns the problems (empty: it checks out)."""
    c = json.loads((directory / "commitment.json").read_text(encoding="utf-8"))
    r = json.loads((directory / "result.json").read_text(encoding="utf-8"))
    with open(directory / "entries.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    people = [Entrant(row["label"], int(row["entries"])) for row in rows]
    seed = bytes.fromhex(r["seed"])
    problems = []
    if commitment(seed) != c["seed_sha256"]:
        problems.append("the published seed does not match the commitment")
    if entries_digest(people) != c["entries_sha256"]:
        problems.append("entries.csv does not match its committed digest")
    if [x.pan for x in draw(seed, people, int(c["winners"]))] != r["winners"]:
        problems.append("the winners do not follow from the seed and the entries")
    return problems


def cmd_verify(args: argparse.Namespace) -> int:
    problems = verify(Path(args.directory))
    for p in problems:
        print(f"lps draw-verify: {p}", file=sys.stderr)
    if not problems:
        print("draw verified: seed matches its commitment, winners reproduced")
    return 1 if problems else 0


def _write(path: Path, data: dict[str, object]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def cmd_club(args: argparse.Namespace) -> int:
    """A card's program state as the switch will see it at its next message today."""
    from switch.core.model import Card
    from switch.core.programs.club import nightly_tier, rolling_spend
    from switch.programs_store import load_clubs

    config = config_from(args)
    db = config.switch.database
    if not db.exists():
        print(f"lps club: {db}: no database", file=sys.stderr)
        return 1
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT coalition_id, status, enrolled_on FROM cards WHERE pan = ?",
                           (args.pan,)).fetchone()
        if row is None:
            print(f"lps club: card {mask_pan(args.pan)} is not enrolled", file=sys.stderr)
            return 1
        day = today(config)
        card = Card(args.pan, row[0], row[1], dt.date.fromisoformat(row[2]))
        cards = {args.pan: card}

        def q(sql: str, params: tuple[object, ...] = ()) -> sqlite3.Cursor:
            where = " WHERE pan = ?" if "WHERE" not in sql else " AND pan = ?"
            return conn.execute(sql + where, (*params, args.pan))

        load_clubs(q, cards, day)
    finally:
        conn.close()
    co = config.coalitions.get(card.coalition)
    club = card.club
    print(f"card       {mask_pan(card.pan)}   coalition {card.coalition}   status {card.status}")
    if club is None:
        print("program    no earn yet")
        return 0
    p = club.profile
    if p is not None:
        enrolled = f"{p.enrolled_at:%Y-%m-%d}" if p.enrolled_at else "-"
        print(f"profile    {p.name or '-'}   phone {p.phone or '-'}   born {p.birth_date or '-'}"
              f"   enrolled {enrolled}")
    if co is not None and co.tiers:
        print(f"tier       {nightly_tier(club, co.tiers, day)} (12-month spend "
              f"{rolling_spend(club, day)})")
    print(f"earned     {club.earned_on(day)} points today   birthday bonus year "
          f"{club.birthday_year or '-'}")
    for store in sorted(club.stamps):
        print(f"stamps     {store}: {max(club.stamps[store], 0)}   rewards "
              f"{max(club.rewards.get(store, 0), 0)}")
    return 0


def today(config: Config) -> dt.date:
    cfg = config.switch
    return business_day(dt.datetime.now(dt.UTC), cfg.zone, cfg.business_day_cutover)


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("cards-issue", help="new Luhn-valid card numbers in a BIN range to a CSV")
    p.add_argument("--bin", required=True, help="BIN prefix, e.g. 628000")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True, help="CSV for the card printer (must not exist)")
    p.add_argument("--length", type=int, default=16, help="card number length (13-19)")
    p.add_argument("--start", type=int, help="first serial (default: after the enrolled ones)")
    p.add_argument("--coalition", help="check the BIN belongs to this coalition")
    add_config_argument(p)
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("draw", help="a verifiable prize draw among a coalition's members")
    p.add_argument("--coalition", required=True)
    p.add_argument("--date", required=True, help="members enrolled by this business day")
    p.add_argument("--winners", type=int, default=1)
    p.add_argument("--entries", choices=("points", "card"), default="points",
                   help="one entry per point (default) or one per card")
    p.add_argument("--out", required=True, help="directory to publish the draw in (new)")
    p.add_argument("--seed", help="32-byte seed as hex (default: from the OS)")
    add_config_argument(p)
    p.set_defaults(func=cmd_draw)

    p = sub.add_parser("club", help="a card's program state: profile, tier, spend, stamps")
    p.add_argument("pan")
    add_config_argument(p)
    p.set_defaults(func=cmd_club)

    p = sub.add_parser("draw-verify", help="recompute a published draw")
    p.add_argument("directory")
    p.set_defaults(func=cmd_verify)
