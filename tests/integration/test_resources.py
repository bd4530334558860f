"""The resources the integration tests and the embedded mode create match the spec."""

from __future__ import annotations

import json

import boto3

from infrastructure.resource_spec import SPEC


def test_every_queue_has_a_dead_letter_queue_with_a_bounded_receive_count(resources):
    # Given the resources created from the spec
    sqs = boto3.Session().client("sqs")
    for queue in SPEC.queues:
        # When the queue's redrive policy is read back
        attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_urls[queue.id], AttributeNames=["All"])
        policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
        # Then it points at the queue's own DLQ, with at most 5 receives
        assert policy["deadLetterTargetArn"].endswith(f"telehub-test-{queue.dlq_id}")
        assert int(policy["maxReceiveCount"]) <= 5


def test_tables_have_the_key_schema_of_the_spec(resources):
    dynamodb = boto3.Session().client("dynamodb")
    for table in SPEC.tables:
        described = dynamodb.describe_table(TableName=resources.tables[table.id])["Table"]
        assert described["KeySchema"][0] == {"AttributeName": table.partition_key.name, "KeyType": "HASH"}
        assert bool(described.get("StreamSpecification", {}).get("StreamEnabled")) == bool(table.stream)
