"""The one PublishBatch adapter of the outboxes that publish to a topic: a request's failures become
positions, as SendMessageBatch's do in ``functions.shared.sqs``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared import aws
from functions.shared.observability import logger

# PublishBatch takes at most a topic's MaximumMessageSize in one request, its messages' bodies and
# attributes together: 256 KiB unless the topic raises it (up to 1 MiB), and Telehub's topics do not.
PUBLISH_BATCH_BYTES = 262_144


def publish_batch(topic_arn: str, entries: list[dict[str, Any]], what: str) -> set[int]:
    """Publish one request of entries (``Id`` = their position): at most ten and ``PUBLISH_BATCH_BYTES``,
    as ``functions.shared.batch_requests.requests_of`` groups them. Return the positions SNS did not take.
    A refused request (throttled, the topic's key unusable, unreachable) publishes none of them; the
    caller leaves those records to its source's retry. ``what`` names the messages in logs (ids and
    counts only, never a body)."""
    try:
        response = aws.client("sns").publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"]["Code"] if isinstance(error, ClientError) else type(error).__name__
        logger.warning(f"{what} messages not published", extra={"messages": len(entries), "error_code": code})
        return set(range(len(entries)))
    failed = response.get("Failed", [])
    if failed:
        codes = sorted({entry["Code"] for entry in failed})
        logger.warning(f"some {what} messages not published",
                       extra={"messages": len(failed), "error_codes": codes})
    return {int(entry["Id"]) for entry in failed}
