"""The demo shows personal data only masked: the CPR number, the phone number, the name."""

from __future__ import annotations

from embedded.demo import initials, masked_phone
from embedded.subscriber import masked_cpr


def test_the_cpr_number_shows_the_birth_date_only():
    assert masked_cpr("2512489996") == "251248-****"


def test_the_phone_number_shows_its_first_three_and_last_two_characters():
    assert masked_phone("+45 20 30 40 50") == "+45 ** ** ** 50"
    assert masked_phone("20304050") == "203***50"


def test_the_name_shows_initials():
    assert initials("Karen Marie Jensen") == "K. M. J."
