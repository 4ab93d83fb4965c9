"""The HsmError hierarchy.

Every error the simulator raises is an ``HsmError``; each subclass carries the payShield-style
two-character error code the TCP server answers with, so that the in-process and the TCP
client raise the same exception for the same fault.
"""

from __future__ import annotations


class HsmError(Exception):
    """Base of every error raised by hsm_sim (code ``15``: invalid input data)."""

    code = "15"
    #: What a person should know about this error beyond its code (empty: nothing).
    hint = ""


class InputError(HsmError, ValueError):
    """Malformed input: wrong type, non-hex text, a field that breaks its format."""

    code = "15"


class KeyLengthError(InputError):
    """A key (clear or under the LMK) has a length the operation does not accept."""

    code = "27"


class KeyParityError(HsmError):
    """A key decrypted from under the LMK lacks odd DES parity.

    This is how a key used with the wrong type is caught: unwrapped under the wrong LMK
    variant it turns into unrelated bytes whose parity is almost never odd.
    """

    code = "10"


class KeyTypeError(InputError):
    """Unknown key type, or a key type the command does not accept."""

    code = "04"


class KeySchemeError(InputError):
    """Unknown key scheme tag (the letter in front of a key under the LMK)."""

    code = "26"


class PinError(InputError):
    """A PIN that is not 4 to 12 decimal digits."""

    code = "24"


class PanError(InputError):
    """An account number that is not decimal digits of an accepted length."""

    code = "15"


class PinBlockError(HsmError, ValueError):
    """A PIN block that does not decode to a valid PIN (wrong format nibble, filler, digits)."""

    code = "20"


class PinBlockFormatError(InputError):
    """A PIN block format code the command does not support."""

    code = "23"


class DukptError(InputError):
    """A KSN that no conforming device can produce (zero counter, too many counter bits)."""

    code = "15"


class LmkError(HsmError):
    """The LMK file is missing, malformed, too widely readable, or would be overwritten."""

    code = "13"


class NotAuthorisedError(HsmError):
    """A command that hands out clear secrets, outside the Authorised state (docs/hsm.md §6)."""

    code = "17"
    hint = ("the HSM is not in the authorised state; an operator enters it at the HSM's "
            "console: lps-hsm authorise --console PATH")


class ProtocolError(HsmError):
    """A host-command frame that cannot be parsed."""

    code = "15"


class CommandError(HsmError):
    """A command code the simulator does not implement."""

    code = "68"


class RemoteError(HsmError):
    """The TCP server answered with an error code that has no local exception class."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or f"HSM error code {code}")
        self.code = code
