"""CPR numbers (DESIGN §5): format, birth date with the century rule of the 7th digit, never modulus 11."""

from __future__ import annotations

import pytest

from functions.shared.identifiers import (
    InvalidIdentifier,
    new_id,
    normalise_cpr,
    normalise_organisation,
    normalise_sor,
)

MODULUS_11_WEIGHTS = (4, 3, 2, 7, 6, 5, 4, 3, 2, 1)


def passes_modulus_11(cpr: str) -> bool:
    return sum(int(digit) * weight for digit, weight in zip(cpr, MODULUS_11_WEIGHTS, strict=True)) % 11 == 0


@pytest.mark.parametrize("text", ["2512489996", "251248-9996", " 251248-9996 "])
def test_a_test_citizen_is_accepted_with_or_without_the_dash(text):
    # Given the test citizen 25 December 1948, written with or without the dash
    # When it is normalised
    # Then the ten digits come back
    assert normalise_cpr(text) == "2512489996"


@pytest.mark.parametrize("cpr", ["2512489996", "0101011235", "2902004123", "3112365999"])
def test_a_number_failing_modulus_11_is_still_valid(cpr):
    # Given a number with a valid birth date that fails the old modulus-11 check (issued since 2007)
    assert not passes_modulus_11(cpr)
    # When it is normalised, Then it is accepted unchanged
    assert normalise_cpr(cpr) == cpr


# 29 February of year 00 tells the centuries apart: 2000 was a leap year, 1900 was not. (1800
# never pairs with year 00: digits 5-8 choose the 1800s only for years 58-99.)
@pytest.mark.parametrize(
    ("cpr", "century"),
    [
        ("2902004123", "7th digit 4, year 00-36: 2000"),
        ("2902009123", "7th digit 9, year 00-36: 2000"),
        ("2902005123", "7th digit 5, year 00-57: 2000"),
        ("2902008123", "7th digit 8, year 00-57: 2000"),
    ],
)
def test_the_seventh_digit_places_year_00_in_2000_when_the_rule_says_so(cpr, century):
    # Given 29 February 00 with a 7th digit that chooses the 2000s
    # When it is normalised
    # Then it is accepted: 29 February 2000 existed
    assert normalise_cpr(cpr) == cpr, century


@pytest.mark.parametrize("cpr", ["2902000123", "2902001234", "2902003999"])
def test_the_seventh_digit_0_to_3_places_year_00_in_1900_which_had_no_leap_day(cpr):
    # Given 29 February 00 with a 7th digit 0-3 (always the 1900s)
    # When it is normalised
    # Then it is refused: 29 February 1900 never existed
    with pytest.raises(InvalidIdentifier, match="birth date"):
        normalise_cpr(cpr)


@pytest.mark.parametrize(
    ("leap_day", "valid"),
    [
        ("2902965123", True),  # digit 5, year 96 > 57: 1896, a leap year
        ("2902975123", False),  # digit 5, year 97: 1897
        ("2902365123", True),  # digit 5, year 36 <= 57: 2036, a leap year
        ("2902375123", False),  # digit 5, year 37: 2037
        ("2902961234", True),  # digit 1: 1996
        ("2902971234", False),  # digit 1: 1997
    ],
)
def test_a_leap_day_is_valid_only_in_a_leap_year(leap_day, valid):
    # Given 29 February in a year the 7th digit places in a leap year or not
    # When it is normalised, Then it is accepted exactly when that year had a 29 February
    if valid:
        assert normalise_cpr(leap_day) == leap_day
    else:
        with pytest.raises(InvalidIdentifier, match="birth date"):
            normalise_cpr(leap_day)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("251248999", "10 digits"),
        ("25124899961", "10 digits"),
        ("25124B9996", "10 digits"),
        ("2512-489996", "10 digits"),
        ("251248--9996", "10 digits"),
        ("", "10 digits"),
        ("3212489996", "birth date"),
        ("0013489996", "birth date"),
        ("0012489996", "birth date"),
        ("3104489996", "birth date"),
        ("\u0662\u0665\u0661\u0662\u0664\u0668\u0669\u0669\u0669\u0666", "10 digits"),  # Arabic-Indic digits
        ("\uff12\uff15\uff11\uff12\uff14\uff18\uff19\uff19\uff19\uff16", "10 digits"),  # full-width digits
    ],
)
def test_malformed_numbers_and_impossible_dates_are_refused_without_echoing_the_number(text, message):
    # Given a malformed number or one whose first six digits are no date
    # When it is normalised
    with pytest.raises(InvalidIdentifier, match=message) as refusal:
        normalise_cpr(text)
    # Then the reason does not repeat the number (it may be a real citizen's)
    assert not text or text not in str(refusal.value)


def test_sor_codes_are_numeric_with_at_least_11_digits():
    # Given a 15-digit SOR code and some that are not
    assert normalise_sor("123456789012345") == "123456789012345"
    # When a short or non-numeric code is normalised, Then it is refused
    for bad in ("1234567890", "12345678901a", ""):
        with pytest.raises(InvalidIdentifier):
            normalise_sor(bad)


def test_new_ids_carry_their_prefix_and_are_unguessable():
    # Given two new ids of one kind
    first, second = new_id("dev"), new_id("dev")
    # Then both carry the prefix and 24 hex digits, and they differ
    assert first.startswith("dev_") and len(first) == 28 and int(first[4:], 16) >= 0
    assert first != second


@pytest.mark.parametrize("organisation", ["123456789012345", "12345678901", "012345"])
def test_an_organisation_is_a_sor_code_or_a_gp_ydernummer(organisation):
    # Given a SOR code (11+ digits) or a GP ydernummer (6 digits), When normalised, Then it is kept
    assert normalise_organisation(organisation) == organisation


@pytest.mark.parametrize(
    "bad",
    ["12345", "1234567", "1234567890", "01234a", "", "0123456789012345678",
     "123456789012\n", "012345\n", "\uff10\uff11\uff12\uff13\uff14\uff15"],
)
def test_anything_else_is_no_organisation(bad):
    # Given neither a ydernummer nor a SOR code, When normalised, Then it is refused
    with pytest.raises(InvalidIdentifier, match="ydernummer"):
        normalise_organisation(bad)
