"""The reference switch of the hostile simulation, written from docs/protocol.md, docs/switch.md
("Decisions") and docs/programs.md, not from the code.

`Model.expect(...)` says what the switch must answer to one message (or one undecodable frame)
and changes the model as the switch must change its state. It keeps the lots of every card (a
docs/protocol.md §10 limit is about positive lots and debts apart), the remembered requests,
tombstones, terminal batches' totals, sign-on, the programs' tier, spend and stamps, and paid
memberships; the till rewards themselves are decided by tests/switch/test_hostile_till.py.
`commit()` marks what the journal holds, `rollback()` forgets everything since (a crash loses
the batch that was not committed). The tests at the end check the model itself on the docs'
own examples.

One module, past 400 lines, on purpose: it is one reference switch, and every message kind
reads and undoes the same accounts, memory and batches; split by kind, the rules a reversal,
a return and a retransmission share would be read in three places.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from iso8583 import Message
from switch.core.limits import MoneyLimits
from tests.switch.test_hostile_docs import (
    AMOUNT_OPTIONAL,
    BIN,
    CAMPAIGNS,
    CANONICAL,
    EARN,
    FORMATS,
    PCS,
    POINT_VALUE,
    STAMPS,
    SUPPORTED,
    TERMINALS,
    TIERS,
    TOPUP_BONUS,
    TOTALS,
    ZONE,
    answerable,
    business_day,
    digits,
    level,
    luhn,
    qualified,
    response_mti,
    tier_rank,
    tlv,
    well_formed,
)
from tests.switch.test_hostile_till import (
    Declined,
    Member,
    Sale,
    discount,
    format_problem,
    sell,
    unsell,
)

MISSING = object()


# -- the model's data ------------------------------------------------------------------------


@dataclass
class Account:
    """One card: its lots (id -> remaining, only those not 0) and its program state."""

    pan: str
    status: str = "active"
    points: dict[int, int] = field(default_factory=dict)
    purse: dict[int, int] = field(default_factory=dict)
    tier: str = ""
    tier_day: dt.date | None = None
    spend: dict[dt.date, int] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)
    rewards: dict[str, int] = field(default_factory=dict)
    member: Member = field(default_factory=Member)
    #: The card has had a program effect (docs/programs.md: created at first use).
    club: bool = False

    def copy(self) -> Account:
        return dataclasses.replace(self, points=dict(self.points), purse=dict(self.purse),
                                   spend=dict(self.spend), stamps=dict(self.stamps),
                                   rewards=dict(self.rewards))

    def pool(self, kind: str) -> dict[int, int]:
        return self.points if kind == "p" else self.purse


@dataclass
class Effect:
    """What an approved message did to a card's program state (undone by its reversal)."""

    spend_day: dt.date | None = None
    spend: int = 0
    tier_before: str | None = None
    tier_after: str = ""
    stamp_store: str = ""
    stamps: int = 0
    rewards: int = 0
    sale: Sale | None = None


@dataclass
class Record:
    """A remembered request (docs/protocol.md §4, idempotency)."""

    content: tuple[Any, ...]
    rc: str
    kind: str
    pan: str = ""
    pc: str = ""
    amount: int = 0
    store: str = ""
    mti: str = ""
    tid: str = ""
    batch: str = ""
    reversed: bool = False
    #: (kind "p"/"s", lot id, delta) of an approval.
    moves: tuple[tuple[str, int, int], ...] = ()
    effect: Effect | None = None
    #: Its business day; an earn's points, a return's earn (its key) and points clawed back.
    points: int = 0
    day: dt.date | None = None
    earn_key: tuple[str, str, str] | None = None
    response: Message | None = None

    @property
    def approved(self) -> bool:
        return self.rc == "00"

    @property
    def reversible(self) -> bool:
        return self.kind not in ("reversal", "batch_close")


@dataclass(frozen=True)
class Expect:
    """What the switch must do with one message."""

    #: "answer", "ignored" (not answered, connection kept) or "close".
    outcome: str
    rc: str = ""
    mti: str = ""
    #: The earlier answer of a retransmission, sent again byte for byte.
    again: Message | None = None
    #: An approval's DE54 and DE48 as the model has them (None: not checked).
    pan: str = ""
    store: str = ""
    balances: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    #: The card's points and stored value this message changed by.
    points: int = 0
    sv: int = 0
    why: str = ""


IGNORED = Expect("ignored")
CLOSE = Expect("close")


class Refused(Exception):
    """A decline found while deciding: `rc` with no effect (it may still be remembered)."""

    def __init__(self, rc: str, why: str = "") -> None:
        super().__init__(rc, why)
        self.rc, self.why = rc, why


@dataclass
class Request:
    """One request as the model reads it: its key is DE41 + DE11 + DE7, its content the
    canonical MTI and every field but the MAC (docs/protocol.md §4)."""

    key: tuple[str, str, str]
    content: tuple[Any, ...]
    msg: Message
    mti: str
    canonical: str
    pc: str = ""
    amount: int = 0
    pan: str = ""
    store: str = ""
    batch: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def tid(self) -> str:
        return self.key[0]


class Model:
    """The switch as the docs describe it, for one configuration (examples/lps.toml)."""

    def __init__(self, limits: MoneyLimits, programs: bool) -> None:
        self.limits = limits
        self.programs = programs
        self.accounts: dict[str, Account] = {}
        self.seen: dict[tuple[str, str, str], Record] = {}
        #: The keys of `seen` that may still hold content: what `forget` has to look at
        #: (the slim records of old earns and returns pile up over a long run).
        self._full: dict[tuple[str, str, str], None] = {}
        self.tombstones: set[tuple[str, str, str]] = set()
        self.batches: dict[tuple[str, str], tuple[int, ...]] = {}
        self.signed_on: dict[str, bool] = dict.fromkeys(TERMINALS, False)
        self.earns: dict[str, tuple[str, str, str]] = {}
        self.returns: dict[tuple[str, str, str], tuple[tuple[str, str, str], ...]] = {}
        self.next_lot = 1
        self.lot_store: dict[int, str] = {}
        self._undo: list[tuple[dict[Any, Any] | set[Any], Any, Any]] = []
        self._saved_lot = 1
        #: The key the last message was remembered under (None: not remembered).
        self.fresh: tuple[str, str, str] | None = None
        self.today = dt.date.min
        self._before: tuple[tuple[int, int], ...] = ()

    # -- commit and rollback ----------------------------------------------------------------

    def _touch(self, table: dict[Any, Any] | set[Any], key: Any) -> None:
        if isinstance(table, set):
            self._undo.append((table, key, key in table))
            return
        old = table.get(key, MISSING)
        if isinstance(old, Account):
            old = old.copy()
        elif isinstance(old, Record):
            old = copy.copy(old)
        self._undo.append((table, key, old))

    def commit(self) -> None:
        self._undo.clear()
        self._saved_lot = self.next_lot

    def rollback(self) -> None:
        self._undo_to((0, self._saved_lot))

    def forget(self, before: dt.date) -> int:
        """Drop what no message can name any more, to keep a long run's memory small:
        requests of business days before `before` (the traffic names only those of the
        idempotency window). Approved earns and returns stay, without their content and
        answer (no retransmission names them): a return names its earn by RRN however old,
        and the returns against an earn count in full. Only right after a commit."""
        assert not self._undo, "forget only right after a commit"
        gone = 0
        for key in list(self._full):
            r = self.seen.get(key)
            if r is None or not r.content:
                del self._full[key]
                continue
            if r.day is None or r.day >= before:
                continue
            del self._full[key]
            if r.approved and r.kind in ("earn", "advice", "return"):
                self.seen[key] = dataclasses.replace(r, content=(), response=None)
            else:
                del self.seen[key]
                gone += 1
        return gone

    def account(self, pan: str) -> Account:
        """The card's account, to change (saved for a rollback first)."""
        self._touch(self.accounts, pan)
        acct = self.accounts.get(pan)
        if acct is None:
            acct = self.accounts[pan] = Account(pan)
        return acct

    def record(self, key: tuple[str, str, str]) -> Record:
        self._touch(self.seen, key)
        return self.seen[key]

    def balance(self, pan: str) -> tuple[int, int]:
        acct = self.accounts.get(pan)
        if acct is None:
            return 0, 0
        return sum(acct.points.values()), sum(acct.purse.values())

    # -- the answers to the switch's replies --------------------------------------------------

    def answered(self, response: Message | None) -> None:
        """The switch's answer to the last message, when it is remembered: sent again on a
        retransmission; an approved earn's DE37 is what a return's `OR` names
        (docs/switch.md, "Decisions")."""
        key, self.fresh = self.fresh, None
        if key is None or response is None:
            return
        rec = self.record(key)
        if rec.response is None:
            rec.response = response
            if rec.kind in ("earn", "advice") and rec.approved:
                rrn = response.fields.get(37)
                assert isinstance(rrn, str)
                self._touch(self.earns, rrn)
                self.earns[rrn] = key

    # -- operator commands (lps cards enroll|block|unblock) ---------------------------------

    def card_command(self, action: str, pan: str) -> bool:
        """Whether the command is carried out (docs/cli.md); False: refused, nothing changed."""
        if not luhn(pan):
            return False
        known = pan in self.accounts
        if action == "enroll":
            if known or not pan.startswith(BIN):
                return False
            self.account(pan)
            return True
        if not known:
            return False
        self.account(pan).status = "blocked" if action == "block" else "active"
        return True

    def adjust(self, pan: str, points: int, store: str) -> bool:
        """An operator's point adjustment (docs/console.md): a credit is a new lot of `store`,
        a debit draws the usable lots in burn order and is refused beyond the available
        points; refused too for a card not enrolled, a store of another coalition, 0 or more
        than 10,000,000 points, or a limit of docs/protocol.md §10 passed."""
        if not luhn(pan) or points == 0 or abs(points) > 10_000_000 \
                or pan not in self.accounts or store not in EARN:
            return False
        mark, before = self._mark(), self._split(pan)
        acct = self.account(pan)
        try:
            if points > 0:
                self._new_lot(acct, "p", store, points)
            elif sum(acct.points.values()) < -points:
                raise Refused("51")
            else:
                self._take(acct, "p", sorted(k for k, v in acct.points.items() if v > 0),
                           -points)
            self._limits(pan, before)
        except Refused:
            self._undo_to(mark)
            return False
        return True

    # -- one message --------------------------------------------------------------------------

    def undecodable(self, partial: dict[Any, Any]) -> Expect:
        """A frame the codec could not decode: `30` when its MTI, DE11 and DE41 were read
        (docs/protocol.md §2), else the connection is closed; never an effect."""
        self.fresh = None
        mti, stan, tid = partial.get("mti"), partial.get(11), partial.get(41)
        if not (isinstance(mti, str) and isinstance(stan, str) and isinstance(tid, str)):
            return CLOSE
        if not answerable(mti):
            return IGNORED
        if not digits(stan, 6):
            return CLOSE
        return Expect("answer", "30", response_mti(mti), why="undecodable")

    def expect(self, msg: Message, now: dt.datetime, mac_ok: bool = True, hsm: bool = True
               ) -> Expect:
        """`mac_ok`: the HSM found the request's MAC good; `hsm`: the HSM answered at all."""
        self.fresh = None
        self.today = business_day(now)
        mti = msg.mti
        if not answerable(mti):
            return IGNORED
        stan, tid = msg.fields.get(11), msg.fields.get(41)
        if not (digits(stan, 6) and isinstance(tid, str) and len(tid) <= 8 and tid.isascii()
                and tid.isprintable()):
            return CLOSE
        assert isinstance(stan, str)
        reply = response_mti(mti)
        if mti not in SUPPORTED:
            return Expect("answer", "12", reply, why="unsupported MTI")
        problem = self._format(msg)
        if problem:
            return Expect("answer", "30", reply, why=problem)
        req = self._request(msg, tid, stan)
        if req.canonical == "0800":
            return self._network(req)
        if not hsm:
            return Expect("answer", "91", reply, why="HSM unavailable")
        if not mac_ok:
            return Expect("answer", "63", reply, why="bad MAC")
        known = self.seen.get(req.key)
        if known is not None:
            if known.content == req.content:
                return Expect("answer", known.rc, reply, again=known.response,
                              why="retransmission")
            return Expect("answer", "94", reply, why="other content")
        store = TERMINALS.get(tid)
        if store is None or store != req.store:
            return Expect("answer", "03", reply, why="unknown terminal or store")
        if req.canonical == "0500":
            return self._batch_close(req)
        if req.canonical in ("0400", "0420"):
            return self._reversal(req, now)
        return self._financial(req, now)

    def _format(self, msg: Message) -> str:
        """Why the message breaks docs/protocol.md §2-§4 ("" when it does not)."""
        fields, mti = msg.fields, msg.mti
        for number in sorted(fields):
            if number not in FORMATS:
                return f"DE{number} is not a field of LPS-87"
            if not well_formed(number, fields[number]):
                return f"DE{number} breaks its format"
        canonical = CANONICAL.get(mti, mti)
        need = [7, 11, 41]
        if canonical in ("0200", "0220", "0400", "0420"):
            if 2 not in fields and 35 not in fields:
                return "no card"
            need += [3, 42]
            if fields.get(3) not in AMOUNT_OPTIONAL:
                need.append(4)
            if canonical in ("0400", "0420"):
                need.append(90)
        elif canonical == "0500":
            need += [3, 42, 62, *TOTALS]
        elif canonical == "0800":
            need.append(70)
        missing = [n for n in need if n not in fields]
        if missing:
            return f"DE{missing[0]} is mandatory"
        if 14 in fields and not 1 <= int(str(fields[14])[2:]) <= 12:
            return "DE14 is not YYMM"
        if 62 in fields and not digits(fields[62], 6):
            return "DE62 is not a 6-digit batch"
        tags: dict[str, str] = {}
        if 48 in fields:
            found = tlv(str(fields[48]))
            if found is None:
                return "DE48 is not a TLV run"
            tags = found
        pc = fields.get(3)
        if canonical in ("0200", "0220"):
            if pc == "900000" and "RP" in tags and not digits(tags["RP"]):
                return "RP is not digits"
            if pc == "200000" and not digits(tags.get("OR", ""), 12):
                return "OR is not an RRN (12 digits)"
        return ""

    def _request(self, msg: Message, tid: str, stan: str) -> Request:
        f = msg.fields
        mti = msg.mti
        canonical = CANONICAL.get(mti, mti)
        content = (canonical, tuple(sorted((n, v) for n, v in f.items() if n not in (64, 128))))
        de7 = str(f[7])
        pan = str(f[2]) if 2 in f else str(f.get(35, "")).split("=", 1)[0]
        tags = tlv(str(f[48])) if 48 in f else {}
        return Request((tid, stan, de7), content, msg, mti, canonical,
                       pc=str(f.get(3, "")), amount=int(str(f.get(4, "0"))), pan=pan,
                       store=str(f.get(42, "")).rstrip(), batch=str(f.get(62, "")),
                       tags=tags or {})

    # -- 0800 (docs/protocol.md §4) ---------------------------------------------------------

    def _network(self, req: Request) -> Expect:
        reply = response_mti(req.mti)
        if req.tid not in TERMINALS:
            return Expect("answer", "03", reply)
        code = str(req.msg.fields[70])
        if code in ("001", "002"):
            self._touch(self.signed_on, req.tid)
            self.signed_on[req.tid] = code == "001"
            return Expect("answer", "00", reply)
        if code == "301":
            return Expect("answer", "00", reply)
        if code == "101":
            return Expect("answer", "58", reply, why="no terminal master key")
        return Expect("answer", "12", reply)

    # -- remembering ---------------------------------------------------------------------------

    def _remember(self, req: Request, rc: str, kind: str, **more: Any) -> Record:
        more.setdefault("day", self.today)
        rec = Record(req.content, rc, kind, pan=req.pan, pc=req.pc, amount=req.amount,
                     store=req.store, mti=req.canonical, tid=req.tid, batch=req.batch, **more)
        self._touch(self.seen, req.key)
        self.seen[req.key] = rec
        self._full[req.key] = None
        self.fresh = req.key
        return rec

    def _declined(self, req: Request, kind: str, refused: Refused) -> Expect:
        self._remember(req, refused.rc, kind)
        return Expect("answer", refused.rc, response_mti(req.mti), why=refused.why)

    # -- 0500 ------------------------------------------------------------------------------

    def _batch_close(self, req: Request) -> Expect:
        if req.pc != "920000":
            return self._declined(req, "batch_close", Refused("12", "not a batch close"))
        ours = self.batches.get((req.tid, req.batch), (0,) * 8)
        theirs = tuple(int(str(req.msg.fields[n])) for n in TOTALS)
        rc = "00" if ours == theirs else "95"
        self._remember(req, rc, "batch_close")
        return Expect("answer", rc, response_mti(req.mti))

    def _count(self, tid: str, batch: str, credit: bool, reversal: bool, amount: int) -> None:
        """Count one approval in its terminal batch (docs/protocol.md §4, 0500), or refuse
        it `61` when a total would pass its field (§10)."""
        totals = list(self.batches.get((tid, batch), (0,) * 8))
        # DE74 DE75 DE76 DE77 DE86 DE87 DE88 DE89
        i = (0 if credit else 2) + (1 if reversal else 0)
        totals[i] += 1
        totals[i + 4] += amount
        if totals[i] > self.limits.max_batch_count \
                or totals[i + 4] > self.limits.max_batch_amount:
            raise Refused("61", "batch totals")
        self._touch(self.batches, (tid, batch))
        self.batches[(tid, batch)] = tuple(totals)

    # -- 0200 / 0220 -------------------------------------------------------------------------

    def _financial(self, req: Request, now: dt.datetime) -> Expect:
        advice = req.canonical == "0220"
        kind = "advice" if advice and req.pc == "000000" else PCS.get(req.pc, "reject")
        reply = response_mti(req.mti)
        if req.pc not in PCS:  # refused like an unsupported MTI: not remembered (§4, §5)
            return Expect("answer", "12", reply, why="unsupported processing code")
        problem = format_problem(req.pc, req.tags)
        if problem:  # a till reward's DE48: a reject, not remembered (docs/protocol.md §4)
            return Expect("answer", "30", reply, why=problem)
        try:
            if req.key in self.tombstones:
                raise Refused("05", "reversed before it arrived")
            if not advice and not self.signed_on[req.tid]:
                raise Refused("58", "not signed on")
            if advice and req.pc != "000000":
                raise Refused("12", "advice of another processing code")
            if req.amount > self.limits.max_amount:
                raise Refused("61", "DE4 over the largest amount")
            self._card(req)
            expiry = req.msg.fields.get(14)
            day = business_day(now)
            if isinstance(expiry, str) and (2000 + int(expiry[:2]), int(expiry[2:])) < \
                    (day.year, day.month):
                raise Refused("54", "expired")
            before = self.balance(req.pan)
            saved, self._before = self._mark(), self._split(req.pan)
            try:
                tags = getattr(self, "_" + PCS[req.pc])(req, now, day, kind)
            except Refused:
                self._undo_to(saved)
                raise
        except Refused as refused:
            return self._declined(req, kind, refused)
        after = self.balance(req.pan)
        return Expect("answer", "00", reply, pan=req.pan, store=req.store, balances=True,
                      tags=tags, points=after[0] - before[0], sv=after[1] - before[1])

    def _mark(self) -> tuple[int, int]:
        return len(self._undo), self.next_lot

    def _undo_to(self, mark: tuple[int, int]) -> None:
        """Forget every change since `mark`: a decision that ends declined (it changes
        nothing), or everything since the last commit (a crash)."""
        undo, self._undo = self._undo[mark[0]:], self._undo[:mark[0]]
        for table, key, old in reversed(undo):
            if isinstance(table, set):
                (table.add if old else table.discard)(key)
            elif old is MISSING:
                table.pop(key, None)
            else:
                table[key] = old
        self.next_lot = mark[1]

    def _card(self, req: Request) -> None:
        """docs/switch.md "Decisions", card: Luhn, auto-enrolment in the BIN, blocked."""
        acct = self.accounts.get(req.pan)
        if acct is None:
            if not luhn(req.pan) or not req.pan.startswith(BIN):
                raise Refused("14", "card")
            self.account(req.pan)
        elif acct.status != "active":
            raise Refused("62", "blocked")

    def _split(self, pan: str) -> tuple[tuple[int, int], ...]:
        """(positive lots, debts) of the card's points and of its purse."""
        return tuple(self.positive_and_debts(pan)) if pan in self.accounts else ((0, 0),) * 2

    def _limits(self, pan: str, before: tuple[tuple[int, int], ...]) -> None:
        """docs/protocol.md §10: the positive lots at most the limit, the debts at least minus
        it; a card beyond it (the limits were lowered) may move back towards it, never
        further: each of the two is refused only beyond its bound and worse than `before`."""
        bounds = (self.limits.max_points, self.limits.max_stored_value)
        for (p0, n0), (p1, n1), bound in zip(before, self._split(pan), bounds, strict=True):
            if (p1 > bound and p1 > p0) or (n1 < -bound and n1 < n0):
                raise Refused("61", "card limit")

    def _new_lot(self, acct: Account, kind: str, store: str, amount: int) -> int:
        lot = self.next_lot
        self.next_lot += 1
        self.lot_store[lot] = store
        acct.pool(kind)[lot] = amount
        return lot

    def _take(self, acct: Account, kind: str, order: list[int], need: int
              ) -> tuple[list[tuple[str, int, int]], int]:
        """Draw up to `need` from the lots in `order` (none below 0); the moves, what is left."""
        pool, moves = acct.pool(kind), []
        for lot in order:
            have = pool.get(lot, 0)
            take = min(have, need)
            if take > 0:
                self._move(acct, kind, lot, -take)
                moves.append((kind, lot, -take))
                need -= take
        return moves, need

    @staticmethod
    def _move(acct: Account, kind: str, lot: int, delta: int) -> None:
        pool = acct.pool(kind)
        value = pool.get(lot, 0) + delta
        if value:
            pool[lot] = value
        else:
            pool.pop(lot, None)

    def _reply_tags(self, acct: Account, store: str, day: dt.date, tags: dict[str, str]
                    ) -> dict[str, str]:
        """What the programs add to an approval (docs/programs.md): TR, SC/SR."""
        if not self.programs:
            return tags
        out = dict(tags)
        out.setdefault("TR", self._tier_today(acct, day))
        if store in STAMPS:
            out["SC"] = str(max(acct.stamps.get(store, 0), 0))
            out["SR"] = str(max(acct.rewards.get(store, 0), 0))
        return out

    # -- the programs' tier (docs/programs.md, "Tiers") ---------------------------------------

    def _spend(self, acct: Account, until: dt.date) -> int:
        """The 12-month spend ending `until` (D - 1 year < d <= D)."""
        try:
            start = until.replace(year=until.year - 1)
        except ValueError:
            start = until.replace(year=until.year - 1, day=28)
        return sum(v for d, v in acct.spend.items() if start < d <= until)

    def _tier_today(self, acct: Account, day: dt.date) -> str:
        """The tier held on `day`: the nightly downgrade, as it was at the day's cut-over; never
        below a paid membership's while it runs (docs/programs.md "Paid memberships")."""
        if acct.tier_day is not None and acct.tier_day >= day:
            return acct.member.floor(acct.tier, day)
        earned = qualified(self._spend(acct, day - dt.timedelta(days=1)))
        held = min(acct.tier, earned, key=tier_rank) if acct.tier else earned
        return acct.member.floor(held, day)

    def _settle_tier(self, acct: Account, day: dt.date) -> None:
        """The nightly downgrade of `day` before anything changes the card's spend."""
        acct.tier = self._tier_today(acct, day)
        acct.tier_day = day if acct.tier_day is None or acct.tier_day < day else acct.tier_day
        acct.club = True

    # -- operations ------------------------------------------------------------------------

    def _earn(self, req: Request, now: dt.datetime, day: dt.date, kind: str) -> dict[str, str]:
        amount = req.amount
        if amount <= 0:
            raise Refused("13", "amount")
        acct = self.account(req.pan)
        per, pts, minimum = EARN[req.store]
        base = 0 if amount < minimum else amount // per * pts
        effect = None
        points = base
        if self.programs:
            self._settle_tier(acct, day)
            before = acct.tier
            spend = self._spend(acct, day) + amount
            tier = max(before, qualified(spend), key=tier_rank)
            milli = dict((t[0], t[2]) for t in TIERS)[tier]
            when = self._purchase_time(req, now) if kind == "advice" else None
            campaign = self._campaign(req.store, (when or now).astimezone(ZONE).date())
            points = base * milli * campaign // 1_000_000
            effect = Effect(spend_day=day, spend=amount, tier_before=before, tier_after=tier)
            if req.store in STAMPS:
                stamps = acct.stamps.get(req.store, 0) + 1
                full = stamps >= STAMPS[req.store]
                effect.stamp_store = req.store
                effect.stamps, effect.rewards = (1 - STAMPS[req.store], 1) if full else (1, 0)
            self._apply_effect(acct, effect)
        moves: tuple[tuple[str, int, int], ...] = ()
        if points:
            lot = self._new_lot(acct, "p", req.store, points)
            moves = (("p", lot, points),)
        self._count(req.tid, req.batch, True, False, amount)
        self._limits(req.pan, self._before)
        self._remember(req, "00", kind, moves=moves, effect=effect, points=points, day=day)
        tags = {"EP": str(points)}
        if self.programs:
            tags["TR"] = acct.tier
        return self._reply_tags(acct, req.store, day, tags)

    @staticmethod
    def _campaign(store: str, local_day: dt.date) -> int:
        best = 1000
        for start, end, milli in CAMPAIGNS.get(store, ()):
            if start <= local_day <= end:
                best = max(best, milli)
        return best

    @staticmethod
    def _purchase_time(req: Request, now: dt.datetime) -> dt.datetime | None:
        """An advice's DE13 + DE12 as local time, in the year that puts it no later than now
        (docs/programs.md); None when absent or not a date and time."""
        date, time = req.msg.fields.get(13), req.msg.fields.get(12)
        if not (digits(date, 4) and digits(time, 6)):
            return None
        assert isinstance(date, str) and isinstance(time, str)
        local_now = now.astimezone(ZONE)
        text = f"{date}{time}"
        candidates = []
        for year in (local_now.year, local_now.year - 1):
            # 29 February of a common year, or no date at all: not a candidate.
            with contextlib.suppress(ValueError):
                candidates.append(dt.datetime.strptime(f"{year}{text}", "%Y%m%d%H%M%S")
                                  .replace(tzinfo=ZONE))
        past = [when for when in candidates if when <= local_now]
        return past[0] if past else None

    def _apply_effect(self, acct: Account, e: Effect, sign: int = 1) -> None:
        acct.club = True
        if e.spend_day is not None and e.spend:
            acct.spend[e.spend_day] = acct.spend.get(e.spend_day, 0) + sign * e.spend
        if e.tier_before is not None and sign > 0:
            acct.tier = e.tier_after
        if e.stamp_store:
            s = e.stamp_store
            acct.stamps[s] = acct.stamps.get(s, 0) + sign * e.stamps
            acct.rewards[s] = acct.rewards.get(s, 0) + sign * e.rewards
        if e.sale is not None:
            acct.member = e.sale.after if sign > 0 else unsell(acct.member, e.sale)

    def _redeem(self, req: Request, now: dt.datetime, day: dt.date, kind: str) -> dict[str, str]:
        rp = req.tags.get("RP")
        points = int(rp) if rp is not None else -(-req.amount // POINT_VALUE)
        if points <= 0:
            raise Refused("13", "no points")
        acct = self.account(req.pan)
        if sum(acct.points.values()) < points:  # available: net of debts (docs/switch.md)
            raise Refused("51", "points")
        # Burn order is soonest expiry, oldest, lowest id; every points lot of examples/lps.toml
        # expires 365 days after its business day (no campaign has its own expiry) and a run
        # spans 45 days, so it is the order the lots were made in, none expired.
        moves, short = self._take(acct, "p", sorted(v for v in acct.points if acct.points[v] > 0),
                                  points)
        assert short == 0
        self._count(req.tid, req.batch, False, False, req.amount)
        self._remember(req, "00", kind, moves=tuple(moves))
        return self._reply_tags(acct, req.store, day, {"RD": str(points)})

    def _inquiry(self, req: Request, now: dt.datetime, day: dt.date, kind: str
                 ) -> dict[str, str]:
        self._remember(req, "00", kind)
        return self._reply_tags(self.accounts[req.pan], req.store, day, {})

    def _return(self, req: Request, now: dt.datetime, day: dt.date, kind: str) -> dict[str, str]:
        earn_key = self.earns.get(req.tags["OR"])
        earn = self.seen.get(earn_key) if earn_key is not None else None
        if earn_key is None or earn is None or earn.pan != req.pan or earn.reversed:
            raise Refused("25", "no such earn of this card")
        mine = [self.seen[k] for k in self.returns.get(earn_key, ()) if k in self.seen]
        live = [r for r in mine if not r.reversed]
        returned = sum(r.amount for r in live)
        clawed = sum(r.points for r in live)
        if req.amount <= 0 or returned + req.amount > earn.amount:
            raise Refused("13", "over-return")
        claw = earn.points * (returned + req.amount) // earn.amount - clawed
        acct = self.account(req.pan)
        moves: list[tuple[str, int, int]] = []
        if claw > 0:
            own = [lot for _, lot, _ in earn.moves]
            others = sorted(lot for lot, v in acct.points.items() if v > 0 and lot not in own)
            moves, short = self._take(acct, "p", own + others, claw)
            if short:
                self._move(acct, "p", own[0], -short)
                moves.append(("p", own[0], -short))
        effect = None
        if self.programs and acct.club:
            self._settle_tier(acct, day)
            effect = Effect(spend_day=earn.day, spend=-req.amount)
            self._apply_effect(acct, effect)
        self._limits(req.pan, self._before)
        assert earn_key is not None
        self._remember(req, "00", kind, moves=tuple(moves), effect=effect, points=claw,
                       earn_key=earn_key)
        self._touch(self.returns, earn_key)
        self.returns[earn_key] = (*self.returns.get(earn_key, ()), req.key)
        return self._reply_tags(acct, req.store, day, {"RD": str(claw)})

    def _topup(self, req: Request, now: dt.datetime, day: dt.date, kind: str) -> dict[str, str]:
        bonus = TOPUP_BONUS.get(req.store)
        if bonus is None:
            raise Refused("58", "no stored value at this store")
        if req.amount <= 0:
            raise Refused("13", "amount")
        credit = req.amount + req.amount * bonus // 100
        if credit > self.limits.max_topup:
            raise Refused("61", "top-up")
        acct = self.account(req.pan)
        lot = self._new_lot(acct, "s", req.store, credit)
        self._limits(req.pan, self._before)
        self._remember(req, "00", kind, moves=(("s", lot, credit),))
        return self._reply_tags(acct, req.store, day, {})

    def _sv_purchase(self, req: Request, now: dt.datetime, day: dt.date, kind: str
                     ) -> dict[str, str]:
        if req.amount <= 0:
            raise Refused("13", "amount")
        acct = self.account(req.pan)
        usable = sorted(lot for lot, v in acct.purse.items()
                        if v > 0 and self.lot_store[lot] == req.store)
        if sum(acct.purse[lot] for lot in usable) < req.amount:
            raise Refused("51", "stored value")
        moves, short = self._take(acct, "s", usable, req.amount)
        assert short == 0
        self._count(req.tid, req.batch, False, False, req.amount)
        self._remember(req, "00", kind, moves=tuple(moves))
        return self._reply_tags(acct, req.store, day, {})

    def _stamp(self, req: Request, now: dt.datetime, day: dt.date, kind: str) -> dict[str, str]:
        if not self.programs or req.store not in STAMPS:
            raise Refused("12", "no stamps here")
        acct = self.account(req.pan)
        if acct.rewards.get(req.store, 0) <= 0:
            raise Refused("51", "no stamp reward")
        self._settle_tier(acct, day)
        effect = Effect(stamp_store=req.store, rewards=-1)
        self._apply_effect(acct, effect)
        self._remember(req, "00", kind, effect=effect)
        return self._reply_tags(acct, req.store, day, {})

    # -- the till rewards (docs/programs.md, docs/protocol.md §4) ------------------------------

    def _discount(self, req: Request, now: dt.datetime, day: dt.date, kind: str
                  ) -> dict[str, str]:
        """`940000`: the discount on DE4, the points converted burned in the burn order (as a
        `900000`'s), the stamp rewards used (as a `930000` uses one); not in the 0500 totals."""
        acct = self.account(req.pan)
        tier = self._tier_today(acct, day)  # a paid membership's included
        try:
            given = discount(req.store, tier, req.amount, req.tags,
                             sum(acct.points.values()), acct.rewards.get(req.store, 0))
        except Declined as declined:
            raise Refused(declined.rc, declined.why) from None
        moves: list[tuple[str, int, int]] = []
        if given.points:
            moves, short = self._take(acct, "p", sorted(v for v in acct.points
                                                        if acct.points[v] > 0), given.points)
            assert short == 0
        effect = None
        if given.stamps:
            effect = Effect(stamp_store=req.store, rewards=-given.stamps)
            self._apply_effect(acct, effect)
        self._remember(req, "00", kind, moves=tuple(moves), effect=effect)
        # TR: the tier the perk was judged by (the coalition has tiers).
        return self._reply_tags(acct, req.store, day, {**given.tags(), "TR": tier})

    def _membership(self, req: Request, now: dt.datetime, day: dt.date, kind: str
                    ) -> dict[str, str]:
        """`950000`: the level `ML` sold at its price DE4; the card holds at least its tier
        through the last day (`MU`), and `TR` is the tier now; not in the 0500 totals."""
        acct = self.account(req.pan)
        name = level(req.tags["ML"])
        assert name is not None  # `format_problem` refused it otherwise
        try:
            sale = sell(acct.member, name, req.amount, day)
        except Declined as declined:
            raise Refused(declined.rc, declined.why) from None
        self._settle_tier(acct, day)
        before = acct.tier
        effect = Effect(tier_before=before, tier_after=max(before, sale.after.tier,
                                                            key=tier_rank), sale=sale)
        self._apply_effect(acct, effect)
        self._remember(req, "00", kind, effect=effect)
        assert sale.after.until is not None
        return self._reply_tags(acct, req.store, day, {
            "TR": effect.tier_after, "ML": name, "MU": f"{sale.after.until:%Y%m%d}"})

    # -- reversals (docs/protocol.md §4) --------------------------------------------------

    def _reversal(self, req: Request, now: dt.datetime) -> Expect:
        de90 = str(req.msg.fields[90])
        okey = (req.tid, de90[4:10], de90[10:20])
        reply = response_mti(req.mti)
        original = self.seen.get(okey)
        if original is None or not original.reversible:
            self._touch(self.tombstones, okey)
            self.tombstones.add(okey)
            self._remember(req, "25", "reversal")
            return Expect("answer", "25", reply, why="original not found")
        differs = self._mismatch(req, original, de90[:4])
        if differs:
            return self._declined(req, "reversal", Refused("12", differs))
        if original.reversed or not original.approved:
            self._remember(req, "00", "reversal")
            return Expect("answer", "00", reply, why="nothing to undo")
        if any(not self.seen[k].reversed for k in self.returns.get(okey, ()) if k in self.seen):
            return self._declined(req, "reversal", Refused("12", "returns stand against it"))
        day = business_day(now)
        before = self.balance(original.pan)
        saved = self._mark()
        try:
            self._undo_original(original, day)
        except Refused as refused:
            self._undo_to(saved)
            return self._declined(req, "reversal", refused)
        self._remember(req, "00", "reversal")
        self.record(okey).reversed = True
        after = self.balance(original.pan)
        return Expect("answer", "00", reply, pan=original.pan, store=req.store, balances=True,
                      points=after[0] - before[0], sv=after[1] - before[1])

    @staticmethod
    def _mismatch(req: Request, original: Record, de90_mti: str) -> str:
        """The first of card, amount, processing code, store, MTI that differs (§4)."""
        pairs = {"card": (req.pan, original.pan), "amount": (req.amount, original.amount),
                 "processing code": (req.pc, original.pc),
                 "store": (req.store, original.store),
                 "MTI": (CANONICAL.get(de90_mti, de90_mti), original.mti)}
        return next((what for what, (mine, theirs) in pairs.items() if mine != theirs), "")

    def _undo_original(self, original: Record, day: dt.date) -> None:
        before = self._split(original.pan)
        acct = self.account(original.pan)
        for kind, lot, delta in original.moves:
            self._move(acct, kind, lot, -delta)
        e = original.effect
        if e is not None:
            self._settle_tier(acct, day)
            self._apply_effect(acct, e, -1)
            # docs/programs.md "Tiers": a tier the original raised, still held, falls back to
            # the higher of the tier before and what the spend qualifies for ("Paid
            # memberships": a sale's reversal restores the tier before it); a membership still
            # running holds its tier all the same.
            if e.tier_before is not None and e.tier_after != e.tier_before \
                    and acct.tier == e.tier_after:
                acct.tier = max(e.tier_before, qualified(self._spend(acct, day)), key=tier_rank)
            acct.tier = acct.member.floor(acct.tier, day)
        if original.pc == "000000":
            self._count(original.tid, original.batch, True, True, original.amount)
        elif original.pc in ("900000", "006000"):
            self._count(original.tid, original.batch, False, True, original.amount)
        self._limits(original.pan, before)

    # -- for the checks after each step -----------------------------------------------------

    def positive_and_debts(self, pan: str) -> Iterator[tuple[int, int]]:
        acct = self.accounts[pan]
        for pool in (acct.points, acct.purse):
            yield (sum(v for v in pool.values() if v > 0), sum(v for v in pool.values() if v < 0))

    def purse_here(self, pan: str, store: str) -> int | None:
        """DE54's stored value at `store`: what the purse can pay there (None: no purse)."""
        acct = self.accounts[pan]
        if not acct.purse:
            return None
        return sum(v for lot, v in acct.purse.items() if self.lot_store[lot] == store)


# -- the model checked on the docs' own examples ------------------------------------------------

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
A = "6280000000000001"


def _msg(mti: str, tid: str, stan: int, **fields: Any) -> Message:
    f: dict[int, Any] = {7: "1123100000", 11: f"{stan:06d}", 41: tid}
    if mti != "0800":
        f[42] = TERMINALS.get(tid, "STORE0000000009")
    f.update({int(k[2:]): v for k, v in fields.items()})
    return Message(mti, f)


def _signed_on(programs: bool = True) -> Model:
    model = Model(MoneyLimits(), programs)
    for tid in TERMINALS:
        assert model.expect(_msg("0800", tid, 1, de70="001"), NOW).rc == "00"
    return model


def _pan() -> str:
    for d in "0123456789":
        if luhn(A[:-1] + d):
            return A[:-1] + d
    raise AssertionError


def test_the_model_earns_as_docs_programs_example() -> None:
    """1 point per 10,000 at store 1, BLUE; 2 per 10,000 from 100,000 at store 2."""
    model, pan = _signed_on(), _pan()
    e = model.expect(_msg("0200", "T0000001", 2, de2=pan, de3="000000", de4="000000150000",
                          de62="000001"), NOW)
    assert (e.rc, e.tags["EP"], e.tags["TR"], e.tags["SC"]) == ("00", "15", "BLUE", "1")
    e = model.expect(_msg("0200", "T0000002", 3, de2=pan, de3="000000", de4="000000099999",
                          de62="000001"), NOW)
    assert (e.rc, e.tags["EP"]) == ("00", "0")
    assert model.balance(pan) == (15, 0)


def test_the_model_returns_in_proportion_and_refuses_over_returns() -> None:
    model, pan = _signed_on(False), _pan()
    model.expect(_msg("0200", "T0000001", 2, de2=pan, de3="000000", de4="000000300000",
                      de62="000001"), NOW)
    model.answered(Message("0210", {37: "000000000009"}))
    ret = {"de2": pan, "de3": "200000", "de48": "OR012000000000009"}
    assert model.expect(_msg("0200", "T0000001", 3, de4="000000100000", **ret), NOW).tags \
        == {"RD": "10"}
    assert model.expect(_msg("0200", "T0000001", 4, de4="000000200001", **ret), NOW).rc == "13"
    assert model.balance(pan) == (20, 0)


def test_the_model_rolls_back_to_the_last_commit() -> None:
    model, pan = _signed_on(False), _pan()
    model.commit()
    model.expect(_msg("0200", "T0000001", 2, de2=pan, de3="000000", de4="000000300000",
                      de62="000001"), NOW)
    assert model.balance(pan) == (30, 0) and model.next_lot == 2
    model.rollback()
    assert model.balance(pan) == (0, 0) and not model.seen and model.next_lot == 1
    assert model.signed_on["T0000001"]
