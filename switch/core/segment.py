"""The customer's segment at the till (docs/programs.md "Campaigns for a segment"): a campaign
with `segment` multiplies (or adds to) the points of the cards whose customer the club's
nightly job last put in that segment.

Segments are the journal's (`customer_segments`, written by the nightly job), so an earn reads
its card's as a fact (`Needs.segment`, or with the account of a DE48 `MB` number), and only at
a store where some running or future campaign names a segment: elsewhere nothing is read.
"""

from __future__ import annotations

from switch.core.catalog import Coalition, Store
from switch.core.codes import PC_EARN
from switch.core.entries import mobile_key
from switch.core.outcome import Context
from switch.core.request import Request

__all__ = ["card_segment", "segment_need", "segmented"]


def segmented(coalition: Coalition, store: Store) -> bool:
    """Some campaign of the store or its coalition is for a segment (loops, not `any` over
    generators: every earn asks, twice)."""
    for campaign in coalition.campaigns:
        if campaign.segment:
            return True
    for campaign in store.campaigns:  # noqa: SIM110
        if campaign.segment:
            return True
    return False


def segment_need(coalition: Coalition, store: Store, req: Request) -> str | None:
    """The card whose segment an earn by card number reads (None: nothing to read; an earn by
    mobile number reads it with its account, `Needs.account`)."""
    if req.pc != PC_EARN or req.mobile or not req.pan or not segmented(coalition, store):
        return None
    return req.pan


def card_segment(ctx: Context) -> str | None:
    """The segment of the customer behind the earn's card as the nightly job last stored it
    (None: no account, no segment computed, or no campaign here that asks)."""
    if not segmented(ctx.coalition, ctx.store):
        return None
    req = ctx.req
    if not req.mobile:
        return ctx.facts.segment(req.pan)
    key = mobile_key(ctx.coalition.id, req.mobile)
    if key in ctx.state.pending_mobiles:
        return None  # an account enrolled by a request not committed yet: no segment yet
    fact = ctx.facts.account(key)
    return fact.segment if fact is not None else None
