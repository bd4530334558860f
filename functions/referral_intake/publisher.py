"""The logistics-orders queue: order messages sent in SendMessageBatch requests of at most ten messages and
1 MiB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from functions.referral_intake.models import ORDER_MESSAGE_TYPE
from functions.shared.batch_requests import message_bytes
from functions.shared.sqs import SEND_MESSAGE_BATCH_BYTES, send_batch


class SqsOrderPublisher:
    request_bytes = SEND_MESSAGE_BATCH_BYTES

    def __init__(self, queue_url: str) -> None:
        self._queue_url = queue_url

    def size_of(self, order: dict[str, Any]) -> int:
        return message_bytes(order["message"], _attributes(order))

    def publish(self, orders: Sequence[dict[str, Any]]) -> set[int]:
        """Send the orders' messages in one request; return the positions SQS did not take. The
        attributes let a logistics centre's consumer (or a later fan-out) filter without parsing."""
        entries = [
            {"Id": str(position), "MessageBody": order["message"], "MessageAttributes": _attributes(order)}
            for position, order in enumerate(orders)
        ]
        return send_batch(self._queue_url, entries, "order")


def _attributes(order: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        "message_type": {"DataType": "String", "StringValue": ORDER_MESSAGE_TYPE},
        "order_id": {"DataType": "String", "StringValue": order["order_id"]},
        "kind": {"DataType": "String", "StringValue": order["kind"]},
        "logistics_centre": {"DataType": "String", "StringValue": order["logistics_centre"]},
    }
