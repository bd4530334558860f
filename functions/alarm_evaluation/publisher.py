"""Where the evaluations table's events go: each event to the evaluated-uploads queue
(SendMessageBatch, at most ten messages and 1 MiB a request), each raised alarm to the clinical-alarms
topic (PublishBatch, at most ten messages and 256 KiB a request)."""

from __future__ import annotations

from collections.abc import Sequence

from functions.alarm_evaluation.outbox import ALARM_MESSAGE_TYPE, EvaluatedUploadMessage, RaisedAlarmMessage
from functions.shared.batch_requests import message_bytes
from functions.shared.evaluation_records import EVALUATED_MESSAGE_TYPE
from functions.shared.sns import PUBLISH_BATCH_BYTES, publish_batch
from functions.shared.sqs import SEND_MESSAGE_BATCH_BYTES, send_batch


class SqsEvaluationPublisher:
    request_bytes = SEND_MESSAGE_BATCH_BYTES

    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def size_of(self, message: EvaluatedUploadMessage) -> int:
        return message_bytes(message.body, _event_attributes(message))

    def publish(self, messages: Sequence[EvaluatedUploadMessage]) -> set[int]:
        """Send the events in one request; return the positions SQS did not take. A consumer skips an
        event_id it has seen (``dedupe_key``) and reads the version without parsing the body."""
        entries = [
            {"Id": str(position), "MessageBody": message.body,
             "MessageAttributes": _event_attributes(message)}
            for position, message in enumerate(messages)
        ]
        return send_batch(self._queue_url, entries, "evaluation event")


def _event_attributes(message: EvaluatedUploadMessage) -> dict[str, dict[str, str]]:
    return {
        "message_type": {"DataType": "String", "StringValue": EVALUATED_MESSAGE_TYPE},
        "schema_version": {"DataType": "Number", "StringValue": str(message.schema_version)},
        "dedupe_key": {"DataType": "String", "StringValue": message.event_id},
    }


class SnsAlarmPublisher:
    request_bytes = PUBLISH_BATCH_BYTES

    def __init__(self, topic_arn: str) -> None:
        self._topic_arn = topic_arn

    def size_of(self, alarm: RaisedAlarmMessage) -> int:
        return message_bytes(alarm.body, _alarm_attributes(alarm))

    def publish(self, alarms: Sequence[RaisedAlarmMessage]) -> set[int]:
        """Publish the alarms in one request; return the positions SNS did not take. A monitoring
        organisation's subscription filters on ``organisation`` and ``severity`` (docs/messages.md)."""
        entries = [
            {"Id": str(position), "Message": alarm.body, "MessageAttributes": _alarm_attributes(alarm)}
            for position, alarm in enumerate(alarms)
        ]
        return publish_batch(self._topic_arn, entries, "alarm")


def _alarm_attributes(alarm: RaisedAlarmMessage) -> dict[str, dict[str, str]]:
    return {
        "message_type": {"DataType": "String", "StringValue": ALARM_MESSAGE_TYPE},
        "organisation": {"DataType": "String", "StringValue": alarm.organisation},
        "severity": {"DataType": "String", "StringValue": alarm.severity},
    }
