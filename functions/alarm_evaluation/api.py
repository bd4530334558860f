"""Entry point of the invalidation of a wrong reading (``invalidation_handler``,
POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate).

Apart from handler.py so that the queue consumer and the outboxes, which serve no route, do not load
Powertools' REST resolver and OpenAPI parameters on every cold start."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.alarm_evaluation.logic import MeasurementInvalidation
from functions.alarm_evaluation.models import (
    MEASUREMENT_ID_PATTERN,
    InvalidatedMeasurement,
    InvalidationRequest,
)
from functions.alarm_evaluation.repository import DynamoEpisodeSource, DynamoEvaluationStore
from functions.alarm_evaluation.settings import MeasurementInvalidationSettings
from functions.shared.access_log_store import DynamoAccessLog, current_request
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Caller
from functions.shared.clock import utc_now
from functions.shared.episode_records import EPISODE_ID_PATTERN
from functions.shared.observability import logger, metrics

app = build_resolver()
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
MeasurementId = Annotated[str, StringConstraints(pattern=MEASUREMENT_ID_PATTERN)]


@app.post(
    "/v1/episodes/<episode_id>/measurements/<measurement_id>/invalidate",
    summary="Invalidate a wrong measurement",
    description="A clinician of the treating or monitoring organisation marks a reading as wrong (a cuff put "
    "on badly, a scale on a soft floor) with a reason. It stays stored and shown as invalid with who, when "
    "and why; its alarm leaves the worklist; it no longer counts in relative baselines, so the type's other "
    "readings are judged again without it; the \"upload evaluated\" event carries the change. Every call is "
    "written to the access log before the reply.",
    tags=["measurements"],
    responses={200: {"description": "Invalidated", "content": {"application/json": {
                   "model": InvalidatedMeasurement}}},
               403: {"description": "No relation to the episode, or no such episode (one reply, whether "
                     "the measurement exists or not)"},
               404: {"description": "The episode the caller's organisation treats or monitors has no such "
                     "measurement"},
               409: {"description": "The measurement was invalidated already (the reply names by whom)"}},
)
def invalidate_measurement(episode_id: EpisodeId, measurement_id: MeasurementId,
                           request: Annotated[InvalidationRequest, Body()],
                           principal: Caller) -> Response[InvalidatedMeasurement]:
    reply = _invalidation().invalidate(episode_id, measurement_id, request.reason, principal)
    return Response(status_code=200, content_type="application/json", body=reply)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def invalidation_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)


@cache
def _invalidation() -> MeasurementInvalidation:
    settings = MeasurementInvalidationSettings.from_environment()
    return MeasurementInvalidation(DynamoEpisodeSource(settings.episodes_table_name),
                                   DynamoEvaluationStore(settings.evaluations_table_name),
                                   DynamoAccessLog(settings.access_log_table_name,
                                                   settings.access_log_retention_days, current_request(app)),
                                   metrics, utc_now)
