"""The sharing topic: each Bundle (or part) one SNS message, as few PublishBatch requests as SNS allows
(ten messages and 256 KiB, bodies and attributes together, per request).

A subscriber's queue receives a message when its organisation is among the ``recipients`` (String.Array):
its subscription's filter policy is ``{"recipients": ["<its code>"]}`` (infrastructure/resource_spec.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from functions.cross_sector_sharing.models import BUNDLE_MESSAGE_TYPE, BUNDLE_SCHEMA_VERSION, BundleMessage
from functions.shared.batch_requests import message_bytes, requests_of
from functions.shared.sns import PUBLISH_BATCH_BYTES, publish_batch

# What a Bundle may take of a message, leaving room for its attributes (at most two recipients and a few
# ids, well under 1 KiB): fhir.bundles_of splits a larger one into parts. SNS's limit on a PublishBatch
# request is also its limit on one message.
MAX_BUNDLE_BYTES = PUBLISH_BATCH_BYTES - 2048


class SnsBundleTopic:
    def __init__(self, topic_arn: str) -> None:
        self._topic_arn = topic_arn

    def publish(self, messages: Sequence[BundleMessage]) -> set[int]:
        """Publish the messages in order, in requests of ten or 256 KiB; return the positions SNS did not
        take (a refused request: all of its messages). A refusal does not stop the rest: each queue
        message is redelivered alone, so a message refused for good must not hold back those after it."""
        entries = [message_entry(message) for message in messages]
        not_taken: set[int] = set()
        for request in requests_of([size_of(entry) for entry in entries], PUBLISH_BATCH_BYTES):
            sent = [{**entries[position], "Id": str(index)} for index, position in enumerate(request)]
            not_taken |= {request[index] for index in publish_batch(self._topic_arn, sent, "bundle")}
        return not_taken


def message_entry(message: BundleMessage) -> dict[str, Any]:
    """A PublishBatch entry (without its Id): the Bundle as the body, and what a subscriber filters and
    deduplicates by as attributes."""
    recipients = json.dumps(list(message.recipients), separators=(",", ":"))
    return {
        "Message": message.body,
        "MessageAttributes": {
            "recipients": {"DataType": "String.Array", "StringValue": recipients},
            "message_type": {"DataType": "String", "StringValue": BUNDLE_MESSAGE_TYPE},
            "schema_version": {"DataType": "Number", "StringValue": str(BUNDLE_SCHEMA_VERSION)},
            "bundle_id": {"DataType": "String", "StringValue": message.bundle_id},
            "event_id": {"DataType": "String", "StringValue": message.event_id},
            "bundle_part": {"DataType": "Number", "StringValue": str(message.part)},
            "bundle_parts": {"DataType": "Number", "StringValue": str(message.parts)},
        },
    }


def size_of(entry: dict[str, Any]) -> int:
    """The bytes SNS counts of a message against a request's limit."""
    return message_bytes(entry["Message"], entry["MessageAttributes"])
