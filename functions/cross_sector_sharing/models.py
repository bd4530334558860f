"""The sharing publisher's models: the ``telehub.upload.evaluated`` message it consumes (docs/messages.md),
checked at the edge so that a message that is not one fails alone, and what it publishes.

The event keeps the shapes fhir.py reads (``as_body``): instants stay the text the evaluator wrote, so a
redelivered event gives the same bytes. Only what the Bundle and the decision read is modelled; the rest of
the event (alarms, re-evaluations, colours of the whole upload) is ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Json, StringConstraints, model_validator

from functions.shared.catalogue import BLOOD_PRESSURE, catalogue

# The message type of a published Bundle (a message attribute; docs/sharing.md).
BUNDLE_MESSAGE_TYPE = "telehub.sharing.bundle"
BUNDLE_SCHEMA_VERSION = 1

Colour = Literal["RED", "YELLOW", "GREEN"]
Text = Annotated[str, StringConstraints(min_length=1)]


class _EventPart(BaseModel):
    # Fields may be added to the event without a new schema version (docs/messages.md): ignored here.
    model_config = ConfigDict(frozen=True, extra="ignore")


class EvaluatedComponent(_EventPart):
    type: Literal["systolic", "diastolic", "pulse"]
    value: int | float
    unit: Text


class Invalidated(_EventPart):
    by: Text
    organisation: Text
    at: Text
    reason: Text


class EvaluatedMeasurement(_EventPart):
    measurement_id: Text
    type: Text
    value: int | float | None = None
    unit: Text | None = None
    components: tuple[EvaluatedComponent, ...] | None = None
    measured_at: Text
    method: Literal["automatic", "typed"]
    late: bool
    colour: Colour | None
    threshold_version: int | None
    invalidated: Invalidated | None

    @model_validator(mode="after")
    def _one_shape(self) -> EvaluatedMeasurement:
        if self.type == BLOOD_PRESSURE:
            present = {component.type for component in self.components or ()}
            if not {"systolic", "diastolic"} <= present or self.value is not None:
                raise ValueError("a blood pressure has systolic and diastolic components and no value")
        elif self.type not in catalogue() or self.value is None or self.components:
            raise ValueError("a measurement of a catalogue type has a value")
        return self

    def without_pulse(self) -> EvaluatedMeasurement:
        """A blood pressure without its cuff's pulse (a type of its own, shared only where agreed)."""
        kept = tuple(component for component in self.components or () if component.type != "pulse")
        return self.model_copy(update={"components": kept})


class EvaluatedAnswer(_EventPart):
    answer_id: Text
    question_id: Text
    answer: Text
    answered_at: Text
    late: bool
    colour: Colour


class ThresholdVersionEntry(_EventPart):
    version: int
    valid_from: Text
    thresholds: dict[str, Any]


class UploadReference(_EventPart):
    device_id: Text


class UploadEvaluated(_EventPart):
    """One evaluation of an upload, an invalidation or a missed measurement under one episode."""

    message_type: Literal["telehub.upload.evaluated"]
    schema_version: Literal[1]
    event_id: Text
    trigger: Literal["upload", "invalidation", "missed_measurement"]
    episode_id: Text
    patient_id: Text
    evaluated_at: Text
    upload: UploadReference | None
    measurements: tuple[EvaluatedMeasurement, ...]
    threshold_versions: tuple[ThresholdVersionEntry, ...]
    answers: tuple[EvaluatedAnswer, ...] = ()

    @property
    def device_id(self) -> str | None:
        """The device that measured: none for an invalidation or a missed measurement (no upload)."""
        return self.upload.device_id if self.upload else None

    def as_body(self) -> dict[str, Any]:
        """The event as fhir.py reads it (plain values, None where the event has null)."""
        return self.model_dump()


class EvaluatedUploadRecord(SqsRecordModel):
    """One evaluated-uploads message as the batch processor parses it: a body that is no valid
    ``telehub.upload.evaluated`` fails alone (and, after the queue's receives, lands in its DLQ)."""

    body: Json[UploadEvaluated]


@dataclass(frozen=True)
class BundleMessage:
    """One message to the sharing topic: a Bundle, or a part of one, and who may receive it."""

    event_id: str
    bundle_id: str
    body: str  # the Bundle as compact JSON (fhir.bundle_json)
    recipients: tuple[str, ...]  # organisation codes, sorted
    part: int  # from 1
    parts: int
    observations: int  # how many Observations the Bundle holds (counted, never logged with an id)
