"""The evaluator's models: the ``telehub.upload.accepted`` message it consumes (checked at the edge), the
invalidation request and reply, and the records logic.py works with (an upload, a reading as judged under
one episode, an alarm's state, the episode's head, a change to commit), free of DynamoDB's shapes.

A reading's colour is ``None`` while it is not judged: measured before the episode's first threshold
version was valid (docs/alarms.md). Instants are kept as ``iso_utc`` text, which sorts as time does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Json, StringConstraints, model_validator

from functions.alarm_evaluation.triage import Colour
from functions.shared.catalogue import BLOOD_PRESSURE, catalogue
from functions.shared.clock import iso_utc
from functions.shared.evaluation_records import OpenAlarm
from functions.shared.thresholds import ThresholdVersion

ACCEPTED_MESSAGE_TYPE = "telehub.upload.accepted"

Trigger = Literal["upload", "invalidation", "missed_measurement"]
AlarmChangeKind = Literal["raised", "raised_again", "escalated", "lowered", "invalidated"]
AlarmStatus = Literal["open", "acknowledged", "lowered", "invalidated"]

# --- the message consumed: telehub.upload.accepted (docs/messages.md) ----------------------------


class _MessagePart(BaseModel):
    # Fields may be added to the message without a new schema version (docs/messages.md): ignored here.
    model_config = ConfigDict(frozen=True, extra="ignore")


class AcceptedComponent(_MessagePart):
    type: Literal["systolic", "diastolic", "pulse"]
    value: Decimal
    unit: str


class AcceptedMeasurement(_MessagePart):
    """One normalised measurement: a value in the catalogue unit, or a blood pressure's components."""

    type: str
    value: Decimal | None = None
    unit: str | None = None
    components: tuple[AcceptedComponent, ...] | None = None
    measured_at: AwareDatetime
    method: Literal["automatic", "typed"]
    late: bool

    @model_validator(mode="after")
    def _one_shape(self) -> AcceptedMeasurement:
        if self.type == BLOOD_PRESSURE:
            if not self.components or self.value is not None:
                raise ValueError("a blood pressure has components and no value")
        elif self.type not in catalogue() or self.value is None or self.unit is None or self.components:
            raise ValueError("a measurement of a catalogue type has a value and a unit")
        return self


class AcceptedAnswer(_MessagePart):
    """One questionnaire answer, already checked by the upload API against the citizen's open episodes."""

    question_id: Annotated[str, StringConstraints(min_length=1)]
    answer: Annotated[str, StringConstraints(min_length=1)]
    answered_at: AwareDatetime
    late: bool


class UploadAccepted(_MessagePart):
    """The body of one measurements-queue message: an upload as the upload outbox relays it, with at least
    one measurement or answer (a message relayed before answers were accepted has none)."""

    message_type: Literal["telehub.upload.accepted"]
    schema_version: Literal[1]
    dedupe_key: Annotated[str, StringConstraints(min_length=3)]
    upload_id: Annotated[str, StringConstraints(min_length=1)]
    device_id: Annotated[str, StringConstraints(min_length=1)]
    patient_id: Annotated[str, StringConstraints(min_length=1)]
    received_at: AwareDatetime
    measurements: tuple[AcceptedMeasurement, ...] = ()
    answers: tuple[AcceptedAnswer, ...] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> UploadAccepted:
        if not (self.measurements or self.answers):
            raise ValueError("an upload has at least one measurement or answer")
        return self

    def upload(self) -> Upload:
        return Upload(
            dedupe_key=self.dedupe_key, upload_id=self.upload_id, device_id=self.device_id,
            patient_id=self.patient_id, received_at=iso_utc(self.received_at),
            measurements=tuple(
                Measurement(
                    position=position, type=measurement.type,
                    components=tuple(Component(c.type, c.value, c.unit) for c in measurement.components)
                    if measurement.components else
                    (Component(measurement.type, measurement.value or Decimal(0), measurement.unit or ""),),
                    measured_at=iso_utc(measurement.measured_at), method=measurement.method,
                    late=measurement.late,
                )
                for position, measurement in enumerate(self.measurements)
            ),
            answers=tuple(
                Answer(position, answer.question_id, answer.answer, iso_utc(answer.answered_at), answer.late)
                for position, answer in enumerate(self.answers)
            ),
        )


# --- the invalidation request and reply ------------------------------------------------------------

MEASUREMENT_ID_PATTERN = r"^msr_[0-9a-f]{24}$"


class InvalidationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=500, description="Why the reading is wrong (a cuff put on "
                        "badly, a scale on a soft floor): shown beside it wherever it is shown")


class InvalidationView(BaseModel):
    by: str = Field(description="Who invalidated it (the token's subject)")
    organisation: str = Field(description="The organisation they acted for (SOR code)")
    at: str = Field(description="When (ISO 8601 UTC)")
    reason: str


class InvalidatedMeasurement(BaseModel):
    """The reading as now stored: kept, marked invalid, no longer counted in any baseline."""

    episode_id: str
    measurement_id: str
    type: str
    measured_at: str
    invalidated: InvalidationView
    alarm_id: str | None = Field(description="Its alarm, now invalidated and off the worklist (null if it "
                                 "never raised one)")
    re_evaluated: int = Field(description="How many other readings of the type changed colour without it")


# --- the records logic works with -------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One value of a reading in its catalogue unit: the reading's own type, or a blood pressure's part."""

    type: str
    value: Decimal
    unit: str


@dataclass(frozen=True)
class Measurement:
    """One measurement of an upload, ``position`` its place in the upload (its id derives from it)."""

    position: int
    type: str  # a catalogue type or blood_pressure
    components: tuple[Component, ...]
    measured_at: str
    method: str
    late: bool

    @property
    def triage_types(self) -> frozenset[str]:
        return frozenset(component.type for component in self.components)


@dataclass(frozen=True)
class Answer:
    """One questionnaire answer of an upload, ``position`` its place among the upload's answers."""

    position: int
    question_id: str
    answer: str
    answered_at: str
    late: bool


@dataclass(frozen=True)
class Upload:
    dedupe_key: str
    upload_id: str
    device_id: str
    patient_id: str
    received_at: str
    measurements: tuple[Measurement, ...]
    answers: tuple[Answer, ...] = ()

    def reference(self) -> dict[str, str]:
        return {"device_id": self.device_id, "upload_id": self.upload_id, "dedupe_key": self.dedupe_key,
                "received_at": self.received_at}


@dataclass(frozen=True)
class Invalidation:
    by: str
    organisation: str
    at: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"by": self.by, "organisation": self.organisation, "at": self.at, "reason": self.reason}


@dataclass(frozen=True)
class Reading:
    """A measurement as judged under one episode: what is stored, and what a re-evaluation changes
    (``colour``, ``threshold_version``, ``raised_alarm``, ``invalidated``)."""

    measurement_id: str
    type: str
    components: tuple[Component, ...]
    measured_at: str
    received_at: str
    device_id: str
    upload_id: str
    dedupe_key: str
    position: int
    method: str
    late: bool
    colour: Colour | None = None
    threshold_version: int | None = None
    raised_alarm: str | None = None  # the alarm's id, once it ever raised one
    invalidated: Invalidation | None = None

    @cached_property
    def measured(self) -> datetime:
        return datetime.fromisoformat(self.measured_at)

    @property
    def valid(self) -> bool:
        return self.invalidated is None

    @property
    def triage_types(self) -> frozenset[str]:
        return frozenset(component.type for component in self.components)

    def values(self) -> dict[str, Any]:
        """The value and unit, or a blood pressure's components, as the event carries them."""
        if self.type == BLOOD_PRESSURE:
            return {"components": [{"type": c.type, "value": c.value, "unit": c.unit}
                                   for c in self.components]}
        [only] = self.components
        return {"value": only.value, "unit": only.unit}


@dataclass(frozen=True)
class AlarmState:
    """What the evaluator needs of a stored alarm to decide its next state."""

    alarm_id: str
    raised_at: str
    status: AlarmStatus
    colour: str  # RED, YELLOW, BLUE, or GREEN once lowered


@dataclass(frozen=True)
class Head:
    """The episode's head as read: its version and worklist row (``version`` 0: none stored yet)."""

    version: int = 0
    open_alarms: dict[str, OpenAlarm] = field(default_factory=dict)
    green_uploads: dict[str, str] = field(default_factory=dict)
    last_measured_at: str | None = None
    last_received_at: str | None = None
    # The organisation whose worklist holds the row: a handover moves it and the version together, so
    # read with the version it is the monitoring organisation the commit is made for.
    worklist_organisation: str | None = None


@dataclass(frozen=True)
class EpisodeState:
    """What an evaluation reads of an episode before it decides: the head, then every reading."""

    head: Head
    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class EpisodeToJudge:
    """An episode as the evaluator needs it, read once per upload: who it concerns and holds, and every
    threshold version."""

    episode_id: str
    patient_id: str
    disease_area: str
    created_at: datetime
    treating_organisation: str
    monitoring_organisation: str
    is_open: bool
    versions: tuple[ThresholdVersion, ...]

    def as_of(self, head: Head) -> EpisodeToJudge:
        """The episode with the monitoring organisation of ``head`` where it has one: the episode was read
        before the head, and a handover in between shows in the head (the version lock covers the rest)."""
        if head.worklist_organisation in (None, self.monitoring_organisation):
            return self
        return replace(self, monitoring_organisation=head.worklist_organisation)


@dataclass(frozen=True)
class NewAlarm:
    """A measurement alarm raised for the first time."""

    alarm_id: str
    reading: Reading
    colour: str


@dataclass(frozen=True)
class AnswerAlarm:
    """An alarm raised by a questionnaire answer the episode's template rates YELLOW or RED. An answer's
    colour depends on nothing but the template, so it is raised once, with the upload's event."""

    alarm_id: str
    answer_id: str
    answer: Answer
    colour: str
    received_at: str


@dataclass(frozen=True)
class AlarmUpdate:
    """A stored alarm's next status and colour, and the change recorded in its visible history."""

    alarm_id: str
    raised_at: str
    status: AlarmStatus
    colour: str
    change: dict[str, str]  # {at, from, to, reason}


@dataclass(frozen=True)
class ReadingWrite:
    """One reading written (``new``: first stored) and its alarm's write: committed together, so that a
    crash between two transactions never leaves an alarm without the reading that names it."""

    reading: Reading
    new: bool
    new_alarm: NewAlarm | None = None
    alarm_update: AlarmUpdate | None = None


@dataclass(frozen=True)
class EvaluationEvent:
    """An "upload evaluated" event; ``body`` is the message exactly as it goes on the queue."""

    event_id: str
    evaluated_at: str
    body: dict[str, Any]

    def text(self) -> str:
        return json.dumps(self.body, default=_json_number, separators=(",", ":"))


def _json_number(value: Any) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True)
class HeadState:
    """The head as a commit leaves it."""

    open_alarms: dict[str, OpenAlarm]
    green_uploads: dict[str, str]
    last_measured_at: str | None
    last_received_at: str | None


@dataclass(frozen=True)
class Commit:
    """One transaction of an evaluation: its writes, the head they leave, and (in the last) the event.
    It moves the head's version on from ``read_version`` and is cancelled if another change came first."""

    episode: EpisodeToJudge
    read_version: int
    head: HeadState
    writes: tuple[ReadingWrite, ...]
    event: EvaluationEvent | None
    answer_alarms: tuple[AnswerAlarm, ...] = ()  # only in the last commit, with the event


class MeasurementsQueueRecord(SqsRecordModel):
    """One measurements-queue message as the batch processor parses it: a body that is no valid
    ``telehub.upload.accepted`` fails alone (and, after the queue's receives, lands in its DLQ)."""

    body: Json[UploadAccepted]
