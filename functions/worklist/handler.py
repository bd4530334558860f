"""Entry point of the clinicians' worklist API: the worklist, an episode's measurements, questionnaire
answers and alarms, and acknowledging alarms and GREEN uploads."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import AwareDatetime, StringConstraints

from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.episode_records import EPISODE_ID_PATTERN
from functions.shared.observability import COUNT, logger, metrics
from functions.worklist.logic import WorklistService
from functions.worklist.models import (
    ALARM_ID_PATTERN,
    CURSOR_PATTERN,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Alarm,
    AlarmAcknowledgement,
    AlarmsPage,
    AlarmStatus,
    AnswersPage,
    GreenAcknowledgement,
    GreenUploadsAcknowledged,
    MeasurementsPage,
    WorklistPage,
    WorklistSettings,
)
from functions.worklist.repository import DynamoWorklistStore

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

app = build_resolver()
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
AlarmId = Annotated[str, StringConstraints(pattern=ALARM_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE,
                             description=f"Items per page (default {DEFAULT_PAGE_SIZE}).")]
Cursor = Annotated[str | None, Query(
    pattern=CURSOR_PATTERN, description="The previous page's `next_cursor`; left out for the first page. "
    "Beyond the schema: only a cursor this list gave the caller.")]
_EPISODE_REFUSALS: dict[int, OpenAPIResponse] = {
    403: {"description": "No relation to the episode, or no such episode (one reply, the same either way)"},
}


@cache
def _service() -> WorklistService:
    settings = WorklistSettings.from_environment()
    return WorklistService(DynamoWorklistStore(settings.evaluations_table_name),
                           DynamoEpisodeDirectory(settings.episodes_table_name),
                           DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                                           current_request(app)), utc_now)


def _json(status: int, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=body)


@app.get(
    "/v1/worklist",
    summary="Read the organisation's worklist",
    description="One row per episode the caller's organisation monitors that has something to acknowledge: "
    "its most severe unacknowledged alarm, the counts per colour (GREEN: uploads judged GREEN and not yet "
    "acknowledged), the last measurement time and whether a late measurement raised an alarm. Most severe "
    "first (RED, YELLOW, BLUE, GREEN), then the longest waiting. An organisation with nothing waiting gets "
    "an empty list; no organisation sees another's rows. Each row returned is written to the access log "
    "first. The list is an index, updated a moment after each change (eventually consistent).",
    tags=["worklist"],
    responses={200: {"description": "A page of rows",
                     "content": {"application/json": {"model": WorklistPage}}},
               403: {"description": "The token names no organisation"}},
)
def get_worklist(principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE,
                 cursor: Cursor = None) -> Response[WorklistPage]:
    page = _service().worklist(principal, limit, cursor)
    metrics.add_metric(name="WorklistRowsRead", unit=COUNT, value=len(page.rows))
    logger.info("worklist read", extra={"rows": len(page.rows)})
    return _json(200, page)


@app.post(
    "/v1/worklist/acknowledge-green",
    summary="Acknowledge the GREEN uploads",
    description="Acknowledges every upload judged GREEN that waits on the caller's organisation's worklist, "
    "in one call (rows with nothing else waiting leave the list). Returns how many uploads of how many "
    "episodes; repeating it acknowledges only what arrived since.",
    tags=["worklist"],
    responses={200: {"description": "Acknowledged",
                     "content": {"application/json": {"model": GreenUploadsAcknowledged}}},
               403: {"description": "The token names no organisation"}},
)
def acknowledge_green(_: Annotated[GreenAcknowledgement, Body()],
                      principal: Caller) -> Response[GreenUploadsAcknowledged]:
    acknowledged = _service().acknowledge_green(principal)
    metrics.add_metric(name="GreenUploadsAcknowledged", unit=COUNT, value=acknowledged.uploads)
    logger.info("green uploads acknowledged", extra={"uploads": acknowledged.uploads,
                                                     "episodes": acknowledged.episodes})
    return _json(200, acknowledged)


@app.get(
    "/v1/episodes/<episode_id>/measurements",
    summary="Read an episode's measurements",
    description="The episode's measurements, newest measured first, each with its colour and the threshold "
    "version that judged it (null for one measured before the first version was valid), whether it arrived "
    "late, the alarm it raised and, once invalidated, who invalidated it, when and why. For the treating "
    "and the monitoring organisation; every read is written to the access log before the reply. Read from "
    "an index updated a moment after each evaluation (eventually consistent): a measurement evaluated a "
    "second ago may not be listed yet.",
    tags=["episodes"],
    responses={200: {"description": "A page of measurements",
                     "content": {"application/json": {"model": MeasurementsPage}}}, **_EPISODE_REFUSALS},
)
def get_measurements(
    episode_id: EpisodeId, principal: Caller,
    since: Annotated[AwareDatetime | None, Query(
        alias="from", description="Measured at or after this instant. Beyond the schema: not after `to`.",
    )] = None,
    until: Annotated[AwareDatetime | None, Query(
        alias="to", description="Measured at or before this instant.")] = None,
    measurement_type: Annotated[str | None, Query(
        alias="type", pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Only this type (a catalogue type, or `blood_pressure`).")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response[MeasurementsPage]:
    page = _service().measurements(episode_id, principal, since, until, measurement_type, limit, cursor)
    metrics.add_metric(name="MeasurementsRead", unit=COUNT, value=len(page.measurements))
    logger.info("measurements read", extra={"episode_id": episode_id, "measurements": len(page.measurements)})
    return _json(200, page)


@app.get(
    "/v1/episodes/<episode_id>/answers",
    summary="Read an episode's questionnaire answers",
    description="The questionnaire answers of the episode's uploads, newest answered first, each with the "
    "colour the disease area's template gives it (GREEN answers too), whether it arrived late and the alarm "
    "it raised. Read from the episode's \"upload evaluated\" events, which are kept 35 days: older answers "
    "drop off the list. For the treating and the monitoring organisation; every read is written to the "
    "access log before the reply.",
    tags=["episodes"],
    responses={200: {"description": "A page of answers",
                     "content": {"application/json": {"model": AnswersPage}}}, **_EPISODE_REFUSALS},
)
def get_answers(
    episode_id: EpisodeId, principal: Caller,
    since: Annotated[AwareDatetime | None, Query(
        alias="from", description="Answered at or after this instant. Beyond the schema: not after `to`.",
    )] = None,
    until: Annotated[AwareDatetime | None, Query(
        alias="to", description="Answered at or before this instant.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response[AnswersPage]:
    page = _service().answers(episode_id, principal, since, until, limit, cursor)
    metrics.add_metric(name="AnswersRead", unit=COUNT, value=len(page.answers))
    logger.info("answers read", extra={"episode_id": episode_id, "answers": len(page.answers)})
    return _json(200, page)


@app.get(
    "/v1/episodes/<episode_id>/alarms",
    summary="Read an episode's alarms",
    description="The episode's alarms, newest raised first, with their status, colour now and when raised, "
    "the acknowledgement and the visible history of changes (re-evaluation, invalidation, acknowledgement). "
    "No alarm is ever deleted. For the treating and the monitoring organisation; every read is written to "
    "the access log before the reply.",
    tags=["episodes"],
    responses={200: {"description": "A page of alarms",
                     "content": {"application/json": {"model": AlarmsPage}}}, **_EPISODE_REFUSALS},
)
def get_alarms(episode_id: EpisodeId, principal: Caller,
               status: Annotated[AlarmStatus | None, Query(description="Only alarms of this status.")] = None,
               limit: Limit = DEFAULT_PAGE_SIZE, cursor: Cursor = None) -> Response[AlarmsPage]:
    page = _service().alarms(episode_id, principal, status, limit, cursor)
    metrics.add_metric(name="AlarmsRead", unit=COUNT, value=len(page.alarms))
    logger.info("alarms read", extra={"episode_id": episode_id, "alarms": len(page.alarms)})
    return _json(200, page)


@app.post(
    "/v1/alarms/<alarm_id>/acknowledge",
    summary="Acknowledge an alarm",
    description="A clinician of the organisation holding monitoring responsibility acknowledges an open "
    "alarm with a note: who (subject and organisation), when and the note are recorded on the alarm and in "
    "its changes, and it leaves the worklist. The treating organisation gets a 403 saying so; any other "
    "organisation the 403 of an alarm that does not exist, so alarm ids reveal nothing to it. A second "
    "acknowledgement is a 409 naming who acknowledged it and when; an alarm lowered by re-evaluation or "
    "invalidated with its measurement waits for nobody and is a 409 too.",
    tags=["worklist"],
    responses={200: {"description": "The alarm, acknowledged",
                     "content": {"application/json": {"model": Alarm}}},
               403: {"description": "No relation to the alarm's episode, or no such alarm (one reply); or "
                     "the caller's organisation treats the episode but does not monitor it"},
               409: {"description": "Acknowledged before (by whom, when), lowered or invalidated"}},
)
def acknowledge_alarm(alarm_id: AlarmId, acknowledgement: Annotated[AlarmAcknowledgement, Body()],
                      principal: Caller) -> Response[Alarm]:
    alarm = _service().acknowledge(alarm_id, acknowledgement.note, principal)
    metrics.add_metric(name="AlarmsAcknowledged", unit=COUNT, value=1)
    logger.info("alarm acknowledged", extra={"alarm_id": alarm_id, "episode_id": alarm.episode_id})
    return _json(200, alarm)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)
