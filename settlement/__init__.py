"""Settlement: nightly coalition netting, reconciliation, expiry and operator reports.

The pure core (`records`, `netting`, `expiry`, `reconcile`, `day`, `render`, `report`) computes
from plain records and never touches a file or a clock; `journal`, `seal` and `cli` are the
shell that reads the switch's journal (never its in-memory cache) and writes sealed results.
"""
