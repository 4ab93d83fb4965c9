"""Customer accounts at the desk (docs/customers.md): typed functions the `lps customers`
command and the console call; they return values and raise `CustomerError`, they never print.
"""

from switch.customers.desk import (
    CardView,
    CustomerView,
    Desk,
    Found,
    LotView,
    open_desk,
)
from switch.customers.inputs import (
    ChangeForm,
    CustomerError,
    EnrolForm,
    InvalidValue,
    parse_email,
    parse_mobile,
    parse_name,
    parse_typed_date,
)
from switch.customers.segments import SegmentCount, read_segment_counts, segment_counts
from switch.customers.words import HistoryLine, in_words

__all__ = [
    "CardView",
    "ChangeForm",
    "CustomerError",
    "CustomerView",
    "Desk",
    "EnrolForm",
    "Found",
    "HistoryLine",
    "InvalidValue",
    "LotView",
    "SegmentCount",
    "in_words",
    "open_desk",
    "parse_email",
    "parse_mobile",
    "parse_name",
    "parse_typed_date",
    "read_segment_counts",
    "segment_counts",
]
