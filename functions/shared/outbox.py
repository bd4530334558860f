"""The one way a table's stream becomes queue messages (the outbox of a store-then-publish write).

A feature supplies ``relay``: it turns the INSERTed items of a stream batch into messages and
returns the ids of the records it did not relay. ``publish_in_batches`` sends ten per request;
``relay_stream_inserts`` is the outbox function's glue to Lambda's partial batch response.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

SQS_BATCH_LIMIT = 10

Message = TypeVar("Message")
Inserted = Sequence[tuple[str, dict[str, Any]]]  # (stream sequence number, new image)


class RecordNotRelayed(Exception):
    """The record's item did not reach the queue in this run; the stream retries it."""


def publish_in_batches(pending: Sequence[tuple[str, Message]],
                       publish: Callable[[list[Message]], set[int]]) -> set[str]:
    """Send the messages ten per request; return the record ids not sent.

    ``publish`` sends one request and returns the positions SQS refused. A failed request stops the
    run: the stream retries from the first failed record anyway, so sending later ones now would
    only send them twice.
    """
    not_sent: set[str] = set()
    for start in range(0, len(pending), SQS_BATCH_LIMIT):
        chunk = pending[start:start + SQS_BATCH_LIMIT]
        failed = publish([message for _, message in chunk])
        not_sent.update(record_id for position, (record_id, _) in enumerate(chunk) if position in failed)
        if failed:
            not_sent.update(record_id for record_id, _ in pending[start + SQS_BATCH_LIMIT:])
            break
    return not_sent


def relay_stream_inserts(event: dict[str, Any], context: Any, relay: Callable[[Inserted], set[str]]
                         ) -> dict[str, Any]:
    """Hand the INSERT images of a DynamoDB stream batch to ``relay`` and report every record it did
    not relay as a batch item failure (all of them if need be, never an exception)."""
    # Imported here: only outbox functions need the batch utilities, not the API functions' cold start.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
        DynamoDBRecord,
        DynamoDBRecordEventName,
    )

    records = [DynamoDBRecord(raw) for raw in event["Records"]]
    not_relayed = relay([
        (record.dynamodb.sequence_number, record.dynamodb.new_image)
        for record in records
        if record.event_name is DynamoDBRecordEventName.INSERT
    ])

    def confirm(record: DynamoDBRecord) -> None:
        if record.dynamodb.sequence_number in not_relayed:
            raise RecordNotRelayed(f"stream record {record.dynamodb.sequence_number} was not relayed")

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=confirm, processor=processor, context=context)
