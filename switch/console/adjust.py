"""Point adjustments: the pure decision lives in `switch.core.admin` (shared with the switch's
admin socket, which dispatches `{"cmd": "adjust"}` to it while the switch runs)."""

from switch.core.admin import MAX_ADJUST, adjust_command

__all__ = ["MAX_ADJUST", "adjust_command"]
