"""Coupons at the till (docs/protocol.md §4, docs/programs.md "Coupons"): a `0200` `900000`
whose DE48 carries `CP` (the code) and whose DE4 is the purchase; the approval carries the
discount in IRR in DE48 `CD`.

The checks, in this order (the first that fails answers): a code that cannot be one (`14`), no
such coupon (`14`), a coupon of another coalition or of a store that is not this one while the
coalition takes store coupons at their issuer only (`57`), a coupon for a segment the card's
customer is not in (`57`), void (`62`), expired (`54`), used
(`05`), no amount or under the coupon's minimum, or a discount of nothing (`13`), the card's
limit of this issue reached (`65`). A coupon is used once: a reversal of the purchase gives it
back (a `release` move), and the original arriving after its reversal is declined `05` like
every late original.

A coupon's state is in the journal (`coupons`), read through the decision's facts; moves decided
but not committed yet are in `State.uncommitted` and replayed over it (`current`). Every move
sets a value or clears one the move names, so replaying a move the journal already holds (it
committed while the loop had not heard yet) changes nothing.
"""

from __future__ import annotations

import datetime as dt

from switch.core import coupon_code
from switch.core.admin import AdminError, admin_entry
from switch.core.catalog import ANYWHERE
from switch.core.codes import RC, Kind
from switch.core.entries import Entry
from switch.core.ledger import CardEdit
from switch.core.outcome import Changes, Context, Decision, approve, count, decline
from switch.core.request import Request
from switch.core.rewards import (
    REDEEM,
    RELEASE,
    VOID,
    CouponFacts,
    CouponMove,
    CouponNeed,
    CouponState,
)
from switch.core.state import State

#: The DE48 tags: the code (request) and the discount in IRR (approval).
CODE_TAG = "CP"
DISCOUNT_TAG = "CD"
#: `Entry.detail` key of a redemption: what its reversal gives back after a restart.
DETAIL = "coupon"


def need(req: Request) -> CouponNeed | None:
    """The coupon a `900000` with `CP` reads (None: the code cannot be one, nothing to read)."""
    code, _ = coupon_code.normalize(req.tags.get(CODE_TAG, ""))
    return None if code is None else CouponNeed(coupon_code.digest(code), req.pan)


def current(state: State, need: CouponNeed, found: CouponFacts
            ) -> tuple[CouponState, frozenset[str]]:
    """The coupon as the journal holds it with the moves still in memory replayed over it, and
    the coupons of its issue the card has redeemed now (their digests)."""
    st = found.state
    status, by, pan = st.status, st.redeemed_by, st.redeemed_pan
    mine = set(found.card_redeemed)
    issue = found.terms.issue
    for entry in state.uncommitted.values():  # in journal order
        move = entry.coupon
        if move is None:
            continue
        if move.digest == st.digest:
            if move.action == VOID:
                status = VOID
            elif move.action == REDEEM:
                by, pan = entry.id, move.pan
            elif move.action == RELEASE and by == move.original_id:
                by, pan = None, ""
        if move.issue == issue and move.pan == need.pan:
            if move.action == REDEEM:
                mine.add(move.digest)
            elif move.action == RELEASE:
                mine.discard(move.digest)
    return CouponState(st.digest, status, by, pan), frozenset(mine)


def decide(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    req = ctx.req
    if "RP" in req.tags:  # one reward per request (docs/programs.md "Coupons")
        return decline(ctx, entry, RC.INVALID_TRANSACTION, edit,
                       "a coupon redemption carries no RP: redeem points in a 900000 of its own")
    code, why = coupon_code.normalize(req.tags.get(CODE_TAG, ""))
    if code is None:
        return decline(ctx, entry, RC.INVALID_CARD, edit, why)
    wanted = CouponNeed(coupon_code.digest(code), req.pan)
    found = ctx.facts.coupon(wanted)
    if found is None:
        return decline(ctx, entry, RC.INVALID_CARD, edit, "no such coupon")
    terms = found.terms
    entry.detail[DETAIL] = {"issue": terms.issue}
    if terms.coalition != ctx.coalition.id:
        return decline(ctx, entry, RC.NOT_PERMITTED_CARD, edit,
                       f"a coupon of coalition {terms.coalition}")
    rules = ctx.coalition.coupons
    if terms.issuer and terms.issuer != ctx.store.id and rules.store_coupons != ANYWHERE:
        return decline(ctx, entry, RC.NOT_PERMITTED_CARD, edit,
                       f"a coupon of store {terms.issuer}, taken there only")
    if terms.segment and found.card_segment != terms.segment:
        return decline(ctx, entry, RC.NOT_PERMITTED_CARD, edit,
                       f"a coupon for the customers of segment {terms.segment}")
    state, mine = current(ctx.state, wanted, found)
    if state.status == VOID:
        return decline(ctx, entry, RC.CARD_BLOCKED, edit, "the coupon is void")
    if ctx.day > terms.expires_on:
        return decline(ctx, entry, RC.EXPIRED_CARD, edit,
                       f"the coupon expired after {terms.expires_on}")
    if state.redeemed_by is not None:
        return decline(ctx, entry, RC.DO_NOT_HONOUR, edit,
                       f"the coupon was used by #{state.redeemed_by}")
    amount = req.amount
    if amount <= 0 or amount < terms.min_amount:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit,
                       f"the purchase is under the coupon's minimum {terms.min_amount}")
    if terms.per_customer and len(mine) >= terms.per_customer:
        return decline(ctx, entry, RC.COUNT_LIMIT, edit,
                       f"the card has used {len(mine)} coupons of issue {terms.issue}")
    off = terms.discount(amount, rules.max_discount)
    if off <= 0:
        return decline(ctx, entry, RC.INVALID_AMOUNT, edit, "the discount would be nothing")
    counted = count(ctx, (req.tid, req.batch), credit=False, reversal=False, amount=amount)
    if counted is None:
        return decline(ctx, entry, RC.OVER_LIMIT, edit, "the batch's totals would overflow")
    move = CouponMove(wanted.digest, terms.issue, REDEEM, terms.coalition, terms.issuer,
                      ctx.store.id, req.pan, off)
    decision = approve(ctx, entry, edit, {DISCOUNT_TAG: str(off)}, counted=counted)
    if entry.response_code == RC.APPROVED:
        entry.coupon = move
        entry.detail[DETAIL] = {"issue": terms.issue, "digest": move.digest,
                                "issuer": terms.issuer, "discount": off}
    return decision


def redeemed(original: Entry) -> CouponMove | None:
    """The coupon move of an approved redemption, from the entry or, once it is in the
    journal, from its detail (what a reversal gives back)."""
    if original.coupon is not None:
        return original.coupon
    d = original.detail.get(DETAIL)
    if original.kind != Kind.COUPON or not isinstance(d, dict) or "digest" not in d:
        return None
    return CouponMove(str(d["digest"]), int(d["issue"]), REDEEM, original.coalition_id,
                      str(d.get("issuer", "")), original.store_id, original.pan,
                      int(d["discount"]))


def release(original: Entry) -> CouponMove | None:
    """What a reversal of `original` does to its coupon: gives it back (None: no coupon)."""
    move = redeemed(original)
    if move is None:
        return None
    return CouponMove(move.digest, move.issue, RELEASE, move.coalition, move.issuer,
                      move.store, move.pan, -move.discount, original.id)


def decide_void(state: State, wanted: CouponNeed, found: CouponFacts | None,
                now: dt.datetime, actor: str = "") -> Decision:
    """`lps coupons void CODE` as a decision: the coupon is refused from now on (a redemption
    already made stays, and its reversal still gives it back).

    Raises `AdminError` (with the reason) for an unknown coupon or one void already.
    """
    if found is None:
        raise AdminError("no such coupon")
    st, _ = current(state, wanted, found)
    terms = found.terms
    if st.status == VOID:
        raise AdminError(f"the coupon (issue {terms.issue}) is void already")
    entry = admin_entry(state, now, {"action": VOID, "issue": terms.issue, "by": actor},
                        kind=Kind.COUPON_ADMIN, coalition_id=terms.coalition,
                        store_id=terms.issuer)
    entry.coupon = CouponMove(wanted.digest, terms.issue, VOID, terms.coalition, terms.issuer)
    return Decision(None, [entry], changes=Changes(journal_id=entry.id))

