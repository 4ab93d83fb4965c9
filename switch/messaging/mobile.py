"""Iranian mobile numbers for messages: the one stored form lives in the core
(`switch.core.mobile`), which the switch also reads DE48 `MB` with (docs/protocol.md §3)."""

from switch.core.mobile import ACCEPTED_FORMS, MobileError, mask_mobile, normalize_mobile

__all__ = ["ACCEPTED_FORMS", "MobileError", "mask_mobile", "normalize_mobile"]
