"""The upload outbox under moto: the uploads table's real stream records relayed to the queue."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import timedelta

import pytest

from functions.device_uploads.models import MAX_MEASUREMENTS
from functions.device_uploads.repository import DynamoDbUploadRepository
from functions.shared import aws
from functions.shared.batch_requests import BATCH_ENTRIES
from functions.shared.clock import iso_utc
from functions.shared.sqs import SEND_MESSAGE_BATCH_BYTES
from tests.support.moto_state import SentBatches, Throttle, queued_messages
from tests.support.runtime import invoke
from tests.support.uploads_api import (
    NOW,
    answers,
    open_episode,
    post,
    reply,
    retry_from,
    sample_body,
    sample_event,
    stored_uploads,
    stream_event,
    use_handler_at,
)


@pytest.fixture
def names(resources, monkeypatch):
    use_handler_at(monkeypatch)
    return resources


def _upload(number: int) -> None:
    body = sample_body()
    body["upload_id"] = f"upload-{number:04d}"
    body["measurements"] = body["measurements"][:1]
    assert post(body)["statusCode"] == 202


def _relay(event: dict) -> dict:
    return invoke("upload-outbox", event)


def _queue(names) -> str:
    return names.queue_urls["measurements"]


def test_the_sample_stream_event_becomes_one_message(names):
    # Given the sample stream record of a stored upload
    event = sample_event("upload_stored_stream.json")
    # When the outbox function handles it
    response = _relay(event)
    # Then nothing failed and the queue holds one self-describing message for the upload
    assert response == {"batchItemFailures": []}
    [message] = queued_messages(_queue(names))
    body = message["body"]
    assert message["attributes"] == {
        "message_type": {"StringValue": "telehub.upload.accepted", "DataType": "String"},
        "schema_version": {"StringValue": "1", "DataType": "Number"},
        "dedupe_key": {"StringValue": body["dedupe_key"], "DataType": "String"},
    }
    assert body["dedupe_key"] == "dev_5f0c2a9e41b7d3c8a6e1f042/0b9f7c1e-5d2a-4a57-9d0e-3c1f2b8a6e41"
    assert body["patient_id"] == "pat_9a3e7c1d5b2f8e4a6c0d1b37"
    assert body["received_at"] == "2024-05-01T08:05:00.000Z"
    assert [m["type"] for m in body["measurements"]] == ["spo2", "blood_pressure", "weight", "cat_score"]
    assert body["measurements"][1]["components"][0] == {"type": "systolic", "value": 132, "unit": "mmHg"}
    assert body["measurements"][2]["value"] == 69.989303 and body["measurements"][3]["late"] is True
    assert body["answers"] == []  # the sample item has none


def test_an_upload_with_answers_is_relayed_with_them(names):
    # Given an upload of measurements and answers accepted for a citizen monitored for COPD
    open_episode(names, "copd")
    body = {**sample_body(), "answers": answers("coloured_sputum", "more_cough_than_usual", answer="no")}
    assert post(body)["statusCode"] == 202
    # When the outbox function handles the stream batch
    assert _relay(stream_event(names.tables["uploads"])) == {"batchItemFailures": []}
    # Then the one message carries the answers as stored, beside the measurements
    [message] = queued_messages(_queue(names))
    assert len(message["body"]["measurements"]) == 4
    assert message["body"]["answers"] == [
        {"question_id": "coloured_sputum", "answer": "no", "answered_at": "2024-05-01T08:04:00.000Z",
         "late": False},
        {"question_id": "more_cough_than_usual", "answer": "no", "answered_at": "2024-05-01T08:04:00.000Z",
         "late": False},
    ]


def test_each_stored_upload_reaches_the_queue_once(names):
    # Given three uploads accepted by the API
    for number in range(3):
        _upload(number)
    event = stream_event(names.tables["uploads"])
    assert [r["eventName"] for r in event["Records"]] == ["INSERT"] * 3
    # When the outbox function handles the stream batch
    response = _relay(event)
    # Then one message per upload, with the stored item's content
    assert response == {"batchItemFailures": []}
    messages = queued_messages(_queue(names))
    assert sorted(m["body"]["upload_id"] for m in messages) == ["upload-0000", "upload-0001", "upload-0002"]
    stored = {item["upload_id"]: item for item in stored_uploads(names)}
    for message in messages:
        assert message["body"]["patient_id"] == stored[message["body"]["upload_id"]]["patient_id"]


def _stored_pressures(number: int) -> dict:
    """The stream record of the sample's upload stored as ``upload-<number>`` with the most measurements an
    upload takes, each a blood pressure with its pulse (the largest measurement: about 50 KB a message).
    Built here, not read from moto's stream, which takes seconds to serve items this large."""
    record = copy.deepcopy(sample_event("upload_stored_stream.json")["Records"][0])
    image = record["dynamodb"]["NewImage"]
    [pressure] = [m for m in image["measurements"]["L"] if m["M"]["type"]["S"] == "blood_pressure"]
    image["upload_id"] = {"S": f"upload-{number:04d}"}
    image["measurements"] = {"L": [
        {"M": {**pressure["M"], "measured_at": {"S": iso_utc(NOW - timedelta(minutes=minute + 1))}}}
        for minute in range(MAX_MEASUREMENTS)]}
    record["dynamodb"]["SequenceNumber"] = str(int(record["dynamodb"]["SequenceNumber"]) + number)
    return record


def test_ten_uploads_of_200_blood_pressures_go_in_requests_sqs_takes_each_once(names, monkeypatch):
    # Given a stream batch of ten stored uploads of 200 blood pressures each
    event = {"Records": [_stored_pressures(number) for number in range(10)]}
    sent = SentBatches(monkeypatch)
    # When the outbox function handles it
    assert _relay(event) == {"batchItemFailures": []}
    # Then every request was within SQS's ten messages and 1 MiB (about 500 KB in all: one request)
    assert all(len(request) <= BATCH_ENTRIES and sum(request) <= SEND_MESSAGE_BATCH_BYTES
               for request in sent.requests)
    assert [len(request) for request in sent.requests] == [10]
    # And each upload is on the queue once, with all its measurements
    messages = queued_messages(_queue(names))
    assert sorted(m["body"]["upload_id"] for m in messages) == [f"upload-{n:04d}" for n in range(10)]
    assert all(len(m["body"]["measurements"]) == MAX_MEASUREMENTS for m in messages)


def test_a_throttled_send_is_reported_and_the_retry_completes_the_hand_off(names, monkeypatch):
    # Given 12 stored uploads (two SendMessageBatch requests' worth), and SQS throttling the second request
    for number in range(12):
        _upload(number)
    event = stream_event(names.tables["uploads"])
    throttle = Throttle(monkeypatch, failing_calls={2})
    # When the outbox function handles the batch
    response = _relay(event)
    # Then the first ten are on the queue and exactly the two unsent records are reported
    sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    assert throttle.calls == [10, 2]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == sequence_numbers[10:]
    # When Lambda redelivers from the first failed record, and SQS has recovered
    assert _relay(retry_from(event, response)) == {"batchItemFailures": []}
    # Then every upload is on the queue exactly once
    keys = Counter(m["body"]["dedupe_key"] for m in queued_messages(_queue(names)))
    assert len(keys) == 12 and set(keys.values()) == {1}


def test_a_batch_that_fails_entirely_is_reported_entirely_and_nothing_is_lost(names, monkeypatch):
    # Given three stored uploads and SQS throttling the first attempt
    for number in range(3):
        _upload(number)
    event = stream_event(names.tables["uploads"])
    Throttle(monkeypatch, failing_calls={1})
    # When the outbox function handles the batch
    response = _relay(event)
    # Then every record is reported (not raised), and nothing reached the queue
    assert len(response["batchItemFailures"]) == 3
    assert queued_messages(_queue(names)) == []
    # And the redelivered batch relays each upload once
    assert _relay(retry_from(event, response)) == {"batchItemFailures": []}
    assert sorted(m["body"]["upload_id"] for m in queued_messages(_queue(names))) == [
        "upload-0000", "upload-0001", "upload-0002",
    ]


def test_a_message_sqs_refuses_within_a_request_fails_alone(names, monkeypatch):
    # Given four stored uploads and SQS refusing the second entry of the request
    for number in range(4):
        _upload(number)
    event = stream_event(names.tables["uploads"])
    sqs = aws.client("sqs")
    send = sqs.send_message_batch

    def refuse_second_entry(QueueUrl, Entries):  # boto3's parameter names
        sent = send(QueueUrl=QueueUrl, Entries=[e for e in Entries if e["Id"] != "1"])
        return {**sent, "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError"}]}

    monkeypatch.setattr(sqs, "send_message_batch", refuse_second_entry)
    # When relayed
    response = _relay(event)
    # Then only that record is reported
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        event["Records"][1]["dynamodb"]["SequenceNumber"]
    ]
    # And after Lambda's redelivery from it, every upload is on the queue; the two sent after the
    # refused one arrive twice, which the dedupe key lets consumers ignore
    monkeypatch.setattr(sqs, "send_message_batch", send)
    _relay(retry_from(event, response))
    keys = Counter(m["body"]["dedupe_key"] for m in queued_messages(_queue(names)))
    assert len(keys) == 4 and keys.total() == 6


def test_a_crash_between_store_and_reply_is_healed_by_the_retry_and_handed_on_once(names, monkeypatch):
    # Given the API function dies after storing an upload, before replying
    put_new = DynamoDbUploadRepository.put_new

    def store_then_crash(self, upload):
        put_new(self, upload)
        raise RuntimeError("Lambda runtime killed")

    monkeypatch.setattr(DynamoDbUploadRepository, "put_new", store_then_crash)
    with pytest.raises(RuntimeError):
        post(sample_body())
    monkeypatch.setattr(DynamoDbUploadRepository, "put_new", put_new)
    # When the tablet, which saw no reply, retries
    retried = post(sample_body())
    # Then it gets the 202 of the stored upload, and there is one item and one stream INSERT
    assert retried["statusCode"] == 202 and reply(retried)["received_at"] == "2024-05-01T08:05:00.000Z"
    assert len(stored_uploads(names)) == 1
    event = stream_event(names.tables["uploads"])
    assert [r["eventName"] for r in event["Records"]] == ["INSERT"]
    # And the outbox hands it on as one message
    assert _relay(event) == {"batchItemFailures": []}
    assert len(queued_messages(_queue(names))) == 1


def test_records_other_than_inserts_are_not_relayed(names):
    # Given a stream batch with an upload's INSERT and (never written by Telehub) a REMOVE
    event = sample_event("upload_stored_stream.json")
    removal = {**event["Records"][0], "eventName": "REMOVE"}
    removal["dynamodb"] = {**removal["dynamodb"], "SequenceNumber": "4421584500000000017450439092"}
    # When handled
    response = _relay({"Records": [event["Records"][0], removal]})
    # Then only the INSERT became a message, and neither record failed
    assert response == {"batchItemFailures": []}
    assert len(queued_messages(_queue(names))) == 1
