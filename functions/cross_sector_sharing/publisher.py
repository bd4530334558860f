"""The sharing topic: each Bundle (or part) one SNS message, as few PublishBatch requests as SNS allows
(ten messages and 256 KiB, bodies and attributes together, per request).

A subscriber's queue receives a message when its organisation is among the ``recipients`` (String.Array):
its subscription's filter policy is ``{"recipients": ["<its code>"]}`` (infrastructure/resource_spec.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from functions.cross_sector_sharing.models import BUNDLE_MESSAGE_TYPE, BUNDLE_SCHEMA_VERSION, BundleMessage
from functions.shared.outbox import SQS_BATCH_LIMIT
from functions.shared.sns import publish_batch

# SNS's limit on a message and on a PublishBatch request: bodies and attributes (names, types, values).
REQUEST_LIMIT = 256 * 1024
# What a Bundle may take of a message, leaving room for its attributes (at most two recipients and a few
# ids, well under 1 KiB): fhir.bundles_of splits a larger one into parts.
MAX_BUNDLE_BYTES = REQUEST_LIMIT - 2048


class SnsBundleTopic:
    def __init__(self, topic_arn: str) -> None:
        self._topic_arn = topic_arn

    def publish(self, messages: Sequence[BundleMessage]) -> set[int]:
        """Publish the messages in order, in requests of ten or 256 KiB; return the positions SNS did not
        take (a refused request: all of its messages)."""
        not_taken: set[int] = set()
        for request in requests_of([message_entry(message) for message in messages]):
            entries = [{**entry, "Id": str(index)} for index, (_, entry) in enumerate(request)]
            not_taken |= {request[index][0] for index in publish_batch(self._topic_arn, entries, "bundle")}
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
    """The bytes SNS counts of a message: its body, and each attribute's name, data type and value."""
    attributes = entry["MessageAttributes"].items()
    return len(entry["Message"].encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes)


def requests_of(entries: Sequence[dict[str, Any]]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """The entries with their positions, in order, in requests of at most ten and REQUEST_LIMIT bytes."""
    batch: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for position, entry in enumerate(entries):
        entry_size = size_of(entry)
        if batch and (len(batch) == SQS_BATCH_LIMIT or size + entry_size > REQUEST_LIMIT):
            yield batch
            batch, size = [], 0
        batch.append((position, entry))
        size += entry_size
    if batch:
        yield batch
