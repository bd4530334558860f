"""The FHIR Observation search's parameters and what it reads (docs/api.md, "FHIR search").

Pure: each form parameter is parsed here, where Powertools' validation calls it, so a bad value is a 422
naming the parameter; the search logic gets the parsed values. No boto3, no event shapes.

Parameters (FHIR R4 search by POST, application/x-www-form-urlencoded):
- ``patient.identifier``: ``urn:oid:1.2.208.176.1.2|<CPR>``, exactly once.
- ``code``: a token, ``system|code`` or a bare ``code`` (any system); a comma list is one OR, and repeated
  parameters AND together, as FHIR has it. A code Telehub does not share matches nothing (FHIR's rule for
  unknown codes), so the reply is an empty searchset, not an error. A blood-pressure component's code
  (systolic, diastolic, the cuff's pulse IEEE code) finds the blood-pressure panel; the pulse codes find the
  pulse measured on its own (a cuff's pulse comes with its panel, as an included Observation).
- ``date``: at most twice, each ``[eq|ge|gt|le|lt]<value>`` on when the measurement was taken; a value is
  ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (whole UTC periods) or a date-time with its UTC offset (to the
  minute, second or millisecond): the prefixes compare with the whole period the value names.
- ``_count``: 1..100 matches per page (default 50).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from functions.cross_sector_sharing.fhir import (
    BLOOD_PRESSURE_CODES,
    CPR_SYSTEM,
    CUFF_PULSE_IEEE,
    IEEE_SYSTEM,
    LOINC_SYSTEM,
)
from functions.shared.catalogue import BLOOD_PRESSURE, catalogue
from functions.shared.identifiers import InvalidIdentifier, normalise_cpr

SEARCH_PATH = "/fhir/Observation/_search"
FHIR_JSON = "application/fhir+json"
CURSOR_PARAMETER = "_cursor"
DEFAULT_COUNT = 50
MAX_COUNT = 100
MAX_DATES = 2
FHIR_SEARCH = "fhir_search"  # the access log's action

# Each parameter's form, stated in the OpenAPI document too and checked here exactly as stated, so that what
# the document admits is refused only for a rule it states beyond the schema (a CPR number's or a date's
# calendar).
_IDENTIFIER = re.compile(r"urn:oid:1\.2\.208\.176\.1\.2\|[0-9]{6}-?[0-9]{4}")
_TOKENS = re.compile(r"(?:[^|,]*\|)?[^|,]+(?:,(?:[^|,]*\|)?[^|,]+)*")
_DATE = re.compile(
    r"(?P<prefix>eq|ge|gt|le|lt)?"
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,3}))?)?"
    r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2}))?)?)?"
)


@dataclass(frozen=True)
class Window:
    """Measured at or after ``since`` and before ``until`` (either open): the dates' intersection."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.since is not None and self.until is not None and self.since >= self.until

    def within(self, other: Window) -> Window:
        since = max((moment for moment in (self.since, other.since) if moment), default=None)
        until = min((moment for moment in (self.until, other.until) if moment), default=None)
        return Window(since, until)

    def holds(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)


@dataclass(frozen=True)
class CodeChoice:
    """One ``code`` parameter: the reading types any of its comma-separated codes names (none: no match)."""

    types: frozenset[str] = field(default_factory=frozenset)


def patient_cpr(text: object) -> object:
    """``urn:oid:1.2.208.176.1.2|<CPR>`` -> the CPR number's ten digits (ValueError naming no value)."""
    if not isinstance(text, str):
        return text
    if not _IDENTIFIER.fullmatch(text):
        raise ValueError(f"must be {CPR_SYSTEM}|<CPR number>: the CPR system, a bar and the number")
    value = text.partition("|")[2]
    try:
        return normalise_cpr(value)
    except InvalidIdentifier as error:
        raise ValueError(f"the CPR number {error}") from None


def code_choice(text: object) -> object:
    """A ``code`` parameter -> the reading types its codes name; a malformed token is a ValueError."""
    if not isinstance(text, str):
        return text
    if not _TOKENS.fullmatch(text):
        raise ValueError("must be codes separated by commas, each [system|]code")
    types: set[str] = set()
    for token in text.split(","):
        system, bar, code = token.rpartition("|")
        if bar and not system:
            continue  # "|code" asks for a code without a system: Telehub's codes all have one
        types |= {reading_type for (known_system, known_code), reading_type in _reading_types().items()
                  if known_code == code and (not bar or known_system == system)}
    return CodeChoice(frozenset(types))


def date_window(text: object) -> object:
    """A ``date`` parameter -> the window of measurement times it admits."""
    if not isinstance(text, str):
        return text
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError("must be eq, ge, gt, le or lt (or none: eq) and YYYY, YYYY-MM, YYYY-MM-DD or a "
                         "date-time with its UTC offset (Z or +01:00)")
    prefix = match["prefix"] or "eq"
    try:
        start, end = _period(match)
    except ValueError:
        raise ValueError("is no real date or time") from None
    return {"eq": Window(start, end), "ge": Window(since=start), "gt": Window(since=end),
            "le": Window(until=end), "lt": Window(until=start)}[prefix]


def _period(match: re.Match[str]) -> tuple[datetime, datetime]:
    """The period a date or date-time names, [start, end): a year, a month, a day, a minute, a second or a
    millisecond."""
    year = int(match["year"])
    if match["month"] is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, (start + timedelta(days=32)).replace(day=1)
    if match["hour"] is None:
        start = datetime(year, month, int(match["day"]), tzinfo=UTC)
        return start, start + timedelta(days=1)
    fraction = match["fraction"]
    text = (f"{match['year']}-{match['month']}-{match['day']}T{match['hour']}:{match['minute']}"
            f":{match['second'] or '00'}{'.' + fraction.ljust(3, '0') if fraction else ''}"
            f"{'+00:00' if match['offset'] == 'Z' else match['offset']}")
    start = datetime.fromisoformat(text).astimezone(UTC)
    if fraction is not None:
        return start, start + timedelta(milliseconds=10 ** (3 - len(fraction)))
    return start, start + (timedelta(seconds=1) if match["second"] else timedelta(minutes=1))


@cache
def _reading_types() -> dict[tuple[str, str], str]:
    """Every (system, code) the shared Observations carry as their code, with the reading type it finds: a
    catalogue type's codes, the blood-pressure panel's and its components' codes (the panel)."""
    codes: dict[tuple[str, str], str] = {}
    for entry in catalogue().values():
        reading_type = BLOOD_PRESSURE if entry.type in ("systolic", "diastolic") else entry.type
        for system, code in ((entry.code_system, entry.code), (IEEE_SYSTEM, entry.ieee_code),
                             (LOINC_SYSTEM, entry.loinc_code)):
            if code:
                codes[(system, code)] = reading_type
    for coding in BLOOD_PRESSURE_CODES:
        codes[(coding["system"], coding["code"])] = BLOOD_PRESSURE
    codes[(IEEE_SYSTEM, CUFF_PULSE_IEEE[0])] = BLOOD_PRESSURE
    return codes


_TOKEN_TEXT = "A token: `system|code`, or a bare `code` of any system."
PatientCpr = Annotated[str, BeforeValidator(patient_cpr), WithJsonSchema({
    "type": "string", "pattern": f"^{_IDENTIFIER.pattern}$",
    "examples": [f"{CPR_SYSTEM}|2512489996"],
    "description": "The citizen: the CPR system, a bar and the CPR number. Beyond the schema: the number "
    "starts with a real birth date (as in referrals)."})]
CodeParameter = Annotated[CodeChoice, BeforeValidator(code_choice), WithJsonSchema({
    "type": "string", "pattern": f"^{_TOKENS.pattern}$",
    "examples": ["urn:oid:1.2.208.176.2.1|NPU03011", "29463-7,85354-9"],
    "description": f"{_TOKEN_TEXT} Commas separate alternatives."})]
DateParameter = Annotated[Window, BeforeValidator(date_window), WithJsonSchema({
    "type": "string", "pattern": "^" + re.sub(r"\(\?P<\w+>", "(", _DATE.pattern) + "$",  # no group names
    "examples": ["ge2024-05-01", "lt2024-05-08T00:00:00+02:00"],
    "description": "Beyond the schema: a real date (and time and offset) of years 1 to 9998."})]


@dataclass(frozen=True)
class ObservationQuery:
    """A search as the logic gets it: whose, which types (None: any), when, how many per page."""

    cpr: str
    types: frozenset[str] | None
    window: Window
    count: int

    @classmethod
    def of(cls, cpr: str, codes: list[CodeChoice], dates: list[Window], count: int) -> ObservationQuery:
        types: frozenset[str] | None = None
        for choice in codes:
            types = choice.types if types is None else types & choice.types
        window = Window()
        for date in dates:
            window = window.within(date)
        return cls(cpr, types, window, count)


@dataclass(frozen=True)
class StoredReading:
    """A reading as the search reads it: where it is (its episode and sort key, a page's position), the
    device that measured it, and the measurement in the shape the Observation builder takes
    (docs/messages.md's evaluated measurement)."""

    episode_id: str
    sort_key: str
    device_id: str
    measurement: dict[str, Any]


@dataclass(frozen=True)
class ReadingsPage:
    readings: list[StoredReading]
    more: bool  # readings after the last one match too
