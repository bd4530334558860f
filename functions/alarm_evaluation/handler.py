"""Entry points: the evaluation outbox (``evaluation_outbox_handler``: each "upload evaluated" event
to the evaluated-uploads queue) and the alarm outbox (``alarm_outbox_handler``: each raised alarm
to the clinical-alarms topic), and for each the recovery of the stream batches it gave up on
(``evaluation_outbox_recovery_handler``, ``alarm_outbox_recovery_handler``)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from functions.alarm_evaluation.outbox import AlarmRelay, EvaluationRelay, alarm_outbox, evaluation_outbox
from functions.alarm_evaluation.publisher import SnsAlarmPublisher, SqsEvaluationPublisher
from functions.alarm_evaluation.repository import DynamoEventsByHour
from functions.alarm_evaluation.settings import (
    AlarmOutboxSettings,
    EvaluationOutboxSettings,
    OutboxRecoverySettings,
)
from functions.shared.observability import logger, metrics
from functions.shared.outbox import relay_stream_inserts
from functions.shared.stream_recovery import StreamBatchRecovery, recover_each
from functions.shared.stream_shards import DynamoDbStreamShards

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse


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
