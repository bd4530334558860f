"""Recovering the DynamoDB stream batches an outbox gave up on, for any table whose stream is an outbox.

An outbox function (a stream consumer) that fails a batch 10 times makes Lambda put an on-failure
record on its failure queue: where the batch is in the stream, not what it held. A recovery
function consumes that queue and, per record, reads the range back from the stream (or, once the
stream no longer has it, asks the feature for the items written during the batch's arrival window)
and hands them to the outbox's own relay. Only the feature's parts differ: which items of the range
it relays, how it relays them, and where its table keeps them by time written.

No boto3 and no event shapes here but the SQS batch loop (``recover_each``): the stream reader is
injected (``functions.shared.stream_shards`` in Lambda, fakes in unit tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from functions.shared.clock import hour_of
from functions.shared.observability import COUNT, MetricsRecorder, logger
from functions.shared.outbox import Inserted

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

# An item is written (its time taken) at most the API function's timeout (10 s) before its stream
# record, whose time Lambda reports to the second; a minute either side also covers clock drift.
# Items the margin catches were relayed already and go again: consumers skip them.
WRITTEN_AT_MARGIN = timedelta(minutes=1)
# One batch's records arrive within the minutes Lambda spends retrying it; a record claiming a far
# wider window is not one Lambda wrote, and would make the fallback read hours of items.
MAX_ARRIVAL_WINDOW = timedelta(hours=48)
# GetRecords pages (up to 1,000 records each) read before giving up on reaching the range's end.
MAX_STREAM_PAGES = 20

# --- the on-failure record ----------------------------------------------------------------------

SequenceNumber = Annotated[str, Field(pattern=r"^[0-9]{1,40}$")]
# arn:aws:dynamodb:<region>:<account>:table/<table name>/stream/<label>
STREAM_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}/stream/[^/]+$"
)


class _OnFailureRecordPart(BaseModel):
    # Lambda's names are camelCase; fields AWS may add later are ignored, not refused.
    model_config = ConfigDict(alias_generator=to_camel, frozen=True, extra="ignore")


class StreamBatchInfo(_OnFailureRecordPart):
    """Where in the stream the batch is: one shard, a range of sequence numbers. Not the records."""

    shard_id: str = Field(min_length=1)
    start_sequence_number: SequenceNumber
    end_sequence_number: SequenceNumber
    approximate_arrival_of_first_record: AwareDatetime
    approximate_arrival_of_last_record: AwareDatetime
    batch_size: int = Field(ge=1)
    stream_arn: str = Field(pattern=STREAM_ARN_PATTERN)

    @model_validator(mode="after")
    def _ordered(self) -> StreamBatchInfo:
        if int(self.start_sequence_number) > int(self.end_sequence_number):
            raise ValueError("startSequenceNumber is after endSequenceNumber")
        if self.approximate_arrival_of_first_record > self.approximate_arrival_of_last_record:
            raise ValueError("approximateArrivalOfFirstRecord is after approximateArrivalOfLastRecord")
        return self

    @property
    def table_name(self) -> str:
        return self.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]


class FailedRequest(_OnFailureRecordPart):
    request_id: str
    function_arn: str
    condition: str = Field(description="Why Lambda gave up: RetryAttemptsExhausted, RecordAgeExceeded, ...")
    approximate_invoke_count: int = Field(ge=0)


class FailedResponse(_OnFailureRecordPart):
    status_code: int
    executed_version: str
    function_error: str | None = None


class StreamBatchFailure(_OnFailureRecordPart):
    """The invocation record Lambda sends to a DynamoDB stream mapping's on-failure destination
    when it gives up on a batch (``upload-outbox-failures``, ``episode-outbox-failures``).

    Its own model rather than Powertools' parser model: importing Powertools' parser models costs
    a recovery function's cold start about 0.2 s, and this one also checks the range is ordered.
    """

    request_context: FailedRequest
    response_context: FailedResponse
    version: str
    timestamp: AwareDatetime
    batch: StreamBatchInfo = Field(alias="DDBStreamBatchInfo")


# --- reading the range back -----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str
    event_name: str  # INSERT, MODIFY or REMOVE
    new_image: dict[str, Any] | None  # the item as written (NEW_IMAGE), deserialised


class StreamRecordsGone(Exception):
    """The stream no longer holds the range: trimmed (records live 24 hours) or the shard is gone."""


class UnrecoverableFailureRecord(Exception):
    """A failure record this function must not act on; it goes to the DLQ for a person to read."""


class BatchNotRecovered(Exception):
    """Some items of the batch did not reach the queue in this run; the message is retried."""


class StreamShards(Protocol):
    def iterator_at(self, stream_arn: str, shard_id: str, sequence_number: str) -> str:
        """A position at ``sequence_number``; StreamRecordsGone if the stream no longer has it."""

    def records(self, iterator: str) -> tuple[list[StreamRecord], str | None]:
        """The next page of records and the position after it (None: the shard is closed and read)."""


def inserted_in_range(shards: StreamShards, batch: StreamBatchInfo) -> Inserted:
    """The items INSERTed in the batch's shard from its start to its end sequence number, each
    named by its sequence number; StreamRecordsGone if the stream cannot give the whole range."""
    start, end = int(batch.start_sequence_number), int(batch.end_sequence_number)
    iterator: str | None = shards.iterator_at(batch.stream_arn, batch.shard_id, batch.start_sequence_number)
    inserted: list[tuple[str, dict[str, Any]]] = []
    for _ in range(MAX_STREAM_PAGES):
        if iterator is None:
            raise StreamRecordsGone("the shard ends before the range does")
        records, iterator = shards.records(iterator)
        for record in records:
            number = int(record.sequence_number)
            if number > end:
                return inserted
            if number >= start and record.event_name == "INSERT" and record.new_image is not None:
                inserted.append((record.sequence_number, record.new_image))
            if number == end:
                return inserted
    raise StreamRecordsGone(f"the range's end was not reached in {MAX_STREAM_PAGES} pages")


def arrival_window(batch: StreamBatchInfo) -> tuple[datetime, datetime]:
    """From when to when the batch's items were written (with the margin)."""
    first, last = batch.approximate_arrival_of_first_record, batch.approximate_arrival_of_last_record
    if last - first > MAX_ARRIVAL_WINDOW:
        raise UnrecoverableFailureRecord(f"the batch's arrivals span more than {MAX_ARRIVAL_WINDOW}")
    return first - WRITTEN_AT_MARGIN, last + WRITTEN_AT_MARGIN


def hours_between(since: datetime, until: datetime) -> list[str]:
    """Every hour (``hour_of`` form) from since's to until's, both included."""
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= until:
        hours.append(hour_of(hour))
        hour += timedelta(hours=1)
    return hours


# --- recovering a batch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxOfTable:
    """What differs between outboxes: the table, which of its items are relayed, the relay (returns
    the record ids it did not relay), the table's items written between two instants, each named by
    an id of the caller's choice (the fallback once the stream is trimmed), and its metrics' names."""

    table_name: str
    relay: Callable[[Inserted], set[str]]
    written_between: Callable[[datetime, datetime], Inserted]
    metric_prefix: str  # <prefix>BatchesRecovered, <prefix>BatchesRecoveredFromTable
    relays_item: Callable[[dict[str, Any]], bool] = lambda item: True


class StreamBatchRecovery:
    """Hands on again the items of a stream batch an outbox gave up on, named by Lambda's on-failure
    record: read back from the stream while it holds them, else from the table by when they were
    written. Sent through the outbox's own relay, so each is the message the outbox would have sent;
    items sent before are sent again, which consumers skip by the message's dedupe key.
    """

    def __init__(self, shards: StreamShards, outbox: OutboxOfTable, metrics: MetricsRecorder):
        self._shards = shards
        self._outbox = outbox
        self._metrics = metrics

    def recover(self, failure: StreamBatchFailure) -> None:
        batch, outbox = failure.batch, self._outbox
        if batch.table_name != outbox.table_name:
            raise UnrecoverableFailureRecord("the failure record names another table's stream")
        try:
            inserted, source = inserted_in_range(self._shards, batch), "stream"
        except StreamRecordsGone as gone:
            logger.warning("outbox batch no longer in the stream; reading the table",
                           extra={"shard_id": batch.shard_id, "reason": str(gone)})
            inserted, source = outbox.written_between(*arrival_window(batch)), "table"
        relayed = [(record_id, item) for record_id, item in inserted if outbox.relays_item(item)]
        not_relayed = outbox.relay(relayed)
        log = {"shard_id": batch.shard_id, "start_sequence_number": batch.start_sequence_number,
               "end_sequence_number": batch.end_sequence_number,
               "condition": failure.request_context.condition, "source": source,
               "items": len(relayed), "not_relayed": len(not_relayed)}
        if not_relayed:
            logger.warning("outbox batch not recovered", extra=log)
            raise BatchNotRecovered(f"{len(not_relayed)} of {len(relayed)} items not relayed")
        self._metrics.add_metric(f"{outbox.metric_prefix}BatchesRecovered", COUNT, 1)
        if source == "table":
            self._metrics.add_metric(f"{outbox.metric_prefix}BatchesRecoveredFromTable", COUNT, 1)
        logger.info("outbox batch recovered", extra=log)


# --- the SQS batch loop ------------------------------------------------------------------------------


def recover_each(
    event: dict[str, Any], context: Any, recovery: StreamBatchRecovery
) -> PartialItemFailureResponse:
    """Recover the batch each SQS message (one on-failure record) names; report the messages whose
    batch was not (yet) fully relayed, for SQS to redeliver and, in the end, move to the DLQ."""
    # Only recovery functions need the batch utilities; imported when one runs.
    from aws_lambda_powertools.utilities.batch import process_partial_response

    def recover(record: Any) -> None:
        try:
            recovery.recover(StreamBatchFailure.model_validate_json(record.body))
        except Exception as error:
            # The type and, for an unreadable record, where it is wrong: never a message's content.
            invalid = error.errors() if isinstance(error, ValidationError) else []
            where = [".".join(map(str, problem["loc"])) for problem in invalid]
            logger.warning("on-failure record not recovered", extra={
                "message_id": record.message_id, "error": type(error).__name__, "problems": where,
            })
            raise

    return process_partial_response(event=event, record_handler=recover, processor=_queue_processor(),
                                    context=context)


@cache
def _queue_processor() -> Any:
    """Every failed message is reported, even when that is all of them (no exception)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

