"""Iranian mobile numbers: every common spelling to E.164 digits, anything else refused."""

from __future__ import annotations

import pytest

from switch.messaging.address import AddressError, mask_address, normalize_email, pseudonym
from switch.messaging.mobile import ACCEPTED_FORMS, MobileError, mask_mobile, normalize_mobile


@pytest.mark.parametrize("typed", [
    "09121234567", "+989121234567", "989121234567", "00989121234567", "9121234567",
    "0912 123 4567", "+98 (912) 123-4567", "۰۹۱۲۱۲۳۴۵۶۷", "٠٩١٢١٢٣٤٥٦٧", "+۹۸۹۱۲۱۲۳۴۵۶۷",
    " 0912\u200c1234567 ",
])
def test_accepted_forms_become_one(typed: str) -> None:
    assert normalize_mobile(typed) == "989121234567"


@pytest.mark.parametrize("typed", [
    "", "0912123456", "091212345678", "02188776655", "+14155551234", "98212345678",
    "0912123456x", "٠٩١٢١٢٣٤٥٦٧٨", "0912¹234567", "０９１２１２３４５６７", "+0912 1234567",
    "0098+9121234567",
])
def test_malformed_numbers_are_refused_with_the_accepted_forms(typed: str) -> None:
    with pytest.raises(MobileError) as err:
        normalize_mobile(typed)
    assert ACCEPTED_FORMS in str(err.value)


def test_masks_show_too_little_to_dial() -> None:
    assert mask_mobile("989121234567") == "98912***4567"
    assert mask_address("989121234567") == "98912***4567"
    assert mask_address("ali.rezaei@example.ir") == "a***@example.ir"
    assert pseudonym("customer-42") == pseudonym("customer-42") != pseudonym("customer-43")
    assert "42" not in pseudonym("customer-42")


def test_email_addresses() -> None:
    assert normalize_email(" Ali@Example.IR ") == "Ali@example.ir"
    for bad in ("ali", "ali@", "@example.ir", "ali@localhost", "a b@example.ir",
                "ali@example.ir\r\nBcc: x@y.z"):
        with pytest.raises(AddressError):
            normalize_email(bad)
