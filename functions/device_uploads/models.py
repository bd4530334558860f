"""The upload a home collection point posts, the receipt it gets, and the upload as stored.

The request models check everything that needs no clock and no stored data: catalogue types, units
(converted to the catalogue unit before the plausible range is checked), integer scores, the
blood-pressure pair, questions and answers some questionnaire has, each question once. Each
measurement type has its own model, discriminated by ``type``, so the OpenAPI document states the
units each accepts, and its range where no unit needs converting. Time rules need the injected clock,
and whether an answer fits the citizen's own questionnaires needs their open episodes: both are
applied in logic.py; their limits are here, where the document states them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from functions.shared.catalogue import (
    BLOOD_PRESSURE,
    MeasurementType,
    accepted_units,
    catalogue,
    to_catalogue_unit,
)
from functions.shared.clock import iso_utc
from functions.shared.disease_areas import disease_areas
from functions.shared.hour_shards import sharded_hour

# Systolic and diastolic only ever arrive together, as one blood-pressure reading; the pulse a
# cuff measures travels with them.
SINGLE_VALUE_TYPES = tuple(name for name in catalogue() if name not in ("systolic", "diastolic"))
MAX_MEASUREMENTS = 200
# One sitting of the questionnaires answers each question at most once, so an upload holds at most as
# many answers as the templates have questions (six today); the cap leaves room for areas to come
# and keeps the body far below its size limit, which 200 measurements decide.
MAX_ANSWERS = 50
# A tablet uploads within minutes of measuring. A reading more than a day old was held back
# (the tablet was offline), so the daily missed-measurement check may already have raised a
# BLUE alarm for it and any alarm it raises now is stale: consumers show it as late.
LATE_AFTER = timedelta(hours=24)
# The backlog a tablet may upload after being offline; anything older is refused.
MAX_AGE = timedelta(days=30)
# Device clocks drift; beyond this a measurement from the future is a wrong clock, not drift.
MAX_AHEAD = timedelta(minutes=10)
PULSE_UNIT = "/min"
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?")

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _not_a_number(moment: Any) -> Any:
    """Pydantic would take 1714550400 (or "1714550400") as Unix seconds, or milliseconds if large;
    the contract is ISO 8601 with an offset, so a number is refused rather than guessed at."""
    if isinstance(moment, int | float) or (isinstance(moment, str) and _NUMBER.fullmatch(moment.strip())):
        raise ValueError("must be ISO 8601 text with a UTC offset, not a number")
    return moment


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-14:00 is past year 9999 in UTC: bad input, not a 500
        raise ValueError("is outside the years 1 to 9999 in UTC") from None


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_utc)]


def catalogue_value(measurement_type: str, value: float, unit: str) -> Decimal:
    """``value`` in the catalogue unit, or ValueError naming the rule it breaks (never the value)."""
    entry = catalogue()[measurement_type]
    try:
        converted = to_catalogue_unit(measurement_type, value, unit)
    except InvalidOperation:  # 1e144 mL: too large to round to CONVERTED_DECIMALS, so far out of range
        converted = Decimal("Infinity")
    if not entry.plausible_min <= converted <= entry.plausible_max:
        raise ValueError(
            f"must be between {entry.plausible_min:g} and {entry.plausible_max:g} {entry.unit}"
            f" ({measurement_type}) after conversion from {unit}"
        )
    return converted


def _whole_number(value: Any) -> Any:
    """3.0 is the integer 3 in JSON (and in JSON Schema); any other float stays one, and is refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _value_type(entry: MeasurementType) -> Any:
    """A value in the type's plausible range, given in the catalogue unit: a whole number for scores."""
    if entry.integer:
        return Annotated[int, Field(strict=True, ge=int(entry.plausible_min), le=int(entry.plausible_max)),
                         BeforeValidator(_whole_number)]
    return Annotated[float, Field(strict=True, allow_inf_nan=False, ge=entry.plausible_min,
                                  le=entry.plausible_max)]


def _converts_unchanged(measurement_type: str, unit: str) -> bool:
    return all(to_catalogue_unit(measurement_type, value, unit) == value for value in (0, 1))


_SPAN = 10**6


def _range_after_conversion(measurement_type: str) -> str:
    """The plausible range in each accepted unit, for a description: JSON Schema cannot tie a range
    to the unit sent, and a converted bound is rounded (the API converts, then checks)."""
    entry = catalogue()[measurement_type]
    ranges = []
    for unit in accepted_units(measurement_type):
        if _converts_unchanged(measurement_type, unit):
            ranges.append(f"{entry.plausible_min:g} to {entry.plausible_max:g} `{unit}`")
            continue
        # Every conversion is linear; measured over a wide span, the rounding of each result drops out.
        offset = to_catalogue_unit(measurement_type, 0, unit)
        scale = (to_catalogue_unit(measurement_type, _SPAN, unit) - offset) / _SPAN
        low, high = (float((Decimal(repr(bound)) - offset) / scale)
                     for bound in (entry.plausible_min, entry.plausible_max))
        ranges.append(f"about {low:.6g} to {high:.6g} `{unit}`")
    return ("Beyond the schema: within the plausible range once converted to "
            f"{entry.unit}: {'; '.join(ranges)}.")


REGISTERED_TYPE = ("The measurement's type. Beyond the schema: a type the device was registered for "
                   "(`measurement_types` of POST /v1/devices; `blood_pressure` as a whole).")


class _Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    measured_at: UtcDatetime = Field(
        description=f"When it was measured, with a UTC offset (ISO 8601). Beyond the schema: at most "
        f"{MAX_AGE.days} days before Telehub receives it (over {LATE_AFTER // timedelta(hours=1)} hours: "
        f"flagged late) and at most {MAX_AHEAD // timedelta(minutes=1)} minutes after (device clocks drift), "
        "and within the years 1 to 9999 once in UTC.")
    method: Literal["automatic", "typed"] = Field(
        description="automatic: the device sent it; typed: the citizen keyed it in"
    )


class SingleValueMeasurement(_Reading):
    """One value of a catalogue type, in one of the units accepted for it. Each type has its own
    model (``single_value_model``) that names its type, its units and, where it can, its range."""

    type: str
    unit: str
    value: Number

    @field_validator("value")
    @classmethod
    def _plausible(cls, value: float, info: ValidationInfo) -> float:
        if "type" in info.data and "unit" in info.data:
            catalogue_value(info.data["type"], value, info.data["unit"])
        return value

    def components(self) -> list[tuple[str, float, str]]:
        return [(self.type, self.value, self.unit)]


def single_value_model(measurement_type: str) -> type[SingleValueMeasurement]:
    """The model of one catalogue type: ``type`` its name, ``unit`` an enum of its accepted units, and
    ``value`` ranged in the schema when every unit is the catalogue's (else the range is described)."""
    entry = catalogue()[measurement_type]
    units = accepted_units(measurement_type)
    if all(_converts_unchanged(measurement_type, unit) for unit in units):
        whole = ", a whole number" if entry.integer else ""
        value: Any = (_value_type(entry), Field(description=f"{entry.plausible_min:g} to "
                                                f"{entry.plausible_max:g} {entry.unit}{whole}"))
    else:
        value = (Number, Field(description=_range_after_conversion(measurement_type)))
    # Types made from data at run time, which is all create_model takes them for: Any.
    fields: dict[str, Any] = {
        "type": (Literal[measurement_type], Field(description=REGISTERED_TYPE)),
        "unit": (Literal[units], Field(description=f"The unit the device used; stored in {entry.unit}")),
        "value": value,
    }
    return create_model(
        "".join(part.capitalize() for part in measurement_type.split("_")) + "Measurement",
        __base__=SingleValueMeasurement,
        __doc__=f"{entry.display}: one value in one of the units accepted for {measurement_type}.",
        __module__=__name__,
        **fields,
    )


# A type checker cannot read a type made from the catalogue, so it sees what the value is; pydantic
# (validation and the OpenAPI document) sees the type itself.
if TYPE_CHECKING:
    PressureUnit = str
    PulseRate = float
else:
    PressureUnit = Literal[accepted_units("systolic")]
    PulseRate = _value_type(catalogue()["pulse"])


class BloodPressureMeasurement(_Reading):
    """One blood-pressure reading: systolic and diastolic in ``unit``, the pulse in /min."""

    type: Literal["blood_pressure"] = Field(description=REGISTERED_TYPE)
    unit: PressureUnit = Field(description="Unit of systolic and diastolic")
    systolic: Number = Field(description=_range_after_conversion("systolic"))
    diastolic: Number = Field(description=_range_after_conversion("diastolic") + " And below systolic.")
    pulse: PulseRate | None = Field(default=None, description="Pulse rate in /min, if the cuff measured it")

    @field_validator("systolic", "diastolic")
    @classmethod
    def _plausible_pressure(cls, value: float, info: ValidationInfo) -> float:
        if "unit" not in info.data or info.field_name is None:
            return value
        catalogue_value(info.field_name, value, info.data["unit"])
        # Both are in the same unit, so the sent values compare as the converted ones would.
        if info.field_name == "diastolic" and "systolic" in info.data and value >= info.data["systolic"]:
            raise ValueError("must be below systolic")
        return value

    def components(self) -> list[tuple[str, float, str]]:
        pressures = [("systolic", self.systolic, self.unit), ("diastolic", self.diastolic, self.unit)]
        return pressures + ([("pulse", self.pulse, PULSE_UNIT)] if self.pulse is not None else [])


# One model per type, told apart by ``type`` (the discriminator of the OpenAPI document's oneOf); to a
# type checker, which cannot see models made at run time, one of the two kinds of reading.
if TYPE_CHECKING:
    Measurement = SingleValueMeasurement | BloodPressureMeasurement
else:
    Measurement = Annotated[
        Union[(*(single_value_model(name) for name in SINGLE_VALUE_TYPES), BloodPressureMeasurement)],
        Field(discriminator="type"),
    ]


# Every question and every answer of the disease-area templates, for the document to list; which of them
# the citizen may answer depends on their open episodes (logic.py).
QUESTIONS = tuple(sorted({question for area in disease_areas().values() for question in area.questionnaire}))
ANSWERS = tuple(sorted({answer for area in disease_areas().values()
                        for severities in area.questionnaire.values() for answer in severities}))

# Types made from the templates at run time, which a type checker cannot read: to it, text.
if TYPE_CHECKING:
    QuestionId = str
    AnswerText = str
else:
    QuestionId = Literal[QUESTIONS]
    AnswerText = Literal[ANSWERS]


class Answer(BaseModel):
    """The citizen's answer to one question of a disease area's questionnaire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_id: QuestionId = Field(
        description="A question of a disease-area template. Beyond the schema: a question of the "
        "questionnaire of one of the citizen's open episodes of care, and answered at most once per upload.")
    answer: AnswerText = Field(
        description="Beyond the schema: an answer that a questionnaire asking the question lists for it.")
    answered_at: UtcDatetime = Field(
        description=f"When the citizen answered, with a UTC offset (ISO 8601). Beyond the schema: as "
        f"measured_at, at most {MAX_AGE.days} days before Telehub receives it (over "
        f"{LATE_AFTER // timedelta(hours=1)} hours: flagged late) and at most "
        f"{MAX_AHEAD // timedelta(minutes=1)} minutes after, and within the years 1 to 9999 once in UTC.")


def _refused(location: tuple[str | int, ...], kind: str, message: str, value: Any) -> ValidationError:
    """A refusal of one field inside the model, for a validator to raise: pydantic puts the field's
    location in front, so the 422 names the field itself (``answers[2].question_id``), not its list."""
    refusal = InitErrorDetails(type=PydanticCustomError(kind, message), loc=location, input=value)
    return ValidationError.from_exception_data("UploadRequest", [refusal])


class UploadRequest(BaseModel):
    """What a home collection point posts under its own idempotency key: measurements, questionnaire
    answers, or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upload_id: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="The device's idempotency key for this upload (a UUID is a good choice); "
        "a retry with the same key and body gets the same reply",
        examples=["0b9f7c1e-5d2a-4a57-9d0e-3c1f2b8a6e41"],
    )
    measurements: list[Measurement] = Field(
        default_factory=list, max_length=MAX_MEASUREMENTS,
        description=f"Up to {MAX_MEASUREMENTS} measurements. Beyond the schema: at least one unless the "
        "upload holds answers.")
    answers: list[Answer] = Field(
        default_factory=list, max_length=MAX_ANSWERS,
        description=f"Up to {MAX_ANSWERS} questionnaire answers. Beyond the schema: only from a citizen with "
        "an open episode of care, whose questionnaires they answer, each question at most once.")

    @field_validator("answers")
    @classmethod
    def _each_question_once(cls, answers: list[Answer]) -> list[Answer]:
        first: dict[str, int] = {}
        for index, answer in enumerate(answers):
            if answer.question_id in first:
                raise _refused((index, "question_id"), "question_answered_twice",
                               f"is answered twice in one upload (answers[{first[answer.question_id]}] "
                               "answers it too)", answer.question_id)
            first[answer.question_id] = index
        return answers

    @model_validator(mode="after")
    def _holds_something(self) -> UploadRequest:
        # Stated beyond the schema rather than as an anyOf beside the properties, which tools that read
        # the document (client generators, the property test) take for a union of partial objects.
        if self.measurements or self.answers:
            return self
        # Refused as measurements' error, the field an upload usually fills; as "missing" when it was
        # left out, since a refusal only names a field the body has, or one it lacks.
        kind = "too_short" if "measurements" in self.model_fields_set else "missing"
        raise _refused(("measurements",), kind, "an upload holds at least one measurement or answer",
                       self.measurements)


class UploadReceipt(BaseModel):
    """The reply to an accepted upload; a retry of the same upload gets this same reply."""

    upload_id: str
    accepted: int = Field(description="How many measurements were accepted (all of them)")
    answers_accepted: int = Field(description="How many questionnaire answers were accepted (all of them)")
    received_at: AwareDatetime = Field(description="When Telehub first accepted this upload (UTC)")

    @field_serializer("received_at")
    def _milliseconds(self, received_at: datetime) -> str:
        return iso_utc(received_at)


def received_hour(received_at: str, device_id: str, upload_id: str) -> str:
    """2024-05-01T08#11: the partition key of the uploads index that finds uploads by when they arrived:
    the hour an upload was received (from its ``iso_utc`` text) and the shard of its key."""
    return sharded_hour(received_at[:13], f"{device_id}/{upload_id}")


@dataclass(frozen=True)
class UploadingDevice:
    """The device an upload comes from, as its credential's principal names it: the citizen it measures,
    and the catalogue types it was registered for (blood pressure as systolic, diastolic and pulse)."""

    device_id: str
    patient_id: str
    measurement_types: frozenset[str]

    def measures(self, measurement_type: str) -> bool:
        """Whether the device was registered for ``measurement_type`` (an upload's type); a blood pressure
        is one type, registered as systolic and diastolic, and its cuff's pulse goes with it."""
        if measurement_type == BLOOD_PRESSURE:
            return {"systolic", "diastolic"} <= self.measurement_types
        return measurement_type in self.measurement_types


@dataclass(frozen=True)
class StoredUpload:
    """One upload as stored: the uploads table item, its idempotency record and, through the
    table's stream, its outbox entry. ``measurements`` and ``answers`` are normalised (see
    logic.normalise and logic.normalise_answer)."""

    device_id: str
    upload_id: str
    patient_id: str
    received_at: str  # ISO 8601 UTC with milliseconds, as first accepted
    body_hash: str  # sha256 of the canonical JSON of the validated request
    accepted: int
    measurements: list[dict[str, Any]]
    answers: list[dict[str, Any]] = field(default_factory=list)

    def item(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "upload_id": self.upload_id,
            "patient_id": self.patient_id,
            "received_at": self.received_at,
            "body_hash": self.body_hash,
            "accepted": self.accepted,
            "measurements": self.measurements,
            "answers": self.answers,
            # Only for the uploads table's index by arrival (see OutboxRecovery); never relayed.
            "received_hour": received_hour(self.received_at, self.device_id, self.upload_id),
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredUpload:
        return cls(
            device_id=item["device_id"],
            upload_id=item["upload_id"],
            patient_id=item["patient_id"],
            received_at=item["received_at"],
            body_hash=item["body_hash"],
            accepted=int(item["accepted"]),
            measurements=list(item["measurements"]),
            answers=list(item.get("answers", [])),  # uploads stored before answers were accepted have none
        )

    def receipt(self) -> UploadReceipt:
        return UploadReceipt(
            upload_id=self.upload_id,
            accepted=self.accepted,
            answers_accepted=len(self.answers),
            received_at=datetime.fromisoformat(self.received_at),
        )
