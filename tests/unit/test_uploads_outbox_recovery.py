"""Recovering the stream batches the uploads outbox gave up on: the shared recovery
(functions.shared.stream_recovery) with the uploads outbox's parts (outbox.upload_outbox): its relay
and the fallback to the uploads table by arrival, with fakes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from functions.device_uploads.models import StoredUpload
from functions.device_uploads.outbox import UploadRelay, upload_message, upload_outbox
from functions.shared.stream_recovery import (
    BatchNotRecovered,
    StreamBatchFailure,
    StreamBatchRecovery,
    StreamRecord,
    UnrecoverableFailureRecord,
)
from tests.support.fakes import FakeArrivals, FakePublisher, RecordedMetrics
from tests.support.streams import FIRST, FakeShards, sample_record

TABLE = "telehub-dev-uploads"
DEVICE, PATIENT = "dev_5f0c2a9e41b7d3c8a6e1f042", "pat_9a3e7c1d5b2f8e4a6c0d1b37"
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


def recovery(shards: FakeShards, queue: FakePublisher, arrivals: FakeArrivals | None = None,
             metrics: RecordedMetrics | None = None) -> StreamBatchRecovery:
    metrics = metrics or RecordedMetrics()
    outbox = upload_outbox(UploadRelay(queue, metrics), arrivals or FakeArrivals([]), TABLE)
    return StreamBatchRecovery(shards, outbox, metrics)


def upload_ids(queue: FakePublisher) -> list[str]:
    return [json.loads(message.body)["upload_id"] for message in queue.sent]


# --- recovering a batch --------------------------------------------------------------------------------


def test_a_batch_still_in_the_stream_is_relayed_as_the_outbox_would_have_relayed_it():
    # Given a shard holding the failed batch's three uploads
    records = [insert(n) for n in range(3)]
    queue, metrics = FakePublisher(), RecordedMetrics()
    # When the recovery handles the failure record
    recovery(FakeShards(records), queue, metrics=metrics).recover(failure())
    # Then each upload is one message, the very message the outbox's relay makes of the item
    assert [m.body for m in queue.sent] == [upload_message(StoredUpload.from_item(r.new_image)).body
                                            for r in records]
    assert [m.dedupe_key for m in queue.sent] == [f"{DEVICE}/upload-{n:04d}" for n in range(3)]
    assert metrics.values["UploadOutboxBatchesRecovered"] == 1 and metrics.values["UploadsRelayed"] == 3
    assert "UploadOutboxBatchesRecoveredFromTable" not in metrics.values


def test_a_batch_the_stream_no_longer_holds_is_read_from_the_uploads_table_by_arrival():
    # Given the stream trimmed, and the table holding two uploads of the batch's minute, one received
    # a little before its first record (inside the margin) and one received hours later
    arrivals = FakeArrivals([
        item("in-batch", "2024-05-01T08:05:00.500Z"),
        item("just-before", "2024-05-01T08:04:30.000Z"),
        item("hours-later", "2024-05-01T11:00:00.000Z"),
    ])
    queue, metrics = FakePublisher(), RecordedMetrics()
    # When the recovery handles the failure record
    recovery(FakeShards([], gone=True), queue, arrivals, metrics).recover(failure())
    # Then the uploads of the window are relayed (the one before again: harmless), not the later one
    assert sorted(upload_ids(queue)) == ["in-batch", "just-before"]
    assert arrivals.asked == [("2024-05-01T08", "2024-05-01T08:04:01.000Z", "2024-05-01T08:06:03.000Z")]
    assert metrics.values["UploadOutboxBatchesRecoveredFromTable"] == 1


def test_a_failure_record_of_another_tables_stream_is_not_acted_on():
    # Given a record naming another table's stream
    other = failure(streamArn="arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-devices/stream/x")
    queue, shards = FakePublisher(), FakeShards([insert(0)])
    # When handled, Then it is refused, and nothing was read or sent
    with pytest.raises(UnrecoverableFailureRecord):
        recovery(shards, queue).recover(other)
    assert shards.asked == [] and queue.sent == []


def test_a_refused_send_fails_the_recovery_and_running_it_again_completes_it():
    # Given 12 uploads in the failed batch, and SQS refusing the second request (the last two)
    records = [insert(n) for n in range(12)]
    queue = FakePublisher(refuse=range(10), on_call=2)
    batch = failure(endSequenceNumber=str(FIRST + 11))
    # When recovered, Then the recovery fails, so the on-failure message is retried
    with pytest.raises(BatchNotRecovered, match="2 of 12"):
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
    queue = FakePublisher()
    # When recovered, Then the others are sent but the record fails (for the DLQ and a person)
    with pytest.raises(BatchNotRecovered, match="1 of 3"):
        recovery(FakeShards([insert(0), broken, insert(2)]), queue).recover(failure())
    assert upload_ids(queue) == ["upload-0000", "upload-0002"]

