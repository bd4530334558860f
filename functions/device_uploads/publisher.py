"""The measurements queue: upload messages sent ten per SendMessageBatch request."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from functions.device_uploads.logic import OutboundMessage
from functions.shared import aws
from functions.shared.observability import logger


class SqsUploadPublisher:
    def __init__(self, queue_url: str):
        self._queue_url = queue_url

    def publish(self, messages: Sequence[OutboundMessage]) -> set[int]:
        """Send the messages in one request; return the positions SQS did not take.

        A refused request (throttled, unreachable) sends none of them; the caller leaves those
        records to the stream's retry, so nothing here decides whether an error is transient.
        """
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
        try:
            response = aws.client("sqs").send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
            logger.warning("upload messages not sent", extra={"messages": len(entries), "error_code": code})
            return set(range(len(entries)))
        failed = response.get("Failed", [])
        if failed:
            logger.warning(
                "some upload messages not sent",
                extra={"messages": len(failed), "error_codes": sorted({entry["Code"] for entry in failed})},
            )
        return {int(entry["Id"]) for entry in failed}
