"""The pollers' pure parts: reading a partial batch response, the records Lambda would build, the
schedule poller's timing with a clock the test moves, and a poller outliving a poll that raised."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from embedded.pollers import (
    Poller,
    SchedulePoller,
    failed_identifiers,
    scheduled_event,
    sqs_record,
    stream_record,
)

BATCH = ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m2"}]}, {"m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}, {"m1", "m3"}),
        # What Lambda reads as the whole batch failing:
        ({"batchItemFailures": [{"itemIdentifier": "unknown"}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(BATCH)),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, set(BATCH)),
        ({"batchItemFailures": [{"id": "m1"}]}, set(BATCH)),
        ({"batchItemFailures": "m1"}, set(BATCH)),
        ("not json", set(BATCH)),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(result, failed):
    assert failed_identifiers(result, BATCH) == failed


def test_an_sqs_record_has_lambdas_shape():
    # Given a message as ReceiveMessage returns it, with a string and a binary attribute
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "MD5OfMessageAttributes": "md5a",
        "Body": '{"upload_id": "u1"}',
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000"},
        "MessageAttributes": {
            "accepted": {"DataType": "Number", "StringValue": "6"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    }
    # When it becomes a record of the event
    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:q", "eu-west-1")
    # Then it reads as Lambda's SQS record
    assert (
        record["messageId"] == "m1" and record["receiptHandle"] == "rh" and record["body"] == message["Body"]
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["messageAttributes"]["accepted"] == {
        "stringValue": "6",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Number",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x01\x02").decode()
    assert record["md5OfBody"] == "md5" and record["md5OfMessageAttributes"] == "md5a"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:eu-west-1:123456789012:q"
    assert record["awsRegion"] == "eu-west-1"


def test_a_stream_record_is_json_ready_and_names_its_stream():
    # Given a record as boto3 parses GetRecords (timestamps as datetimes, binary as bytes)
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = {
        "eventID": "e1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"device_id": {"S": "dev_1"}},
            "NewImage": {"device_id": {"S": "dev_1"}, "blob": {"B": b"\x00"}, "tags": {"BS": [b"\x01"]}},
            "SequenceNumber": "100",
            "StreamViewType": "NEW_IMAGE",
        },
    }
    # When it becomes a record of Lambda's event
    converted = stream_record(record, "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x", "eu-west-1")
    # Then it is what the wire carries, with the stream's ARN and the real region
    assert converted["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert converted["dynamodb"]["NewImage"]["blob"] == {"B": "AA=="}
    assert converted["dynamodb"]["NewImage"]["tags"] == {"BS": ["AQ=="]}
    assert converted["eventSourceARN"].endswith("/stream/x")
    assert converted["awsRegion"] == "eu-west-1"


class StepClock:
    """A monotonic clock the test moves on."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_schedule_poller_invokes_once_per_period_from_one_period_after_the_start():
    # Given a schedule of 15 minutes, started now
    clock, events = StepClock(), []
    poller = SchedulePoller(events.append, 900, "arn:aws:events:eu-west-1:123456789012:rule/r", clock=clock)
    # When it polls just before the first period ends, at its end, and again at once
    clock.now += 899
    before = poller.poll_once()
    clock.now += 1
    at_the_period = poller.poll_once()
    again = poller.poll_once()
    # Then it invoked once, at the period, with EventBridge's scheduled event
    assert (before, at_the_period, again) == (False, True, False)
    (event,) = events
    scheduled = EventBridgeModel.model_validate(event)
    assert scheduled.detail_type == "Scheduled Event"
    assert scheduled.resources == ["arn:aws:events:eu-west-1:123456789012:rule/r"]


def test_a_failed_scheduled_run_is_logged_and_the_next_period_runs_again(caplog):
    # Given a function that fails
    clock, calls = StepClock(), []

    def failing(event):
        calls.append(event)
        raise RuntimeError("boom")

    poller = SchedulePoller(failing, 60, "arn:aws:events:eu-west-1:123456789012:rule/r", clock=clock)
    # When two periods pass
    clock.now += 60
    assert poller.poll_once()
    clock.now += 60
    assert poller.poll_once()
    # Then both ran, and each failure was logged by its type
    assert len(calls) == 2
    assert ["run failed: RuntimeError" in record.getMessage() for record in caplog.records] == [True, True]


def test_a_scheduled_event_carries_the_time_to_the_second():
    event = scheduled_event(datetime(2026, 11, 25, 9, 30, 12, 345, tzinfo=UTC), "arn:rule", "eu-west-1")
    assert event["time"] == "2026-11-25T09:30:12Z"
    assert EventBridgeModel.model_validate(event).time == datetime(2026, 11, 25, 9, 30, 12, tzinfo=UTC)


class FailingFirst(Poller):
    """A poller whose first poll raises (with a message that must not be logged), then finds nothing."""

    def __init__(self) -> None:
        super().__init__("failing-first", idle_seconds=0.01)
        self.polls = threading.Semaphore(0)
        self.polled = 0
        self.message = "cpr 1704489000"

    def poll_once(self) -> bool:
        self.polled += 1
        self.polls.release()
        if self.polled == 1:
            raise RuntimeError(self.message)
        return False


def test_a_poll_that_raises_is_logged_by_its_type_and_counted_and_the_poller_goes_on(caplog):
    # Given a running poller whose first poll raises
    poller = FailingFirst()
    poller.start()
    try:
        # When it has polled twice
        assert poller.polls.acquire(timeout=10) and poller.polls.acquire(timeout=10)
        alive = poller.is_alive()
    finally:
        poller.stop()
    # Then it went on polling, counted the failure and logged its type, never its message
    assert alive and poller.failed_polls == 1
    logged = [record.getMessage() for record in caplog.records if record.name == "telehub.pollers"]
    assert len(logged) == 1 and "poll failed: RuntimeError" in logged[0]
    assert "1704489000" not in logged[0]
