"""Numbers reaching the HSM simulator are ASCII `0-9` only, at every input.

`str.isdigit()` is true for '²', '٥' and '５', and `int()` reads the last two, so a check built
on them lets a port, a PIN, a PAN or an account number written with them through. Each input
refuses them with the error it gives any other non-digit.
"""

from __future__ import annotations

import pytest

from hsm_sim import primitives as p
from hsm_sim.cli import main
from hsm_sim.client import parse_tcp_url
from hsm_sim.engine import HsmEngine
from hsm_sim.errors import InputError, PanError, PinBlockError, PinError
from hsm_sim.hostcmd import handle
from hsm_sim.hostops import check_pin
from hsm_sim.server import parse_listen

UNICODE_DIGITS = ["²", "٥", "５"]
PAN = "6280001234567897"


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_addresses_refuse_unicode_digits(digit: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_listen(f"127.0.0.1:15{digit}0")
    with pytest.raises(InputError, match="tcp://host:port"):
        parse_tcp_url(f"tcp://127.0.0.1:15{digit}0")


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_pins_pans_and_accounts_refuse_unicode_digits(digit: str) -> None:
    with pytest.raises(PinError):
        p.pin_block_iso0(f"12{digit}4", PAN)
    with pytest.raises(PinError):
        check_pin(f"12{digit}4")
    with pytest.raises(PanError):
        p.pin_block_iso0("1234", PAN[:-1] + digit)
    with pytest.raises(PanError):
        p.iso0_block_from_account("1234", "00012345678" + digit)
    with pytest.raises(PanError):
        p.pan_field_iso4(PAN[:-1] + digit)


def test_a_pin_block_with_a_non_decimal_digit_is_refused() -> None:
    block = bytes.fromhex("041234FFFFFFFFFF")  # format 0, length 4, digits "1234"
    assert p.decode_iso0_with_account(block, "000000000000") == "1234"
    with pytest.raises(PinBlockError, match="non-decimal"):
        p.decode_iso0_with_account(bytes.fromhex("0412A4FFFFFFFFFF"), "000000000000")


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_host_command_digit_fields_refuse_unicode_digits(engine: HsmEngine, digit: str) -> None:
    account = ("00012345678" + digit).encode("utf-8")
    assert handle(engine, b"0001BA1234FFFFFFFFF" + account) == b"0001BB15"
    assert handle(engine, b"0002BA1234FFFFFFFFF000123456789")[:8] == b"0002BB00"


@pytest.mark.parametrize("digit", UNICODE_DIGITS)
def test_cli_numbers_refuse_unicode_digits(digit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["kcv", "0123456789ABCDEFFEDCBA9876543210", "--length", digit])
    assert info.value.code == 2
    assert "ASCII digits" in capsys.readouterr().err
