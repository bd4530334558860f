"""A moto account with the spec's resources, and what the functions left in it: a table's items and
stream, a queue's messages (a topic's, through a queue subscribed to it), read as a test reads them; and
SQS throttling the functions' sends, or recording them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from embedded.resources import create_resources
from functions.shared import aws
from functions.shared.batch_requests import message_bytes
from infrastructure.resource_spec import SPEC, ResourceNames, ResourceSpec


@contextmanager
def moto_account(stage: str, spec: ResourceSpec = SPEC) -> Iterator[ResourceNames]:
    """A fresh moto account with the spec's tables, queues, topics and keys while the block runs; the
    adapters' cached clients are dropped on the way in and out, so none outlives its account."""
    with mock_aws():
        aws.reset()
        try:
            yield create_resources(boto3.Session(), stage=stage, spec=spec)
        finally:
            aws.reset()
    # No endpoint a test pointed the clients at outlives its account.
    os.environ.pop("AWS_ENDPOINT_URL", None)


def table_items(names: ResourceNames, table: str) -> list[dict[str, Any]]:
    """Every item of a table of the spec, in DynamoDB JSON."""
    return boto3.Session().client("dynamodb").scan(TableName=names.tables[table])["Items"]


@dataclass(frozen=True)
class TableStream:
    """A table's stream as moto holds it: its ARN, its one shard, and every record so far as GetRecords
    gives them (DynamoDB JSON)."""

    arn: str
    shard_id: str
    records: list[dict[str, Any]]


def table_stream(table_name: str) -> TableStream:
    dynamodb, streams = boto3.Session().client("dynamodb"), boto3.Session().client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return TableStream(arn, shard["ShardId"], streams.get_records(ShardIterator=iterator)["Records"])


def subscribed_queue(topic_arn: str, queue_name: str, filter_policy: dict[str, Any] | None = None) -> str:
    """A new queue subscribed to the topic (raw delivery: each message as published), receiving only what
    ``filter_policy`` (on message attributes) lets through, if given; its URL, for ``queued_messages``."""
    sqs = boto3.Session().client("sqs")
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    attributes = {"RawMessageDelivery": "true"}
    if filter_policy:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    boto3.Session().client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                                            Attributes=attributes)
    return queue_url


def queued_messages(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue (received once, so each is seen once), body parsed."""
    sqs = boto3.Session().client("sqs")
    messages = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += [{"body": json.loads(m["Body"]), "attributes": m["MessageAttributes"]} for m in batch]
    return messages


class Throttle:
    """SendMessageBatch from the functions throttled on the given calls (1-based; None: every call)
    until lifted; the other calls reach moto."""

    def __init__(self, monkeypatch: Any, failing_calls: set[int] | None = None):
        self.calls: list[int] = []
        self.failing_calls, self.lifted = failing_calls, False
        sqs = aws.client("sqs")
        self._send = sqs.send_message_batch
        monkeypatch.setattr(sqs, "send_message_batch", self._throttled)

    def lift(self) -> None:
        self.lifted = True

    def _throttled(self, **request: Any) -> Any:
        self.calls.append(len(request["Entries"]))
        if not self.lifted and (self.failing_calls is None or len(self.calls) in self.failing_calls):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                              "SendMessageBatch")
        return self._send(**request)


class SentBatches:
    """Every SendMessageBatch request the functions make, as the bytes of each of its messages (bodies and
    attributes, as SQS counts them); each request goes on to moto, which refuses one over SQS's limits."""

    def __init__(self, monkeypatch: Any):
        self.requests: list[list[int]] = []
        sqs = aws.client("sqs")
        self._send = sqs.send_message_batch
        monkeypatch.setattr(sqs, "send_message_batch", self._recorded)

    def _recorded(self, **request: Any) -> Any:
        self.requests.append([message_bytes(entry["MessageBody"], entry.get("MessageAttributes", {}))
                              for entry in request["Entries"]])
        return self._send(**request)
