"""Missed measurements and pauses: the API's requests and replies, the schedule's view of an episode and
of its head, the "upload evaluated" event of a miss, the settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from functions.shared.clock import iso_utc
from functions.shared.evaluation_records import EVALUATED_MESSAGE_TYPE, EVALUATED_SCHEMA_VERSION, OpenAlarm
from functions.shared.settings import EnvironmentSettings

BLUE = "BLUE"
MISSED_MEASUREMENT = "missed_measurement"
# A pause covers a hospital stay or a holiday; a longer absence is a reason to end the episode.
MAX_PAUSE = timedelta(days=90)
# How far back a pause may start: the stay may have begun before the nurse heard of it.
MAX_PAUSE_START_AGE = timedelta(days=30)


class PauseRequest(BaseModel):
    """Monitoring paused for a period: no missed measurement is raised inside it."""

    model_config = ConfigDict(extra="forbid")

    starts_at: Annotated[AwareDatetime | None, Field(
        description="When the pause begins (default now). Beyond the schema: at most "
        f"{MAX_PAUSE_START_AGE.days} days in the past.")] = None
    ends_at: Annotated[AwareDatetime, Field(
        description="When the pause ends by itself. Beyond the schema: after starts_at and after now, at "
        f"most {MAX_PAUSE.days} days after starts_at.")]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Field(
        description="Why, for the nurses who see the pause (e.g. admitted to hospital). Beyond the schema: "
        "surrounding whitespace is removed first; 1 to 500 characters remain.",
        examples=["Admitted to hospital"])]


class Creator(BaseModel):
    subject: str
    organisation: str


class PauseView(BaseModel):
    pause_id: str
    episode_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: Creator
    created_at: datetime

    @classmethod
    def of(cls, pause: Pause) -> PauseView:
        return cls(pause_id=pause.pause_id, episode_id=pause.episode_id, starts_at=pause.starts_at,
                   ends_at=pause.ends_at, reason=pause.reason,
                   created_by=Creator(subject=pause.created_by, organisation=pause.created_by_organisation),
                   created_at=pause.created_at)


class PauseList(BaseModel):
    pauses: Annotated[list[PauseView], Field(description="Every pause of the episode, oldest start first.")]


@dataclass(frozen=True)
class Pause:
    pause_id: str
    episode_id: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str  # the clinician's subject
    created_by_organisation: str
    created_at: datetime

    @property
    def window(self) -> PauseWindow:
        return PauseWindow(self.starts_at, self.ends_at)


@dataclass(frozen=True)
class PauseWindow:
    """A pause as the schedule needs it: a miss due from ``starts_at`` until before ``ends_at`` is none."""

    starts_at: datetime
    ends_at: datetime

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class MonitoredEpisode:
    """An active episode as the schedule reads it from the episodes table's index by status."""

    episode_id: str
    patient_id: str
    disease_area: str
    treating_organisation: str
    monitoring_organisation: str
    missed_after: timedelta  # the episode's schedule: a measurement is missed after this long without one


@dataclass(frozen=True)
class ScheduleHead:
    """What the schedule and the pauses read of an episode's head (evaluation_records): its version for
    the optimistic lock, the alarms and uploads waiting (written back as read), and the schedule's own."""

    version: int = 0
    open_alarms: dict[str, OpenAlarm] = field(default_factory=dict)
    green_uploads: dict[str, str] = field(default_factory=dict)
    last_measured_at: datetime | None = None  # kept by the evaluator
    schedule_since: datetime | None = None  # when the schedule first saw the episode active
    missed_through: datetime | None = None  # the latest due time a miss was raised for
    pauses: dict[str, PauseWindow] = field(default_factory=dict)  # by pause id
    # The organisation whose worklist holds the row: a handover moves it with the version.
    worklist_organisation: str | None = None


@dataclass(frozen=True)
class Miss:
    alarm_id: str
    due_at: datetime


@dataclass(frozen=True)
class ScheduleChange:
    """One write to an episode by a run: the schedule's start (first sight) or misses, with their event."""

    evaluated_at: datetime
    schedule_since: datetime
    missed_through: datetime | None
    misses: tuple[Miss, ...] = ()
    event_id: str | None = None  # the "upload evaluated" event of the misses, if any
    event: str | None = None  # its body (compact JSON)


def missed_measurement_event(event_id: str, episode: MonitoredEpisode, misses: tuple[Miss, ...],
                             evaluated_at: datetime) -> str:
    """The "upload evaluated" event (docs/messages.md) of misses: no upload and no measurements, one BLUE
    alarm per miss, raised at its due time."""
    body: dict[str, Any] = {
        "message_type": EVALUATED_MESSAGE_TYPE,
        "schema_version": EVALUATED_SCHEMA_VERSION,
        "event_id": event_id,
        "trigger": MISSED_MEASUREMENT,
        "episode_id": episode.episode_id,
        "patient_id": episode.patient_id,
        "disease_area": episode.disease_area,
        "treating_organisation": episode.treating_organisation,
        "monitoring_organisation": episode.monitoring_organisation,
        "evaluated_at": iso_utc(evaluated_at),
        "upload": None,
        "colour": None,
        "measurements": [],
        "re_evaluated": [],
        "threshold_versions": [],
        "answers": [],
        "alarms": [{"alarm_id": miss.alarm_id, "colour": BLUE, "change": "raised", "kind": MISSED_MEASUREMENT,
                    "measurement_id": None, "due_at": iso_utc(miss.due_at), "raised_at": iso_utc(miss.due_at),
                    "late": False} for miss in misses],
    }
    return json.dumps(body, separators=(",", ":"))


class ScheduleSettings(EnvironmentSettings):
    episodes_table_name: str
    evaluations_table_name: str


class PauseSettings(EnvironmentSettings):
    episodes_table_name: str
    evaluations_table_name: str
    access_log_table_name: str
    access_log_retention_days: int
