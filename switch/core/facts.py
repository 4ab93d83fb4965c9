"""What a decision reads besides the state: the HSM's verdicts and journal rows.

`Needs` (switch/core/needs.py computes it) says exactly which journal rows and which HSM
verdicts the decision of one request reads; the shell fetches exactly that into `Facts`.
`decide` reads journal rows only through `Facts`' accessors, which raise `AssertionError` for a
row the needs did not name: a missed fetch is a loud bug (answered `96`, nothing changed), never
a silently wrong answer. `Needs` and `Facts` are never changed once built; they are plain slots
dataclasses, built once per request and read at every step (frozen dataclasses build several
times slower, and Python 3.11 reads a `NamedTuple`'s fields through the generic attribute path;
benches/README.md, "The core alone").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from iso8583.message import Message
from switch.core.entries import Entry
from switch.core.model import Remembered, Totals, TxnKey
from switch.core.programs.club import Profile
from switch.core.rewards import CouponFacts, CouponNeed


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
    """Verdicts the shell obtained from the HSM before deciding (docs/security.md).

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
class Needs:
    """The journal rows and HSM verdicts one decision reads (all empty: none)."""

    #: The stored reply of this journal row: a retransmission's answer.
    reply: int | None = None
    #: A reversal's original row, with its lot moves and its batch's totals.
    original: int | None = None
    #: A return's earn (named by `OR`), with its lots and the returns made against it so far;
    #: for a reversal, its original's row again, should it be an earn with returns against it.
    earn: int | None = None
    #: A terminal batch's totals the cache has not seen.
    totals: tuple[str, str] | None = None
    #: The account of a mobile number (`entries.mobile_key`) a request names by DE48 `MB`.
    account: str | None = None
    #: HSM verdicts: the request's MAC, its PIN block, new session keys.
    mac: bool = False
    pin: bool = False
    session_keys: bool = False
    #: A coupon (by its code's digest) with the card's redemptions of its issue.
    coupon: CouponNeed | None = None
    #: A key that is not in memory while older requests are only in the journal
    #: (docs/switch.md, "Memory"): the request's own (its record and stored reply) and a
    #: reversal's original (its record, row and batch totals), of business days from
    #: `recall_since` on.
    recall: TxnKey | None = None
    recall_original: TxnKey | None = None
    #: Also the newest tombstone the journal holds for `recall` (a 0200/0220).
    recall_tombstone: bool = False
    recall_since: dt.date = dt.date.min
    #: The card whose customer's segment an earn reads (switch/core/segment.py).
    segment: str | None = None
    #: The card (or a mobile key) whose account's cards an earn that may give the birthday
    #: bonus reads (switch/core/birthday.py).
    birthday: str | None = None

    @property
    def journal(self) -> bool:
        if self is NOTHING:  # most requests need nothing: no field to look at
            return False
        return (self.reply is not None or self.original is not None or self.earn is not None
                or self.totals is not None or self.account is not None
                or self.coupon is not None or self.segment is not None
                or self.birthday is not None
                or self.recall is not None or self.recall_original is not None)

    @property
    def hsm(self) -> bool:
        return self.mac or self.pin or self.session_keys


NOTHING = Needs()


@dataclass(frozen=True, slots=True)
class ReturnRow:
    """An approved return made against an earn: its amount and the points it clawed back."""

    journal_id: int
    amount: int
    clawed: int


@dataclass(frozen=True, slots=True)
class Returned:
    """What the journal holds against an earn: its approved returns, and the ids among it and
    them an approved reversal undid."""

    returns: tuple[ReturnRow, ...] = ()
    undone: frozenset[int] = frozenset()


NOTHING_RETURNED = Returned()


@dataclass(frozen=True, slots=True)
class AccountFact:
    """A mobile number's account as the journal holds it (docs/customers.md): its id, its
    virtual card ("" when it has none yet) and the profile its cards carry."""

    account_id: int
    virtual_pan: str = ""
    profile: Profile | None = None
    #: The segment the club's nightly job last stored for the account (None: none yet).
    segment: str | None = None
    #: Every card of the account in the journal (the birthday bonus is once per customer).
    cards: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountCards:
    """The cards of one account as the journal holds them, and its mobile number's key
    (`entries.mobile_key`, "" none): its virtual card may be in memory only."""

    cards: tuple[str, ...]
    mobile_key: str = ""


@dataclass(slots=True)
class Facts:
    """The answers to one request's `Needs`: journal rows (None: no such row) and checks."""

    needs: Needs = field(default_factory=lambda: NOTHING)
    checks: Checks = NO_CHECKS
    reply_message: Message | None = None
    #: A reversal's original as the journal holds it (its lot moves name each lot in full),
    #: and its batch's totals.
    original_row: Entry | None = None
    original_totals: Totals | None = None
    #: A return's earn (its lot moves are the lots it made) and what was returned against it.
    earn_row: Entry | None = None
    earn_returned: Returned = NOTHING_RETURNED
    batch_totals: Totals | None = None
    #: A mobile number's account (None: the number is nobody's).
    account_row: AccountFact | None = None
    #: The coupon the needs named (None: no such code).
    coupon_facts: CouponFacts | None = None
    #: The journal's records of `needs.recall` and `needs.recall_original` (None: no such
    #: request in the window) and the reversal that left a tombstone for `needs.recall`.
    recalled: Remembered | None = None
    recalled_original: Remembered | None = None
    tombstone_id: int | None = None
    #: The engine read the `recall` needs (an engine that does not know them leaves it False,
    #: and a decision reading them fails loudly instead of taking a repeat for a new request).
    recall_answered: bool = False
    #: The segment of `needs.segment`'s customer (None: no account, or none computed).
    card_segment: str | None = None
    #: The account of `needs.birthday` with its cards (None: the card has no account).
    birthday_cards: AccountCards | None = None

    def reply(self, journal_id: int) -> Message | None:
        if self.needs.reply != journal_id and \
                (self.recalled is None or self.recalled.journal_id != journal_id):
            raise AssertionError(f"decide read the reply of #{journal_id}, not in its needs")
        return self.reply_message

    def original(self, journal_id: int) -> Entry | None:
        if self.needs.original != journal_id and (self.recalled_original is None
                                                  or self.recalled_original.journal_id
                                                  != journal_id):
            raise AssertionError(f"decide read original #{journal_id}, not in its needs")
        return self.original_row

    def record(self, key: TxnKey) -> Remembered | None:
        """The journal's record of a key the needs named (`recall`, `recall_original`)."""
        if not self.recall_answered:
            raise AssertionError("the journal did not answer the needs' recall")
        if key == self.needs.recall:
            return self.recalled
        if key == self.needs.recall_original:
            return self.recalled_original
        raise AssertionError("decide read a remembered request not in memory nor its needs")

    def tombstone(self, key: TxnKey) -> int | None:
        if not (self.needs.recall_tombstone and key == self.needs.recall):
            raise AssertionError("decide read a tombstone not in memory nor its needs")
        if not self.recall_answered:
            raise AssertionError("the journal did not answer the needs' recall")
        return self.tombstone_id

    def earn(self, journal_id: int) -> tuple[Entry | None, Returned]:
        """A return's earn, or the returns standing against a reversal's original (the
        recalled one's too: `recall_original`)."""
        if self.needs.earn != journal_id and (self.recalled_original is None
                                              or self.recalled_original.journal_id
                                              != journal_id):
            raise AssertionError(f"decide read earn #{journal_id}, not in its needs")
        return self.earn_row, self.earn_returned

    def totals(self, key: tuple[str, str]) -> Totals:
        if self.needs.totals != key:
            raise AssertionError(f"decide read batch totals {key}, not in its needs")
        return self.batch_totals if self.batch_totals is not None else Totals()


    def account(self, key: str) -> AccountFact | None:
        if self.needs.account != key:
            raise AssertionError("decide read a mobile number's account, not in its needs")
        return self.account_row

    def account_cards(self, key: str) -> AccountCards | None:
        if self.needs.birthday != key:
            raise AssertionError("decide read an account's cards, not in its needs")
        return self.birthday_cards

    def segment(self, pan: str) -> str | None:
        if self.needs.segment != pan:
            raise AssertionError("decide read a card's segment, not in its needs")
        return self.card_segment

    def coupon(self, need: CouponNeed) -> CouponFacts | None:
        if self.needs.coupon != need:
            raise AssertionError("decide read a coupon not in its needs")
        return self.coupon_facts
