"""The outbox's failure path under moto: a stream batch the outbox gave up on reaches the
upload-outbox-failures queue as Lambda's on-failure record, and the recovery function hands its
uploads on to the measurements queue, from the stream or, once trimmed, from the uploads table."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded.pollers import SqsPoller, StreamPoller, spec_pollers
from embedded.redrive import redrive
from functions.shared import aws
from functions.shared.hour_shards import shard_of
from infrastructure.resource_spec import SPEC
from tests.support.moto_state import Throttle, queued_messages, table_items, table_stream
from tests.support.runtime import invoke
from tests.support.uploads_api import (
    post,
    sample_body,
    sample_event,
    use_handler_at,
)

FAILURES = "upload-outbox-failures"
MAX_RECEIVES = SPEC.queue(FAILURES).max_receive_count


@pytest.fixture
def names(resources, monkeypatch):
    use_handler_at(monkeypatch)
    return resources


@pytest.fixture
def sqs():
    return boto3.Session().client("sqs")


def _upload(number: int) -> str:
    body = sample_body()
    body["upload_id"] = f"upload-{number:04d}"
    body["measurements"] = body["measurements"][:1]
    assert post(body)["statusCode"] == 202
    return body["upload_id"]


def _failure_record(table_name: str, first: int, last: int, arrival: str = "2024-05-01T08:05:00Z") -> str:
    """Lambda's on-failure record for the stream records first..last (0-based) of the uploads stream."""
    stream = table_stream(table_name)
    sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in stream.records]
    record = json.loads(sample_event("outbox_failure_sqs.json")["Records"][0]["body"])
    record["DDBStreamBatchInfo"].update(
        streamArn=stream.arn,
        shardId=stream.shard_id,
        startSequenceNumber=sequence_numbers[first],
        endSequenceNumber=sequence_numbers[last],
        batchSize=last - first + 1,
        approximateArrivalOfFirstRecord=arrival,
        approximateArrivalOfLastRecord=arrival,
    )
    return json.dumps(record)


def _sqs_event(*bodies: str) -> dict[str, Any]:
    """The failures queue's messages as Lambda's SQS event source delivers them."""
    template = sample_event("outbox_failure_sqs.json")["Records"][0]
    return {"Records": [{**copy.deepcopy(template), "messageId": f"message-{n}", "body": body}
                        for n, body in enumerate(bodies)]}


def _recover(event: dict[str, Any]) -> dict[str, Any]:
    return invoke("upload-outbox-recovery", event)


def _relayed(names) -> Counter[str]:
    """How often each upload is on the measurements queue."""
    messages = queued_messages(names.queue_urls["measurements"])
    return Counter(message["body"]["upload_id"] for message in messages)


def _visible(sqs, queue_url: str) -> list[str]:
    """The bodies of the queue's visible messages, left there."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [message["Body"] for message in messages.get("Messages", [])]


def _recovery_poller(sqs, names, deliveries: list[dict[str, Any]] | None = None) -> SqsPoller:
    """Lambda's SQS mapping from the failures queue to the recovery function, without waiting."""
    def invoke(event):
        if deliveries is not None:
            deliveries.append(event)
        return _recover(event)

    return SqsPoller(sqs, names.queue_urls[FAILURES], invoke, wait_seconds=0, retry_visibility_seconds=0)


def _drain(poller) -> None:
    while poller.poll_once():
        pass


def test_the_embedded_mode_hands_a_batch_the_outbox_gave_up_on_to_the_recovery(
    names, sqs, monkeypatch, function_runtime
):
    # Given three stored uploads and SQS refusing every send of the functions
    uploads = {_upload(n) for n in range(3)}
    throttle = Throttle(monkeypatch)
    # And the embedded mode's pollers, built from the spec
    pollers = {p.name: p for p in spec_pollers(SPEC, names, function_runtime,
                                               boto3.Session(), "eu-west-1", retry_visibility_seconds=0)}
    outbox = pollers["upload-outbox<-stream:uploads"]
    recovery = pollers[f"upload-outbox-recovery<-sqs:{FAILURES}"]
    assert isinstance(outbox, StreamPoller) and isinstance(recovery, SqsPoller)
    outbox.retry_delay_seconds, recovery.wait_seconds = 0, 0
    # When the outbox has used up its retries
    _drain(outbox)
    # Then nothing reached the measurements queue and Lambda's on-failure record is on the failures queue
    assert _relayed(names) == Counter()
    [record] = [json.loads(body) for body in _visible(sqs, names.queue_urls[FAILURES])]
    assert record["DDBStreamBatchInfo"]["batchSize"] == 3
    # When SQS has recovered and the failures queue's poller runs the recovery function
    throttle.lift()
    _drain(recovery)
    # Then each upload is on the measurements queue exactly once, and no failure is left anywhere
    assert _relayed(names) == Counter(uploads)
    assert _visible(sqs, names.queue_urls[FAILURES]) == []
    assert _visible(sqs, names.queue_urls[f"{FAILURES}-dlq"]) == []


def test_exactly_the_range_of_the_failure_record_is_relayed(names):
    # Given four stored uploads, and an on-failure record naming the second and third stream records
    for number in range(4):
        _upload(number)
    event = _sqs_event(_failure_record(names.tables["uploads"], 1, 2))
    # When the recovery function handles it
    response = _recover(event)
    # Then it succeeded, and exactly those two uploads are on the queue, once each
    assert response == {"batchItemFailures": []}
    assert _relayed(names) == Counter({"upload-0001": 1, "upload-0002": 1})


def test_a_throttled_send_fails_the_message_and_its_redelivery_completes_the_hand_off(names, monkeypatch):
    # Given 12 stored uploads (two SendMessageBatch requests), all in the failed batch, and SQS
    # throttling the recovery's second request
    for number in range(12):
        _upload(number)
    event = _sqs_event(_failure_record(names.tables["uploads"], 0, 11))
    throttle = Throttle(monkeypatch, failing_calls={2})
    # When the recovery function handles the message
    response = _recover(event)
    # Then the message is reported as a batch item failure (so SQS redelivers it)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert throttle.calls == [10, 2]
    # When SQS redelivers it
    assert _recover(event) == {"batchItemFailures": []}
    # Then every upload is on the queue; the ten sent by the first run came twice, each time the
    # same message under the same dedupe key, which consumers skip
    messages = queued_messages(names.queue_urls["measurements"])
    by_key: dict[str, list[dict]] = {}
    for message in messages:
        by_key.setdefault(message["body"]["dedupe_key"], []).append(message["body"])
    assert len(by_key) == 12 and len(messages) == 22
    assert all(len(bodies) in (1, 2) and bodies.count(bodies[0]) == len(bodies) for bodies in by_key.values())


def test_a_batch_the_stream_no_longer_holds_is_found_in_the_uploads_table_by_arrival(names, monkeypatch):
    # Given two uploads received at 08:05, the stream's record of them, then one received at 11:00
    _upload(0)
    _upload(1)
    record = _failure_record(names.tables["uploads"], 0, 1, arrival="2024-05-01T08:05:00Z")
    use_handler_at(monkeypatch, clock=lambda: datetime(2024, 5, 1, 11, 0, tzinfo=UTC))
    _upload(2)
    # And the stream trimmed (records live 24 hours; moto never trims)
    streams = aws.client("dynamodbstreams")

    def trimmed(**request):
        raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                          "GetShardIterator")

    monkeypatch.setattr(streams, "get_shard_iterator", trimmed)
    # When the recovery function handles the on-failure record
    response = _recover(_sqs_event(record))
    # Then the two uploads of the batch's time are relayed from the table, once each, and not the later one
    assert response == {"batchItemFailures": []}
    assert _relayed(names) == Counter({"upload-0000": 1, "upload-0001": 1})


def test_a_trimmed_batch_whose_uploads_fall_in_several_index_shards_is_recovered_whole(names, monkeypatch):
    # Given eight uploads of one device received in one hour, whose arrival index entries fall in several
    # of the hour's shards, and the stream's record of all of them
    uploads = {_upload(n) for n in range(8)}
    [device_id] = {item["device_id"]["S"] for item in table_items(names, "uploads")}
    assert len({shard_of(f"{device_id}/{upload_id}") for upload_id in uploads}) > 1
    record = _failure_record(names.tables["uploads"], 0, 7)
    # And the stream trimmed
    streams = aws.client("dynamodbstreams")

    def trimmed(**request):
        raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                          "GetShardIterator")

    monkeypatch.setattr(streams, "get_shard_iterator", trimmed)
    # When the recovery function handles the on-failure record
    response = _recover(_sqs_event(record))
    # Then every upload of the batch is relayed from the table, once each
    assert response == {"batchItemFailures": []}
    assert _relayed(names) == Counter(uploads)


def test_a_record_for_another_tables_stream_is_reported_failed_and_nothing_is_sent(names):
    # Given the sample record, which names the dev stage's uploads table, not this one
    # When handled, Then it fails (for the DLQ and a person), and nothing was relayed
    assert _recover(sample_event("outbox_failure_sqs.json")) == {
        "batchItemFailures": [{"itemIdentifier": "0d6f3c7e-2b8a-4f1d-9c5e-6a2b1e7f4d90"}]
    }
    assert _relayed(names) == Counter()


def test_an_unreadable_failure_record_ends_in_the_dlq_and_redrive_brings_it_back(names, sqs):
    # Given a message on the failures queue that is no on-failure record, beside a good one
    _upload(0)
    good = _failure_record(names.tables["uploads"], 0, 0)
    sqs.send_message(QueueUrl=names.queue_urls[FAILURES], MessageBody='{"DDBStreamBatchInfo": "truncated')
    sqs.send_message(QueueUrl=names.queue_urls[FAILURES], MessageBody=good)
    deliveries: list[dict[str, Any]] = []
    # When the failures queue is polled until it is empty
    _drain(_recovery_poller(sqs, names, deliveries))
    # Then the good record was recovered, and the poison one was tried maxReceiveCount times and
    # now sits in the DLQ (whose alarm pages the operators)
    assert _relayed(names) == Counter({"upload-0000": 1})
    poison_deliveries = [r for event in deliveries for r in event["Records"] if "truncated" in r["body"]]
    assert len(poison_deliveries) == MAX_RECEIVES
    assert _visible(sqs, names.queue_urls[FAILURES]) == []
    assert _visible(sqs, names.queue_urls[f"{FAILURES}-dlq"]) == ['{"DDBStreamBatchInfo": "truncated']
    # When an operator redrives the DLQ (`telehub redrive upload-outbox-failures`)
    assert redrive(sqs, names.queue_urls[f"{FAILURES}-dlq"], names.queue_urls[FAILURES]) == 1
    # Then the message is back on the failures queue, and the DLQ is empty
    assert _visible(sqs, names.queue_urls[FAILURES]) == ['{"DDBStreamBatchInfo": "truncated']
    assert _visible(sqs, names.queue_urls[f"{FAILURES}-dlq"]) == []


def test_a_recovery_that_keeps_failing_waits_in_the_dlq_until_a_redrive_completes_it(names, sqs, monkeypatch):
    # Given two stored uploads, their on-failure record on the failures queue, and SQS refusing
    # every send for longer than the record's receives last
    uploads = {_upload(0), _upload(1)}
    record = _failure_record(names.tables["uploads"], 0, 1)
    sqs.send_message(QueueUrl=names.queue_urls[FAILURES], MessageBody=record)
    throttle = Throttle(monkeypatch)
    poller = _recovery_poller(sqs, names)
    # When the failures queue is polled until it is empty
    _drain(poller)
    # Then the record waits in the DLQ and nothing was relayed
    assert len(_visible(sqs, names.queue_urls[f"{FAILURES}-dlq"])) == 1
    assert _relayed(names) == Counter()
    # When SQS is back and an operator redrives the DLQ, and the queue is polled again
    throttle.lift()
    assert redrive(sqs, names.queue_urls[f"{FAILURES}-dlq"], names.queue_urls[FAILURES]) == 1
    _drain(poller)
    # Then each upload is on the measurements queue once, and no failure is left
    assert _relayed(names) == Counter(uploads)
    assert _visible(sqs, names.queue_urls[FAILURES]) == []
    assert _visible(sqs, names.queue_urls[f"{FAILURES}-dlq"]) == []
