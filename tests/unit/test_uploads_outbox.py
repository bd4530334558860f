"""The uploads' relay (outbox.py): each stored upload becomes one message, sent ten per request or as
many as a request's bytes allow, and the relay counts what it did and did not relay; with in-memory
fakes."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from functions.device_uploads.models import StoredUpload
from functions.device_uploads.outbox import MESSAGE_TYPE, UploadRelay, upload_message
from tests.support.fakes import FakePublisher, RecordedMetrics

DEVICE, PATIENT = "dev_5f0c2a9e41b7d3c8a6e1f042", "pat_9a3e7c1d5b2f8e4a6c0d1b37"


@pytest.fixture
def metrics() -> RecordedMetrics:
    return RecordedMetrics()


def _stored(upload_id: str) -> StoredUpload:
    return StoredUpload(
        device_id=DEVICE, upload_id=upload_id, patient_id=PATIENT, received_at="2024-05-01T08:05:00.000Z",
        body_hash="0" * 64, accepted=1,
        measurements=[{"type": "weight", "value": Decimal("69.989303"), "unit": "kg",
                       "measured_at": "2024-05-01T08:00:00.000Z", "method": "automatic", "late": False}],
    )


def _inserted(count: int) -> list[tuple[str, dict]]:
    return [(str(100 + n), _stored(f"upload-{n:04d}").item()) for n in range(count)]


def test_the_message_carries_the_upload_its_type_version_and_dedupe_key():
    # When a stored upload becomes a message
    message = upload_message(_stored("upload-0001"))
    body = json.loads(message.body)
    # Then it is self-describing, names the citizen by patient id and keeps numbers as numbers
    assert body["message_type"] == MESSAGE_TYPE == message.attributes["message_type"]
    assert body["schema_version"] == 1 == message.attributes["schema_version"]
    assert body["dedupe_key"] == f"{DEVICE}/upload-0001" == message.dedupe_key
    assert body["patient_id"] == PATIENT and body["received_at"] == "2024-05-01T08:05:00.000Z"
    assert body["measurements"][0]["value"] == 69.989303
    assert body["answers"] == []
    assert "body_hash" not in body


def test_the_message_carries_the_answers_as_stored():
    answer = {"question_id": "coloured_sputum", "answer": "yes", "answered_at": "2024-05-01T08:01:00.000Z",
              "late": False}
    stored = replace(_stored("upload-0001"), answers=[answer])
    assert json.loads(upload_message(stored).body)["answers"] == [answer]


def test_an_upload_stored_before_answers_existed_is_relayed_with_none():
    # Given an upload item written before uploads had answers (no answers attribute)
    item = _stored("upload-0001").item()
    del item["answers"]
    # When relayed, Then its message has an empty answers list
    assert json.loads(UploadRelay(FakePublisher(), RecordedMetrics()).message_of(item).body)["answers"] == []


def test_uploads_are_relayed_ten_per_request(metrics):
    # Given 23 stored uploads
    queue = FakePublisher()
    # When relayed
    not_relayed = UploadRelay(queue, metrics).relay(_inserted(23))
    # Then three requests carried one message each, and every record is relayed
    assert queue.calls == 3 and len(queue.sent) == 23
    assert len({m.dedupe_key for m in queue.sent}) == 23
    assert not_relayed == set()


def test_a_refused_request_stops_the_run_and_everything_unsent_fails(metrics):
    # Given 23 uploads and a queue that refuses the whole second request
    queue = FakePublisher(refuse=range(10), on_call=2)
    # When relayed
    not_relayed = UploadRelay(queue, metrics).relay(_inserted(23))
    # Then the first ten went, and the other 13 are reported, the third request never made
    assert queue.calls == 2 and len(queue.sent) == 10
    assert not_relayed == {str(100 + n) for n in range(10, 23)}
    assert metrics.values == {"UploadsRelayed": 10, "UploadsNotRelayed": 13}


def _upload_bytes() -> int:
    return len(upload_message(_stored("upload-0000")).body.encode())


def _queue_of_bytes(request_bytes: int, **refusals) -> FakePublisher:
    """A queue taking at most ``request_bytes`` of message bodies in one request."""
    return FakePublisher(request_bytes=request_bytes, sizes=lambda message: len(message.body.encode()),
                         **refusals)


def test_large_uploads_go_as_many_to_a_request_as_its_bytes_allow(metrics):
    # Given ten uploads and a queue taking at most two and a half uploads' bytes in one request
    queue = _queue_of_bytes(_upload_bytes() * 5 // 2)
    # When relayed
    not_relayed = UploadRelay(queue, metrics).relay(_inserted(10))
    # Then five requests of two went, none refused, each upload sent once and in order
    assert [len(batch) for batch in queue.batches] == [2, 2, 2, 2, 2]
    assert [m.dedupe_key for m in queue.sent] == [f"{DEVICE}/upload-{n:04d}" for n in range(10)]
    assert not_relayed == set()


def test_a_refused_request_of_a_byte_split_run_stops_it(metrics):
    # Given ten uploads going two to a request by their bytes, and a queue refusing the second request
    queue = _queue_of_bytes(_upload_bytes() * 5 // 2, refuse=range(2), on_call=2)
    # When relayed
    not_relayed = UploadRelay(queue, metrics).relay(_inserted(10))
    # Then the first two went, and the other eight are reported, no later request made
    assert queue.calls == 2 and len(queue.sent) == 2
    assert not_relayed == {str(100 + n) for n in range(2, 10)}


def test_an_entry_the_queue_refuses_fails_but_its_sent_neighbours_do_not(metrics):
    # Given a queue that refuses the fourth message of the first request
    queue = FakePublisher(refuse=[3], on_call=1)
    # When 12 uploads are relayed
    not_relayed = UploadRelay(queue, metrics).relay(_inserted(12))
    # Then that record fails, its sent neighbours do not, and the second request is not made
    assert not_relayed == {"103", "110", "111"}
    assert queue.calls == 1 and len(queue.sent) == 9


def test_an_item_that_cannot_become_a_message_fails_alone(metrics):
    # Given three stored uploads, the second of them damaged
    inserted = _inserted(3)
    del inserted[1][1]["patient_id"]
    queue = FakePublisher()
    # When relayed
    not_relayed = UploadRelay(queue, metrics).relay(inserted)
    # Then the others are sent and only the damaged one is reported
    assert not_relayed == {"101"} and len(queue.sent) == 2
