"""LPS HSM simulator: keys under a local master key, and every cryptographic operation.

The switch reaches it through ``connect_hsm`` (blocking) or ``connect_hsm_async`` (asyncio),
in-process or over TCP; outside known-answer suites call ``hsm_sim.primitives`` directly.
docs/hsm.md describes it all.
"""

from hsm_sim.aclient import AsyncHsm, connect_hsm_async
from hsm_sim.client import Hsm, SessionKeys, connect_hsm
from hsm_sim.engine import ExportedKey, GeneratedKey, KeyComponent
from hsm_sim.errors import HsmError
from hsm_sim.lmk import KeyType

__all__ = [
    "AsyncHsm",
    "ExportedKey",
    "GeneratedKey",
    "Hsm",
    "HsmError",
    "KeyComponent",
    "KeyType",
    "SessionKeys",
    "connect_hsm",
    "connect_hsm_async",
]
