"""Entry point of the citizen's view: who looked at my data and my measurements (role citizen, the patient id
the authorizer found by the token's CPR number, which no URL carries), and an episode's access log for the
organisation that monitors it."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.citizen_view.logic import CitizenView
from functions.citizen_view.models import (
    CURSOR_PATTERN,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    AccessLogPage,
    OwnMeasurementsPage,
)
from functions.citizen_view.repository import DynamoAccessEntries, DynamoReadingStore
from functions.citizen_view.settings import CitizenViewSettings
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.episode_records import EPISODE_ID_PATTERN
from functions.shared.observability import COUNT, logger, metrics

app = build_resolver()
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE,
                             description=f"Items per page (default {DEFAULT_PAGE_SIZE}).")]
Cursor = Annotated[str | None, Query(
    pattern=CURSOR_PATTERN, description="The previous page's `next_cursor`; left out for the first page. "
    "Beyond the schema: only a cursor this list gave the caller.")]


@cache
def _view() -> CitizenView:
    settings = CitizenViewSettings.from_environment()
    return CitizenView(DynamoAccessEntries(settings.access_log_table_name),
                       DynamoReadingStore(settings.evaluations_table_name),
                       DynamoEpisodeDirectory(settings.episodes_table_name),
                       DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                                       current_request(app)), utc_now)


def _json(body: Any) -> Response[Any]:
    return Response(status_code=200, content_type="application/json", body=body)


@app.get(
    "/v1/me/access-log",
    summary="Read who looked at my data",
    description="For a citizen (the national login): every read or change of the citizen's data, and every "
    "refusal, newest first: when, by whom (the organisation, the role and the person's or system's opaque "
    "id at the identity provider), what and the outcome. The citizen's own reads are in it too. A citizen "
    "Telehub does not know gets an empty list. The read is written to the access log before the reply.",
    tags=["citizen"],
    responses={200: {"description": "A page of entries",
                     "content": {"application/json": {"model": AccessLogPage}}}},
)
def get_my_access_log(principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE,
                      cursor: Cursor = None) -> Response[AccessLogPage]:
    page = _view().my_access_log(principal, limit, cursor)
    metrics.add_metric(name="OwnAccessLogEntriesRead", unit=COUNT, value=len(page.entries))
    logger.info("own access log read", extra={"entries": len(page.entries)})
    return _json(page)


@app.get(
    "/v1/me/measurements",
    summary="Read my measurements",
    description="For a citizen (the national login): the measurements of the citizen's open episodes, newest "
    "measured first, each with the colour its episode's thresholds gave it (a measurement judged under two "
    "episodes is listed under each) and, once invalidated, when and why. A citizen with no open episode, or "
    "Telehub does not know, gets an empty list. Read from an index updated a moment after each evaluation. "
    "The read is written to the access log, under each episode, before the reply.",
    tags=["citizen"],
    responses={200: {"description": "A page of measurements",
                     "content": {"application/json": {"model": OwnMeasurementsPage}}}},
)
def get_my_measurements(principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE,
                        cursor: Cursor = None) -> Response[OwnMeasurementsPage]:
    page = _view().my_measurements(principal, limit, cursor)
    metrics.add_metric(name="OwnMeasurementsRead", unit=COUNT, value=len(page.measurements))
    logger.info("own measurements read", extra={"measurements": len(page.measurements)})
    return _json(page)


@app.get(
    "/v1/episodes/<episode_id>/access-log",
    summary="Read an episode's access log",
    description="For a clinician of the organisation that monitors the episode now: the entries of the "
    "episode's citizen made under this episode, newest first, as the citizen sees them. The read is written "
    "to the access log before the reply. Any other caller gets the reply of an episode that does not exist.",
    tags=["episodes"],
    responses={200: {"description": "A page of entries",
                     "content": {"application/json": {"model": AccessLogPage}}},
               403: {"description": "The caller's organisation does not monitor the episode, or there is no "
                     "such episode: one reply for both"}},
)
def get_episode_access_log(episode_id: EpisodeId, principal: Caller, limit: Limit = DEFAULT_PAGE_SIZE,
                           cursor: Cursor = None) -> Response[AccessLogPage]:
    page = _view().episode_access_log(episode_id, principal, limit, cursor)
    metrics.add_metric(name="EpisodeAccessLogEntriesRead", unit=COUNT, value=len(page.entries))
    logger.info("episode access log read", extra={"episode_id": episode_id, "entries": len(page.entries)})
    return _json(page)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)
