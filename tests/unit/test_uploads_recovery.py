"""Recovering the stream batches the outbox gave up on: the on-failure record (models.py), reading
its range from the stream, the fallback to the uploads table, and the relay it shares with the
outbox (logic.py), with fakes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from functions.device_uploads.logic import (
    MAX_ARRIVAL_WINDOW,
    MAX_STREAM_PAGES,
    RECEIVED_AT_MARGIN,
    OutboundMessage,
    OutboxRecovery,
    StreamRecord,
    StreamRecordsGone,
    UnrecoverableFailureRecord,
    UploadRelay,
    UploadsNotRecovered,
    arrival_window,
    hours_between,
    inserted_in_range,
    upload_message,
)
from functions.device_uploads.models import StoredUpload, StreamBatchFailure

EVENTS = Path(__file__).resolve().parents[2] / "events" / "device_uploads"
TABLE = "telehub-dev-uploads"
DEVICE, PATIENT = "dev_5f0c2a9e41b7d3c8a6e1f042", "pat_9a3e7c1d5b2f8e4a6c0d1b37"
FIRST = 4421584500000000017450439091  # the sample record's startSequenceNumber


def sample_record() -> dict[str, Any]:
    event = json.loads((EVENTS / "outbox_failure_sqs.json").read_text(encoding="utf-8"))
    return json.loads(event["Records"][0]["body"])


def failure(**batch_changes: Any) -> StreamBatchFailure:
    record = sample_record()
    record["DDBStreamBatchInfo"].update(batch_changes)
    return StreamBatchFailure.model_validate(record)


def item(upload_id: str, received_at: str = "2024-05-01T08:05:00.000Z") -> dict[str, Any]:
    return StoredUpload(
        device_id=DEVICE, upload_id=upload_id, patient_id=PATIENT, received_at=received_at,
        body_hash="0" * 64, accepted=1,
        measurements=[{"type": "spo2", "value": Decimal(94), "unit": "%",
                       "measured_at": "2024-05-01T08:02:00.000Z", "method": "automatic", "late": False}],
    ).item()


def insert(offset: int, upload_id: str | None = None, event_name: str = "INSERT") -> StreamRecord:
    return StreamRecord(str(FIRST + offset), event_name, item(upload_id or f"upload-{offset:04d}"))


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
        return str(next(i for i, r in enumerate(self.stream) if int(r.sequence_number) >= wanted))

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


class FakeArrivals:
    """The uploads table's arrival index: items by received_hour, filtered by received_at."""

    def __init__(self, items: Sequence[dict[str, Any]]):
        self.items = list(items)
        self.asked: list[tuple[str, str, str]] = []

    def received_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        self.asked.append((hour, since, until))
        return [i for i in self.items if i["received_hour"] == hour and since <= i["received_at"] <= until]


class FakeQueue:
    """Takes every message, except that the whole request numbered ``refuse_call`` fails."""

    def __init__(self, refuse_call: int | None = None):
        self.sent: list[OutboundMessage] = []
        self.calls = 0
        self.refuse_call = refuse_call

    def publish(self, messages: Sequence[OutboundMessage]) -> set[int]:
        self.calls += 1
        if self.calls == self.refuse_call:
            return set(range(len(messages)))
        self.sent += messages
        return set()


class RecordedMetrics:
    def __init__(self):
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value


def recovery(shards: FakeShards, queue: FakeQueue, arrivals: FakeArrivals | None = None,
             metrics: RecordedMetrics | None = None) -> OutboxRecovery:
    metrics = metrics or RecordedMetrics()
    return OutboxRecovery(shards, arrivals or FakeArrivals([]), UploadRelay(queue, metrics), metrics,
                          uploads_table_name=TABLE)


def upload_ids(queue: FakeQueue) -> list[str]:
    return [json.loads(message.body)["upload_id"] for message in queue.sent]


# --- the on-failure record ----------------------------------------------------------------------


def test_the_sample_on_failure_record_parses_into_the_batch_position():
    # When the sample record (as Lambda sends it for a DynamoDB stream) is parsed
    parsed = StreamBatchFailure.model_validate(sample_record())
    # Then the batch's position, times and origin are there, typed
    batch = parsed.batch
    assert (batch.shard_id, batch.start_sequence_number, batch.end_sequence_number, batch.batch_size) == (
        "shardId-00000001714550400000-3b5f4c1a", str(FIRST), str(FIRST + 2), 3,
    )
    assert batch.approximate_arrival_of_first_record == datetime(2024, 5, 1, 8, 5, 1, tzinfo=UTC)
    assert batch.table_name == TABLE
    assert parsed.request_context.condition == "RetryAttemptsExhausted"
    assert parsed.request_context.approximate_invoke_count == 11
    assert parsed.response_context.function_error is None and parsed.version == "1.0"


def test_fields_lambda_may_add_later_are_ignored():
    record = sample_record()
    record["DDBStreamBatchInfo"]["somethingNew"] = 1
    record["newSection"] = {}
    assert StreamBatchFailure.model_validate(record).batch.batch_size == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("DDBStreamBatchInfo"), "DDBStreamBatchInfo"),
        (lambda r: r["DDBStreamBatchInfo"].pop("shardId"), "shardId"),
        (lambda r: r["DDBStreamBatchInfo"].update(startSequenceNumber="12ab"), "startSequenceNumber"),
        (lambda r: r["DDBStreamBatchInfo"].update(endSequenceNumber=str(FIRST - 1)), "DDBStreamBatchInfo"),
        (lambda r: r["DDBStreamBatchInfo"].update(approximateArrivalOfLastRecord="2024-05-01T08:00:00Z"),
         "DDBStreamBatchInfo"),
        (lambda r: r["DDBStreamBatchInfo"].update(approximateArrivalOfFirstRecord="2024-05-01T08:05:01"),
         "approximateArrivalOfFirstRecord"),
        (lambda r: r["DDBStreamBatchInfo"].update(streamArn="arn:aws:sqs:eu-central-1:123456789012:x"),
         "streamArn"),
        (lambda r: r["DDBStreamBatchInfo"].update(batchSize=0), "batchSize"),
        (lambda r: r["requestContext"].pop("condition"), "condition"),
    ],
)
def test_a_record_that_is_not_a_stream_batch_failure_is_refused_naming_the_field(change, field):
    # Given the sample record with one thing wrong
    record = sample_record()
    change(record)
    # When parsed, Then it is refused, and the error names where
    with pytest.raises(ValidationError) as refused:
        StreamBatchFailure.model_validate(record)
    assert any(field in map(str, error["loc"]) for error in refused.value.errors())


def test_a_body_that_is_no_json_is_refused():
    with pytest.raises(ValidationError):
        StreamBatchFailure.model_validate_json("the outbox gave up")


# --- reading the range from the stream ------------------------------------------------------------


def test_the_range_is_read_across_pages_and_ends_at_its_end_sequence_number():
    # Given a shard with six inserts, served two per page, and a failure naming the 2nd to the 5th
    shards = FakeShards([insert(n) for n in range(6)])
    batch = failure(startSequenceNumber=str(FIRST + 1), endSequenceNumber=str(FIRST + 4)).batch
    # When the range is read
    inserted = inserted_in_range(shards, batch)
    # Then exactly those four items, named by sequence number, from the batch's own shard
    assert [record_id for record_id, _ in inserted] == [str(FIRST + n) for n in range(1, 5)]
    assert [i["upload_id"] for _, i in inserted] == [f"upload-{n:04d}" for n in range(1, 5)]
    assert shards.asked == [(batch.stream_arn, batch.shard_id, str(FIRST + 1))]
    # And it stopped reading at the end: no page after the one holding it
    assert shards.pages_read == 2


def test_records_that_are_not_inserts_are_skipped_and_empty_pages_are_read_past():
    # Given a range with an insert, a modification and another insert, after two empty pages
    shards = FakeShards([insert(0), insert(1, event_name="MODIFY"), insert(2)], empty_pages=2)
    # When read
    inserted = inserted_in_range(shards, failure().batch)
    # Then only the inserts are relayed
    assert [record_id for record_id, _ in inserted] == [str(FIRST), str(FIRST + 2)]


def test_a_range_whose_end_is_past_the_stream_sequence_numbers_stops_at_the_first_later_record():
    # Given the end record itself is missing (filtered out by the mapping, say) but a later one exists
    shards = FakeShards([insert(0), insert(1), insert(5)])
    # When the range FIRST..FIRST+2 is read, Then it ends at the later record without taking it
    assert len(inserted_in_range(shards, failure().batch)) == 2


def test_a_trimmed_range_is_reported_gone():
    with pytest.raises(StreamRecordsGone):
        inserted_in_range(FakeShards([insert(0)], gone=True), failure().batch)


def test_a_shard_that_closes_before_the_range_ends_is_reported_gone():
    # Given a closed shard whose last record comes before the range's end
    shards = FakeShards([insert(0), insert(1)], closed=True)
    # Then the range cannot be read from it
    with pytest.raises(StreamRecordsGone, match="ends before"):
        inserted_in_range(shards, failure().batch)


def test_a_range_whose_end_never_comes_is_given_up_after_the_page_limit():
    # Given an open shard that has nothing after the range's first record (its tip serves empty pages)
    shards = FakeShards([insert(0)])
    # Then reading gives up after MAX_STREAM_PAGES pages rather than polling the tip for ever
    with pytest.raises(StreamRecordsGone, match="not reached"):
        inserted_in_range(shards, failure().batch)
    assert shards.pages_read == MAX_STREAM_PAGES


# --- the window the fallback reads -------------------------------------------------------------------


def test_the_arrival_window_widens_the_batch_by_the_margin_and_covers_each_hour():
    # Given a batch whose records arrived 08:59:30 to 09:00:10
    batch = failure(approximateArrivalOfFirstRecord="2024-05-01T08:59:30Z",
                    approximateArrivalOfLastRecord="2024-05-01T09:00:10Z").batch
    # When its window is computed
    since, until = arrival_window(batch)
    # Then it starts a margin earlier and ends a margin later, and spans two received_hours
    assert since == datetime(2024, 5, 1, 8, 59, 30, tzinfo=UTC) - RECEIVED_AT_MARGIN
    assert until == datetime(2024, 5, 1, 9, 0, 10, tzinfo=UTC) + RECEIVED_AT_MARGIN
    assert hours_between(since, until) == ["2024-05-01T08", "2024-05-01T09"]


def test_a_window_wider_than_any_batch_is_not_read():
    # Given a record whose arrivals are further apart than any batch's
    first = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    last = first + MAX_ARRIVAL_WINDOW + timedelta(seconds=1)
    batch = failure(approximateArrivalOfFirstRecord=first.isoformat(),
                    approximateArrivalOfLastRecord=last.isoformat()).batch
    # Then the fallback refuses to read its window
    with pytest.raises(UnrecoverableFailureRecord):
        arrival_window(batch)


# --- recovering a batch --------------------------------------------------------------------------------


def test_a_batch_still_in_the_stream_is_relayed_as_the_outbox_would_have_relayed_it():
    # Given a shard holding the failed batch's three uploads
    records = [insert(n) for n in range(3)]
    queue, metrics = FakeQueue(), RecordedMetrics()
    # When the recovery handles the failure record
    recovery(FakeShards(records), queue, metrics=metrics).recover(failure())
    # Then each upload is one message, the very message the outbox's relay makes of the item
    assert [m.body for m in queue.sent] == [upload_message(StoredUpload.from_item(r.new_image)).body
                                            for r in records]
    assert [m.dedupe_key for m in queue.sent] == [f"{DEVICE}/upload-{n:04d}" for n in range(3)]
    assert metrics.values["OutboxBatchesRecovered"] == 1 and metrics.values["UploadsRelayed"] == 3
    assert "OutboxBatchesRecoveredFromTable" not in metrics.values


def test_a_batch_the_stream_no_longer_holds_is_read_from_the_uploads_table_by_arrival():
    # Given the stream trimmed, and the table holding two uploads of the batch's minute, one received
    # a little before its first record (inside the margin) and one received hours later
    arrivals = FakeArrivals([
        item("in-batch", "2024-05-01T08:05:00.500Z"),
        item("just-before", "2024-05-01T08:04:30.000Z"),
        item("hours-later", "2024-05-01T11:00:00.000Z"),
    ])
    queue, metrics = FakeQueue(), RecordedMetrics()
    # When the recovery handles the failure record
    recovery(FakeShards([], gone=True), queue, arrivals, metrics).recover(failure())
    # Then the uploads of the window are relayed (the one before again: harmless), not the later one
    assert sorted(upload_ids(queue)) == ["in-batch", "just-before"]
    assert arrivals.asked == [("2024-05-01T08", "2024-05-01T08:04:01.000Z", "2024-05-01T08:06:03.000Z")]
    assert metrics.values["OutboxBatchesRecoveredFromTable"] == 1


def test_a_failure_record_of_another_tables_stream_is_not_acted_on():
    # Given a record naming another table's stream
    other = failure(streamArn="arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-devices/stream/x")
    queue, shards = FakeQueue(), FakeShards([insert(0)])
    # When handled, Then it is refused, and nothing was read or sent
    with pytest.raises(UnrecoverableFailureRecord):
        recovery(shards, queue).recover(other)
    assert shards.asked == [] and queue.sent == []


def test_a_refused_send_fails_the_recovery_and_running_it_again_completes_it():
    # Given 12 uploads in the failed batch, and SQS refusing the second request (the last two)
    records = [insert(n) for n in range(12)]
    queue = FakeQueue(refuse_call=2)
    batch = failure(endSequenceNumber=str(FIRST + 11))
    # When recovered, Then the recovery fails, so the on-failure message is retried
    with pytest.raises(UploadsNotRecovered, match="2 of 12"):
        recovery(FakeShards(records), queue).recover(batch)
    assert len(queue.sent) == 10
    # When SQS redelivers the message and the recovery runs again
    recovery(FakeShards(records), queue).recover(batch)
    # Then every upload is on the queue; the ten sent twice carry the same dedupe key both times
    keys = [m.dedupe_key for m in queue.sent]
    assert len(keys) == 22 and len(set(keys)) == 12
    first_bodies = {m.dedupe_key: m.body for m in queue.sent[:10]}
    assert all(first_bodies.get(m.dedupe_key, m.body) == m.body for m in queue.sent[10:])


def test_an_item_that_cannot_become_a_message_fails_the_recovery():
    # Given a batch whose second item lacks its patient
    broken = insert(1)
    del broken.new_image["patient_id"]
    queue = FakeQueue()
    # When recovered, Then the others are sent but the record fails (for the DLQ and a person)
    with pytest.raises(UploadsNotRecovered, match="1 of 3"):
        recovery(FakeShards([insert(0), broken, insert(2)]), queue).recover(failure())
    assert upload_ids(queue) == ["upload-0000", "upload-0002"]

