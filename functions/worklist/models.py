"""The clinicians' worklist, an episode's measurements, answers and alarms, and acknowledging them: the API's
requests and replies, the worklist row as the feature reads it, a page of a list, the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# The worklist's lists page with the shared cursors; their names stay importable from here.
from functions.shared.cursors import CURSOR_PATTERN as CURSOR_PATTERN
from functions.shared.cursors import Position as Position
from functions.shared.cursors import invalid_cursor as invalid_cursor
from functions.shared.evaluation_records import OpenAlarm
from functions.shared.settings import EnvironmentSettings

ALARM_ID_PATTERN = r"^alm_[0-9a-f]{24}$"
ANSWER_ID_PATTERN = r"^ans_[0-9a-f]{24}$"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100

Colour = Literal["RED", "YELLOW", "BLUE", "GREEN"]
T = TypeVar("T")


class AlarmStatus(StrEnum):
    """Open until acknowledged; lowered when re-evaluation no longer finds it alarming, invalidated with
    its measurement. Only an open alarm waits on the worklist."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    LOWERED = "lowered"
    INVALIDATED = "invalidated"


class AlarmKind(StrEnum):
    MEASUREMENT = "measurement"
    MISSED_MEASUREMENT = "missed_measurement"
    ANSWER = "answer"  # a questionnaire answer the episode's template rates YELLOW or RED


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    after: Position | None  # the position after the last item; None on the last page


@dataclass(frozen=True)
class Head:
    """An episode's head in the evaluations table: its version and what waits on its worklist row. A
    head not yet written is at version 0 with nothing waiting (and no citizen or organisation known)."""

    episode_id: str
    version: int = 0
    patient_id: str | None = None
    disease_area: str | None = None
    worklist_organisation: str | None = None
    open_alarms: dict[str, OpenAlarm] = field(default_factory=dict)
    green_uploads: dict[str, str] = field(default_factory=dict)  # upload dedupe_key -> received_at
    last_measured_at: datetime | None = None


@dataclass(frozen=True)
class AlarmKey:
    """Where an alarm is stored: its episode and when it was raised (its sort key's parts)."""

    episode_id: str
    raised_at: str  # iso_utc, as in the key
    alarm_id: str


# --- replies ---------------------------------------------------------------------------------------


class AlarmSummary(BaseModel):
    alarm_id: str
    colour: Colour
    raised_at: datetime
    late: Annotated[bool, Field(description="Raised by a measurement that arrived late.")]


class ColourCounts(BaseModel):
    RED: int
    YELLOW: int
    BLUE: Annotated[int, Field(description="Missed measurements.")]
    GREEN: Annotated[int, Field(description="Uploads judged GREEN that nobody acknowledged yet.")]


class WorklistRow(BaseModel):
    episode_id: str
    patient_id: str
    disease_area: str
    alarm: Annotated[AlarmSummary | None, Field(
        description="The most severe unacknowledged alarm (the longest waiting of its colour); null when "
        "only GREEN uploads wait.")]
    counts: Annotated[ColourCounts, Field(description="Unacknowledged alarms per colour, and GREEN uploads.")]
    last_measured_at: datetime | None
    late: Annotated[bool, Field(description="An unacknowledged alarm was raised by a late measurement.")]


class WorklistPage(BaseModel):
    rows: Annotated[list[WorklistRow], Field(description="Most severe first (RED, YELLOW, BLUE, GREEN), "
                                             "then the longest waiting.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]


class Component(BaseModel):
    type: str
    value: float
    unit: str


class Invalidation(BaseModel):
    by: Annotated[str, Field(description="The clinician (the token's subject).")]
    organisation: str
    at: datetime
    reason: str


class Measurement(BaseModel):
    measurement_id: str
    type: Annotated[str, Field(description="A catalogue type, or `blood_pressure` with its components.")]
    value: float | None
    unit: str | None
    components: Annotated[list[Component] | None, Field(description="A blood pressure's components.")]
    measured_at: datetime
    received_at: datetime
    method: str
    late: bool
    colour: Annotated[Colour | None, Field(
        description="null when measured before the episode's first threshold version was valid: not judged.")]
    threshold_version: Annotated[int | None, Field(description="The version that judged it.")]
    invalidated: Annotated[Invalidation | None, Field(description="Who invalidated it, when and why.")]
    alarm_id: Annotated[str | None, Field(description="The alarm it raised, if it ever raised one.")]


class MeasurementsPage(BaseModel):
    measurements: Annotated[list[Measurement], Field(description="Newest measured first.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]


class QuestionnaireAnswer(BaseModel):
    answer_id: str
    question_id: Annotated[str, Field(description="The question, as the disease area's template names it.")]
    answer: Annotated[str, Field(description="The citizen's answer, one of the template's for the question.")]
    answered_at: datetime
    colour: Annotated[Colour, Field(description="The severity the template gives the answer.")]
    late: Annotated[bool, Field(description="Arrived late.")]
    alarm_id: Annotated[str | None, Field(description="The alarm it raised (a YELLOW or RED answer).")]


class AnswersPage(BaseModel):
    answers: Annotated[list[QuestionnaireAnswer], Field(description="Newest answered first.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]


class Acknowledgement(BaseModel):
    by: Annotated[str, Field(description="The clinician (the token's subject).")]
    organisation: str
    at: datetime
    note: str


class AlarmChange(BaseModel):
    """One step of an alarm's visible history: its colour before and after, and why: `re-evaluated`,
    `invalidated` or `acknowledged` (then also who, for which organisation, and the note: an alarm that
    rises again after it was acknowledged waits again, and its history keeps the earlier acknowledgement)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    at: datetime
    from_: Annotated[str, Field(alias="from")]
    to: str
    reason: str
    by: str | None = None
    organisation: str | None = None
    note: str | None = None


class Alarm(BaseModel):
    alarm_id: str
    episode_id: str
    patient_id: str
    kind: AlarmKind
    colour: Annotated[Colour, Field(description="Now: GREEN once lowered.")]
    raised_colour: Colour
    status: AlarmStatus
    raised_at: datetime
    late: bool
    measurement_id: str | None
    type: str | None
    measured_at: datetime | None
    threshold_version: int | None
    due_at: Annotated[datetime | None, Field(
        description="When the missed measurement was due at the latest.")]
    question_id: Annotated[str | None, Field(description="(answer) The question answered.")]
    answer: Annotated[str | None, Field(description="(answer) The citizen's answer.")]
    answered_at: datetime | None
    acknowledged: Acknowledgement | None
    changes: Annotated[list[AlarmChange], Field(description="Oldest first.")]


class AlarmsPage(BaseModel):
    alarms: Annotated[list[Alarm], Field(description="Newest raised first.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]


class GreenUploadsAcknowledged(BaseModel):
    uploads: int
    episodes: int


# --- requests --------------------------------------------------------------------------------------


class AlarmAcknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), Field(
        description="What was done. Beyond the schema: surrounding whitespace is removed first; 1 to 1000 "
        "characters remain.", examples=["Called the citizen: a cold, no change of medication."])]


class GreenAcknowledgement(BaseModel):
    """``{}``: every GREEN upload waiting on the caller's organisation's worklist is acknowledged."""

    model_config = ConfigDict(extra="forbid")


class WorklistSettings(EnvironmentSettings):
    episodes_table_name: str  # who holds the episode (its relations)
    evaluations_table_name: str
    access_log_table_name: str
    access_log_retention_days: int
