"""The measurements queue: upload messages sent ten per SendMessageBatch request."""

from __future__ import annotations

from collections.abc import Sequence

from functions.device_uploads.outbox import OutboundMessage
from functions.shared.sqs import send_batch


class SqsUploadPublisher:
    def __init__(self, queue_url: str):
        self._queue_url = queue_url

    def publish(self, messages: Sequence[OutboundMessage]) -> set[int]:
        """Send the messages in one request; return the positions SQS did not take."""
        entries = [
            {
                "Id": str(position),
                "MessageBody": message.body,
                "MessageAttributes": {
                    name: {"DataType": "Number", "StringValue": str(value)}
                    if isinstance(value, int)
                    else {"DataType": "String", "StringValue": value}
                    for name, value in message.attributes.items()
                },
            }
            for position, message in enumerate(messages)
        ]
        return send_batch(self._queue_url, entries, "upload")
