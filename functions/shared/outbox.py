"""The one way a table's stream becomes queue messages (the outbox of a store-then-publish write).

A feature's relay is a ``StreamRelay``: it says how one of its items becomes a message (or, for a
relay that fans an item out, none or several) and names its metrics; the relay turns the INSERTed
items of a stream batch into messages, sends them in requests the service takes (at most ten messages,
and at most the bytes its publisher names: SQS's SendMessageBatch 1 MiB, SNS's PublishBatch 256 KiB)
and returns the ids of the records it did not relay.
``relay_stream_inserts`` is the outbox function's glue to Lambda's partial batch response.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from functions.shared.batch_requests import requests_of
from functions.shared.observability import COUNT, MetricsRecorder, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

Message = TypeVar("Message")
Sent = TypeVar("Sent", contravariant=True)
# (record id, new image): the record id is the stream sequence number, or in a recovery from the
# table an id of the feature's choice; the image is the item as written, deserialised.
Inserted = Sequence[tuple[str, dict[str, Any]]]


class RecordNotRelayed(Exception):
    """The record's item did not reach the queue in this run; the stream retries it."""


class Publisher(Protocol[Sent]):
    @property
    def request_bytes(self) -> int:
        """The most bytes one request takes, its messages' bodies and attributes together."""

    def size_of(self, message: Sent) -> int:
        """The bytes the service counts of the message against ``request_bytes``."""

    def publish(self, messages: Sequence[Sent]) -> set[int]:
        """Send up to ten messages of at most ``request_bytes`` in one request; return the positions not
        sent."""


class StreamRelay(Generic[Message]):
    """Turns a stream's new items into messages, sent in as few requests as the service takes, and
    counts what it relayed.

    A relay says what an item becomes with ``message_of`` (one message) or, if an item may become
    none or several, ``messages_of``; a record is relayed once all its messages are sent (at once, if
    it has none). A record whose item cannot become messages (KeyError, TypeError or ValueError)
    fails alone. A failed send stops the run: the stream retries from the first failed record
    anyway, so sending later records now would only send them twice.
    """

    what: ClassVar[str]  # the items in logs: "upload", "order"
    relayed_metric: ClassVar[str]
    not_relayed_metric: ClassVar[str]

    def __init__(self, publisher: Publisher[Message], metrics: MetricsRecorder) -> None:
        self._publisher = publisher
        self._metrics = metrics

    def message_of(self, item: dict[str, Any]) -> Message:
        """The message a stored item is relayed as (a relay of one message per item says which)."""
        raise NotImplementedError(f"{type(self).__name__} says neither message_of nor messages_of")

    def messages_of(self, item: dict[str, Any]) -> Sequence[Message]:
        """The messages a stored item is relayed as: the one ``message_of`` makes, unless a relay says."""
        return [self.message_of(item)]

    def relay(self, inserted: Inserted) -> set[str]:
        """Return the ids of the records not relayed."""
        not_relayed: set[str] = set()
        pending: list[tuple[str, Message]] = []
        for record_id, item in inserted:
            try:
                messages = self.messages_of(item)
            except (KeyError, TypeError, ValueError) as error:
                logger.error(f"{self.what} item cannot become a message",
                             extra={"record_id": record_id, "error": type(error).__name__})
                not_relayed.add(record_id)
                continue
            pending.extend((record_id, message) for message in messages)
        not_relayed |= _publish_in_requests(pending, self._publisher)
        relayed = len(inserted) - len(not_relayed)
        self._metrics.add_metric(self.relayed_metric, COUNT, relayed)
        self._metrics.add_metric(self.not_relayed_metric, COUNT, len(not_relayed))
        logger.info(f"{self.what}s relayed", extra={"relayed": relayed, "not_relayed": len(not_relayed)})
        return not_relayed


def _publish_in_requests(pending: Sequence[tuple[str, Message]], publisher: Publisher[Message]) -> set[str]:
    """Send the messages in order, in requests of at most ten and the publisher's ``request_bytes``;
    return the ids of the records with a message not sent. A refusal stops the run (see ``StreamRelay``)."""
    not_sent: set[str] = set()
    sizes = [publisher.size_of(message) for _, message in pending]
    for request in requests_of(sizes, publisher.request_bytes):
        chunk = pending[request.start:request.stop]
        failed = publisher.publish([message for _, message in chunk])
        not_sent.update(record_id for position, (record_id, _) in enumerate(chunk) if position in failed)
        if failed:
            not_sent.update(record_id for record_id, _ in pending[request.stop:])
            break
    return not_sent


def relay_stream_inserts(event: dict[str, Any], context: Any, relay: Callable[[Inserted], set[str]]
                         ) -> PartialItemFailureResponse:
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
        (_sequence_number(record), record.dynamodb.new_image)
        for record in records
        if record.event_name is DynamoDBRecordEventName.INSERT and record.dynamodb
    ])

    def confirm(record: DynamoDBRecord) -> None:
        if (sequence_number := _sequence_number(record)) in not_relayed:
            raise RecordNotRelayed(f"stream record {sequence_number} was not relayed")

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return process_partial_response(event=event, record_handler=confirm, processor=processor, context=context)


def _sequence_number(record: DynamoDBRecord) -> str:
    """Lambda gives every stream record one; the data class types it as optional all the same."""
    if record.dynamodb is None or record.dynamodb.sequence_number is None:
        raise ValueError("a stream record without a sequence number")
    return record.dynamodb.sequence_number
