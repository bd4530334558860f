"""Entry points: the evaluator of the measurements queue (``measurements_handler``: each accepted upload
judged under the citizen's open episodes), the invalidation of a wrong reading (``invalidation_handler``,
POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate), the evaluation outbox
(``evaluation_outbox_handler``: each "upload evaluated" event to the evaluated-uploads queue) and the
alarm outbox (``alarm_outbox_handler``: each raised alarm to the clinical-alarms topic), and for each
outbox the recovery of the stream batches it gave up on (``evaluation_outbox_recovery_handler``,
``alarm_outbox_recovery_handler``)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from pydantic import StringConstraints

from functions.alarm_evaluation.logic import AlarmEvaluator, MeasurementInvalidation
from functions.alarm_evaluation.models import (
    MEASUREMENT_ID_PATTERN,
    InvalidatedMeasurement,
    InvalidationRequest,
    MeasurementsQueueRecord,
)
from functions.alarm_evaluation.outbox import AlarmRelay, EvaluationRelay, alarm_outbox, evaluation_outbox
from functions.alarm_evaluation.publisher import SnsAlarmPublisher, SqsEvaluationPublisher
from functions.alarm_evaluation.repository import (
    DynamoEpisodeSource,
    DynamoEvaluationStore,
    DynamoEventsByHour,
)
from functions.alarm_evaluation.settings import (
    AlarmEvaluationSettings,
    AlarmOutboxSettings,
    EvaluationOutboxSettings,
    MeasurementInvalidationSettings,
    OutboxRecoverySettings,
)
from functions.shared.access_log_store import DynamoAccessLog
from functions.shared.api import build_resolver, resolve
from functions.shared.auth import Principal, Role, requires
from functions.shared.clock import utc_now
from functions.shared.episode_records import EPISODE_ID_PATTERN
from functions.shared.observability import logger, metrics
from functions.shared.outbox import relay_stream_inserts
from functions.shared.stream_recovery import StreamBatchRecovery, recover_each
from functions.shared.stream_shards import DynamoDbStreamShards

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

app = build_resolver()
Clinician = Annotated[Principal, Depends(requires(Role.CLINICIAN))]
EpisodeId = Annotated[str, StringConstraints(pattern=EPISODE_ID_PATTERN)]
MeasurementId = Annotated[str, StringConstraints(pattern=MEASUREMENT_ID_PATTERN)]


@logger.inject_lambda_context
@metrics.log_metrics
def measurements_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Evaluate each upload on the measurements queue; report the messages not evaluated (unreadable, or
    their episode busy or unreachable), for SQS to redeliver and, in the end, move to the DLQ."""
    # Only the consumer needs the batch utilities; imported when it runs.
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(event=event, record_handler=_evaluate,
                                    processor=_measurements_processor(), context=context)


def _evaluate(record: MeasurementsQueueRecord) -> None:
    _evaluator().evaluate(record.body.upload())


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
               403: {"description": "The caller's organisation neither treats nor monitors the episode"},
               404: {"description": "There is no such episode, or no such measurement in it"},
               409: {"description": "The measurement was invalidated already (the reply names by whom)"}},
)
def invalidate_measurement(episode_id: EpisodeId, measurement_id: MeasurementId,
                           request: Annotated[InvalidationRequest, Body()],
                           principal: Clinician) -> Response[InvalidatedMeasurement]:
    reply = _invalidation().invalidate(episode_id, measurement_id, request.reason, principal)
    return Response(status_code=200, content_type="application/json", body=reply)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def invalidation_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolve(app, event, context)


@logger.inject_lambda_context
@metrics.log_metrics
def evaluation_outbox_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay each EVENT item inserted into the evaluations table as one message; report the records
    not relayed."""
    return relay_stream_inserts(event, context, _evaluation_relay().relay)


@logger.inject_lambda_context
@metrics.log_metrics
def evaluation_outbox_recovery_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Relay again the events of each stream batch named by an on-failure record (SQS message);
    report the messages whose batch was not (yet) fully relayed, for SQS to redeliver."""
    return recover_each(event, context, _evaluation_outbox_recovery())


@logger.inject_lambda_context
@metrics.log_metrics
def alarm_outbox_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Publish the raised alarms of each EVENT item inserted into the evaluations table; report the
    records whose alarms were not all published."""
    return relay_stream_inserts(event, context, _alarm_relay().relay)


@logger.inject_lambda_context
@metrics.log_metrics
def alarm_outbox_recovery_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Publish again the raised alarms of each stream batch named by an on-failure record (SQS
    message); report the messages whose batch was not (yet) fully published, for SQS to redeliver."""
    return recover_each(event, context, _alarm_outbox_recovery())


@cache
def _evaluator() -> AlarmEvaluator:
    settings = AlarmEvaluationSettings.from_environment()
    return AlarmEvaluator(DynamoEpisodeSource(settings.episodes_table_name),
                          DynamoEvaluationStore(settings.evaluations_table_name), metrics, utc_now)


@cache
def _measurements_processor() -> Any:
    """Each record parsed as a MeasurementsQueueRecord; every failed message reported, even all of them."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, model=MeasurementsQueueRecord,
                          raise_on_entire_batch_failure=False)


@cache
def _invalidation() -> MeasurementInvalidation:
    settings = MeasurementInvalidationSettings.from_environment()
    return MeasurementInvalidation(DynamoEpisodeSource(settings.episodes_table_name),
                                   DynamoEvaluationStore(settings.evaluations_table_name),
                                   DynamoAccessLog(settings.access_log_table_name), metrics, utc_now)


@cache
def _evaluation_relay() -> EvaluationRelay:
    settings = EvaluationOutboxSettings.from_environment()
    return EvaluationRelay(SqsEvaluationPublisher(settings.evaluated_uploads_queue_url), metrics)


@cache
def _alarm_relay() -> AlarmRelay:
    settings = AlarmOutboxSettings.from_environment()
    return AlarmRelay(SnsAlarmPublisher(settings.clinical_alarms_topic_arn), metrics)


@cache
def _evaluation_outbox_recovery() -> StreamBatchRecovery:
    table = OutboxRecoverySettings.from_environment().evaluations_table_name
    outbox = evaluation_outbox(_evaluation_relay(), DynamoEventsByHour(table), table)
    return StreamBatchRecovery(DynamoDbStreamShards(), outbox, metrics)


@cache
def _alarm_outbox_recovery() -> StreamBatchRecovery:
    table = OutboxRecoverySettings.from_environment().evaluations_table_name
    outbox = alarm_outbox(_alarm_relay(), DynamoEventsByHour(table), table)
    return StreamBatchRecovery(DynamoDbStreamShards(), outbox, metrics)
