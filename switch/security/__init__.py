"""Message security for the switch: MACs, PINs, terminal keys and TLS (docs/security.md).

Every key and PIN is handled by the HSM (`hsm_sim`); the switch keeps them only wrapped under
the HSM's LMK. The shell (`shell.Security`) asks the HSM and hands verdicts to the pure core
in `Checks`; the core decides and counts. `admin` holds the operator commands as decisions.
"""

from switch.security.admin import SECURITY_COMMANDS, security_command
from switch.security.shell import Security, event_counter, open_security, run_now
from switch.security.tls import server_context

__all__ = [
    "SECURITY_COMMANDS",
    "Security",
    "event_counter",
    "open_security",
    "run_now",
    "security_command",
    "server_context",
]
