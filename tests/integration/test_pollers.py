"""The embedded mode's pollers against moto: Lambda's event source mapping semantics, and DLQ replay."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded.pollers import SqsPoller, StreamPoller, spec_pollers
from embedded.redrive import redrive
from infrastructure.resource_spec import SPEC, FunctionSpec, QueueSource

QUEUE = "measurements"
MAX_RECEIVES = SPEC.queue(QUEUE).max_receive_count


@pytest.fixture
def sqs():
    return boto3.Session().client("sqs")


def send(sqs, queue_url: str, *keys: str) -> None:
    for key in keys:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps({"key": key}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )


def bodies(sqs, queue_url: str) -> list[str]:
    """Every message on the queue (visible now), left there."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return sorted(json.loads(m["Body"])["key"] for m in messages)


class Consumer:
    """A consumer that fails the keys it is told to, and counts the effects of the others once each."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing = set(failing)
        self.deliveries: Counter[str] = Counter()
        self.effects: Counter[str] = Counter()
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        failures = []
        for record in event["Records"]:
            key = json.loads(record["body"])["key"]
            self.deliveries[key] += 1
            if key in self.failing:
                failures.append({"itemIdentifier": record["messageId"]})
            elif key not in self.effects:  # idempotent: a redelivered key has no second effect
                self.effects[key] += 1
        return {"batchItemFailures": failures}


def poller(sqs, resources, consumer, **options) -> SqsPoller:
    return SqsPoller(
        sqs, resources.queue_urls[QUEUE], consumer, wait_seconds=0, retry_visibility_seconds=0, **options
    )


def test_only_the_records_that_succeeded_are_deleted(resources, sqs):
    # Given three messages and a consumer that fails one of them
    send(sqs, resources.queue_urls[QUEUE], "a", "b", "c")
    consumer = Consumer(failing={"b"})
    # When the poller hands them over as one batch
    assert poller(sqs, resources, consumer).poll_once()
    # Then the event had all three, in Lambda's SQS shape
    records = consumer.events[0]["Records"]
    assert len(records) == 3
    assert records[0]["eventSource"] == "aws:sqs" and records[0]["eventSourceARN"].endswith(
        "telehub-test-measurements"
    )
    assert records[0]["attributes"]["ApproximateReceiveCount"] == "1"
    assert records[0]["messageAttributes"]["kind"]["stringValue"] == "test"
    # And only the failed one is left on the queue, visible again for redelivery
    assert bodies(sqs, resources.queue_urls[QUEUE]) == ["b"]


def test_a_handler_exception_fails_the_whole_batch(resources, sqs):
    send(sqs, resources.queue_urls[QUEUE], "a", "b")

    def crash(event):
        raise RuntimeError("bug")

    poller(sqs, resources, crash).poll_once()
    assert bodies(sqs, resources.queue_urls[QUEUE]) == ["a", "b"]


def test_a_batch_is_at_most_the_batch_size(resources, sqs):
    send(sqs, resources.queue_urls[QUEUE], *[f"k{i}" for i in range(5)])
    consumer = Consumer()
    small = poller(sqs, resources, consumer, batch_size=2)
    while small.poll_once():
        pass
    assert [len(event["Records"]) for event in consumer.events] == [2, 2, 1]
    assert sum(consumer.effects.values()) == 5


def test_a_poison_message_reaches_the_dlq_and_redrive_brings_it_back_for_exactly_one_effect(resources, sqs):
    # Given a poison message among good ones, and a consumer that cannot process it yet
    queue_url, dlq_url = resources.queue_urls[QUEUE], resources.queue_urls[f"{QUEUE}-dlq"]
    send(sqs, queue_url, "good", "poison")
    consumer = Consumer(failing={"poison"})
    mapping = poller(sqs, resources, consumer)
    # When the poller keeps polling until the queue is empty
    while mapping.poll_once():
        pass
    # Then the poison message was delivered maxReceiveCount times and now sits in the DLQ
    assert consumer.deliveries["poison"] == MAX_RECEIVES
    assert bodies(sqs, queue_url) == [] and bodies(sqs, dlq_url) == ["poison"]

    # Given the consumer is fixed
    consumer.failing.clear()
    # When the DLQ is replayed, twice (a replay run again by mistake must be harmless)
    assert redrive(sqs, dlq_url, queue_url) == 1
    assert redrive(sqs, dlq_url, queue_url) == 0
    while mapping.poll_once():
        pass
    # Then the message was processed with exactly one effect and both queues are empty
    assert consumer.effects == Counter({"good": 1, "poison": 1})
    assert bodies(sqs, queue_url) == [] and bodies(sqs, dlq_url) == []


def test_redrive_keeps_the_message_attributes(resources, sqs):
    queue_url, dlq_url = resources.queue_urls[QUEUE], resources.queue_urls[f"{QUEUE}-dlq"]
    send(sqs, dlq_url, "x")
    redrive(sqs, dlq_url, queue_url)
    message = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"][0]
    assert message["MessageAttributes"]["kind"]["StringValue"] == "test"


def test_a_running_poller_thread_delivers_and_stops(resources, sqs):
    # Given a poller running in its own thread
    consumer = Consumer()
    running = SqsPoller(sqs, resources.queue_urls[QUEUE], consumer, wait_seconds=1)
    running.start()
    try:
        # When a message arrives
        send(sqs, resources.queue_urls[QUEUE], "live")
        deadline = time.monotonic() + 5
        while not consumer.effects and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        running.stop()
    # Then it was delivered, and the poller stopped
    assert consumer.effects == Counter({"live": 1})
    assert not running.is_alive()


# --- DynamoDB streams --------------------------------------------------------------------------


class StreamConsumer:
    """Fails the records whose upload_id it is told to; remembers what it was given."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.failing = set(failing)
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        ids = [record["dynamodb"]["NewImage"]["upload_id"]["S"] for record in event["Records"]]
        self.batches.append(ids)
        return {
            "batchItemFailures": [
                {"itemIdentifier": record["dynamodb"]["SequenceNumber"]}
                for record, upload_id in zip(event["Records"], ids, strict=True)
                if upload_id in self.failing
            ]
        }


def put_uploads(table: str, *upload_ids: str) -> None:
    dynamodb = boto3.Session().client("dynamodb")
    for upload_id in upload_ids:
        dynamodb.put_item(TableName=table, Item={"device_id": {"S": "dev_1"}, "upload_id": {"S": upload_id}})


def stream_poller(resources, consumer, retry_attempts: int = 2) -> StreamPoller:
    session = boto3.Session()
    return StreamPoller(
        session.client("dynamodb"),
        session.client("dynamodbstreams"),
        session.client("sqs"),
        resources.tables["uploads"],
        consumer,
        on_failure_queue_url=resources.queue_urls["upload-outbox-failures"],
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:telehub-test-upload-outbox",
        retry_attempts=retry_attempts,
        retry_delay_seconds=0,
    )


def drain(poller: StreamPoller) -> None:
    while poller.poll_once():
        pass


def test_the_stream_poller_retries_from_the_first_failed_record(resources):
    # Given three stored uploads and a consumer that fails the second once
    put_uploads(resources.tables["uploads"], "u1", "u2", "u3")
    consumer = StreamConsumer(failing={"u2"})
    poller = stream_poller(resources, consumer)
    # When the poller reads the stream, and the failure clears before the retry
    poller.poll_once()
    consumer.failing.clear()
    drain(poller)
    # Then the retry started at the failed record: u1 was not delivered again
    assert consumer.batches == [["u1", "u2", "u3"], ["u2", "u3"]]


def test_the_stream_poller_gives_up_after_the_retries_and_reports_to_the_on_failure_queue(resources, sqs):
    # Given a record that always fails, followed by a good one
    put_uploads(resources.tables["uploads"], "poison")
    consumer = StreamConsumer(failing={"poison"})
    poller = stream_poller(resources, consumer, retry_attempts=2)
    # When the poller has used up its retries
    drain(poller)
    put_uploads(resources.tables["uploads"], "after")
    drain(poller)
    # Then the record was tried 1 + 2 times, the poller moved on, and the failure was reported
    assert consumer.batches == [["poison"]] * 3 + [["after"]]
    messages = sqs.receive_message(QueueUrl=resources.queue_urls["upload-outbox-failures"])["Messages"]
    failure = json.loads(messages[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["functionArn"].endswith("telehub-test-upload-outbox")
    info = failure["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert info["streamArn"] == poller.stream_arn and info["shardId"]


def test_the_stream_poller_passes_only_the_event_names_of_its_filter(resources):
    # Given an insert followed by an update of the same item
    table = resources.tables["uploads"]
    put_uploads(table, "u1")
    boto3.Session().client("dynamodb").update_item(
        TableName=table,
        Key={"device_id": {"S": "dev_1"}, "upload_id": {"S": "u1"}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "changed"}},
    )
    consumer = StreamConsumer()
    # When the poller (filtering on INSERT) reads the stream
    drain(stream_poller(resources, consumer))
    # Then only the insert was delivered, as a Lambda DynamoDB record
    assert consumer.batches == [["u1"]]


def test_the_stream_poller_passes_only_keys_with_the_prefix_of_its_filter(resources):
    # Given three inserts, one of which has a key outside the prefix (as an episode's META beside its ORDERs)
    put_uploads(resources.tables["uploads"], "order-1", "meta", "order-2")
    consumer = StreamConsumer()
    session = boto3.Session()
    poller = StreamPoller(
        session.client("dynamodb"), session.client("dynamodbstreams"), session.client("sqs"),
        resources.tables["uploads"], consumer,
        on_failure_queue_url=resources.queue_urls["upload-outbox-failures"],
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:telehub-test-outbox",
        key_prefix=("upload_id", "order-"), retry_delay_seconds=0,
    )
    # When the poller reads the stream, Then only the keys with the prefix were delivered
    drain(poller)
    assert consumer.batches == [["order-1", "order-2"]]


def cancelled_transaction(table: str, *upload_ids: str, existing: str) -> None:
    """A transaction putting new uploads and ``existing`` again on the condition that it does not exist:
    DynamoDB cancels it (as it cancels a retry of a transaction whose reply was lost) and writes none."""
    dynamodb = boto3.Session().client("dynamodb")
    puts = [{"Put": {"TableName": table, "Item": {"device_id": {"S": "dev_1"}, "upload_id": {"S": upload_id}},
                     "ConditionExpression": "attribute_not_exists(upload_id)"}}
            for upload_id in (*upload_ids, existing)]
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=puts)
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"


def test_a_cancelled_transaction_does_not_cut_the_stream_poller_off(resources):
    # Given a poller that has read the stream
    table = resources.tables["uploads"]
    put_uploads(table, "u1")
    consumer = StreamConsumer()
    poller = stream_poller(resources, consumer)
    drain(poller)
    # When a transaction on the table is cancelled, and then an upload is stored
    cancelled_transaction(table, "never-written", existing="u1")
    put_uploads(table, "u2")
    drain(poller)
    # Then the poller delivered the stored upload, and nothing of the cancelled transaction
    # (moto's own rollback put a copy of the table, and of its stream, in its place: the poller read on in
    # the old stream, which never got u2, and delivered never-written; embedded/moto_transactions.py)
    assert consumer.batches == [["u1"], ["u2"]]


class FailingOnce:
    """A streams client whose next ``operation`` fails once (a lost connection, an expired iterator)."""

    def __init__(self, streams: Any, operation: str) -> None:
        self._streams = streams
        self.failing = operation
        self.iterator_types: list[str] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._streams, name)
        if name == self.failing:
            self.failing = ""
            raise ConnectionError(f"{name} failed")
        if name != "get_shard_iterator":
            return call

        def iterator(**request: Any) -> Any:
            self.iterator_types.append(request["ShardIteratorType"])
            return call(**request)

        return iterator


def test_a_stream_poller_whose_read_failed_resumes_after_its_checkpoint_with_a_new_iterator(resources):
    # Given a poller that has delivered u1
    table = resources.tables["uploads"]
    put_uploads(table, "u1")
    consumer = StreamConsumer()
    poller = stream_poller(resources, consumer)
    drain(poller)
    streams = poller.streams = FailingOnce(poller.streams, "get_records")
    put_uploads(table, "u2")
    # When its next read fails
    with pytest.raises(ConnectionError):
        poller.poll_once()
    drain(poller)
    # Then it read again after the last record it had done, with a new iterator: u2 once, u1 not again
    assert consumer.batches == [["u1"], ["u2"]]
    assert streams.iterator_types == ["AFTER_SEQUENCE_NUMBER"]


def test_a_stream_poller_whose_first_look_at_the_stream_failed_looks_again(resources):
    # Given a stored upload and a poller whose first DescribeStream fails
    put_uploads(resources.tables["uploads"], "u1")
    consumer = StreamConsumer()
    poller = stream_poller(resources, consumer)
    poller.streams = FailingOnce(poller.streams, "describe_stream")
    # When it polls, fails, and polls again
    with pytest.raises(ConnectionError):
        poller.poll_once()
    drain(poller)
    # Then it found the shard and delivered the upload
    assert consumer.batches == [["u1"]]


# --- from the spec -----------------------------------------------------------------------------

CONSUMED: list[tuple[dict[str, Any], Any]] = []


def measurement_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A consumer as later issues will add one; the poller finds it by its dotted path."""
    CONSUMED.append((event, context))
    return {"batchItemFailures": []}


def test_every_function_with_a_queue_or_stream_source_gets_a_poller(resources, sqs, function_runtime):
    # Given the spec with a test consumer of the measurements queue in place of the evaluator
    consumer = FunctionSpec(
        id="measurement-consumer",
        handler=f"{__name__}.measurement_consumer",
        description="test",
        queue_source=QueueSource(queue=QUEUE),
    )
    others = tuple(function for function in SPEC.functions if function.id != "alarm-evaluation")
    spec = dataclasses.replace(SPEC, functions=(*others, consumer))
    # When the embedded mode builds its pollers
    pollers = spec_pollers(
        spec, resources, function_runtime, boto3.Session(), "eu-west-1"
    )
    # Then there is one for each outbox's stream, one for each outbox's on-failure queue's recovery,
    # one for each queue's consumer and one for the missed-measurement schedule
    assert sorted(p.name for p in pollers) == [
        "alarm-outbox-recovery<-sqs:alarm-outbox-failures",
        "alarm-outbox<-stream:evaluations",
        "episode-outbox-recovery<-sqs:episode-outbox-failures",
        "episode-outbox<-stream:episodes",
        "evaluation-outbox-recovery<-sqs:evaluation-outbox-failures",
        "evaluation-outbox<-stream:evaluations",
        "measurement-consumer<-sqs:measurements",
        "missed-measurements<-schedule:rate(15 minutes)",
        "sharing-publisher<-sqs:evaluated-uploads",
        "upload-outbox-recovery<-sqs:upload-outbox-failures",
        "upload-outbox<-stream:uploads",
    ]
    # And the queue's poller invokes the consumer with a batch and a Lambda context
    send(sqs, resources.queue_urls[QUEUE], "m1")
    queue_poller = next(p for p in pollers if p.name == "measurement-consumer<-sqs:measurements")
    assert queue_poller.poll_once()
    event, context = CONSUMED[-1]
    assert [json.loads(r["body"])["key"] for r in event["Records"]] == ["m1"]
    assert context.function_name == "telehub-test-measurement-consumer"
    assert bodies(sqs, resources.queue_urls[QUEUE]) == []
