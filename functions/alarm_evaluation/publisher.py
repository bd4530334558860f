"""Where the evaluations table's events go: each event to the evaluated-uploads queue
(SendMessageBatch), each raised alarm to the clinical-alarms topic (PublishBatch), ten per request."""

from __future__ import annotations

from collections.abc import Sequence

from functions.alarm_evaluation.outbox import ALARM_MESSAGE_TYPE, EvaluatedUploadMessage, RaisedAlarmMessage
from functions.shared.evaluation_records import EVALUATED_MESSAGE_TYPE
from functions.shared.sns import publish_batch
from functions.shared.sqs import send_batch


class SqsEvaluationPublisher:
    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def publish(self, messages: Sequence[EvaluatedUploadMessage]) -> set[int]:
        """Send the events in one request; return the positions SQS did not take. A consumer skips an
        event_id it has seen (``dedupe_key``) and reads the version without parsing the body."""
        entries = [
            {
                "Id": str(position),
                "MessageBody": message.body,
                "MessageAttributes": {
                    "message_type": {"DataType": "String", "StringValue": EVALUATED_MESSAGE_TYPE},
                    "schema_version": {"DataType": "Number", "StringValue": str(message.schema_version)},
                    "dedupe_key": {"DataType": "String", "StringValue": message.event_id},
                },
            }
            for position, message in enumerate(messages)
        ]
        return send_batch(self._queue_url, entries, "evaluation event")


class SnsAlarmPublisher:
    def __init__(self, topic_arn: str) -> None:
        self._topic_arn = topic_arn

    def publish(self, alarms: Sequence[RaisedAlarmMessage]) -> set[int]:
        """Publish the alarms in one request; return the positions SNS did not take. A monitoring
        organisation's subscription filters on ``organisation`` and ``severity`` (docs/messages.md)."""
        entries = [
            {
                "Id": str(position),
                "Message": alarm.body,
                "MessageAttributes": {
                    "message_type": {"DataType": "String", "StringValue": ALARM_MESSAGE_TYPE},
                    "organisation": {"DataType": "String", "StringValue": alarm.organisation},
                    "severity": {"DataType": "String", "StringValue": alarm.severity},
                },
            }
            for position, alarm in enumerate(alarms)
        ]
        return publish_batch(self._topic_arn, entries, "alarm")
