"""0200 and 0220 (docs/protocol.md §4): the checks every financial request passes, then the
operation its processing code names (earn, redeem, return, stored value, stamps, inquiry)."""

from __future__ import annotations

from collections.abc import Callable

from iso8583.loyalty import build_tlv
from switch.core import (
    coupon,
    earn,
    gift_card,
    membership,
    redeem,
    replay,
    returns,
    stamps,
    stored_value,
    till_discount,
)
from switch.core.accounts import mobile_card
from switch.core.codes import (
    KIND_BY_PC,
    KIND_COUPON,
    KIND_REDEEM,
    PC,
    PC_EARN,
    PC_INQUIRY,
    PC_REDEEM,
    PC_TOPUP,
    RC,
    RC_APPROVED,
    Kind,
)
from switch.core.entries import CardRow, Entry
from switch.core.ledger import CardEdit
from switch.core.luhn import luhn_ok
from switch.core.model import Card
from switch.core.outcome import (
    Context,
    Decision,
    balances,
    decline,
    finish,
    new_entry,
    reject,
)
from switch.core.request import Request


def decide(ctx: Context) -> Decision:
    req, state = ctx.req, ctx.state
    if req.pc not in KIND_BY_PC:  # like an unsupported MTI: a reject, not remembered (§5)
        return reject(state, req, RC.INVALID_TRANSACTION,
                      f"processing code {req.pc} is not supported", ctx.now, ctx.day)
    malformed = _TILL_FORMATS.get(req.pc)
    why = malformed(req) if malformed is not None else ""
    if why:  # DE48 of a till reward that breaks its format (docs/protocol.md §3)
        return reject(state, req, RC.FORMAT_ERROR, why, ctx.now, ctx.day)
    advice = req.canonical == "0220"
    kind = Kind.ADVICE if advice and req.pc == PC_EARN else KIND_BY_PC[req.pc]
    if kind == KIND_REDEEM and coupon.CODE_TAG in req.tags:
        kind = KIND_COUPON
    entry = new_entry(req, kind, ctx.journal_id, ctx.now, ctx.day, ctx.store.id,
                      ctx.coalition.id)
    tomb = replay.tombstone(state, ctx.facts, req.key)
    if tomb is not None:
        entry.original_id = tomb
        return decline(ctx, entry, RC.DO_NOT_HONOUR, reason="already reversed before it arrived")
    if not advice and not ctx.term.signed_on:
        return decline(ctx, entry, RC.NOT_PERMITTED_TERMINAL, reason="terminal not signed on")
    if advice and req.pc != PC_EARN:
        return decline(ctx, entry, RC.INVALID_TRANSACTION,
                       reason=f"advice of processing code {req.pc} is not supported")
    if req.amount > state.limits.max_amount:
        return decline(ctx, entry, RC.OVER_LIMIT, reason="DE4 is over the largest amount")
    edit, refused = card_for(ctx, entry)
    if refused is not None:
        return decline(ctx, entry, refused, edit, "card refused")
    assert edit is not None
    if expired(ctx):
        if edit.new and ctx.coalition.is_gift_card(edit.card.pan):  # docs/protocol.md §4
            return gift_card.refuse(ctx, entry, RC.EXPIRED_CARD, "card expired")
        return decline(ctx, entry, RC.EXPIRED_CARD, edit, "card expired")
    pc = req.pc
    if ctx.coalition.is_gift_card(edit.card.pan):
        why = gift_card.refusal(pc)
        if why:
            return decline(ctx, entry, RC.NOT_PERMITTED_CARD, edit, why)
        if pc == PC_TOPUP:
            return gift_card.sell(ctx, entry, edit)
    if pc == PC_EARN:
        return earn.decide(ctx, entry, edit, advice)
    if kind == KIND_COUPON:
        if req.mobile:  # a coupon's redemptions are counted per card number (DE2/DE35)
            return decline(ctx, entry, RC.NOT_PERMITTED_CARD, edit,
                           "a coupon is redeemed with a card, not DE48 MB")
        return coupon.decide(ctx, entry, edit)
    if pc == PC_REDEEM:
        return redeem.decide(ctx, entry, edit)
    if pc == PC_INQUIRY:
        return inquiry(ctx, entry, edit)
    if pc == PC.RETURN:
        return returns.decide(ctx, entry, edit)
    if pc == PC.TOPUP:
        return stored_value.topup(ctx, entry, edit)
    if pc == PC.SV_PURCHASE:
        return stored_value.purchase(ctx, entry, edit)
    if pc == PC.DISCOUNT:
        return till_discount.decide(ctx, entry, edit)
    if pc == PC.MEMBERSHIP:
        return membership.decide(ctx, entry, edit)
    return stamps.decide(ctx, entry, edit)


#: The DE48 checks of the till rewards' processing codes (a failure is `30`).
_TILL_FORMATS: dict[str, Callable[[Request], str]] = {
    PC.DISCOUNT: till_discount.format_error, PC.MEMBERSHIP: membership.format_error,
}


def card_for(ctx: Context, entry: Entry) -> tuple[CardEdit | None, RC | None]:
    """The card (enrolled by this request on first use in a coalition BIN range, when the
    coalition auto-enrols, or by the sale of a gift card; for DE48 `MB`, the account's virtual
    card), or the decline code."""
    edit, refused = mobile_card(ctx, entry) if ctx.req.mobile else _numbered(ctx, entry)
    if edit is None:
        return None, refused
    card = edit.card
    if card.coalition != ctx.coalition.id:
        return edit, RC.NOT_PERMITTED_CARD
    if card.status != "active":
        return edit, RC.CARD_BLOCKED
    return edit, None


def _numbered(ctx: Context, entry: Entry) -> tuple[CardEdit | None, RC | None]:
    """The card DE2/DE35 names. A virtual card is reached by DE48 `MB` only: its number is
    never printed, so a request that has it is refused like an unknown card."""
    pan = ctx.req.pan
    coalition = ctx.coalition
    card = ctx.state.cards.get(pan)  # a known card passed the Luhn check when it was enrolled
    if card is None:
        if not luhn_ok(pan):
            return None, RC.INVALID_CARD
        if coalition.is_gift_card(pan):
            if ctx.req.pc != PC.TOPUP:  # a gift card exists once it is sold
                return None, RC.INVALID_CARD
        elif not (coalition.auto_enroll and any(pan.startswith(b) for b in coalition.card_bins)):
            return None, RC.INVALID_CARD
        card = Card(pan=pan, coalition=coalition.id, enrolled_on=ctx.day)
        entry.card = CardRow(pan, card.coalition, card.status, card.enrolled_on)
        return CardEdit(card, new=True), None
    if card.virtual:
        return None, RC.INVALID_CARD
    return CardEdit(card), None


def expired(ctx: Context) -> bool:
    """DE14 (YYMM) before this business day's month."""
    expiry = ctx.req.expiry
    return expiry is not None and expiry < (ctx.day.year, ctx.day.month)


def inquiry(ctx: Context, entry: Entry, edit: CardEdit) -> Decision:
    """`310000`: the balances, and what the programs add (tier, stamps, expiring points)."""
    card = edit.after()
    extra = {54: balances(ctx, card)}
    info = ctx.state.rules.reply_tags(ctx.store, ctx.coalition, card, ctx.day, entry.kind, {})
    if info:
        extra[48] = build_tlv(info)
    return finish(ctx, entry, RC_APPROVED, extra=extra, edit=edit.bare())
