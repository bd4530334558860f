"""Entry points: the evaluator of the measurements queue (``measurements_handler``: each accepted upload
judged under the citizen's open episodes), the evaluation outbox (``evaluation_outbox_handler``: each
"upload evaluated" event to the evaluated-uploads queue) and the alarm outbox (``alarm_outbox_handler``:
each raised alarm to the clinical-alarms topic), and for each outbox the recovery of the stream batches it
gave up on (``evaluation_outbox_recovery_handler``, ``alarm_outbox_recovery_handler``). The invalidation
of a wrong reading, the feature's one route, is in api.py: none of these loads the REST resolver."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from functions.alarm_evaluation.logic import AlarmEvaluator
from functions.alarm_evaluation.models import MeasurementsQueueRecord
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
    OutboxRecoverySettings,
)
from functions.shared.clock import utc_now
from functions.shared.observability import logger, metrics
from functions.shared.outbox import relay_stream_inserts
from functions.shared.stream_recovery import StreamBatchRecovery, recover_each
from functions.shared.stream_shards import DynamoDbStreamShards

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


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
