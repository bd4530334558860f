"""The one SendMessageBatch adapter the outboxes share: a request's failures become positions."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared import aws
from functions.shared.observability import logger

# SendMessageBatch takes at most this many bytes in one request, its messages' bodies and attributes
# together: 1 MiB, as the API reference says since SQS raised it from 256 KiB (moto enforces it too).
SEND_MESSAGE_BATCH_BYTES = 1_048_576


def send_batch(queue_url: str, entries: list[dict[str, Any]], what: str) -> set[int]:
    """Send one request of entries (``Id`` = their position): at most ten and ``SEND_MESSAGE_BATCH_BYTES``,
    as ``functions.shared.batch_requests.requests_of`` groups them. Return the positions SQS did not take.
    A refused request (throttled, unreachable) sends none of them; the caller leaves those records to
    the stream's retry, so nothing here decides whether an error is transient.
    ``what`` names the messages in logs (ids and counts only, never a body)."""
    try:
        response = aws.client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        logger.warning(f"{what} messages not sent", extra={"messages": len(entries), "error_code": code})
        return set(range(len(entries)))
    failed = response.get("Failed", [])
    if failed:
        codes = sorted({entry["Code"] for entry in failed})
        logger.warning(f"some {what} messages not sent",
                       extra={"messages": len(failed), "error_codes": codes})
    return {int(entry["Id"]) for entry in failed}
