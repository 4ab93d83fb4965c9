"""`Cards`: the state's cards by PAN, most of them packed into one `bytes` each.

A million cards as `Card` and `Lot` objects cost about 650 bytes each (docs/switch.md,
"Memory"). Most cards are not used on a given day, so the store keeps a card as a packed
record (its coalition and status, enrolment day and live lots, about 40 bytes for two lots)
and makes the `Card` only when something reads it: from then on the card stays an object
(`live`), so every reader and `apply` see the same object, until `pack` turns the cards nobody
holds back into records. Decisions read the same values either way.

A record is `bytes`: a head (flags, the index of (coalition, status, virtual) in the store's
names, the enrolment day) and one fixed-size part per lot (id, the index of (kind, store,
coalition), earned and expiry days, initial, remaining). Narrow records hold ids below 2**32,
amounts within 32 bits and days 1970-2149; a card outside them is packed wide (64-bit ids and
amounts, 32-bit days). A card that fits neither (or whose lots are not its own, or a lot is in
the wrong list) stays an object. Cards with a PIN reference, PIN tries or program state keep
those beside the record: `(record, pin_ref, pin_tries, club)`.

Recovery may leave a card's lots in the journal (`UNREAD` in its head, no lot parts): the
switch reads them when a decision first needs them. Until then the card's `lots` and `purse`
are an `Unread`, which raises `UnreadCard` on any read, so a decision can never take an unread
card for an empty one; the shell reads the lots (`Cards.fill`) and decides again
(docs/switch.md, "The balance cache").
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast, overload

from switch.core.luhn import mask_pan
from switch.core.model import POINTS, Card, Lot

if TYPE_CHECKING:
    from switch.core.programs.club import Club

__all__ = ["Cards", "Unread", "UnreadCard", "reading_lots"]

_T = TypeVar("_T")

#: Days are stored as ordinal - EPOCH + 1; 0 is "none" (a lot without an expiry).
EPOCH = dt.date(1970, 1, 1).toordinal() - 1
#: A head's flags: the record's width, and whether the card's lots are still unread.
WIDE = 1
UNREAD = 2
_HEAD = (struct.Struct("<BHH"), struct.Struct("<BHi"))
_LOT = (struct.Struct("<IHHHii"), struct.Struct("<QHiiqq"))
_NAMES_MAX = 1 << 16
#: A narrow record's head and lot part (recovery packs the rows it reads with them).
HEAD_NARROW, LOT_NARROW = _HEAD[0], _LOT[0]


class UnreadCard(AssertionError):
    """A decision read the lots of a card whose lots are still only in the journal: a read
    the shell answers (`Cards.fill`) before deciding again, like a `Facts` accessor's
    `AssertionError` for a row it did not fetch, but recoverable."""

    def __init__(self, pan: str) -> None:
        super().__init__(f"the lots of card {mask_pan(pan)} are not read yet")
        self.pan = pan


class Unread:
    """An unread card's `lots` and `purse`: every read raises `UnreadCard` (iterating,
    counting, truth, indexing, comparing, adding, any list method)."""

    __slots__ = ("pan",)

    def __init__(self, pan: str) -> None:
        self.pan = pan

    def __repr__(self) -> str:
        return "Unread()"

    def _read(self, *_args: object) -> Any:
        raise UnreadCard(self.pan)

    __iter__ = __len__ = __bool__ = __getitem__ = __contains__ = _read
    __add__ = __radd__ = __iadd__ = __mul__ = __reversed__ = __eq__ = __ne__ = _read
    __hash__ = None  # type: ignore[assignment]

    def __getattr__(self, _name: str) -> Any:
        raise UnreadCard(self.pan)


def is_unread(lots: object) -> bool:
    """Whether `lots` (a card's `lots` or `purse`) stands for lots not read yet."""
    return type(lots) is Unread


def reading_lots(make: Callable[[], _T], fill: Callable[[str], None]) -> _T:
    """`make()`, run again after `fill` has read the lots of each card it found unread
    (`UnreadCard`). `make` is a decision: it changes nothing before it raises, so running it
    again is safe; a card `fill` leaves unread raises."""
    filled: set[str] = set()
    while True:
        try:
            return make()
        except UnreadCard as unread:
            if unread.pan in filled:
                raise
            filled.add(unread.pan)
            fill(unread.pan)


Record = bytes
#: A packed card: its record, or the record with its PIN reference, PIN tries and club.
Packed: TypeAlias = "Record | tuple[Record, str | None, int, Club | None]"


class Names:
    """The store's table of small values that many cards share (coalitions, statuses, stores,
    lot kinds, days) and their indexes: one object each, however many cards hold them."""

    __slots__ = ("_dates", "_index", "values")

    def __init__(self) -> None:
        #: Index 0 is never a value, so that a found index is always true.
        self.values: list[Any] = [None]
        self._index: dict[Any, int] = {}
        self._dates: dict[int, dt.date] = {}

    def index(self, value: Any) -> int:
        """The index of `value` (added when new); ValueError when the table is full."""
        found = self._index.get(value)
        if found is None:
            if len(self.values) >= _NAMES_MAX:
                raise ValueError("the names table is full")
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found

    def day(self, stored: int) -> dt.date | None:
        """The date of a stored day number (one object per day)."""
        if not stored:
            return None
        found = self._dates.get(stored)
        if found is None:
            found = self._dates[stored] = dt.date.fromordinal(stored + EPOCH)
        return found


def day_number(day: dt.date | None) -> int:
    """The stored number of a day (0 for none); ValueError for the one day it cannot hold."""
    if day is None:
        return 0
    number = day.toordinal() - EPOCH
    if not number:
        raise ValueError(f"{day} cannot be stored")
    return number


class Cards(MutableMapping[str, Card]):
    """The cards by PAN (a mapping, as a dict of `Card`s would be)."""

    __slots__ = ("live", "names", "packed")

    def __init__(self) -> None:
        #: Cards as objects: read since they were last packed, or not packable.
        self.live: dict[str, Card] = {}
        #: The other cards, packed (never a PAN that is in `live` too).
        self.packed: dict[str, Packed] = {}
        self.names = Names()

    def __repr__(self) -> str:
        return f"Cards({len(self.live)} as objects, {len(self.packed)} packed)"

    # -- the mapping ---------------------------------------------------------------------------

    def __getitem__(self, pan: str) -> Card:
        card = self.live.get(pan)
        if card is None:
            card = self._unpack_live(pan)
            if card is None:
                raise KeyError(pan)
        return card

    @overload
    def get(self, pan: str, /) -> Card | None: ...
    @overload
    def get(self, pan: str, /, default: Card | _T) -> Card | _T: ...

    def get(self, pan: str, /, default: object = None) -> object:
        card = self.live.get(pan)
        if card is None:
            card = self._unpack_live(pan)
            if card is None:
                return default
        return card

    def __contains__(self, pan: object) -> bool:
        return pan in self.live or pan in self.packed

    def __setitem__(self, pan: str, card: Card) -> None:
        self.packed.pop(pan, None)
        self.live[pan] = card

    def __delitem__(self, pan: str) -> None:
        if self.live.pop(pan, None) is None:
            del self.packed[pan]

    def __len__(self) -> int:
        return len(self.live) + len(self.packed)

    def __iter__(self) -> Iterator[str]:
        yield from list(self.live)
        yield from list(self.packed)

    def items(self) -> Iterator[tuple[str, Card]]:  # type: ignore[override]
        """Every card; a packed one is unpacked for the caller and stays packed (a change
        to it is kept only through `cards[pan] = card`). An unread card's lots raise
        (`snapshot` reads them from the journal instead)."""
        yield from list(self.live.items())
        for pan, value in list(self.packed.items()):
            yield pan, self._unpack(pan, value)

    def values(self) -> Iterator[Card]:  # type: ignore[override]
        """As `items`, without the PANs."""
        for _pan, card in self.items():
            yield card

    # -- packing -------------------------------------------------------------------------------

    def pack(self) -> int:
        """Pack every live card that can be (how many were): the caller holds none of them
        (no decision in progress)."""
        packed = self.packed
        done = []
        for pan, card in self.live.items():
            value = self._pack(pan, card)
            if value is not None:
                packed[pan] = value
                done.append(pan)
        for pan in done:
            del self.live[pan]
        return len(done)

    # -- lots left in the journal by recovery ---------------------------------------------------

    def unread(self, pan: str) -> bool:
        """Whether `pan` is a card whose lots are still only in the journal."""
        card = self.live.get(pan)
        if card is not None:
            return is_unread(card.lots)
        value = self.packed.get(pan)
        if value is None:
            return False
        record = value if isinstance(value, bytes) else value[0]
        return bool(record[0] & UNREAD)

    def fill(self, pan: str, lots: list[Lot], purse: list[Lot]) -> None:
        """Give an unread card its live lots, as the journal holds them (no decision in
        progress: a card nobody has decided on since recovery has nothing uncommitted)."""
        if not self.unread(pan):
            raise ValueError(f"card {mask_pan(pan)} is not waiting for its lots")
        if any(lot.pan != pan or lot.kind != POINTS for lot in lots) \
                or any(lot.pan != pan or lot.kind == POINTS for lot in purse):
            raise ValueError(f"lots given to card {mask_pan(pan)} are not its own")
        card = self[pan]
        card.lots, card.purse = lots, purse

    def _head(self, coalition: str, status: str, virtual: bool, enrolled_on: dt.date,
              width: int, flags: int) -> bytes | None:
        try:
            return _HEAD[width].pack(flags, self.names.index((coalition, status, virtual)),
                                     day_number(enrolled_on))
        except (struct.error, ValueError):
            return None

    def _pack(self, pan: str, card: Card) -> Packed | None:
        if card.pan != pan:
            return None
        for width in (0, WIDE):
            record = self._record(card, width)
            if record is not None:
                break
        else:
            return None
        if card.pin_ref is None and not card.pin_tries and card.club is None:
            return record
        return (record, card.pin_ref, card.pin_tries, card.club)

    def _record(self, card: Card, width: int) -> bytes | None:
        unread = is_unread(card.lots)
        if unread != is_unread(card.purse):
            return None
        head = self._head(card.coalition, card.status, card.virtual, card.enrolled_on, width,
                          width | UNREAD if unread else width)
        if head is None or unread:
            return head
        parts = [head]
        pack, index, pan = _LOT[width].pack, self.names.index, card.pan
        try:
            for lots, points in ((card.lots, True), (card.purse, False)):
                for lot in lots:
                    if lot.pan != pan or (lot.kind == POINTS) != points:
                        return None
                    parts.append(pack(lot.id, index((lot.kind, lot.store, lot.coalition)),
                                      day_number(lot.earned_on), day_number(lot.expires_on),
                                      lot.initial, lot.remaining))
        except (struct.error, ValueError, TypeError, AttributeError):
            return None
        return b"".join(parts)

    def _unpack_live(self, pan: str) -> Card | None:
        value = self.packed.pop(pan, None)
        if value is None:
            return None
        card = self.live[pan] = self._unpack(pan, value)
        return card

    def _unpack(self, pan: str, value: Packed) -> Card:
        if isinstance(value, bytes):
            record, pin_ref, pin_tries, club = value, None, 0, None
        else:
            record, pin_ref, pin_tries, club = value
        flags = record[0]
        head = _HEAD[flags & WIDE]
        names, day = self.names.values, self.names.day
        _flags, meta, enrolled = head.unpack_from(record)
        coalition, status, virtual = names[meta]
        enrolled_on = day(enrolled)
        assert enrolled_on is not None
        if flags & UNREAD:
            unread = cast("list[Lot]", Unread(pan))
            return Card(pan, coalition, status, enrolled_on, unread, unread, pin_ref, pin_tries,
                        club, virtual)
        lots: list[Lot] = []
        purse: list[Lot] = []
        for lid, which, earned, expires, initial, remaining in _LOT[flags & WIDE].iter_unpack(
                memoryview(record)[head.size:]):
            kind, store, lot_coalition = names[which]
            earned_on = day(earned)
            assert earned_on is not None  # day_number never stores a date as 0
            (lots if kind == POINTS else purse).append(
                Lot(lid, pan, kind, store, lot_coalition, earned_on, day(expires), initial,
                    remaining))
        return Card(pan, coalition, status, enrolled_on, lots, purse, pin_ref, pin_tries, club,
                    virtual)
