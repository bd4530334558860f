"""A stream's shards and on-failure records, for the unit tests of the stream recovery and of each
outbox's use of it."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from functions.shared.stream_recovery import StreamRecord, StreamRecordsGone
from tests.support.events import load_event
from tests.support.moto_state import table_stream

FIRST = 4421584500000000017450439091  # the sample records' startSequenceNumber


def sample_failure_event(feature: str = "device_uploads") -> dict[str, Any]:
    """The SQS event an outbox's recovery function receives: one on-failure record (events/<feature>/)."""
    return load_event(f"{feature}/outbox_failure_sqs.json")


def sample_record(feature: str = "device_uploads") -> dict[str, Any]:
    """The on-failure record Lambda sent for an outbox's stream, as carried by its SQS message."""
    return json.loads(sample_failure_event(feature)["Records"][0]["body"])


def whole_stream_failure_record(feature: str, table_name: str) -> str:
    """Lambda's on-failure record (the SQS body) for every record of the table's stream so far under moto,
    with moto's real positions and the arrival of now (when the test wrote them)."""
    stream = table_stream(table_name)
    numbers = [record["dynamodb"]["SequenceNumber"] for record in stream.records]
    arrival = datetime.now(UTC).isoformat()
    record = sample_record(feature)
    record["DDBStreamBatchInfo"].update(
        streamArn=stream.arn, shardId=stream.shard_id, startSequenceNumber=numbers[0],
        endSequenceNumber=numbers[-1], batchSize=len(numbers),
        approximateArrivalOfFirstRecord=arrival, approximateArrivalOfLastRecord=arrival,
    )
    return json.dumps(record)


def failure_event(feature: str, *bodies: str) -> dict[str, Any]:
    """The recovery's SQS event with one message per body, on the sample's template."""
    template = sample_failure_event(feature)["Records"][0]
    return {"Records": [{**copy.deepcopy(template), "messageId": f"message-{n}", "body": body}
                        for n, body in enumerate(bodies)]}


class FakeShards:
    """A shard as GetShardIterator + GetRecords serve it: pages of records from a position on."""

    def __init__(self, records: Sequence[StreamRecord], page_size: int = 2, closed: bool = False,
                 gone: bool = False, empty_pages: int = 0):
        self.stream, self.page_size, self.closed, self.gone = list(records), page_size, closed, gone
        self.empty_pages = empty_pages  # pages with nothing, first, as DynamoDB Streams may serve
        self.asked: list[tuple[str, str, str]] = []
        self.pages_read = 0

    def iterator_at(self, stream_arn: str, shard_id: str, sequence_number: str) -> str:
        self.asked.append((stream_arn, shard_id, sequence_number))
        if self.gone:
            raise StreamRecordsGone("TrimmedDataAccessException")
        wanted = int(sequence_number)
        # Past the last record, the position is the shard's end: nothing to read there yet.
        return str(next((i for i, r in enumerate(self.stream) if int(r.sequence_number) >= wanted),
                        len(self.stream)))

    def records(self, iterator: str) -> tuple[list[StreamRecord], str | None]:
        self.pages_read += 1
        if self.empty_pages:
            self.empty_pages -= 1
            return [], iterator
        position = int(iterator)
        page = self.stream[position:position + self.page_size]
        following = position + len(page)
        if following >= len(self.stream) and self.closed:
            return page, None
        return page, str(following)
