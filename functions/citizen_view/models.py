"""The citizen's view (who looked at my data, my measurements) and the monitoring organisation's view of an
episode's access log: the replies and what the stores return."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

# The lists page with the shared cursors; their pattern is the routes' too.
from functions.shared.cursors import CURSOR_PATTERN as CURSOR_PATTERN
from functions.shared.cursors import Position

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# The access log's actions of this feature's own reads.
READ_OWN_ACCESS_LOG = "read_own_access_log"
READ_OWN_MEASUREMENTS = "read_own_measurements"
READ_ACCESS_LOG = "read_access_log"

Colour = Literal["RED", "YELLOW", "BLUE", "GREEN"]


# --- what the stores return ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAccess:
    """One access-log entry as stored (functions.shared.access_log_store); the fields a writer of an older
    entry did not set are None."""

    access_id: str  # the sort key: the instant first, so the partition is in time order
    accessed_at: datetime
    action: str
    episode_id: str | None
    role: str
    subject: str
    organisation: str | None
    endpoint: str | None
    outcome: str | None


@dataclass(frozen=True)
class AccessPage:
    entries: list[StoredAccess]
    after: Position | None  # where the next page starts; None on the last page


@dataclass(frozen=True)
class StoredReading:
    """A reading of an episode (a measurement as judged under it) with its place in the episode's list."""

    episode_id: str
    sort_key: str  # the evaluations table's: EVAL#READING#<type>#<measured_at>#<measurement id>
    measured_key: str  # <measured_at>#<measurement id>: the list's order, newest first
    measurement: dict[str, Any]  # OwnMeasurement's fields but the disease area


@dataclass(frozen=True)
class ReadingsPage:
    readings: list[StoredReading]
    more: bool  # the episode has readings after the last of these


# --- replies -------------------------------------------------------------------------------------


class AccessLogEntry(BaseModel):
    accessed_at: datetime
    organisation: Annotated[str | None, Field(
        description="The organisation whose person or system it was (SOR code or GP ydernummer); null for "
        "the citizen's own reads.")]
    role: Annotated[str, Field(description="`clinician`, `logistics`, `system`, or `citizen`.")]
    subject: Annotated[str, Field(
        description="Who it was: the identity provider's opaque id of the person or system (the token's "
        "subject), which the organisation can resolve to a name; never a CPR number.")]
    action: Annotated[str, Field(description="What was done, e.g. `read_measurements`, `read_episode`.")]
    endpoint: Annotated[str | None, Field(
        description="The API route called (method and path template); null for entries written before "
        "routes were recorded.")]
    outcome: Annotated[str | None, Field(
        description="Whether the data was returned or the request refused; null for entries written "
        "before outcomes were recorded.")]
    episode_id: Annotated[str | None, Field(description="The episode it concerned; null for none.")]


class AccessLogPage(BaseModel):
    entries: Annotated[list[AccessLogEntry], Field(description="Newest first.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]


class Component(BaseModel):
    type: str
    value: float
    unit: str


class InvalidationSeen(BaseModel):
    """An invalidation as the citizen sees it: when and why, not by whom."""

    at: datetime
    reason: Annotated[str, Field(description="Why the clinician invalidated it.")]


class OwnMeasurement(BaseModel):
    measurement_id: Annotated[str, Field(description="The same under every episode that judged it.")]
    episode_id: str
    disease_area: str
    type: Annotated[str, Field(description="A catalogue type, or `blood_pressure` with its components.")]
    value: float | None
    unit: str | None
    components: Annotated[list[Component] | None, Field(description="A blood pressure's components.")]
    measured_at: datetime
    received_at: datetime
    colour: Annotated[Colour | None, Field(
        description="As judged under this episode's thresholds; null when measured before its first "
        "threshold version was valid.")]
    invalidated: Annotated[InvalidationSeen | None, Field(description="When and why it was invalidated.")]


class OwnMeasurementsPage(BaseModel):
    measurements: Annotated[list[OwnMeasurement], Field(
        description="Newest measured first. A measurement judged under two of the citizen's episodes is "
        "listed under each, with that episode's colour.")]
    next_cursor: Annotated[str | None, Field(description="The next page's `cursor`; null on the last page.")]
