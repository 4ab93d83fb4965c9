"""The columns of a figures table, in one order with plain names, and each value as a CSV or a
spreadsheet holds it: `lps report`'s CSV and the console's CSV and xlsx downloads are this
table, so they cannot disagree (docs/settlement.md, "The figures")."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from settlement.figures import Figures
from settlement.netting import fraction_str

#: What a column holds: text, a count (customers, purchases, points), money (minor units of
#: the currency), a percentage or a ratio (shown with two decimals).
TEXT, COUNT, MONEY, PERCENT, RATIO = "text", "count", "money", "percent", "ratio"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    #: The plain English name (the console translates it; a CSV's header is this).
    title: str
    kind: str


COLUMNS = (
    Column("start", "from", TEXT),
    Column("end", "to", TEXT),
    Column("scope", "store", TEXT),
    Column("name", "name", TEXT),
    Column("coalition", "coalition", TEXT),
    Column("active_customers", "active customers", COUNT),
    Column("new_customers", "new customers", COUNT),
    Column("purchases", "purchases", COUNT),
    Column("repeat_customer_rate", "repeat-customer rate", PERCENT),
    Column("purchase_frequency", "purchases per customer", RATIO),
    Column("average_basket", "average basket", MONEY),
    Column("points_issued", "points issued", COUNT),
    Column("points_adjusted", "points adjusted", COUNT),
    Column("points_redeemed", "points redeemed", COUNT),
    Column("points_expired", "points expired", COUNT),
    Column("points_outstanding", "points outstanding", COUNT),
    Column("liability", "liability", MONEY),
    Column("redemption_rate", "redemption rate", PERCENT),
    Column("currency", "currency", TEXT),
)
BY_KEY = {c.key: c for c in COLUMNS}


def value(f: Figures, column: Column) -> str | int | Fraction | None:
    """The figure itself (None: a rate over nothing, as a redemption rate with nothing
    issued)."""
    v = getattr(f, column.key)
    if column.kind == TEXT:
        return str(v.isoformat() if hasattr(v, "isoformat") else v)
    assert v is None or isinstance(v, int | Fraction), column
    return v


def rounded(column: Column, v: Fraction) -> Fraction:
    """A rate as shown: a percentage to two decimals (a fraction to four), a ratio to two."""
    places = 4 if column.kind == PERCENT else 2
    scale = 10**places
    return Fraction((2 * v.numerator * scale + v.denominator) // (2 * v.denominator), scale)


def plain(f: Figures, column: Column) -> str:
    """The value as a CSV cell: integers without separators, `12.50%`, `1.75`, empty for a
    rate over nothing."""
    v = value(f, column)
    if v is None:
        return ""
    if isinstance(v, Fraction):
        if column.kind == PERCENT:
            return f"{fraction_str(v.numerator * 100, v.denominator, 2)}%"
        return fraction_str(v.numerator, v.denominator, 2) or ""
    return str(v)
