"""Recovering the stream batches an outbox gave up on, whatever the table: the on-failure record,
reading its range back from the stream, the fallback window, and the recovery itself, with fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from functions.shared.stream_recovery import (
    MAX_ARRIVAL_WINDOW,
    MAX_STREAM_PAGES,
    WRITTEN_AT_MARGIN,
    BatchNotRecovered,
    OutboxOfTable,
    StreamBatchFailure,
    StreamBatchRecovery,
    StreamRecord,
    StreamRecordsGone,
    UnrecoverableFailureRecord,
    arrival_window,
    hours_between,
    inserted_in_range,
)
from tests.support.fakes import RecordedMetrics
from tests.support.streams import FIRST, FakeShards, sample_record

TABLE = "telehub-dev-uploads"


def failure(**batch_changes: Any) -> StreamBatchFailure:
    record = sample_record()
    record["DDBStreamBatchInfo"].update(batch_changes)
    return StreamBatchFailure.model_validate(record)


def insert(offset: int, upload_id: str | None = None, event_name: str = "INSERT") -> StreamRecord:
    return StreamRecord(str(FIRST + offset), event_name, {"upload_id": upload_id or f"upload-{offset:04d}"})


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
    # Then it starts a margin earlier and ends a margin later, and spans two hours
    assert since == datetime(2024, 5, 1, 8, 59, 30, tzinfo=UTC) - WRITTEN_AT_MARGIN
    assert until == datetime(2024, 5, 1, 9, 0, 10, tzinfo=UTC) + WRITTEN_AT_MARGIN
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


# --- recovering a batch, for any outbox -------------------------------------------------------------


class FakeOutbox:
    """An outbox's parts: a relay refusing the ids in ``refuse``, a table's items by time written."""

    def __init__(self, written: list[tuple[str, dict[str, Any]]] | None = None,
                 refuse: frozenset[str] = frozenset()):
        self.relayed: list[tuple[str, dict[str, Any]]] = []
        self.windows: list[tuple[datetime, datetime]] = []
        self.written, self.refuse = written or [], refuse

    def relay(self, inserted: list[tuple[str, dict[str, Any]]]) -> set[str]:
        self.relayed += [(record_id, item) for record_id, item in inserted if record_id not in self.refuse]
        return {record_id for record_id, _ in inserted if record_id in self.refuse}

    def written_between(self, since: datetime, until: datetime) -> list[tuple[str, dict[str, Any]]]:
        self.windows.append((since, until))
        return self.written

    def of_table(self, metric_prefix: str = "Outbox", **choices: Any) -> OutboxOfTable:
        return OutboxOfTable(table_name=TABLE, relay=self.relay, written_between=self.written_between,
                             metric_prefix=metric_prefix, **choices)


def test_only_the_items_the_outbox_relays_are_handed_to_its_relay():
    # Given a range of three inserts of which the outbox relays only the ones whose id ends in 1 or 2
    outbox, metrics = FakeOutbox(), RecordedMetrics()
    wanted = outbox.of_table(relays_item=lambda item: item["upload_id"][-1] in "12", metric_prefix="Order")
    # When recovered
    StreamBatchRecovery(FakeShards([insert(n) for n in range(3)]), wanted, metrics).recover(failure())
    # Then the relay got just those two, and the outbox's own metric counts the batch
    assert [record_id for record_id, _ in outbox.relayed] == [str(FIRST + 1), str(FIRST + 2)]
    assert metrics.values == {"OrderBatchesRecovered": 1}


def test_a_trimmed_range_is_asked_of_the_table_for_the_arrival_window():
    # Given the stream trimmed and the table holding one item written in the window
    outbox, metrics = FakeOutbox(written=[("key-1", {"upload_id": "u1"})]), RecordedMetrics()
    batch = failure()
    # When recovered
    StreamBatchRecovery(FakeShards([], gone=True), outbox.of_table(), metrics).recover(batch)
    # Then the table was asked for the batch's arrival window, and its item relayed
    assert outbox.windows == [arrival_window(batch.batch)]
    assert outbox.relayed == [("key-1", {"upload_id": "u1"})]
    assert metrics.values == {"OutboxBatchesRecovered": 1, "OutboxBatchesRecoveredFromTable": 1}


def test_an_item_not_relayed_fails_the_batch_and_counts_nothing_recovered():
    # Given a relay that refuses the second of three items
    outbox, metrics = FakeOutbox(refuse=frozenset({str(FIRST + 1)})), RecordedMetrics()
    shards = FakeShards([insert(n) for n in range(3)])
    # When recovered, Then the batch fails (SQS redelivers it) and no recovery is counted
    with pytest.raises(BatchNotRecovered, match="1 of 3"):
        StreamBatchRecovery(shards, outbox.of_table(), metrics).recover(failure())
    assert metrics.values == {}


def test_a_failure_record_of_another_tables_stream_is_not_read():
    # Given a record naming another table's stream
    other = failure(streamArn="arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-devices/stream/x")
    shards, outbox = FakeShards([insert(0)]), FakeOutbox()
    # When handled, Then it is refused, and nothing was read or relayed
    with pytest.raises(UnrecoverableFailureRecord):
        StreamBatchRecovery(shards, outbox.of_table(), RecordedMetrics()).recover(other)
    assert shards.asked == [] and outbox.relayed == []
