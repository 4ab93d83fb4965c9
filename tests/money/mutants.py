"""The fixed sample of realistic money bugs that `make test` must see (docs/testing.md).

Each `Mutant` replaces one snippet of a money module, found by its text (so unrelated edits of
the file do not matter), and names the fast tests that must fail on it. A snippet that is no
longer in its file, or is there more than once, fails the sample with a message naming it:
update the snippet when the code it guards moves, never drop it silently.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mutant:
    name: str
    path: str
    snippet: str
    replacement: str
    tests: tuple[str, ...]
    why: str


RET = "tests/money/test_returns.py"
LOTS = "tests/money/test_lots.py"
DATES = "tests/money/test_dates.py"
REV = "tests/money/test_reversals.py"
RECON = "tests/money/test_reconciliation.py"
MODEL = "tests/money/test_burn_order_model.py"
AUTH = "switch/core/authorizer.py"
STORE = "switch/store.py"

SAMPLE: tuple[Mutant, ...] = (
    # -- returns (docs/switch.md, Return) --------------------------------------------------------
    Mutant("return-of-another-card", AUTH,
           "if original is None or original.reversed or original.pan != card.pan:",
           "if original is None or original.reversed:",
           (f"{RET}::test_a_return_naming_another_cards_earn_is_declined_and_changes_nothing",),
           "a return may claw back another card's earn"),
    Mutant("return-of-reversed-earn", AUTH,
           "if original is None or original.reversed or original.pan != card.pan:",
           "if original is None or original.pan != card.pan:",
           (f"{RET}::test_a_return_naming_a_reversed_earn_in_the_cache_is_declined",),
           "a reversed earn can still be returned"),
    Mutant("return-whole-amount-refused", AUTH,
           "original.returned_amount + amount > original.amount:",
           "original.returned_amount + amount >= original.amount:",
           (f"{RET}::test_reversing_a_partial_return_then_returning_the_full_amount",),
           "returning exactly the rest of the amount is refused"),
    Mutant("reversed-return-keeps-amount", AUTH,
           "earn.returned_amount -= original.amount",
           "earn.returned_amount -= 0",
           (f"{RET}::test_reversing_a_partial_return_then_returning_the_full_amount",),
           "a reversed return still counts against its earn"),
    Mutant("reversed-return-claw-sign", AUTH,
           "earn.clawed -= -original.points",
           "earn.clawed -= original.points",
           (f"{RET}::test_reversing_a_partial_return_then_returning_the_full_amount",),
           "a reversed return's claw-back is booked the wrong way"),
    Mutant("return-of-nothing", AUTH,
           "if amount <= 0 or original.returned_amount",
           "if amount < 0 or original.returned_amount",
           (f"{RET}::test_a_return_of_nothing_is_refused_and_of_one_is_not",),
           "a return of DE4 = 0 is approved"),
    Mutant("return-claw-not-cumulative", AUTH,
           "claw = target - original.clawed",
           "claw = original.points * amount // original.amount",
           (f"{RET}::test_partial_returns_across_restarts_claw_back_the_cumulative_proportion",),
           "each return rounds down on its own instead of cumulatively"),
    Mutant("return-debt-too-large", AUTH,
           "_move(card, original.moves[0].lot, -need, entry, moves)",
           "_move(card, original.moves[0].lot, -claw, entry, moves)",
           (f"{RET}::test_a_full_return_after_the_points_were_spent_leaves_a_debt_on_the_earns_lot",),
           "the debt is the whole claw-back, not what was left to take"),
    Mutant("return-other-lots-first", AUTH,
           "for lot in own + others:",
           "for lot in others + own:",
           (f"{RET}::test_a_return_claws_the_earns_own_lot_before_other_lots",),
           "a return claws other stores' lots before the earn's own"),
    # -- recovery of returns (docs/switch.md, Durability and recovery) ---------------------------
    Mutant("recovery-forgets-returned-amount", STORE,
           "earn.returned_amount += amount",
           "earn.returned_amount += 0",
           (f"{RET}::test_partial_returns_across_restarts_claw_back_the_cumulative_proportion",),
           "after a restart a cached earn forgets what was returned"),
    Mutant("recovery-forgets-clawed", STORE,
           "earn.clawed += -points",
           "earn.clawed += 0",
           (f"{RET}::test_partial_returns_across_restarts_claw_back_the_cumulative_proportion",),
           "after a restart a cached earn forgets what was clawed back"),
    Mutant("recovery-keeps-reversed-return", STORE,
           "txn.original.returned_amount -= txn.amount",
           "txn.original.returned_amount -= 0",
           (f"{RET}::test_reversing_a_partial_return_then_returning_the_full_amount",),
           "after a restart a reversed return counts against its earn again"),
    Mutant("load-earn-window-off-by-one", STORE,
           "if dt.date.fromisoformat(day) < horizon:",
           "if dt.date.fromisoformat(day) <= horizon:",
           (f"{RET}::test_an_earn_exactly_return_window_days_old_can_be_returned",),
           "an earn exactly return_window_days old is refused"),
    Mutant("load-earn-ignores-reversal", STORE,
           "        if jid in undone:\n            return None",
           "        if jid in undone and False:\n            return None",
           (f"{RET}::test_an_earn_reversed_long_ago_cannot_be_returned",),
           "an earn reversed long ago is returned again"),
    Mutant("load-earn-counts-reversed-returns", STORE,
           "if rid not in undone:",
           "if True:",
           (f"{RET}::test_an_earn_reversed_long_ago_cannot_be_returned",),
           "a return reversed long ago still counts against its earn"),
    Mutant("load-earn-skips-cache", STORE,
           "cached = state.by_rrn.get(rrn)",
           "cached = None",
           (f"{RET}::test_returns_decided_before_their_commit_claw_back_cumulatively",),
           "an earn is read again from the journal, forgetting returns not yet committed"),
    Mutant("load-earn-window-in-utc", STORE,
           "horizon = business_day(now, cfg.zone, cfg.business_day_cutover)",
           "horizon = business_day(now, dt.UTC, cfg.business_day_cutover)",
           (f"{RET}::test_an_earn_exactly_return_window_days_old_can_be_returned",),
           "the return window counts UTC days, not the switch's business days"),
    Mutant("load-earn-returns-ignored", STORE,
           "txn.returned_amount += ramount",
           "txn.returned_amount += 0",
           (f"{RET}::test_partial_returns_across_restarts_claw_back_the_cumulative_proportion",),
           "an earn read from the journal forgets its returns"),
    # -- lot order and attribution (docs/switch.md, Redeem; docs/settlement.md) ------------------
    Mutant("burn-takes-initial", AUTH,
           "        take = min(need, lot.remaining)\n        if take > 0:\n"
           "            _move(card, lot, -take, entry, moves)\n            need -= take\n"
           "    if need:",
           "        take = min(need, lot.initial)\n        if take > 0:\n"
           "            _move(card, lot, -take, entry, moves)\n            need -= take\n"
           "    if need:",
           (f"{LOTS}::test_a_burn_spanning_a_partly_spent_lot_moves_and_pays_the_right_stores",),
           "a burn draws a partly spent lot as if it were whole"),
    Mutant("burn-oldest-earn-first", "switch/core/model.py",
           "return (self.expires_on or dt.date.max, self.earned_on, self.id)",
           "return (self.earned_on, self.expires_on or dt.date.max, self.id)",
           (f"{LOTS}::test_a_lot_earned_later_but_expiring_sooner_burns_first", MODEL),
           "lots burn oldest earn first, not soonest expiry"),
    Mutant("burn-highest-id-first", "switch/core/model.py",
           "return (self.expires_on or dt.date.max, self.earned_on, self.id)",
           "return (self.expires_on or dt.date.max, self.earned_on, -self.id)",
           (f"{LOTS}::test_a_burn_spanning_a_partly_spent_lot_moves_and_pays_the_right_stores",),
           "of two lots alike the newer burns first"),
    Mutant("netting-ignores-own-store", "settlement/netting.py",
           "if d.issuer != row.store_id and d.delta:",
           "if d.delta:",
           (f"{LOTS}::test_a_burn_at_the_issuing_store_moves_no_value",),
           "a store owes itself for its own points"),
    Mutant("netting-payer-payee-swapped", "settlement/netting.py",
           "flows.append(Flow(d.kind, d.issuer, row.store_id, -d.delta))",
           "flows.append(Flow(d.kind, row.store_id, d.issuer, -d.delta))",
           (f"{LOTS}::test_a_burn_spanning_a_partly_spent_lot_moves_and_pays_the_right_stores",),
           "the accepting store pays the issuer"),
    Mutant("journal-payer-payee-swapped", "settlement/journal.py",
           "k = (mkind, issuer, acceptor)",
           "k = (mkind, acceptor, issuer)",
           (f"{LOTS}::test_a_burn_spanning_a_partly_spent_lot_moves_and_pays_the_right_stores",),
           "the journal reader makes the accepting store pay the issuer"),
    Mutant("journal-ignores-reversals", "settlement/journal.py",
           "spend[r[0]] = (r[2], 1)",
           "pass",
           (f"{REV}::test_a_reversal_of_an_earlier_days_redemption_flows_back_that_day",),
           "the journal reader ignores reversed redemptions"),
    Mutant("netting-ignores-reversals", "settlement/netting.py",
           "        sign = 1\n    else:\n        return []",
           "        return []\n    else:\n        return []",
           (f"{REV}::test_a_reversal_of_an_earlier_days_redemption_flows_back_that_day",),
           "a reversed redemption still moves value"),
    # -- date boundaries -----------------------------------------------------------------------
    Mutant("burn-uses-expiring-lot", "switch/core/rules.py",
           "lot.expires_on is None or lot.expires_on > business_day",
           "lot.expires_on is None or lot.expires_on >= business_day",
           (f"{LOTS}::test_points_on_their_expiry_day_are_not_drawn",),
           "points are spent on their expiry day"),
    Mutant("balance-counts-expiring-lot", AUTH,
           "if lot.remaining < 0 or lot.expires_on is None or lot.expires_on > day",
           "if lot.remaining < 0 or lot.expires_on is None or lot.expires_on >= day",
           (f"{DATES}::test_points_expire_on_their_expiry_day_and_break_that_day",),
           "the balance counts points on their expiry day"),
    Mutant("breakage-misses-expiry-day", "settlement/expiry.py",
           "before = max(lot.before, 0) if lot.expires_on < day else 0",
           "before = max(lot.before, 0) if lot.expires_on <= day else 0",
           (f"{DATES}::test_points_expire_on_their_expiry_day_and_break_that_day",),
           "a lot lapsing today breaks nothing"),
    Mutant("card-expired-this-month", AUTH,
           "return (2000 + int(yymm[:2]), month) < (day.year, day.month)",
           "return (2000 + int(yymm[:2]), month) <= (day.year, day.month)",
           (f"{DATES}::test_a_card_expiring_this_month_is_still_valid",),
           "a card is refused in its last valid month"),
    Mutant("card-expiry-month-13", AUTH,
           "if not 1 <= month <= 12:",
           "if not 1 <= month <= 13:",
           (f"{DATES}::test_a_card_expiry_that_is_not_yymm_is_a_format_error",),
           "a card expiring in month 13 is accepted"),
    Mutant("cutover-minute-late", "switch/core/calendar.py",
           "local.time().replace(tzinfo=None) >= cutover",
           "local.time().replace(tzinfo=None) > cutover",
           (f"{DATES}::test_the_cutover_minute_starts_the_next_business_day",),
           "the cutover minute still belongs to the old business day"),
    Mutant("midnight-cutover-shifts-day", "switch/core/calendar.py",
           "if cutover != dt.time(0, 0) and",
           "if cutover != dt.time(1, 0) and",
           (f"{DATES}::test_a_midnight_cutover_means_calendar_days",),
           "a 00:00 cutover moves every transaction to the next day"),
    # -- reversals (docs/switch.md, Reversal) --------------------------------------------------
    Mutant("reversal-undone-twice", AUTH,
           "if original.reversed or not original.approved or card is None:",
           "if not original.approved or card is None:",
           (f"{REV}::test_a_reversal_undoes_on_the_original_card_across_a_restart",),
           "a repeated reversal undoes its original again"),
    # -- reconciliation (docs/settlement.md) -----------------------------------------------------
    Mutant("recon-lower-amount-looks-at-declines", "settlement/reconcile.py",
           "if dc < 0 or (dc == 0 and da < 0):",
           "if dc < 0:",
           (f"{RECON}::test_same_count_lower_amount_lists_the_switchs_rows",),
           "a batch short in amount lists the declined rows, not the counted ones"),
    Mutant("recon-missed-reversal", "settlement/reconcile.py",
           '"debit_reversals": [r for r in debits if r.id in reversed_ids],',
           '"debit_reversals": [r for r in debits if r.id not in reversed_ids],',
           (f"{RECON}::test_a_reversal_the_terminal_missed_is_named",),
           "the reversal a terminal missed is not named"),
)
