"""The measurements queue: upload messages sent in SendMessageBatch requests of at most ten messages and
1 MiB."""

from __future__ import annotations

from collections.abc import Sequence

from functions.device_uploads.outbox import OutboundMessage
from functions.shared.batch_requests import message_bytes
from functions.shared.sqs import SEND_MESSAGE_BATCH_BYTES, send_batch


class SqsUploadPublisher:
    request_bytes = SEND_MESSAGE_BATCH_BYTES

    def __init__(self, queue_url: str):
        self._queue_url = queue_url

    def size_of(self, message: OutboundMessage) -> int:
        return message_bytes(message.body, _attributes(message))

    def publish(self, messages: Sequence[OutboundMessage]) -> set[int]:
        """Send the messages in one request; return the positions SQS did not take."""
        entries = [
            {"Id": str(position), "MessageBody": message.body, "MessageAttributes": _attributes(message)}
            for position, message in enumerate(messages)
        ]
        return send_batch(self._queue_url, entries, "upload")


def _attributes(message: OutboundMessage) -> dict[str, dict[str, str]]:
    return {
        name: {"DataType": "Number", "StringValue": str(value)}
        if isinstance(value, int)
        else {"DataType": "String", "StringValue": value}
        for name, value in message.attributes.items()
    }
