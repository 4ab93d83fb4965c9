"""The bank transfer batch: the day's money obligations as payments between SHEBA accounts.

docs/settlement.md "The bank transfer batch". A coalition with an operator (`[coalition.X.
operator]`) is paid by bank transfer: with `bank_batch = "net"` (the default) every store with
a net debit pays it into the operator's account and every store with a net credit is paid from
it (the operator's own net, its fee, stays there); with `"gross"` every obligation of the day
(points, stored value, fee) is one payment from its payer to its payee. Each row carries both
accounts from the configuration; a store of such a coalition without an IBAN stops the
settlement, naming the store, before anything is written.

The file follows what Iranian group transfer (Paya) files hold per payment (destination SHEBA,
amount in rials without separators, the owner's name, a description and a payment ID) as a
documented CSV, not a bank's proprietary layout, with a count and total trailer per coalition.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from settlement.netting import Obligation, Position, StoreInfo
from settlement.records import ConfigurationError

HEADER = ("record", "seq", "payment_id", "coalition", "payer_id", "payer_name", "payer_iban",
          "payee_id", "payee_name", "payee_iban", "amount", "currency", "description")
DETAIL = "D"
TRAILER = "T"


@dataclass(frozen=True, slots=True)
class Transfer:
    """One payment: `amount` rials (minor units of `currency`) from payer to payee."""

    coalition: str
    seq: int
    payment_id: str
    payer: str
    payer_name: str
    payer_iban: str
    payee: str
    payee_name: str
    payee_iban: str
    amount: int
    currency: str
    description: str


def _accounts(coalition: str, table: Mapping[str, StoreInfo]) -> None:
    """Every store of a coalition paid by bank transfer needs its IBAN: refuse naming those
    without (all of them, so one run tells the operator everything to add)."""
    missing = sorted((s for s in table.values() if s.coalition == coalition and not s.iban
                      and s.terms is not None and s.id != s.terms.operator_id),
                     key=lambda s: s.id)
    if missing:
        names = ", ".join(f"{s.id} ({s.name})" for s in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ConfigurationError(
            f"coalition {coalition} settles by bank transfer ([coalition.{coalition}.operator])"
            f" but {'store' if len(missing) == 1 else 'stores'} {names}{more} "
            f"{'has' if len(missing) == 1 else 'have'} no iban: add iban = \"IR...\" (SHEBA) to "
            f"[store.{missing[0].id}]; nothing was written")


def transfers(day: dt.date, table: Mapping[str, StoreInfo], money: Sequence[Position],
              every: Iterable[Obligation]) -> list[Transfer]:
    """The day's payments of every coalition that has an operator, by coalition.

    `money` are the net money positions of the stores and operators, `every` the day's
    obligations of every kind (their gross form).
    """
    operators = {s.coalition: s for s in table.values()
                 if s.terms is not None and s.id == s.terms.operator_id}
    obligations = sorted(every, key=lambda o: o.coalition)
    out: list[Transfer] = []
    for coalition in sorted(operators):
        _accounts(coalition, table)
        op = operators[coalition]
        assert op.terms is not None
        pairs: list[tuple[str, str, int, str]] = []
        if op.terms.bank_batch == "gross":
            pairs = [(o.payer, o.payee, o.amount, o.kind) for o in obligations
                     if o.coalition == coalition]
        else:
            for p in money:
                if p.coalition != coalition or p.store_id == op.id or not p.net_amount:
                    continue
                if p.net_amount < 0:
                    pairs.append((p.store_id, op.id, -p.net_amount, "net"))
                else:
                    pairs.append((op.id, p.store_id, p.net_amount, "net"))
        for payer_id, payee_id, amount, what in pairs:
            payer, payee = table[payer_id], table[payee_id]
            assert payer.iban and payee.iban  # _accounts checked the stores
            seq = len(out) + 1
            out.append(Transfer(
                coalition, seq, f"LPS{day:%Y%m%d}{seq:06d}", payer.id, payer.name, payer.iban,
                payee.id, payee.name, payee.iban, amount, payer.currency,
                f"LPS {coalition} {day.isoformat()} {what}"))
    return out


def paying_coalitions(table: Mapping[str, StoreInfo]) -> dict[str, str]:
    """Coalitions paid by bank transfer (those with an operator) -> their currency."""
    return {s.coalition: s.currency for s in table.values()
            if s.terms is not None and s.id == s.terms.operator_id}


def batch_csv(transfers_: Sequence[Transfer], currencies: Mapping[str, str]) -> bytes:
    """`bank_batch.csv`: a header, a `D` row per payment, then per coalition a `T` row whose
    `seq` is its count of payments and `amount` their total (docs/settlement.md)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for coalition in sorted(currencies):
        mine = [t for t in transfers_ if t.coalition == coalition]
        for t in mine:
            w.writerow((DETAIL, t.seq, t.payment_id, t.coalition, t.payer, t.payer_name,
                        t.payer_iban, t.payee, t.payee_name, t.payee_iban, t.amount,
                        t.currency, t.description))
        w.writerow((TRAILER, len(mine), "", coalition, "", "", "", "", "", "",
                    sum(t.amount for t in mine), currencies[coalition],
                    "count and total of the payments"))
    return buf.getvalue().encode()
