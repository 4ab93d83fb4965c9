"""Messages to customers by SMS (SMPP 3.4) and email (SMTP), through a durable outbox.

What other packages use (docs/messaging.md): `enqueue` and `NewMessage` to queue messages on
the transaction of the event that causes them, `normalize_mobile` for the one stored form of
a mobile number. The outbox's tables are the journal's (`switch.journal.open_outbox`, schema
migration 8).
"""

from switch.messaging.mobile import MobileError, mask_mobile, normalize_mobile
from switch.messaging.outbox import NewMessage, OutboxError, enqueue

__all__ = ["MobileError", "NewMessage", "OutboxError", "enqueue", "mask_mobile",
           "normalize_mobile"]
