"""Danish identifiers: CPR numbers, SOR codes, GP ydernumre, municipality and region codes (DESIGN §5)."""

from __future__ import annotations

import re
import secrets
from datetime import date

# [0-9], never \d: \d also matches other scripts' digits, which are no Danish identifier.
_CPR = re.compile(r"([0-9]{6})-?([0-9]{4})")
_SOR = re.compile(r"[0-9]{11,18}")
_YDERNUMMER = re.compile(r"[0-9]{6}")


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
    if not (_SOR.fullmatch(text) or _YDERNUMMER.fullmatch(text)):
        raise InvalidIdentifier("must be a SOR code (at least 11 digits) or a GP ydernummer (6 digits)")
    return text


def new_id(prefix: str) -> str:
    """An opaque, unguessable identifier such as ``dev_3f9c…``; the prefix tells what it names."""
    return f"{prefix}_{secrets.token_hex(12)}"
