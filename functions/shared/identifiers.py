"""Danish identifiers: CPR numbers, SOR codes, GP ydernumre, municipality and region codes (DESIGN §5)."""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# [0-9], never \d: \d also matches other scripts' digits, which are no Danish identifier. The
# patterns are also the API models' (and so the OpenAPI document's), so a client knows the format.
CPR_PATTERN = r"^([0-9]{6})-?([0-9]{4})$"
_SOR_DIGITS, _YDERNUMMER_DIGITS = r"[0-9]{11,18}", r"[0-9]{6}"
ORGANISATION_PATTERN = rf"^(?:{_SOR_DIGITS}|{_YDERNUMMER_DIGITS})$"
_CPR = re.compile(CPR_PATTERN)
_SOR = re.compile(_SOR_DIGITS)
_ORGANISATION = re.compile(ORGANISATION_PATTERN)


class InvalidIdentifier(ValueError):
    """The text is not a valid identifier; the message says why without repeating the text."""


def normalise_cpr(text: str) -> str:
    """Return the 10-digit CPR number, or raise InvalidIdentifier.

    Checks the format (DDMMYYSSSS, a dash after the 6th digit allowed) and the birth date, using
    the 7th digit to choose the century. Never applies the modulus-11 check: numbers without it
    have been issued since 2007.
    """
    match = _CPR.fullmatch(text.strip())
    if not match:
        raise InvalidIdentifier("must be 10 digits, DDMMYYSSSS, optionally with a dash after the 6th")
    digits = match.group(1) + match.group(2)
    day, month, year_in_century = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    century = _century(int(digits[6]), year_in_century)
    try:
        date(century + year_in_century, month, day)
    except ValueError:
        raise InvalidIdentifier("does not start with a valid birth date (DDMMYY)") from None
    return digits


# A CPR number in an API request: the format is in the schema; the date rule JSON Schema cannot state
# is in the description and checked by normalise_cpr (the ten digits are what the model holds).
CprNumber = Annotated[
    str,
    StringConstraints(pattern=CPR_PATTERN),
    AfterValidator(normalise_cpr),
    Field(
        repr=False,
        description="The citizen's CPR number: DDMMYYSSSS or DDMMYY-SSSS. Beyond the schema: DDMMYY must be "
        "a real birth date, the 7th digit choosing the century (0-3: 1900s; 4 and 9: 2000s up to year 36, "
        "else 1900s; 5-8: 2000s up to year 57, else 1800s). No modulus-11 check.",
        examples=["251248-9996"],
    ),
]


def _century(seventh_digit: int, year_in_century: int) -> int:
    if seventh_digit <= 3:
        return 1900
    if seventh_digit in (4, 9):
        return 2000 if year_in_century <= 36 else 1900
    return 2000 if year_in_century <= 57 else 1800


def normalise_sor(text: str) -> str:
    if not _SOR.fullmatch(text):
        raise InvalidIdentifier("must be a numeric SOR code of at least 11 digits")
    return text


def normalise_organisation(text: str) -> str:
    """An organisation: a SOR code, or a general practice's ydernummer (6 digits, the practice's
    number with the regions), which is how GPs are known where no SOR code is used."""
    if not _ORGANISATION.fullmatch(text):
        raise InvalidIdentifier("must be a SOR code (at least 11 digits) or a GP ydernummer (6 digits)")
    return text


def new_id(prefix: str) -> str:
    """An opaque, unguessable identifier such as ``dev_3f9c…``; the prefix tells what it names."""
    return f"{prefix}_{secrets.token_hex(12)}"
