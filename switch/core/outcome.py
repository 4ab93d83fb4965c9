"""`Decision` and `Changes`: a decision as data, and the builders every operation shares.

A decision holds the response to send, the journal entry that makes it durable and the
in-memory changes (`Changes`) that `apply` makes to the state. Building one reserves nothing:
the journal id and lot ids it uses are `State.next_journal_id`/`next_lot_id` as they are, and
only `apply` moves them on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from iso8583.loyalty import AmountEntry, build_de54, build_tlv
from iso8583.message import Message
from switch.core.catalog import Catalog, Coalition, Store
from switch.core.codes import NOT_REVERSIBLE, RC, RC_APPROVED, Kind
from switch.core.entries import AccountLink, Entry, TotalsDelta
from switch.core.facts import Facts
from switch.core.ledger import CardEdit, available_points, over_limits, spendable_purse
from switch.core.model import (
    APPROVED,
    REVERSIBLE,
    Card,
    Remembered,
    TerminalState,
    Totals,
    TxnKey,
)
from switch.core.protocol import FINANCIAL, echoable, echoed, response_mti
from switch.core.request import Request
from switch.core.rules import RuleBook
from switch.core.state import State


@dataclass(slots=True)
class Changes:
    """What `apply` changes in memory, as data (every field None: nothing).

    Not frozen: it lives from `decide` to `apply` on one thread, and a frozen dataclass's
    `__init__` costs four times a plain one's (benches/README.md, "The core alone").
    """

    #: The journal id the entry uses (it must be `State.next_journal_id`).
    journal_id: int | None = None
    #: `State.next_lot_id` after the lots this decision made.
    lots_upto: int | None = None
    #: The card as the decision leaves it (lots, purse, status, program state, PIN tries).
    card: Card | None = None
    #: The card is enrolled by this decision.
    new_card: bool = False
    #: The card is a mobile-number account's virtual card, enrolled by this decision.
    account: AccountLink | None = None
    #: The terminal as the decision leaves it (sign-on, session keys).
    terminal: TerminalState | None = None
    #: The request's own record, under its key.
    remember: tuple[TxnKey, Remembered] | None = None
    #: The reversed original's record, flagged reversed.
    reversed: tuple[TxnKey, Remembered] | None = None
    #: A reversal of an unknown original: its key, so a late original is declined `05`.
    tombstone: TxnKey | None = None
    #: A terminal batch's totals after this decision counted in them.
    totals: tuple[tuple[str, str], Totals] | None = None
    #: New programs: the configuration and rules of the next version (`program_change`).
    programs: ProgramSwap | None = None


@dataclass(frozen=True, slots=True)
class ProgramSwap:
    """What decisions read of the programs from the next one on, and its version number."""

    version: int
    config: Catalog
    rules: RuleBook


@dataclass(slots=True)
class Decision:
    """The response to send (None: send nothing), the entries to persist first, and the
    in-memory changes `apply` makes."""

    response: Message | None
    entries: list[Entry] = field(default_factory=list)
    retransmission: bool = False
    reason: str = ""
    #: Close the connection (no response): a request that cannot be answered (no DE11/DE41).
    close: bool = False
    changes: Changes | None = None


@dataclass(slots=True)
class Context:
    """One financial request being decided, with where it comes from. Never changed; a slots
    dataclass because its fields are read at every step of a decision (`Request` says why)."""

    state: State
    req: Request
    facts: Facts
    now: dt.datetime
    day: dt.date
    term: TerminalState
    store: Store
    coalition: Coalition

    @property
    def journal_id(self) -> int:
        return self.state.next_journal_id


def rrn_for(journal_id: int) -> str:
    """DE37: the journal id, 12 digits."""
    return f"{journal_id:012d}"[-12:]


def respond(req: Request, rc: str, journal_id: int | None,
            extra: dict[int, str] | None = None) -> Message:
    """The response: the echoed fields (docs/protocol.md §4), DE37 for financial messages,
    DE39, and `extra` (DE38, DE48, DE54 on approvals).

    A field that breaks its format is not echoed (`echoable`): the reply to a malformed
    request still encodes.
    """
    fields = echoed(req.msg.fields)
    if req.canonical in FINANCIAL and journal_id is not None:
        fields[37] = rrn_for(journal_id)
    fields[39] = rc
    if extra:
        fields.update(extra)
    return Message(mti=response_mti(req.mti), fields=dict(sorted(fields.items())),
                   tpdu=req.msg.swapped_tpdu())


def new_entry(req: Request, kind: str, journal_id: int, now: dt.datetime, day: dt.date,
              store_id: str = "", coalition_id: str = "") -> Entry:
    return Entry(
        id=journal_id, at=now, business_day=day, kind=kind, mti=req.mti, pc=req.pc,
        terminal_id=req.tid, store_id=store_id or req.store_id, coalition_id=coalition_id,
        pan=req.pan, stan=req.stan, transmission=req.de7, rrn=rrn_for(journal_id),
        amount=req.amount, batch=req.batch, digest=req.digest.hex(),
        original_key=req.original_key,
    )


def reject(state: State, req: Request, rc: str, reason: str, now: dt.datetime,
           day: dt.date) -> Decision:
    """A response with no effect: journaled (for audit) but not remembered (30, 03, 63, 94,
    91, 12 of an unsupported MTI)."""
    jid = state.next_journal_id
    resp = respond(req, rc, jid)
    entry = new_entry(req, Kind.REJECT, jid, now, day)
    entry.response_code = rc
    entry.response = resp
    entry.detail = {"reason": reason}
    return Decision(resp, [entry], reason=reason, changes=Changes(journal_id=jid))


def answer_only(req: Request, rc: str, reason: str = "",
                extra: dict[int, str] | None = None) -> Decision:
    """A response that is neither journaled nor changes anything (0800 echo, unknown
    terminal on 0800)."""
    return Decision(respond(req, rc, None, extra), reason=reason)


def system_error(req: Request, reason: str) -> Decision:
    """`96` when deciding or encoding failed: nothing journaled, nothing changed.

    Only the fields that identify the request are echoed, when well-formed.
    """
    fields: dict[int, str | bytes] = {39: RC.SYSTEM_ERROR}
    for n in (7, 11, 41):
        value = req.msg.fields.get(n)
        if value is not None and echoable(n, value):
            fields[n] = value
    resp = Message(mti=response_mti(req.mti), fields=dict(sorted(fields.items())),
                   tpdu=req.msg.swapped_tpdu())
    return Decision(resp, reason=reason)


def finish(ctx: Context, entry: Entry, rc: str, *, extra: dict[int, str] | None = None,
           edit: CardEdit | None = None, card: Card | None = None,
           counted: Counted | None = None, reason: str = "",
           reversed_: tuple[TxnKey, Remembered] | None = None,
           tombstone: bool = False) -> Decision:
    """A remembered answer: the entry completed with `rc` and the response, the request's
    record, and the card changes of `edit` (None: the card is unchanged)."""
    resp = respond(ctx.req, rc, entry.id, extra)
    entry.response_code = rc
    entry.response = resp
    flags = (APPROVED if rc == RC_APPROVED else 0) | \
        (0 if entry.kind in NOT_REVERSIBLE else REVERSIBLE)
    record = Remembered(ctx.req.digest, entry.id, ctx.day, flags)
    lots_upto = None
    if edit is not None:
        entry.lot_deltas = edit.deltas
        entry.new_lots = edit.new_lots
        entry.points, entry.sv = edit.points, edit.sv
        entry.club = edit.club_rows()
        if card is None:
            card = edit.after()
        if edit.new_lots:
            lots_upto = edit.new_lots[-1].id + 1
    totals = None
    if counted is not None:
        entry.totals = counted.delta
        totals = (counted.key, counted.after)
    changes = Changes(
        journal_id=entry.id, lots_upto=lots_upto, card=card,
        new_card=edit is not None and edit.new,
        account=entry.account if edit is not None and edit.new else None,
        remember=(ctx.req.key, record),
        reversed=reversed_, tombstone=ctx.req.original_txn_key if tombstone else None,
        totals=totals,
    )
    return Decision(resp, [entry], reason=reason, changes=changes)


@dataclass(slots=True)
class Counted:
    """A terminal batch's totals after one decision counted in them, and the difference."""

    key: tuple[str, str]
    after: Totals
    delta: TotalsDelta


def batch_totals(ctx: Context, key: tuple[str, str]) -> Totals:
    """A terminal batch's totals: the cache's, else what the journal answered."""
    cached = ctx.state.totals.get(key)
    if cached is not None:
        return cached
    original, totals = ctx.facts.original_row, ctx.facts.original_totals
    if original is not None and totals is not None \
            and (original.terminal_id, original.batch) == key:
        return totals
    return ctx.facts.totals(key)


def count(ctx: Context, key: tuple[str, str], *, credit: bool, reversal: bool,
          amount: int) -> Counted | None:
    """The batch's totals after counting one approved earn/redemption (or its reversal);
    None when they would pass the width of DE74-77 or DE86-89 (docs/protocol.md §10)."""
    values = list(batch_totals(ctx, key).as_tuple())
    # credits, credit_amount, credit_reversals, ..., debit_reversal_amount (Totals.as_tuple)
    i = (0 if credit else 4) + (2 if reversal else 0)
    values[i] += 1
    values[i + 1] += amount
    limits = ctx.state.limits
    if values[i] > limits.max_batch_count or values[i + 1] > limits.max_batch_amount:
        return None
    delta = [0] * len(values)
    delta[i], delta[i + 1] = 1, amount
    return Counted(key, Totals(*values), TotalsDelta(*delta, terminal_id=key[0], batch=key[1]))


def balances(ctx: Context, card: Card) -> str:
    """DE54: available points and, when the card has a purse, what it can spend here."""
    parts = [AmountEntry("00", "02", "999", available_points(card, ctx.day))]
    if card.purse:
        usable = sum(lot.remaining
                     for lot in spendable_purse(ctx.state.config, card, ctx.store, ctx.day))
        parts.append(AmountEntry("60", "02", ctx.coalition.currency, usable))
    return build_de54(parts)


def approve(ctx: Context, entry: Entry, edit: CardEdit, tags: dict[str, str], *,
            counted: Counted | None = None,
            reversed_: tuple[TxnKey, Remembered] | None = None) -> Decision:
    """`00` with DE38, DE54 and DE48 (`tags` plus what the programs add) from the card as the
    decision leaves it."""
    card = edit.after()
    why = over_limits(edit.card, card, ctx.state.limits)
    if why:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, why)
    tags = ctx.state.rules.reply_tags(ctx.store, ctx.coalition, card, ctx.day, entry.kind, tags)
    extra = {38: f"{entry.id % 1_000_000:06d}", 54: balances(ctx, card)}
    if tags:
        extra[48] = build_tlv(tags)
    return finish(ctx, entry, RC_APPROVED, extra=extra, edit=edit, card=card, counted=counted,
                  reversed_=reversed_)


def decline(ctx: Context, entry: Entry, rc: str, edit: CardEdit | None = None,
            reason: str = "") -> Decision:
    """A remembered decline: no lot moved, no program effect; an enrolment by this request
    and its PIN try count stay (they are facts whatever the answer)."""
    return finish(ctx, entry, rc, edit=edit.bare() if edit is not None else None,
                  reason=reason)
