"""The hostile traffic of the simulation: what terminals, a careless vendor and an attacker with
one unauthenticated connection send (docs/protocol.md, every MTI and processing code).

`Traffic.next(now)` gives one `Event`: a message, sent as a `Message` straight to the core or
encoded as a frame in the `ascii` or `bcd` profile (and then maybe damaged: truncated, extended
past the frame limit, bits flipped, bytes replaced); or an operator's card command. Amounts come
from the edges of docs/protocol.md §10 as often as from the middle. The tests at the end check
that a run of it holds every kind of event.

One module, past 400 lines, on purpose: the kinds of event draw from one memory of what was
sent and answered (the RRNs a reversal or a return may name), and their shares are weighed
against each other in one table.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iso8583 import Message
from iso8583.loyalty import OriginalData, build_de90, build_tlv, parse_tlv
from switch.core.limits import MoneyLimits
from switch.core.luhn import luhn_complete
from switch.core.text import is_digits

TIDS = ("T0000001", "T0000002", "T0000003")
STORES = {"T0000001": "STORE0000000001", "T0000002": "STORE0000000002",
          "T0000003": "STORE0000000003"}
#: Digits that are not ASCII: Persian, Arabic-Indic, full-width, superscripts.
OTHER_DIGITS = ("\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9",
                "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
                "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
                "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
NUMERIC = (2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 49, 62, 70, 74, 86, 90)
OUTSIDE = (5, 6, 18, 32, 43, 60, 63, 100, 102, 123)
UNSUPPORTED = ("0100", "0120", "0300", "0600", "0201", "0801", "0501", "0121")
NOT_REQUESTS = ("0210", "0230", "0410", "0430", "0510", "0810", "0290", "0202", "1200", "0212")
PCS = ("000000", "900000", "310000", "200000", "210060", "006000", "930000", "940000",
       "950000")
#: DE48 `ML` of a membership sale: the levels of examples/lps.toml as a till may type them;
#: a level no one sells, and what cannot be a level (docs/protocol.md §3), spaces other than
#: ASCII's and a letter that lower-cases into ASCII (KELVIN SIGN) among them.
LEVELS = ("gold", "silver", "gold-quarter", " Gold-Quarter ", "SILVER", "gold\u06f0")
ODD_LEVELS = ("platinum", "gold\u06f1", "gold\u0661", "gold;drop", "gold quarter", "",
              "x" * 21, "\uff47old", "gold\u200c", "\u06f1\u06f2", "\u00a0gold\u00a0",
              "\u3000silver", "\u212a")
PRICES = {"gold": 10_000_000, "silver": 4_000_000, "gold-quarter": 3_000_000}
TPDU = bytes.fromhex("6000010002")
TWELVE = 999_999_999_999
WINDOW = dt.timedelta(days=6)


@dataclass
class Event:
    """One thing that happens: `msg` sent `via` "direct", "ascii" or "bcd" (frames may be
    `damaged`); or an operator's card command (`admin`: action, PAN, and for an adjustment
    the points and the store)."""

    kind: str
    msg: Message | None = None
    via: str = "direct"
    damage: str = ""
    admin: tuple[str, ...] | None = None
    #: The HSM's verdicts the shell hands the core: a MAC found bad, or no HSM at all.
    mac_ok: bool = True
    hsm: bool = True


@dataclass
class Sent:
    msg: Message
    response: Message | None
    at: dt.datetime


@dataclass
class Traffic:
    rng: random.Random
    limits: MoneyLimits
    pans: list[str] = field(default_factory=list)
    stans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIDS, 0))
    batches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIDS, 1))
    recent: collections.deque[Sent] = field(default_factory=lambda: collections.deque(maxlen=400))
    earns: collections.deque[tuple[str, str, int]] = field(
        default_factory=lambda: collections.deque(maxlen=300))
    rrns: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=100))
    #: Approved till rewards (`940000`, `950000`), for reversals of them.
    tills: collections.deque[Sent] = field(default_factory=lambda: collections.deque(maxlen=60))
    #: Cards an answer showed holding stamp rewards (`SR`), to take them off a purchase.
    rewarded: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))
    late: list[Message] = field(default_factory=list)
    first_sent: dict[str, dt.datetime] = field(default_factory=dict)
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    #: A terminal batch's totals as the terminal counted them (DE74-77, DE86-89 in order).
    totals_of: Callable[[str, str], tuple[int, ...]] = lambda tid, batch: (0,) * 8

    def __post_init__(self) -> None:
        if not self.pans:
            self.pans = [luhn_complete(f"628000{self.rng.randrange(10**9):09d}")
                         for _ in range(48)]

    # -- what came back -----------------------------------------------------------------------

    def answered(self, msg: Message, response: Message | None, now: dt.datetime) -> None:
        """Keep what was sent (and answered) for retransmissions, reversals and returns; a
        message sent again keeps the time its key was first sent."""
        key = (msg.fields.get(41), msg.fields.get(11), msg.fields.get(7))
        first = self.first_sent.setdefault(repr(key), now)
        if len(self.first_sent) > 20_000:
            self.first_sent = {k: t for k, t in self.first_sent.items() if t > now - WINDOW}
        self.recent.append(Sent(msg, response, first))
        if response is None:
            return
        if response.fields.get(39) == "00" and msg.mti == "0200" \
                and msg.fields.get(3) in ("940000", "950000"):
            self.tills.append(Sent(msg, response, first))
        text = str(response.fields.get(48, ""))
        if "SR" in text and 2 in msg.fields and parse_tlv(text).get("SR", "0") != "0":
            self.rewarded.append(str(msg.fields[2]))
        rrn = response.fields.get(37)
        if isinstance(rrn, str):
            self.rrns.append(rrn)
            if (response.fields.get(39) == "00" and msg.fields.get(3) == "000000"
                    and msg.mti in ("0200", "0220", "0221")):
                self.earns.append((str(msg.fields.get(2, "")), rrn, int(str(msg.fields[4]))))

    # -- building blocks ------------------------------------------------------------------------

    def stan(self, tid: str) -> str:
        self.stans[tid] = (self.stans.get(tid, 0) + 1) % 1_000_000
        return f"{self.stans[tid]:06d}"

    def batch(self, tid: str) -> str:
        return f"{self.batches[tid]:06d}"

    def amount(self) -> int:
        r = self.rng.random()
        lim = self.limits
        if r < 0.55:
            return self.rng.choice((5_000, 20_000, 90_000, 150_000, 480_000, 1_000_000,
                                    3_500_000, 12_000_000))
        if r < 0.70:
            return self.rng.randrange(1, 50_000_000)
        if r < 0.80:
            return self.rng.randrange(50_000_000, 400_000_000)
        edges = [0, 1, 9_999, 10_000, 99_999, 100_000, TWELVE, TWELVE - 1,
                 lim.max_amount, lim.max_amount - 1, lim.max_amount + 1,
                 lim.max_topup * 100 // 115, lim.max_topup * 100 // 115 + 1,
                 lim.max_stored_value, lim.max_points * 1000, lim.max_points * 10_000,
                 lim.max_batch_amount // 3]
        return min(self.rng.choice(edges), TWELVE)

    def pan(self) -> str:
        r = self.rng.random()
        if r < 0.96:
            return self.rng.choice(self.pans)
        if r < 0.975:
            good = self.rng.choice(self.pans)
            return good[:-1] + str((int(good[-1]) + 1) % 10)             # Luhn fails
        if r < 0.985:
            return luhn_complete(f"627000{self.rng.randrange(10**9):09d}")  # other BIN
        if r < 0.992:
            return luhn_complete(f"628000{self.rng.randrange(10**12):012d}")  # 19 digits
        return self.rng.choice(self.pans)[:12]                              # 12 digits

    def de7(self, now: dt.datetime) -> str:
        return now.astimezone(dt.UTC).strftime("%m%d%H%M%S")

    def message(self, mti: str, tid: str, now: dt.datetime, **fields: Any) -> Message:
        f: dict[int, Any] = {7: self.de7(now), 11: self.stan(tid), 41: tid}
        if mti != "0800":
            f[42] = STORES.get(tid, "STORE0000000009")
        for name, value in fields.items():
            f[int(name[2:])] = value
        return Message(mti, dict(sorted(f.items())))

    def financial(self, mti: str, pc: str, now: dt.datetime, tid: str | None = None,
                  pan: str | None = None, amount: int | None = None) -> Message:
        tid = tid or self.rng.choice(TIDS)
        pan = pan or self.pan()
        f: dict[str, Any] = {"de3": pc}
        if self.rng.random() < 0.05:
            f["de35"] = f"{pan}={self.rng.choice(('2912', '3001'))}101"
        else:
            f["de2"] = pan
        if pc not in ("310000", "930000") or self.rng.random() < 0.3:
            a = self.amount() if amount is None else amount
            f["de4"] = f"{a:012d}"
        if self.rng.random() < 0.9:
            f["de62"] = self.batch(tid) if self.rng.random() < 0.95 else "000777"
        if self.rng.random() < 0.3:
            f["de22"] = self.rng.choice(("051", "071", "012", "081"))
        if self.rng.random() < 0.05:
            f["de14"] = self.rng.choice(("2501", "2611", "2612", "3012", "2913", "2900"))
        if self.rng.random() < 0.05:
            f["de49"] = "364"
        if self.rng.random() < 0.03:
            f["de52"] = self.rng.randbytes(8)
        if self.rng.random() < 0.03:
            f["de64"] = self.rng.randbytes(8)
        tags: dict[str, str] = {}
        if pc == "900000" and self.rng.random() < 0.3:
            tags["RP"] = self.rng.choice(("1", "0", "25", "0004", "999999999999999", "100"))
        if pc in ("940000", "950000") and self.rng.random() < 0.95:
            tags.update(self.till_tags(pc))
        if self.rng.random() < 0.1:
            tags["IN"] = f"INV{self.rng.randrange(10**6)}"
        if self.rng.random() < 0.05:
            tags["CS"] = "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627"[:5]
        if tags:
            f["de48"] = build_tlv(tags)
        return self.message(mti, tid, now, **f)

    def till_tags(self, pc: str) -> dict[str, str]:
        """DE48 of a discount at the till (`DP`, `SU`, `BQ`/`BP`) or of a membership sale
        (`ML`): well-formed mostly, at and past the edges of docs/protocol.md §4."""
        rng = self.rng
        if pc == "950000":
            return {"ML": rng.choice(LEVELS if rng.random() < 0.85 else ODD_LEVELS)}
        tags: dict[str, str] = {}
        if rng.random() < 0.5:
            tags["DP"] = rng.choice(("100", "200", "300", "500", "0100", "100", "200", "600",
                                     "150", "0", "100000", "999999999900", "1234567890123"))
        if rng.random() < 0.3:
            tags["SU"] = rng.choice(("1", "1", "1", "2", "0", "12a"))
        if rng.random() < 0.3:
            tags["BQ"] = rng.choice(("1", "2", "3", "3", "5", "6", "0", "100"))
            tags["BP"] = rng.choice(("100000", "50000", "20000", "1", "0", "333333", "1000000"))
            if rng.random() < 0.05:
                del tags[rng.choice(("BQ", "BP"))]
        return tags

    # -- the events --------------------------------------------------------------------------

    def next(self, now: dt.datetime) -> Event:
        rng = self.rng
        r = rng.random()
        if self.late and rng.random() < 0.05:
            return self._count(Event("late original", self.late.pop(0)))
        table = (
            (0.20, self.earn), (0.28, self.redeem), (0.32, self.inquiry), (0.38, self.ret),
            (0.42, self.topup), (0.47, self.sv_purchase), (0.50, self.stamp),
            (0.55, self.advice), (0.64, self.reversal), (0.70, self.retransmission),
            (0.72, self.other_content), (0.74, self.batch_close), (0.76, self.network),
            (0.80, self.hostile_digits), (0.815, self.hostile_text), (0.83, self.outside),
            (0.85, self.overlong),
            (0.87, self.odd_mti), (0.885, self.unknown_terminal), (0.89, self.admin),
            (0.90, self.reversal_first), (0.925, self.discount), (0.945, self.membership),
            (0.955, self.till_reversal),
        )
        for bound, make in table:
            if r < bound:
                return self._count(make(now))
        return self._count(self.earn(now))

    def _count(self, event: Event) -> Event:
        if event.msg is not None and 64 in event.msg.fields and self.rng.random() < 0.5:
            event.mac_ok = False
            self.counts["bad MAC"] += 1
        elif event.msg is not None and self.rng.random() < 0.005:
            event.hsm = False
            self.counts["HSM unavailable"] += 1
        if event.msg is not None and event.via == "direct" and self.rng.random() < 0.3:
            event.via = self.rng.choice(("ascii", "bcd"))
            if self.rng.random() < 0.5:
                event.damage = self.rng.choice(("truncate", "extend", "oversize", "flip",
                                                "flip", "byte", "persian"))
        self.counts[event.kind] += 1
        if event.via != "direct":
            self.counts[f"frame {event.via}"] += 1
        if event.damage:
            self.counts[f"damage {event.damage}"] += 1
        return event

    def earn(self, now: dt.datetime) -> Event:
        return Event("earn", self.financial("0200", "000000", now))

    def redeem(self, now: dt.datetime) -> Event:
        return Event("redeem", self.financial("0200", "900000", now,
                                              amount=self.rng.choice((0, 1_000, 5_000, 50_000,
                                                                      250_000, self.amount()))))

    def inquiry(self, now: dt.datetime) -> Event:
        return Event("inquiry", self.financial("0200", "310000", now))

    def topup(self, now: dt.datetime) -> Event:
        tid = "T0000003" if self.rng.random() < 0.85 else None
        return Event("topup", self.financial("0200", "210060", now, tid=tid))

    def sv_purchase(self, now: dt.datetime) -> Event:
        tid = "T0000003" if self.rng.random() < 0.85 else None
        return Event("sv purchase", self.financial(
            "0200", "006000", now, tid=tid,
            amount=self.rng.choice((0, 1, 10_000, 75_000, 400_000, self.amount()))))

    def stamp(self, now: dt.datetime) -> Event:
        tid = "T0000001" if self.rng.random() < 0.8 else None
        return Event("stamp", self.financial("0200", "930000", now, tid=tid))

    def discount(self, now: dt.datetime) -> Event:
        """`940000`: a purchase at the till asking for its discount."""
        rng = self.rng
        amount = rng.choice((1_000_000, 5_000_000, 4_999_999, 300_000, 120_000, 60_000, 9, 1, 0,
                             self.amount(), self.amount()))
        tid = "T0000001" if rng.random() < 0.4 else None  # stamps and buy-get there
        pan = rng.choice(self.rewarded) if tid and self.rewarded and rng.random() < 0.5 else None
        msg = self.financial("0200", "940000", now, tid=tid, pan=pan, amount=amount)
        if pan is not None and rng.random() < 0.8:  # a reward the card holds taken off
            tags = parse_tlv(str(msg.fields.get(48, "")))
            msg.fields[48] = build_tlv({**tags, "SU": "1"})
            msg.fields = dict(sorted(msg.fields.items()))
        return Event("discount", msg)

    def membership(self, now: dt.datetime) -> Event:
        """`950000`: a club card sold, at its level's price mostly."""
        rng = self.rng
        msg = self.financial("0200", "950000", now)
        name = parse_tlv(str(msg.fields.get(48, ""))).get("ML", "").strip().lower()
        price = PRICES.get(name, rng.choice(list(PRICES.values())))
        r = rng.random()
        amount = price if r < 0.8 else price + rng.choice((1, -1)) if r < 0.9 else self.amount()
        msg.fields[4] = f"{max(amount, 0):012d}"
        return Event("membership", msg)

    def advice(self, now: dt.datetime) -> Event:
        rng = self.rng
        pc = "000000" if rng.random() < 0.9 else rng.choice(PCS[1:])
        msg = self.financial("0221" if rng.random() < 0.1 else "0220", pc, now)
        if rng.random() < 0.4:
            local = now.astimezone(dt.timezone(dt.timedelta(hours=3, minutes=30)))
            when = local - dt.timedelta(hours=rng.choice((0, 2, 30, 200, -5)))
            msg.fields[13] = when.strftime("%m%d") if rng.random() < 0.95 else "0230"
            msg.fields[12] = when.strftime("%H%M%S") if rng.random() < 0.95 else "246000"
            msg.fields = dict(sorted(msg.fields.items()))
        return Event("advice", msg)

    def ret(self, now: dt.datetime) -> Event:
        rng = self.rng
        r = rng.random()
        pan, rrn, amount = rng.choice(self.earns) if self.earns else (self.pan(), "0" * 12, 1)
        part = rng.choice((amount, max(amount // 2, 1), max(amount // 3, 1), amount + 1, 0, 1))
        tags: dict[str, str] = {"OR": rrn}
        if r < 0.1:
            pan = self.pan()                                       # another card's earn
        elif r < 0.15 and self.rrns:
            tags["OR"] = rng.choice(self.rrns)                    # not an earn
        elif r < 0.2:
            tags["OR"] = rng.choice((f"{rng.randrange(10**12):012d}", "0" * 12, "9" * 12,
                                     f"{rng.randrange(1, 50):012d}"))
        elif r < 0.25:
            tags["OR"] = self._other_digits(rrn)
        elif r < 0.28:
            tags["OR"] = rrn[1:]
        elif r < 0.3:
            del tags["OR"]
        msg = self.financial("0200", "200000", now, pan=pan, amount=part)
        if tags:
            msg.fields[48] = build_tlv(tags)
        else:
            msg.fields.pop(48, None)
        msg.fields = dict(sorted(msg.fields.items()))
        return Event("return", msg)

    def sent(self, now: dt.datetime, amount: bool = False) -> Sent | None:
        """Something sent within the idempotency window (docs/protocol.md §4 keeps requests
        "at least 7 days": what the switch does with older keys is not written down), not a
        0800; with `amount`, one with a well-formed DE4."""
        since = now - WINDOW
        for _ in range(20):
            if not self.recent:
                return None
            s = self.rng.choice(self.recent)
            if s.at > since and s.msg.mti != "0800" and (
                    not amount or is_digits(str(s.msg.fields.get(4, "")), 12)):
                return s
        return None

    def _original(self, now: dt.datetime) -> Message | None:
        s = self.sent(now)
        return s.msg if s is not None else None

    def reversal_of(self, original: Message, now: dt.datetime, mti: str | None = None
                    ) -> Message:
        rng = self.rng
        tid = str(original.fields.get(41, "T0000001"))
        tid = tid if tid in TIDS else rng.choice(TIDS)
        od = OriginalData(original.mti if len(original.mti) == 4 else "0200",
                          str(original.fields.get(11, "000000"))[:6].rjust(6, "0"),
                          str(original.fields.get(7, "0000000000"))[:10].rjust(10, "0"))
        try:
            de90 = build_de90(od)
        except Exception:
            de90 = "0200" + "0" * 38
        f: dict[int, Any] = {90: de90}
        for n in (2, 3, 4, 35):
            if n in original.fields:
                f[n] = original.fields[n]
        if 3 not in f:
            f[3] = "000000"
        msg = self.message(mti or rng.choice(("0400", "0400", "0420", "0401", "0421")), tid,
                           now)
        msg.fields.update(f)
        msg.fields = dict(sorted(msg.fields.items()))
        return msg

    def reversal(self, now: dt.datetime) -> Event:
        original = self._original(now)
        if original is None:
            return self.earn(now)
        return self.altered(self.reversal_of(original, now))

    def till_reversal(self, now: dt.datetime) -> Event:
        """A reversal of a discount or a membership sale approved within the window: the
        points, stamp rewards, membership and tier it gave taken back (docs/protocol.md §4)."""
        since = now - WINDOW
        recent = [s.msg for s in self.tills if s.at > since]
        if not recent:
            return self.discount(now)
        event = self.altered(self.reversal_of(self.rng.choice(recent), now))
        event.kind = event.kind.replace("reversal", "till reversal")
        return event

    def altered(self, msg: Message) -> Event:
        """A reversal as sent, or one field of it not its original's (§4: declined `12`)."""
        rng = self.rng
        r = rng.random()
        what = "reversal"
        if r < 0.06 and 2 in msg.fields:
            msg.fields[2] = rng.choice(self.pans)
            what = "reversal other card"
        elif r < 0.1 and is_digits(str(msg.fields.get(4, "")), 12):
            msg.fields[4] = f"{max(int(str(msg.fields[4])) - 1, 0):012d}"
            what = "reversal other amount"
        elif r < 0.13:
            msg.fields[3] = rng.choice(PCS)
            what = "reversal other code"
        elif r < 0.15:
            msg.fields[42] = rng.choice(list(STORES.values()))
            what = "reversal other store"
        elif r < 0.18:
            msg.fields[90] = rng.choice(("0220", "0200", "0400", "0100")) + str(msg.fields[90])[4:]
            what = "reversal other DE90 MTI"
        elif r < 0.2:
            tid = rng.choice(TIDS)
            msg.fields[41], msg.fields[42] = tid, STORES[tid]
            what = "reversal other terminal"
        return Event(what, msg)

    def reversal_first(self, now: dt.datetime) -> Event:
        """A reversal before its original, which arrives later (docs/protocol.md §4)."""
        original = self.financial("0200", self.rng.choice(("000000", "900000", "940000",
                                                           "950000")), now)
        self.late.append(original)
        return Event("reversal before original", self.reversal_of(original, now, "0400"))

    def retransmission(self, now: dt.datetime) -> Event:
        sent = self.sent(now)
        if sent is None:
            return self.earn(now)
        msg = Message(sent.msg.mti, dict(sent.msg.fields))
        if msg.mti in ("0400", "0420") and self.rng.random() < 0.3:
            msg.mti = msg.mti[:3] + "1"                            # a repeat: the same content
        return Event("retransmission", msg)

    def other_content(self, now: dt.datetime) -> Event:
        sent = self.sent(now, amount=True)
        if sent is None:
            return self.earn(now)
        msg = Message(sent.msg.mti, dict(sent.msg.fields))
        msg.fields[4] = f"{(int(str(msg.fields[4])) + 1) % 10**12:012d}"
        return Event("repeat with other content", msg)

    def batch_close(self, now: dt.datetime) -> Event:
        """0500 with the totals the terminal counted (`totals_of`), sometimes one off, or of a
        batch it never used, or with another processing code."""
        rng = self.rng
        tid = rng.choice(TIDS)
        batch = self.batch(tid) if rng.random() < 0.9 else f"{rng.randrange(10**6):06d}"
        totals = list(self.totals_of(tid, batch))
        if rng.random() < 0.15:
            totals[rng.randrange(8)] += 1
        fields = {f"de{n}": f"{v:0{10 if n < 80 else 16}d}"
                  for n, v in zip((74, 75, 76, 77, 86, 87, 88, 89), totals, strict=True)}
        pc = "920000" if rng.random() < 0.95 else "000000"
        return Event("batch close", self.message("0500", tid, now, de3=pc, de62=batch,
                                                 **fields))

    def network(self, now: dt.datetime) -> Event:
        rng = self.rng
        tid = rng.choice(TIDS) if rng.random() < 0.9 else "T0000009"
        code = rng.choice(("001",) * 6 + ("301", "301", "002", "101", "999"))
        return Event(f"0800 {code}", self.message("0800", tid, now, de70=code))

    def _other_digits(self, text: str) -> str:
        pool = self.rng.choice(OTHER_DIGITS)
        places = [i for i, c in enumerate(text) if "0" <= c <= "9"]
        if not places:
            return text + pool[1]
        i = self.rng.choice(places)
        return text[:i] + pool[int(text[i])] + text[i + 1:]

    def hostile_digits(self, now: dt.datetime) -> Event:
        """Non-ASCII digits in one numeric field or in a DE48 tag."""
        rng = self.rng
        msg = self.financial("0200", rng.choice(PCS), now)
        if rng.random() < 0.25:
            tag = rng.choice(("RP", "OR", "IN", "LEN", "DP", "SU", "ML"))
            if tag == "LEN":
                msg.fields[48] = "RP00" + rng.choice(OTHER_DIGITS)[2] + "12"
            else:
                value = self._other_digits(f"{rng.randrange(10**12):012d}")
                msg.fields[48] = build_tlv({tag: value})
            msg.fields[3] = {"RP": "900000", "OR": "200000", "DP": "940000", "SU": "940000",
                             "ML": "950000"}.get(tag, msg.fields[3])
            return Event("non-ASCII digits in DE48", msg)
        number = rng.choice(NUMERIC)
        present = msg.fields.get(number)
        usual = {12: "101010", 13: "1123", 14: "2912", 22: "051", 25: "00", 49: "364",
                 70: "001", 74: "0000000001", 86: "0000000000001000", 90: "0200" + "0" * 38,
                 2: self.rng.choice(self.pans), 3: "000000", 4: "000000010000", 62: "000001",
                 7: self.de7(now), 11: "000001"}
        text = present if isinstance(present, str) else usual[number]
        msg.fields[number] = self._other_digits(text)
        msg.fields = dict(sorted(msg.fields.items()))
        return Event(f"non-ASCII digits in DE{number}", msg)

    def hostile_text(self, now: dt.datetime) -> Event:
        """Text fields with what ASCII text fields must not hold, and DE48 runs that are not
        TLVs; a Persian cashier name with ZWNJ is well-formed (UTF-8 DE48)."""
        msg = self.financial("0200", self.rng.choice(PCS), now)
        number, value = self.rng.choice((
            (42, "\u0641\u0631\u0648\u0634\u06af\u0627\u0647"), (42, "STORE00\x0000001"),
            (41, "T\u06f0\u06f0\u06f0\u06f0\u06f0\u06f01"), (62, "00\u06f0001"),
            (48, "CS005\ud800abc"), (48, "CS003a\x07b"), (48, "IN003abcIN003abc"),
            (48, "IN010abc"), (48, "I\u06f1003abc"), (48, ""),
            (48, build_tlv({"CS": "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627"})),
            (37, "12345678901\u06f1"), (39, "0\n"),
        ))
        msg.fields[number] = value
        msg.fields = dict(sorted(msg.fields.items()))
        return Event(f"hostile text in DE{number}", msg)

    def outside(self, now: dt.datetime) -> Event:
        msg = self.financial("0200", "000000", now)
        number = self.rng.choice(OUTSIDE)
        msg.fields[number] = {5: "000000010000", 6: "000000010000", 18: "5411",
                              32: "123456", 43: "X" * 40, 60: "ABC", 63: "DEF",
                              100: "12345", 102: "1", 123: "Z"}[number]
        msg.fields = dict(sorted(msg.fields.items()))
        return Event("field outside LPS-87", msg)

    def overlong(self, now: dt.datetime) -> Event:
        rng = self.rng
        msg = self.financial("0200", rng.choice(PCS), now)
        number, value = rng.choice((
            (2, "6" * 20), (4, "1" * 13), (3, "0000000"), (42, "STORE00000000011"),
            (41, "T00000011"), (48, "IN" + "999" + "x" * 999), (62, "1" * 1000),
            (90, "0" * 43), (11, "0000001"), (7, "11231000000"), (14, "29120"),
            (35, "6" * 38), (22, "0511"),
        ))
        msg.fields[number] = value
        msg.fields = dict(sorted(msg.fields.items()))
        return Event(f"over-long DE{number}", msg)

    def odd_mti(self, now: dt.datetime) -> Event:
        rng = self.rng
        msg = self.financial("0200", "000000", now)
        if rng.random() < 0.5:
            msg.mti = rng.choice(UNSUPPORTED)
            return Event("unsupported MTI", msg)
        msg.mti = rng.choice((*NOT_REQUESTS, "02\u0661\u0660", "02a0"))
        return Event("not a request", msg)

    def unknown_terminal(self, now: dt.datetime) -> Event:
        msg = self.financial("0200", self.rng.choice(PCS), now)
        if self.rng.random() < 0.5:
            msg.fields[41] = "T0000009"
        else:
            msg.fields[42] = self.rng.choice([s for s in STORES.values()
                                              if s != msg.fields[42]])
        return Event("unknown terminal or store", msg)

    def admin(self, now: dt.datetime) -> Event:
        rng = self.rng
        action = rng.choice(("block", "unblock", "unblock", "unblock", "enroll", "enroll",
                             "adjust", "adjust", "adjust"))
        if action == "adjust":
            points = rng.choice((1, 50, 2_000, 10_000_000, 10_000_001, 0, -1, -80, -5_000,
                                 -10_000_000))
            store = rng.choice((*STORES.values(), "STORE0000000009"))
            return Event("card adjust", admin=("adjust", self.pan(), str(points), store))
        pan = rng.choice(self.pans) if action != "enroll" or rng.random() < 0.3 else self.pan()
        if action == "enroll" and rng.random() < 0.5:
            pan = luhn_complete(f"628000{rng.randrange(10**9):09d}")
            self.pans.append(pan)
        return Event(f"card {action}", admin=(action, pan))

    def closed(self, tid: str) -> None:
        """The terminal's batch was closed: its next messages go into a new one."""
        self.batches[tid] += 1


# -- damage to frames -------------------------------------------------------------------------


def damaged(rng: random.Random, payload: bytes, how: str) -> bytes:
    """`payload` damaged as a faulty line or an attacker would: a frame's bytes, not a frame."""
    if how == "truncate":
        return payload[:rng.randrange(len(payload))]
    if how == "extend":
        return payload + rng.randbytes(rng.randint(1, 20))
    if how == "oversize":
        return payload + b"0" * (4097 - len(payload) + rng.randrange(100))
    if how == "flip":
        data = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        return bytes(data)
    if how == "byte":
        data = bytearray(payload)
        data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if how == "persian":
        places = [i for i, b in enumerate(payload) if 0x30 <= b <= 0x39]
        if not places:
            return payload
        i = rng.choice(places)
        digit = rng.choice(OTHER_DIGITS)[payload[i] - 0x30].encode("utf-8")
        return payload[:i] + digit + payload[i + 1:]
    raise ValueError(how)


def with_tpdu(msg: Message) -> Message:
    return dataclasses.replace(msg, tpdu=TPDU)


# -- the generator checked --------------------------------------------------------------------


def test_a_run_holds_every_kind_of_event() -> None:
    traffic = Traffic(random.Random(7), MoneyLimits(max_points=100_000))
    now = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    mtis: set[str] = set()
    for i in range(20_000):
        event = traffic.next(now + dt.timedelta(seconds=i))
        if event.msg is not None:
            mtis.add(event.msg.mti)
            till = event.msg.fields.get(3) in ("940000", "950000")   # approved, to reverse
            traffic.answered(event.msg, Message("0210", {39: "00"}) if till else None, now)
    kinds = set(traffic.counts)
    for kind in ("earn", "redeem", "inquiry", "return", "topup", "sv purchase", "stamp",
                 "advice", "reversal", "reversal other card", "reversal other amount",
                 "reversal other code", "reversal other DE90 MTI", "retransmission",
                 "repeat with other content", "batch close", "0800 001", "0800 002",
                 "0800 101", "0800 999", "non-ASCII digits in DE48", "non-ASCII digits in DE4",
                 "field outside LPS-87", "over-long DE2", "unsupported MTI", "not a request",
                 "unknown terminal or store", "card block", "card enroll", "card adjust",
                 "reversal before original", "late original", "discount", "membership",
                 "till reversal", "frame ascii", "frame bcd",
                 "damage truncate", "damage oversize", "damage flip", "damage persian",
                 "bad MAC", "HSM unavailable", "hostile text in DE48", "hostile text in DE42"):
        assert kind in kinds, kind
    assert {"0200", "0220", "0221", "0400", "0401", "0420", "0421", "0500", "0800"} <= mtis
