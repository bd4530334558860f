"""Entry point of the pauses API (``pauses_handler``: POST and GET /v1/episodes/{episode_id}/pauses).

Apart from handler.py so that the schedule, which serves no route, does not load Powertools' REST
resolver and OpenAPI parameters on every run's cold start."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.missed_measurements.logic import PauseService
from functions.missed_measurements.models import PauseList, PauseRequest, PauseSettings, PauseView
from functions.missed_measurements.repository import DynamoMonitoringSchedule
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.episode_records import EPISODE_ID_PATTERN
from functions.shared.observability import COUNT, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

app = build_resolver()
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
_REFUSED: dict[int, OpenAPIResponse] = {403: {"description": "No relation to the episode, or no such episode "
                                               "(one reply); or the caller's part in it does not allow this"}}


@cache
def _pauses() -> PauseService:
    settings = PauseSettings.from_environment()
    store = DynamoMonitoringSchedule(settings.episodes_table_name, settings.evaluations_table_name)
    return PauseService(store, DynamoEpisodeDirectory(settings.episodes_table_name),
                        DynamoAccessLog(settings.access_log_table_name, settings.access_log_retention_days,
                                        current_request(app)), utc_now)


@app.post(
    "/v1/episodes/<episode_id>/pauses",
    summary="Pause monitoring for a period",
    description="The monitoring organisation pauses the episode's missed-measurement schedule for a period "
    "(a hospital stay, a holiday): no missed measurement (BLUE alarm) is raised inside it, and the count "
    "towards the next one starts again when it ends by itself. Measurements sent meanwhile are still judged. "
    "The same request again (the same body as sent, from the same organisation) is the same pause: a retry "
    "gets the stored pause. The reply is access-logged.",
    tags=["episodes"],
    responses={201: {"description": "Paused (or a retry: the same pause)",
                     "content": {"application/json": {"model": PauseView}}},
               409: {"description": "The episode has ended"}, **_REFUSED},
)
def post_pause(episode_id: EpisodeId, request: Annotated[PauseRequest, Body()],
               principal: Caller) -> Response[PauseView]:
    pause, created = _pauses().pause(episode_id, request, principal)
    metrics.add_metric(name="PausesCreated" if created else "PausesRepeated", unit=COUNT, value=1)
    logger.info("monitoring paused", extra={"episode_id": episode_id, "pause_id": pause.pause_id,
                                            "new_pause": created})
    return Response(status_code=201, content_type="application/json", body=PauseView.of(pause))


@app.get(
    "/v1/episodes/<episode_id>/pauses",
    summary="Read an episode's pauses",
    description="Every pause of the episode's monitoring, past, current and planned, for the treating and "
    "the monitoring organisation. Every read is written to the access log before the reply.",
    tags=["episodes"],
    responses={200: {"description": "The pauses", "content": {"application/json": {"model": PauseList}}},
               **_REFUSED},
)
def get_pauses(episode_id: EpisodeId, principal: Caller) -> Response[PauseList]:
    pauses = _pauses().pauses(episode_id, principal)
    metrics.add_metric(name="PausesRead", unit=COUNT, value=1)
    logger.info("pauses read", extra={"episode_id": episode_id})
    return Response(status_code=200, content_type="application/json",
                    body=PauseList(pauses=[PauseView.of(pause) for pause in pauses]))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def pauses_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)
