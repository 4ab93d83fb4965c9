"""LPS HSM simulator: keys under a local master key, and every cryptographic operation.

The switch reaches it through ``hsm_sim.client.connect_hsm`` (in-process or TCP); outside
known-answer suites call ``hsm_sim.primitives`` directly.
"""

from hsm_sim.client import Hsm, SessionKeys, connect_hsm
from hsm_sim.engine import ExportedKey, GeneratedKey, KeyComponent
from hsm_sim.errors import HsmError
from hsm_sim.lmk import KeyType

__all__ = [
    "ExportedKey",
    "GeneratedKey",
    "Hsm",
    "HsmError",
    "KeyComponent",
    "KeyType",
    "SessionKeys",
    "connect_hsm",
]
