"""Messages to customers by SMS (SMPP 3.4) and email (SMTP), through a durable outbox.

What other packages use (docs/messaging.md): `enqueue` and `NewMessage` to queue messages on
the transaction of the event that causes them, `migrate_messaging` for the store's migration
list, `normalize_mobile` for the one stored form of a mobile number.
"""

from switch.messaging.mobile import MobileError, mask_mobile, normalize_mobile
from switch.messaging.outbox import NewMessage, OutboxError, enqueue
from switch.messaging.schema import migrate_messaging

__all__ = ["MobileError", "NewMessage", "OutboxError", "enqueue", "mask_mobile",
           "migrate_messaging", "normalize_mobile"]
