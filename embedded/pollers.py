"""Pollers that feed SQS queues and DynamoDB streams to handlers like Lambda's event source mappings, and
invoke scheduled functions like their EventBridge rules.

SQS: receive up to a batch, invoke, delete what succeeded, leave failures for redelivery (and, after
the queue's maxReceiveCount, for SQS to move them to the DLQ). DynamoDB streams: read every shard in
order, invoke with the records the mapping's filter lets through, retry from the first failed record
up to the retry limit, then send a failure record to the on-failure queue and move on.
Both honour partial batch responses (``batchItemFailures``), as Telehub's mappings enable them.
Schedules: a scheduled event every period, the first one period after the start.

A poll that raises is logged (the error's type and stack, never its message) and counted, and the poller
goes on; a stream poller then reads again from its checkpoint. Its thread ends only when stopped.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from embedded import moto_transactions
from embedded.lambda_runtime import ACCOUNT_ID, FunctionRuntime, Invoke, describe_failure
from infrastructure.resource_spec import ResourceNames, ResourceSpec

log = logging.getLogger("telehub.pollers")

SQS_RECEIVE_LIMIT = 10  # per ReceiveMessage call


class Poller:
    """A stoppable polling thread that sleeps briefly whenever a poll found nothing to do."""

    def __init__(self, name: str, idle_seconds: float) -> None:
        self.name = name
        self.idle_seconds = idle_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failed_polls = 0  # polls that raised (logged); the poller went on

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    worked = self.poll_once()
                except Exception as error:  # a poller outlives a failing poll, as a source mapping does
                    self.failed_polls += 1
                    log.error("%s: poll failed: %s", self.name, describe_failure(error))
                    worked = False
                if not worked:
                    self._stopping.wait(self.idle_seconds)
        finally:
            if not self._stopping.is_set():  # only a BaseException gets here: say so, or it goes quiet
                log.critical("%s: the poller thread ended without being stopped", self.name)

    def poll_once(self) -> bool:
        """Do one round of work; return whether there was any."""
        raise NotImplementedError

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


def failed_identifiers(result: Any, identifiers: Sequence[str]) -> set[str]:
    """Which records of a batch failed, read as Lambda reads a partial batch response.

    No response or no failures: all succeeded. A malformed response, or an identifier that is not
    in the batch: the whole batch failed.
    """
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(identifiers)
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return set(identifiers)
    failed = {failure.get("itemIdentifier") if isinstance(failure, dict) else None for failure in failures}
    batch = set(identifiers)
    return batch & failed if failed <= batch else batch


def _invoke_batch(name: str, invoke: Invoke, event: dict[str, Any], identifiers: Sequence[str]) -> set[str]:
    try:
        result = invoke(event)
    except Exception as error:  # a function error fails the whole batch
        log.error("%s: batch of %d failed: %s", name, len(identifiers), describe_failure(error))
        return set(identifiers)
    return failed_identifiers(result, identifiers)


# --- SQS ---------------------------------------------------------------------------------------


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of the SQS event Lambda sends, from a ReceiveMessage result."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


class SqsPoller(Poller):
    """Lambda's SQS event source mapping for one queue, with ReportBatchItemFailures.

    Failed messages are made visible again after ``retry_visibility_seconds`` rather than after the
    queue's visibility timeout, so that a poison message reaches the DLQ within seconds locally.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        invoke: Invoke,
        *,
        batch_size: int = 10,
        max_batching_window_seconds: float = 0,
        wait_seconds: int = 1,
        retry_visibility_seconds: int = 2,
        region: str = "eu-west-1",
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"sqs-poller:{queue_url.rsplit('/', 1)[-1]}", idle_seconds=0.1)
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        self.max_batching_window_seconds = max_batching_window_seconds
        self.wait_seconds = wait_seconds
        self.retry_visibility_seconds = retry_visibility_seconds
        self.region = region
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]

    def poll_once(self) -> bool:
        messages = self._receive_batch()
        if not messages:
            return False
        event = {"Records": [sqs_record(message, self.queue_arn, self.region) for message in messages]}
        failed = _invoke_batch(self.name, self.invoke, event, [m["MessageId"] for m in messages])
        self._delete_succeeded([m for m in messages if m["MessageId"] not in failed])
        self._release_failed([m for m in messages if m["MessageId"] in failed])
        return True

    def _receive_batch(self) -> list[dict[str, Any]]:
        """Up to batch_size messages: the first that arrive, plus more within the batching window."""
        messages: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(messages) < self.batch_size and not self.stopping:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(SQS_RECEIVE_LIMIT, self.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages += received
            if not messages:
                return []
            window_ends = window_ends or time.monotonic() + self.max_batching_window_seconds
            if time.monotonic() >= window_ends:
                break
            if not received:
                self._stopping.wait(0.05)
        return messages

    def _delete_succeeded(self, messages: list[dict[str, Any]]) -> None:
        for chunk in _chunks(messages, SQS_RECEIVE_LIMIT):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)
                ],
            )

    def _release_failed(self, messages: list[dict[str, Any]]) -> None:
        for chunk in _chunks(messages, SQS_RECEIVE_LIMIT):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_visibility_seconds,
                    }
                    for index, m in enumerate(chunk)
                ],
            )


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- DynamoDB streams --------------------------------------------------------------------------


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One record of the DynamoDB stream event Lambda sends, from a GetRecords result."""
    return {**_json_ready(record), "eventSourceARN": stream_arn, "awsRegion": region}


def _json_ready(value: Any) -> Any:
    """boto3's parsed values back to the wire's JSON: bytes base64, timestamps epoch seconds."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_ready(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


@dataclass
class _ShardPosition:
    """Where the mapping is in a shard. The checkpoint says where the next read starts (an iterator type and
    a sequence number); the iterator (None: ask for one at the checkpoint) is only the way there."""

    checkpoint: tuple[str, str | None] = ("TRIM_HORIZON", None)
    iterator: str | None = None
    retrying_from: str | None = None  # the sequence number the current retries start at
    retries: int = 0


class StreamPoller(Poller):
    """Lambda's DynamoDB stream event source mapping for one table, with ReportBatchItemFailures,
    a filter on event names, a retry limit and an on-failure destination (an SQS queue)."""

    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        sqs: Any,
        table_name: str,
        invoke: Invoke,
        *,
        on_failure_queue_url: str,
        function_arn: str,
        event_names: Sequence[str] = ("INSERT",),
        key_prefix: tuple[str, str] | None = None,
        batch_size: int = 100,
        retry_attempts: int = 10,
        retry_delay_seconds: float = 0.2,
        idle_seconds: float = 0.25,
        region: str = "eu-west-1",
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"stream-poller:{table_name}", idle_seconds=idle_seconds)
        self.streams = streams
        self.sqs = sqs
        self.invoke = invoke
        self.on_failure_queue_url = on_failure_queue_url
        self.function_arn = function_arn
        self.event_names = frozenset(event_names)
        self.key_prefix = key_prefix
        self.batch_size = batch_size
        self.retry_attempts = retry_attempts
        self.retry_delay_seconds = retry_delay_seconds
        self.region = region
        self.stream_arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        # moto's own transactions would cut a stream off from its readers whenever one is cancelled.
        moto_transactions.install()
        self._shards: dict[str, _ShardPosition] = {}
        self._finished_shards: set[str] = set()
        self._shards_changed = True  # at start, and whenever a shard ends (its children may be new)

    def poll_once(self) -> bool:
        self._discover_shards()
        worked = False
        for shard_id in list(self._shards):
            worked |= self._poll_shard(shard_id)
        return worked

    def _discover_shards(self) -> None:
        if not self._shards_changed:
            return
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self._shards and shard["ShardId"] not in self._finished_shards:
                self._shards[shard["ShardId"]] = _ShardPosition()
        self._shards_changed = False  # only once read: a failed read is tried again next poll

    def _poll_shard(self, shard_id: str) -> bool:
        position = self._shards[shard_id]
        try:
            return self._read_shard(shard_id, position)
        except Exception:
            # As Lambda resumes a shard after an error: from the checkpoint, with a new iterator (the old one
            # may have expired); records past the checkpoint come again, as they would in AWS.
            position.iterator = None
            raise

    def _read_shard(self, shard_id: str, position: _ShardPosition) -> bool:
        if position.iterator is None:
            position.iterator = self._iterator_at(shard_id, position.checkpoint)
        response = self.streams.get_records(ShardIterator=position.iterator, Limit=self.batch_size)
        records, next_iterator = response["Records"], response.get("NextShardIterator")
        batch = [record for record in records if self._matches(record)]
        if batch:
            failed = _invoke_batch(
                self.name,
                self.invoke,
                {"Records": [stream_record(record, self.stream_arn, self.region) for record in batch]},
                [record["dynamodb"]["SequenceNumber"] for record in batch],
            )
            if failed:
                retry_from = next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed)
                if self._retry(shard_id, position, batch[retry_from:]):
                    return True
        position.retrying_from, position.retries = None, 0
        if records:
            position.checkpoint = ("AFTER_SEQUENCE_NUMBER", records[-1]["dynamodb"]["SequenceNumber"])
        if next_iterator is None:
            del self._shards[shard_id]
            self._finished_shards.add(shard_id)
            self._shards_changed = True
        else:
            position.iterator = next_iterator
        return bool(records)

    def _iterator_at(self, shard_id: str, checkpoint: tuple[str, str | None]) -> str:
        iterator_type, sequence_number = checkpoint
        at = {} if sequence_number is None else {"SequenceNumber": sequence_number}
        iterator: str = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType=iterator_type, **at
        )["ShardIterator"]
        return iterator

    def _matches(self, record: dict[str, Any]) -> bool:
        """The mapping's filter: the event name, and the key prefix if the spec gives one."""
        if record["eventName"] not in self.event_names:
            return False
        if self.key_prefix is None:
            return True
        attribute, prefix = self.key_prefix
        key_value: str = record["dynamodb"]["Keys"].get(attribute, {}).get("S", "")
        return key_value.startswith(prefix)

    def _retry(self, shard_id: str, position: _ShardPosition, failed_batch: list[dict[str, Any]]) -> bool:
        """Re-read the shard from the first failed record; False once the retries are used up."""
        first = failed_batch[0]["dynamodb"]["SequenceNumber"]
        if position.retrying_from != first:
            position.retrying_from, position.retries = first, 0
        if position.retries < self.retry_attempts:
            position.retries += 1
            position.checkpoint, position.iterator = ("AT_SEQUENCE_NUMBER", first), None
            self._stopping.wait(self.retry_delay_seconds)
            return True
        self._report_failure(shard_id, failed_batch, invoke_count=position.retries + 1)
        return False

    def _report_failure(self, shard_id: str, failed_batch: list[dict[str, Any]], invoke_count: int) -> None:
        """What Lambda sends to an on-failure destination for a stream batch it gives up on."""
        arrivals = [record["dynamodb"].get("ApproximateCreationDateTime") for record in failed_batch]
        failure = {
            "requestContext": {
                "requestId": failed_batch[0]["eventID"],
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invoke_count,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": failed_batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": failed_batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrivals[0]),
                "approximateArrivalOfLastRecord": _iso(arrivals[-1]),
                "batchSize": len(failed_batch),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(failure))
        log.error(
            "%s: gave up on %d record(s) after %d invocations; reported to the on-failure queue",
            self.name,
            len(failed_batch),
            invoke_count,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(moment, datetime) else None


# --- schedules -----------------------------------------------------------------------------------


def scheduled_event(at: datetime, rule_arn: str, region: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends: its time is the scheduled time, to the second."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def schedule_rule_arn(function_name: str, region: str) -> str:
    return f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{function_name}-schedule"


class SchedulePoller(Poller):
    """An EventBridge schedule rule for one function: a scheduled event every ``period_seconds``, the
    first one period after the start (as a new rule's). A failed run is logged; the next comes anyway."""

    def __init__(
        self,
        invoke: Invoke,
        period_seconds: float,
        rule_arn: str,
        *,
        region: str = "eu-west-1",
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name or f"schedule:{rule_arn}", idle_seconds=min(1.0, period_seconds))
        self.invoke = invoke
        self.period_seconds = period_seconds
        self.rule_arn = rule_arn
        self.region = region
        self._clock = clock
        self._next_run = clock() + period_seconds

    def poll_once(self) -> bool:
        if self._clock() < self._next_run:
            return False
        self._next_run += self.period_seconds
        try:
            self.invoke(scheduled_event(datetime.now(UTC), self.rule_arn, self.region))
        except Exception as error:  # the rule invokes again next period, as Lambda's retries would
            log.error("%s: run failed: %s", self.name, describe_failure(error))
        return True


# --- from the spec -----------------------------------------------------------------------------


def spec_pollers(
    spec: ResourceSpec,
    names: ResourceNames,
    runtime: FunctionRuntime,
    session: boto3.Session,
    region: str,
    retry_visibility_seconds: int = 2,
) -> list[Poller]:
    """A poller for every function the spec gives a queue or stream source or a schedule."""
    pollers: list[Poller] = []
    for function in spec.functions:
        if function.queue_source:
            source = function.queue_source
            pollers.append(
                SqsPoller(
                    session.client("sqs"),
                    names.queue_urls[source.queue],
                    runtime.invoker(function),
                    batch_size=source.batch_size,
                    max_batching_window_seconds=source.max_batching_window_seconds,
                    retry_visibility_seconds=retry_visibility_seconds,
                    region=region,
                    name=f"{function.id}<-sqs:{source.queue}",
                )
            )
        if function.stream_source:
            stream = function.stream_source
            pollers.append(
                StreamPoller(
                    session.client("dynamodb"),
                    session.client("dynamodbstreams"),
                    session.client("sqs"),
                    names.tables[stream.table],
                    runtime.invoker(function),
                    on_failure_queue_url=names.queue_urls[stream.on_failure_queue],
                    function_arn=runtime.arn(function),
                    event_names=stream.event_names,
                    key_prefix=stream.key_prefix,
                    batch_size=stream.batch_size,
                    retry_attempts=stream.retry_attempts,
                    region=region,
                    name=f"{function.id}<-stream:{stream.table}",
                )
            )
        if function.schedule:
            pollers.append(
                SchedulePoller(
                    runtime.invoker(function),
                    function.schedule.rate_minutes * 60,
                    schedule_rule_arn(runtime.physical_name(function), region),
                    region=region,
                    name=f"{function.id}<-schedule:{function.schedule.expression}",
                )
            )
    return pollers
