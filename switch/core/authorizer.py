"""The authorizer: `handle(state, message, now) -> Decision`, deterministic and free of I/O.

It validates a request, decides its response code, changes the in-memory state and returns the
response together with the journal entry that makes the change durable. The shell persists the
entries (group commit) and only then sends the response. Given the same state, message and
`now` it always decides the same: no clock, no randomness, no file, no socket.

State is changed in place at decision time, so the next message already sees it; this is safe
because responses leave only after their batch committed, batches commit in order, and a failed
commit stops the switch (fail-stop) so the cache is rebuilt from the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from iso8583.errors import CodecError
from iso8583.loyalty import AmountEntry, build_de54, build_tlv, parse_tlv
from iso8583.message import Message
from switch.config import Coalition, Store
from switch.core import entries as E
from switch.core.calendar import business_day
from switch.core.luhn import luhn_ok
from switch.core.model import (
    POINTS,
    STORED_VALUE,
    Card,
    Lot,
    Move,
    State,
    TerminalState,
    Totals,
    Txn,
    TxnKey,
)
from switch.core.programs import club as C
from switch.core.rules import EarnContext

#: Fields a response echoes as they were sent (PROTOCOL.md §4).
ECHO = (2, 3, 4, 7, 11, 41, 42, 62, 70)
FINANCIAL = frozenset({"0200", "0220", "0400", "0420"})
#: Repeats are answered like, and digested as, their originals.
CANONICAL_MTI = {"0401": "0400", "0421": "0420", "0221": "0220"}
MANDATORY: dict[str, tuple[int, ...]] = {
    "0200": (3, 42),
    "0220": (3, 42),
    "0400": (3, 42, 90),
    "0420": (3, 42, 90),
    "0500": (3, 42, 62, 74, 75, 76, 77, 86, 87, 88, 89),
    "0800": (70,),
}
AMOUNT_OPTIONAL = frozenset({"310000", "930000"})
#: The journal kind of a 0200 by processing code (a 0220 of `000000` is an advice).
KIND_BY_PC = {
    "000000": E.EARN, "900000": E.REDEEM, "310000": E.INQUIRY, "200000": E.RETURN,
    "210060": E.TOPUP, "006000": E.SV_PURCHASE, "930000": E.STAMP,
}
#: Requests that carry a MAC once their terminal has a session MAC key (PROTOCOL.md §6).
MACED = frozenset({"0200", "0220", "0400", "0420", "0500"})
#: Wrong PINs in a row after which PIN use is blocked (`75`) until an operator resets it.
PIN_TRIES = 3
#: The key of `Entry.detail` under which a decision hands key and PIN state to the store.
SECURITY = "security"
CREDIT_PCS = frozenset({"000000"})
DEBIT_PCS = frozenset({"900000", "006000"})


@dataclass(frozen=True, slots=True)
class SessionKeyRefs:
    """New session keys from the HSM for a key exchange (0800/101): never a clear key.

    `*_lmk` are kept by the switch (under the HSM's LMK); `*_tmk` (under the terminal's TMK,
    32 hex) and `*_kcv` (6 hex) go to the terminal in DE48 MK/MV and PK/PV.
    """

    mac_lmk: str
    mac_tmk: str
    mac_kcv: str
    pin_lmk: str
    pin_tmk: str
    pin_kcv: str


@dataclass(frozen=True, slots=True)
class Checks:
    """Verdicts the shell obtained from the HSM before deciding (issue 5's seam).

    `mac_present`: the request carries its MAC field (DE64, or DE128 with a secondary
    bitmap) as its last field; `mac_ok=False`: that MAC (or a MAC the switch has no key to
    check) failed, declined `63` with no effect. A request that needs a MAC (its terminal has a
    session MAC key, or `require_mac`) and has none is `63` too. `pin_ok=None` means no PIN was
    verified. `session_keys`: the HSM's new keys for a key exchange (None: it failed).
    """

    mac_ok: bool = True
    pin_ok: bool | None = None
    mac_present: bool = False
    session_keys: SessionKeyRefs | None = None
    #: The HSM could not be reached for a check this request needs: `91`, no effect.
    hsm_unavailable: bool = False
    #: The stored PIN (`Card.pin_ref`) `pin_ok` was checked against: a verdict about a PIN
    #: an operator replaced meanwhile is not used (None: not recorded, trusted as is).
    pin_ref: str | None = None


NO_CHECKS = Checks()


@dataclass(slots=True)
class Decision:
    """The response to send (None: send nothing) and the entries to persist first."""

    response: Message | None
    entries: list[E.Entry] = field(default_factory=list)
    retransmission: bool = False
    reason: str = ""


class _FormatError(Exception):
    """A request field that breaks its format: answered `30`."""


@dataclass(slots=True)
class _Req:
    msg: Message
    mti: str
    tid: str
    stan: str
    de7: str
    now: dt.datetime
    day: dt.date
    digest: str = ""
    term: TerminalState | None = None
    store: Store | None = None
    coalition: Coalition | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> TxnKey:
        return (self.tid, self.stan, self.de7)


def response_mti(mti: str) -> str:
    """0200 -> 0210, 0401 -> 0410, 0221 -> 0230."""
    return mti[:2] + str(int(mti[2]) + 1) + "0"


def request_digest(msg: Message) -> str:
    """A digest of the request's content; repeats (0401, 0421) digest as their originals."""
    h = hashlib.blake2b(digest_size=16)
    h.update(CANONICAL_MTI.get(msg.mti, msg.mti).encode())
    for number in sorted(msg.fields):
        if number in (64, 128):
            continue  # the MAC authenticates the content; a re-MACed retransmission is the same
        value = msg.fields[number]
        h.update(b"\x1e%d\x1f" % number)
        h.update(value if isinstance(value, bytes) else value.encode("utf-8"))
    return h.hexdigest()


def rrn_for(journal_id: int) -> str:
    return f"{journal_id:012d}"[-12:]


def _text(msg: Message, number: int, default: str = "") -> str:
    value = msg.fields.get(number)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _FormatError(f"DE{number} must be text")
    return value


def _digits(msg: Message, number: int, length: int | None = None) -> str:
    value = _text(msg, number)
    if not value.isdigit() or (length is not None and len(value) != length):
        raise _FormatError(f"DE{number} must be {length or 'some'} digits, got {value!r}")
    return value


def _zone(state: State) -> ZoneInfo:
    return state.config.switch.zone


# -- entry points ---------------------------------------------------------------------------


def handle(state: State, msg: Message, now: dt.datetime, checks: Checks = NO_CHECKS) -> Decision:
    """Decide one request. Never raises for bad input: a decline is a response code."""
    mti = msg.mti
    canonical = CANONICAL_MTI.get(mti, mti)
    if len(mti) != 4 or not mti.isdigit() or int(mti[2]) % 2:
        # Not a request (a stray response, say): answering it would start an echo storm.
        return Decision(None, reason=f"MTI {mti!r} is not a request")
    day = business_day(now, _zone(state), state.config.switch.business_day_cutover)
    req = _Req(msg, mti, _text_or(msg, 41), _text_or(msg, 11), _text_or(msg, 7), now, day)
    if canonical not in MANDATORY:
        return _reject(state, req, "12", f"MTI {mti} is not supported")
    try:
        for number in (7, 11, 41, *MANDATORY[canonical]):
            if number not in msg.fields:
                raise _FormatError(f"DE{number} is mandatory in {mti}")
        if canonical in ("0200", "0220", "0400", "0420") and 2 not in msg.fields \
                and 35 not in msg.fields:
            raise _FormatError("DE2 or DE35 is mandatory")
        _digits(msg, 11, 6)
        _digits(msg, 7, 10)
        if 48 in msg.fields:
            req.tags = parse_tlv(_text(msg, 48))
    except (_FormatError, CodecError) as exc:
        return _reject(state, req, "30", str(exc))

    if canonical == "0800":
        return _network(state, req, checks)
    if checks.hsm_unavailable:
        return _reject(state, req, "91", "HSM unavailable")
    mac_refusal = _mac_refusal(state, req, canonical, checks)
    if mac_refusal:
        # Before the idempotency lookup: an unauthenticated request is neither answered from
        # the cache nor remembered (a later genuine request with its key is decided normally).
        return _reject(state, req, "63", mac_refusal)

    req.digest = request_digest(msg)
    known = state.txns.get(req.key)
    if known is not None:
        if known.digest == req.digest:
            return Decision(known.response, retransmission=True, reason="retransmission")
        return _reject(state, req, "94", "STAN reused with different content")

    term = state.terminals.get(req.tid)
    store_id = _text_or(msg, 42).rstrip()
    if term is None or term.store != store_id:
        return _reject(state, req, "03", f"unknown terminal {req.tid!r} or store {store_id!r}")
    req.term = term
    req.store = state.config.stores[term.store]
    req.coalition = state.config.coalitions[req.store.coalition]

    try:
        if canonical == "0500":
            return _batch_close(state, req)
        if canonical in ("0400", "0420"):
            return _reversal(state, req)
        return _financial(state, req, checks)
    except _FormatError as exc:
        return _reject(state, req, "30", str(exc))


def _mac_refusal(state: State, req: _Req, canonical: str, checks: Checks) -> str:
    """Why a request fails message authentication ("" when it passes)."""
    if not checks.mac_ok:
        return "MAC verification failed"
    if canonical in MACED and not checks.mac_present:
        term = state.terminals.get(req.tid)
        if term is not None and term.mac_key_ref is not None:
            return "MAC missing (the terminal has a session MAC key)"
        if state.config.switch.require_mac:
            return "MAC missing (require_mac)"
    return ""


def reject_undecodable(
    state: State, mti: str, stan: str, tid: str, de7: str, now: dt.datetime, reason: str,
    tpdu: bytes | None = None,
) -> Decision:
    """`30` for a frame the codec could not decode but whose MTI, DE11 and DE41 it read."""
    day = business_day(now, _zone(state), state.config.switch.business_day_cutover)
    fields: dict[int, str | bytes] = {11: stan, 41: tid}
    if de7:
        fields[7] = de7
    msg = Message(mti=mti, fields=fields, tpdu=tpdu)
    return _reject(state, _Req(msg, mti, tid, stan, de7, now, day), "30", reason)


def _text_or(msg: Message, number: int) -> str:
    value = msg.fields.get(number)
    return value if isinstance(value, str) else ""


# -- responses and entries ------------------------------------------------------------------


def _response(req: _Req, rc: str, jid: int | None, extra: dict[int, str] | None = None) -> Message:
    fields: dict[int, str | bytes] = {n: req.msg.fields[n] for n in ECHO if n in req.msg.fields}
    canonical = CANONICAL_MTI.get(req.mti, req.mti)
    if canonical in FINANCIAL and jid is not None:
        fields[37] = rrn_for(jid)
    fields[39] = rc
    if extra:
        fields.update(extra)
    return Message(mti=response_mti(req.mti), fields=dict(sorted(fields.items())),
                   tpdu=req.msg.swapped_tpdu())


def _entry(state: State, req: _Req, kind: str, jid: int) -> E.Entry:
    msg = req.msg
    amount_text = _text_or(msg, 4)
    return E.Entry(
        id=jid, at=req.now, business_day=req.day, kind=kind, mti=req.mti,
        pc=_text_or(msg, 3), terminal_id=req.tid,
        store_id=req.store.id if req.store else _text_or(msg, 42).rstrip(),
        coalition_id=req.coalition.id if req.coalition else "",
        stan=req.stan, transmission=req.de7, rrn=rrn_for(jid),
        amount=int(amount_text) if amount_text.isdigit() else 0,
        batch=_text_or(msg, 62), digest=req.digest,
    )


def _reject(state: State, req: _Req, rc: str, reason: str) -> Decision:
    """A response with no effect. Journaled (for audit) but not remembered as a transaction."""
    jid = state.new_journal_id()
    resp = _response(req, rc, jid)
    entry = _entry(state, req, E.REJECT, jid)
    entry.response_code = rc
    entry.response = resp
    entry.detail = {"reason": reason}
    return Decision(resp, [entry], reason=reason)


def _remember(state: State, req: _Req, entry: E.Entry, resp: Message, kind: str) -> Txn:
    txn = Txn(
        key=req.key, digest=req.digest, journal_id=entry.id, mti=req.mti, pc=entry.pc,
        pan=entry.pan, store=entry.store_id, amount=entry.amount, batch=entry.batch,
        response_code=entry.response_code, response=resp, business_day=req.day, kind=kind,
        points=entry.points, sv=entry.sv,
    )
    state.txns[req.key] = txn
    return txn


def _finish(
    state: State, req: _Req, entry: E.Entry, rc: str, extra: dict[int, str] | None = None,
    moves: list[Move] | None = None,
) -> tuple[Decision, Txn]:
    resp = _response(req, rc, entry.id, extra)
    entry.response_code = rc
    entry.response = resp
    txn = _remember(state, req, entry, resp, entry.kind)
    if moves:
        txn.moves = moves
    return Decision(resp, [entry]), txn


def _balances(req: _Req, card: Card, state: State) -> str:
    assert req.coalition is not None
    parts = [AmountEntry("00", "02", "999", available_points(card, req.day))]
    if card.purse:
        parts.append(AmountEntry("60", "02", req.coalition.currency, usable_sv(state, card, req)))
    return build_de54(parts)


def available_points(card: Card, day: dt.date) -> int:
    """Points a burn may use today, net of any debt (negative lots)."""
    return sum(
        lot.remaining for lot in card.lots
        if lot.remaining < 0 or lot.expires_on is None or lot.expires_on > day
    )


def usable_sv(state: State, card: Card, req: _Req) -> int:
    return sum(lot.remaining for lot in _sv_lots(state, card, req))


def _sv_lots(state: State, card: Card, req: _Req) -> list[Lot]:
    """Purse lots spendable here: this store's, and those of coalition-wide purses."""
    assert req.store is not None
    out = []
    for lot in card.purse:
        if lot.store == req.store.id:
            out.append(lot)
            continue
        issuer = state.config.stores.get(lot.store)
        if issuer is not None and issuer.stored_value and issuer.stored_value.coalition_wide:
            out.append(lot)
    return out


def _move(card: Card, lot: Lot, delta: int, entry: E.Entry, moves: list[Move]) -> None:
    """Apply `delta` to `lot`, record it, and keep the card's lot lists tidy."""
    lot.remaining += delta
    entry.lot_deltas.append(E.LotDelta(lot.id, lot.pan, lot.kind, lot.store, delta))
    moves.append(Move(lot, delta))
    if lot.kind == POINTS:
        entry.points += delta
        pool = card.lots
    else:
        entry.sv += delta
        pool = card.purse
    present = any(x is lot for x in pool)
    if lot.remaining == 0 and present:
        pool[:] = [x for x in pool if x is not lot]
    elif lot.remaining != 0 and not present:
        pool.append(lot)


def _new_lot(
    state: State, req: _Req, card: Card, kind: str, amount: int, expires: dt.date | None,
    entry: E.Entry, moves: list[Move],
) -> Lot:
    assert req.store is not None and req.coalition is not None
    lot = Lot(
        id=state.new_lot_id(), pan=card.pan, kind=kind, store=req.store.id,
        coalition=req.coalition.id, earned_on=req.day, expires_on=expires, initial=amount,
        remaining=0,
    )
    entry.new_lots.append(E.NewLot(lot.id, lot.pan, kind, lot.store, lot.coalition,
                                   lot.earned_on, expires, amount))
    _move(card, lot, amount, entry, moves)
    return lot


def _totals(state: State, tid: str, batch: str) -> Totals:
    key = (tid, batch)
    totals = state.totals.get(key)
    if totals is None:
        totals = state.totals[key] = Totals()
    return totals


def _count(state: State, entry: E.Entry, tid: str, batch: str, *, credit: bool,
           reversal: bool, amount: int) -> None:
    """Count an approved earn/redemption (or its reversal) in its terminal batch's totals;
    the entry carries the same change so that it is as durable as the answer."""
    if amount < 0:
        raise AssertionError("a negative amount in batch totals")
    t = _totals(state, tid, batch)
    if credit and reversal:
        t.credit_reversals += 1
        t.credit_reversal_amount += amount
        delta = E.TotalsDelta(tid, batch, credit_reversals=1, credit_reversal_amount=amount)
    elif credit:
        t.credits += 1
        t.credit_amount += amount
        delta = E.TotalsDelta(tid, batch, credits=1, credit_amount=amount)
    elif reversal:
        t.debit_reversals += 1
        t.debit_reversal_amount += amount
        delta = E.TotalsDelta(tid, batch, debit_reversals=1, debit_reversal_amount=amount)
    else:
        t.debits += 1
        t.debit_amount += amount
        delta = E.TotalsDelta(tid, batch, debits=1, debit_amount=amount)
    entry.totals = delta


# -- network management ---------------------------------------------------------------------


def _network(state: State, req: _Req, checks: Checks = NO_CHECKS) -> Decision:
    code = _text_or(req.msg, 70)
    term = state.terminals.get(req.tid)
    if term is None:
        return Decision(_response(req, "03", None), reason=f"unknown terminal {req.tid!r}")
    if code in ("001", "002"):
        term.signed_on = code == "001"
        jid = state.new_journal_id()
        entry = _entry(state, req, E.NETWORK, jid)
        entry.store_id = term.store
        entry.terminal = E.TerminalRow(term.id, term.store, term.signed_on)
        resp = _response(req, "00", None)
        entry.response_code = "00"
        entry.response = resp
        entry.detail = {"network": code}
        return Decision(resp, [entry])
    if code == "301":
        return Decision(_response(req, "00", None))
    if code == "101":
        return _key_exchange(state, req, term, checks)
    return Decision(_response(req, "12", None), reason=f"network code {code!r} not supported")


def _key_exchange(state: State, req: _Req, term: TerminalState, checks: Checks) -> Decision:
    """0800/101: install the session keys the shell had the HSM make under the terminal's TMK.

    The keys under the LMK replace the terminal's (durably, with the 0810); the terminal gets
    them under its TMK with their check values in DE48 MK/MV and PK/PV.
    """
    if term.tmk_ref is None:
        return Decision(_response(req, "58", None),
                        reason="no terminal master key (lps keys new-terminal)")
    keys = checks.session_keys
    if keys is None:
        return Decision(_response(req, "96", None), reason="the HSM made no session keys")
    term.mac_key_ref = keys.mac_lmk
    term.pin_key_ref = keys.pin_lmk
    jid = state.new_journal_id()
    entry = _entry(state, req, E.NETWORK, jid)
    entry.store_id = term.store
    tags = {"MK": keys.mac_tmk, "MV": keys.mac_kcv, "PK": keys.pin_tmk, "PV": keys.pin_kcv}
    resp = _response(req, "00", None, {48: build_tlv(tags)})
    entry.response_code = "00"
    entry.response = resp
    entry.detail = {"network": "101", SECURITY: {"terminal_keys": {
        "mac": keys.mac_lmk, "mac_kcv": keys.mac_kcv,
        "pin": keys.pin_lmk, "pin_kcv": keys.pin_kcv}}}
    return Decision(resp, [entry])


# -- financial requests ---------------------------------------------------------------------


def _pan(msg: Message) -> str:
    if 2 in msg.fields:
        return _text(msg, 2)
    track2 = _text(msg, 35)
    return track2.split("=", 1)[0].split("D", 1)[0]


def _amount(req: _Req, pc: str) -> int:
    if 4 not in req.msg.fields:
        if pc in AMOUNT_OPTIONAL:
            return 0
        raise _FormatError(f"DE4 is mandatory for processing code {pc}")
    return int(_digits(req.msg, 4, 12))


def _card_for(state: State, req: _Req, pan: str, entry: E.Entry) -> tuple[Card | None, str]:
    """The card, enrolled on first use in a coalition BIN range; or a decline code."""
    assert req.coalition is not None
    card = state.cards.get(pan)  # a known card passed the Luhn check when it was enrolled
    if card is None:
        if not luhn_ok(pan):
            return None, "14"
        coalition = req.coalition
        if not (coalition.auto_enroll and any(pan.startswith(b) for b in coalition.card_bins)):
            return None, "14"
        card = Card(pan=pan, coalition=coalition.id, enrolled_on=req.day)
        state.cards[pan] = card
        entry.card = E.CardRow(pan, card.coalition, card.status, card.enrolled_on)
    if card.coalition != req.coalition.id:
        return card, "57"
    if card.status != "active":
        return card, "62"
    return card, "00"


def _expired(msg: Message, day: dt.date) -> bool:
    if 14 not in msg.fields:
        return False
    yymm = _digits(msg, 14, 4)
    month = int(yymm[2:])
    if not 1 <= month <= 12:
        raise _FormatError(f"DE14 {yymm!r} is not YYMM")
    return (2000 + int(yymm[:2]), month) < (day.year, day.month)


def _financial(state: State, req: _Req, checks: Checks) -> Decision:
    assert req.term is not None and req.store is not None and req.coalition is not None
    msg = req.msg
    canonical = CANONICAL_MTI.get(req.mti, req.mti)
    pc = _digits(msg, 3, 6)
    amount = _amount(req, pc)
    pan = _pan(msg)
    advice = canonical == "0220"
    kind = E.ADVICE if advice and pc == "000000" else KIND_BY_PC.get(pc, E.REJECT)
    jid = state.new_journal_id()
    entry = _entry(state, req, kind, jid)
    entry.pan = pan
    entry.amount = amount

    def decline(rc: str, reason: str) -> Decision:
        decision, _ = _finish(state, req, entry, rc)
        decision.reason = reason
        return decision

    if req.key in state.tombstones:
        entry.original_id = state.tombstones[req.key]
        return decline("05", "already reversed before it arrived")
    if not advice and not req.term.signed_on:
        return decline("58", "terminal not signed on")
    if advice and pc != "000000":
        return decline("12", f"advice of processing code {pc} is not supported")
    if kind == E.REJECT:
        return decline("12", f"processing code {pc} is not supported")
    card, rc = _card_for(state, req, pan, entry)
    if card is None or rc != "00":
        return decline(rc, "card refused")
    if _expired(msg, req.day):
        return decline("54", "card expired")
    moves: list[Move] = []
    if pc == "000000":
        return _earn(state, req, card, amount, entry, moves, advice)
    if pc == "900000":
        return _redeem(state, req, card, amount, entry, moves, checks)
    if pc == "310000":
        extra = {54: _balances(req, card, state)}
        info = state.rules.reply_tags(req.store, req.coalition, card, req.day, kind, {})
        if info:
            extra[48] = build_tlv(info)
        decision, _ = _finish(state, req, entry, "00", extra)
        return decision
    if pc == "200000":
        return _return(state, req, card, amount, entry, moves)
    if pc == "210060":
        return _topup(state, req, card, amount, entry, moves)
    if pc == "006000":
        return _sv_purchase(state, req, card, amount, entry, moves, checks)
    return _stamp(state, req, card, entry)


def _apply_effect(card: Card, entry: E.Entry, effect: C.ClubEffect | None) -> None:
    """Apply a program effect to the card and have the entry persist it (issue 4)."""
    if effect is None:
        return
    if card.club is None:
        card.club = C.Club()
    C.apply(card.club, effect)
    entry.club = C.rows(card.pan, card.club, [effect])
    entry.detail["program"] = effect.to_json()


def _approve(
    state: State, req: _Req, card: Card, entry: E.Entry, moves: list[Move], tags: dict[str, str]
) -> tuple[Decision, Txn]:
    assert req.store is not None and req.coalition is not None
    tags = state.rules.reply_tags(req.store, req.coalition, card, req.day, entry.kind, tags)
    jid = entry.id
    extra = {38: f"{jid % 1_000_000:06d}", 54: _balances(req, card, state)}
    if tags:
        extra[48] = build_tlv(tags)
    return _finish(state, req, entry, "00", extra, moves)


def _earn(
    state: State, req: _Req, card: Card, amount: int, entry: E.Entry, moves: list[Move],
    advice: bool,
) -> Decision:
    assert req.store is not None and req.coalition is not None
    if amount <= 0:
        decision, _ = _finish(state, req, entry, "13")
        return decision
    local = _purchase_time(req, _zone(state)) if advice else None
    result = state.rules.earn(EarnContext(req.store, req.coalition, card, amount, req.now,
                                          req.day, advice, local))
    lots = [(result.points, result.expires_on), *result.extra_lots]
    if any(points < 0 for points, _ in lots):
        raise AssertionError("a RuleBook returned negative points for an earn")
    for points, expires in lots:
        if points:
            _new_lot(state, req, card, POINTS, points, expires, entry, moves)
    _apply_effect(card, entry, result.effect)
    tags = {"EP": str(sum(points for points, _ in lots)), **result.tags}
    decision, txn = _approve(state, req, card, entry, moves, tags)
    txn.effect = result.effect
    state.by_rrn[rrn_for(entry.id)] = txn
    _count(state, entry, req.tid, entry.batch, credit=True, reversal=False, amount=amount)
    return decision


def _purchase_time(req: _Req, zone: ZoneInfo) -> dt.datetime | None:
    """DE13 (MMDD) + DE12 (hhmmss) of an advice as a local time no later than `now`, or None.

    The year is the one that puts it at most a year back; a value that is not a date and a
    time is ignored (both fields are optional: the switch's clock is used instead).
    """
    date, time = req.msg.fields.get(13), req.msg.fields.get(12)
    if not (isinstance(date, str) and isinstance(time, str) and len(date) == 4
            and len(time) == 6 and date.isdigit() and time.isdigit()):
        return None
    local_now = req.now.astimezone(zone)
    for year in (local_now.year, local_now.year - 1):
        try:
            when = dt.datetime(year, int(date[:2]), int(date[2:]), int(time[:2]),
                               int(time[2:4]), int(time[4:]), tzinfo=zone)
        except ValueError:
            continue  # 29 February of a common year, or not a date at all
        if when <= local_now:
            return when
    return None


def _pin_decline(card: Card, req: _Req, checks: Checks, entry: E.Entry) -> str | None:
    """Redeems on a card with a PIN need a verified DE52 (PROTOCOL.md §6).

    Wrong PINs in a row are counted on the card; the `PIN_TRIES`th and every later try is
    `75` until an operator resets it. A right PIN resets the count. The count travels in the
    entry (`detail["security"]["card_pin"]`) so it is as durable as the answer.
    """
    if card.pin_ref is None:
        return None
    if card.pin_tries >= PIN_TRIES:
        return "75"
    stale = checks.pin_ref is not None and checks.pin_ref != card.pin_ref
    if 52 not in req.msg.fields or checks.pin_ok is None or stale:
        return "55"  # no PIN (or none verifiable) is not a wrong PIN: not counted
    if checks.pin_ok:
        if card.pin_tries:
            card.pin_tries = 0
            entry.detail[SECURITY] = {"card_pin": {"tries": 0}}
        return None
    card.pin_tries += 1
    entry.detail[SECURITY] = {"card_pin": {"tries": card.pin_tries}}
    return "75" if card.pin_tries >= PIN_TRIES else "55"


def _consume(
    card: Card, lots: list[Lot], need: int, entry: E.Entry, moves: list[Move]
) -> None:
    for lot in lots:
        if need <= 0:
            break
        take = min(need, lot.remaining)
        if take > 0:
            _move(card, lot, -take, entry, moves)
            need -= take
    if need:
        raise AssertionError("consumed more than was available")


def _redeem(
    state: State, req: _Req, card: Card, amount: int, entry: E.Entry, moves: list[Move],
    checks: Checks,
) -> Decision:
    assert req.coalition is not None
    rp = req.tags.get("RP")
    if rp is not None:
        if not rp.isdigit():
            raise _FormatError(f"DE48 RP must be digits, got {rp!r}")
        points = int(rp)
    else:
        points = state.rules.redeem_points(req.coalition, amount)
    if points <= 0:
        decision, _ = _finish(state, req, entry, "13")
        return decision
    pin = _pin_decline(card, req, checks, entry)
    if pin:
        decision, _ = _finish(state, req, entry, pin)
        return decision
    if available_points(card, req.day) < points:
        decision, _ = _finish(state, req, entry, "51")
        return decision
    _consume(card, state.rules.burn_order(card.lots, req.day), points, entry, moves)
    decision, _ = _approve(state, req, card, entry, moves, {"RD": str(points)})
    _count(state, entry, req.tid, entry.batch, credit=False, reversal=False, amount=amount)
    return decision


def _return(
    state: State, req: _Req, card: Card, amount: int, entry: E.Entry, moves: list[Move]
) -> Decision:
    rrn = req.tags.get("OR")
    if rrn is None:
        raise _FormatError("a return needs DE48 OR (the original RRN)")
    original = state.by_rrn.get(rrn.strip())
    if original is None or original.reversed or original.pan != card.pan:
        decision, _ = _finish(state, req, entry, "25")
        return decision
    if amount <= 0 or original.returned_amount + amount > original.amount:
        decision, _ = _finish(state, req, entry, "13")
        return decision
    entry.original_id = original.journal_id
    returned = original.returned_amount + amount
    target = original.points * returned // original.amount
    claw = target - original.clawed
    if claw:
        own = [m.lot for m in original.moves if m.lot.remaining > 0]
        others = [
            lot for lot in state.rules.burn_order(card.lots, req.day)
            if not any(lot is o for o in own)
        ]
        need = claw
        for lot in own + others:
            if need == 0:
                break
            take = min(need, lot.remaining)
            if take > 0:
                _move(card, lot, -take, entry, moves)
                need -= take
        if need:
            # Points already spent: the shortfall becomes a debt on the original's lot.
            _move(card, original.moves[0].lot, -need, entry, moves)
    effect = None
    if card.club is not None:  # the returned amount no longer counts towards the tier
        effect = C.ClubEffect(day=req.day, spend_day=original.business_day, spend=-amount)
        _apply_effect(card, entry, effect)
    decision, txn = _approve(state, req, card, entry, moves, {"RD": str(claw)})
    txn.effect = effect
    txn.original = original
    original.returned_amount = returned
    original.clawed = target
    return decision


def _topup(
    state: State, req: _Req, card: Card, amount: int, entry: E.Entry, moves: list[Move]
) -> Decision:
    assert req.store is not None
    if req.store.stored_value is None:
        decision, _ = _finish(state, req, entry, "58")
        decision.reason = "this store sells no stored value"
        return decision
    if amount <= 0:
        decision, _ = _finish(state, req, entry, "13")
        return decision
    credit = state.rules.topup_credit(req.store, amount)
    _new_lot(state, req, card, STORED_VALUE, credit, None, entry, moves)
    decision, _ = _approve(state, req, card, entry, moves, {})
    return decision


def _sv_purchase(
    state: State, req: _Req, card: Card, amount: int, entry: E.Entry, moves: list[Move],
    checks: Checks,
) -> Decision:
    if amount <= 0:
        decision, _ = _finish(state, req, entry, "13")
        return decision
    pin = _pin_decline(card, req, checks, entry)
    if pin:
        decision, _ = _finish(state, req, entry, pin)
        return decision
    lots = [lot for lot in _sv_lots(state, card, req) if lot.remaining > 0]
    if sum(lot.remaining for lot in lots) < amount:
        decision, _ = _finish(state, req, entry, "51")
        return decision
    lots.sort(key=Lot.burn_key)
    _consume(card, lots, amount, entry, moves)
    decision, _ = _approve(state, req, card, entry, moves, {})
    _count(state, entry, req.tid, entry.batch, credit=False, reversal=False, amount=amount)
    return decision


def _stamp(state: State, req: _Req, card: Card, entry: E.Entry) -> Decision:
    assert req.store is not None
    result = state.rules.redeem_stamp(req.store, card, req.day)
    if result.response_code != "00":
        decision, _ = _finish(state, req, entry, result.response_code)
        return decision
    _apply_effect(card, entry, result.effect)
    decision, txn = _approve(state, req, card, entry, [], result.tags)
    txn.effect = result.effect
    return decision


# -- reversals and batch close ----------------------------------------------------------------


def _reversal(state: State, req: _Req) -> Decision:
    msg = req.msg
    de90 = _digits(msg, 90, 42)
    original_key = (req.tid, de90[4:10], de90[10:20])
    jid = state.new_journal_id()
    entry = _entry(state, req, E.REVERSAL, jid)
    entry.pan = _pan(msg)
    entry.original_key = original_key
    entry.detail = {"original_mti": de90[:4]}
    original = state.txns.get(original_key)
    if original is None or original.kind in ("", E.REVERSAL, E.BATCH_CLOSE):
        # Remember it: the original, should it arrive late, is declined 05 with no effect.
        state.tombstones[original_key] = jid
        decision, txn = _finish(state, req, entry, "25")
        txn.original_key = original_key
        return decision
    entry.original_id = original.journal_id
    card = state.cards.get(original.pan)
    if original.reversed or not original.approved or card is None:
        decision, txn = _finish(state, req, entry, "00")
        txn.original_key = original_key
        return decision
    moves: list[Move] = []
    entry.detail["undone"] = True
    for move in original.moves:
        _move(card, move.lot, -move.delta, entry, moves)
    original.reversed = True
    if original.effect is not None and card.club is not None:
        tiers = state.config.coalitions[card.coalition].tiers
        C.undo(card.club, original.effect, tiers, req.day)
        entry.club = C.rows(card.pan, card.club, [original.effect])
    if original.original is not None:  # a return: its claw-back no longer counts
        earn = original.original
        earn.returned_amount -= original.amount
        earn.clawed -= -original.points
    if original.pc in CREDIT_PCS or original.pc in DEBIT_PCS:
        _count(state, entry, original.key[0], original.batch,
               credit=original.pc in CREDIT_PCS, reversal=True, amount=original.amount)
    decision, txn = _approve(state, req, card, entry, moves, {})
    txn.original_key = original_key
    return decision


def _batch_close(state: State, req: _Req) -> Decision:
    msg = req.msg
    pc = _digits(msg, 3, 6)
    batch = _text(msg, 62)
    terminal = {n: int(_digits(msg, n)) for n in (74, 75, 76, 77, 86, 87, 88, 89)}
    jid = state.new_journal_id()
    entry = _entry(state, req, E.BATCH_CLOSE, jid)
    if pc != "920000":
        decision, _ = _finish(state, req, entry, "12")
        return decision
    ours = state.totals.get((req.tid, batch), Totals()).as_fields()
    rc = "00" if ours == terminal else "95"
    entry.detail = {
        "terminal": {str(k): v for k, v in terminal.items()},
        "switch": {str(k): v for k, v in ours.items()},
    }
    decision, _ = _finish(state, req, entry, rc)
    return decision


Handler = Callable[[State, Message, dt.datetime], Decision]
