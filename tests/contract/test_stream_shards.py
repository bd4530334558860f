"""The stream reader's contract (functions.shared.stream_recovery.StreamShards), for the fake shard and
for DynamoDbStreamShards over moto's uploads stream: read from a sequence number on, page by page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.shared.stream_recovery import StreamRecord, StreamRecordsGone, StreamShards
from functions.shared.stream_shards import DynamoDbStreamShards
from tests.support.contract import FAKE, REAL
from tests.support.moto_state import TableStream, table_stream
from tests.support.streams import FakeShards


@dataclass
class Stream:
    shards: StreamShards
    arn: str
    shard_id: str
    written: list[StreamRecord]  # what the table's stream holds, read directly
    delete: Callable[[], None]  # the stream goes, with its table


@pytest.fixture(params=[FAKE, REAL])
def stream(request, moto_resources) -> Stream:
    """Three uploads written to moto's uploads table; the fake shard holds the same records."""
    table = moto_resources.tables["uploads"]
    dynamodb = boto3.Session().client("dynamodb")
    for n in range(3):
        dynamodb.put_item(TableName=table, Item={"device_id": {"S": "dev_1"}, "upload_id": {"S": f"u-{n}"}})
    in_moto = table_stream(table)
    written = _records_in(in_moto)
    if request.param == FAKE:
        fake = FakeShards(written)
        return Stream(fake, in_moto.arn, in_moto.shard_id, written, lambda: setattr(fake, "gone", True))
    return Stream(DynamoDbStreamShards(), in_moto.arn, in_moto.shard_id, written,
                  lambda: dynamodb.delete_table(TableName=table))


def _records_in(stream: TableStream) -> list[StreamRecord]:
    deserialise = TypeDeserializer().deserialize
    return [
        StreamRecord(record["dynamodb"]["SequenceNumber"], record["eventName"],
                     {name: deserialise(value) for name, value in record["dynamodb"]["NewImage"].items()})
        for record in stream.records
    ]


def read_from(stream: Stream, sequence_number: str) -> Iterator[StreamRecord]:
    """Every record from the position on, page by page, until the open shard has nothing more."""
    iterator: str | None = stream.shards.iterator_at(stream.arn, stream.shard_id, sequence_number)
    while iterator is not None:
        page, iterator = stream.shards.records(iterator)
        if not page:
            return
        yield from page


def test_the_records_from_a_sequence_number_on_are_read_in_order_with_their_new_images(stream):
    # When the stream is read from the second record's sequence number
    records = list(read_from(stream, stream.written[1].sequence_number))
    # Then it gives that record and the ones after it, as written
    assert records == stream.written[1:]
    assert [record.new_image["upload_id"] for record in records] == ["u-1", "u-2"]
    assert {record.event_name for record in records} == {"INSERT"}


def test_a_sequence_number_past_the_last_record_reads_nothing_yet(stream):
    # When the stream is read from after its last record (a batch whose records are not served yet)
    after_last = str(int(stream.written[-1].sequence_number) + 1)
    # Then there is nothing, and the open shard gives a position to read on from
    iterator = stream.shards.iterator_at(stream.arn, stream.shard_id, after_last)
    page, following = stream.shards.records(iterator)
    assert page == []
    assert following is not None


def test_a_stream_that_is_gone_says_so(stream):
    # Given the stream is gone (moto shows a deleted one; a trimmed range is the same to the reader)
    stream.delete()
    # When a position in it is asked for, Then the reader says the records are gone
    with pytest.raises(StreamRecordsGone):
        stream.shards.iterator_at(stream.arn, stream.shard_id, stream.written[0].sequence_number)
