"""Create Telehub's resources with boto3 from the resource specification.

Used by the embedded mode (against its moto server) and by the integration tests (under
``moto.mock_aws``), so both run against the same tables, queues and keys the CDK stack defines.
moto's CloudFormation skips subscriptions and queue policies, hence boto3 rather than the template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from infrastructure.resource_spec import SPEC, Key, ResourceNames, ResourceSpec, TableSpec


def physical_name(stage: str, resource_id: str) -> str:
    return f"telehub-{stage}-{resource_id}"


def create_resources(
    session: boto3.Session, stage: str = "local", spec: ResourceSpec = SPEC
) -> ResourceNames:
    dynamodb, sqs, sns, kms = (session.client(name) for name in ("dynamodb", "sqs", "sns", "kms"))
    tables = {}
    for table in spec.tables:
        tables[table.id] = physical_name(stage, table.id)
        dynamodb.create_table(TableName=tables[table.id], **table_definition(table))
    queue_urls = {}
    for queue in spec.queues:
        dlq_url = sqs.create_queue(QueueName=physical_name(stage, queue.dlq_id))["QueueUrl"]
        dlq_attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        dlq_arn = dlq_attributes["Attributes"]["QueueArn"]
        queue_urls[queue.dlq_id] = dlq_url
        queue_urls[queue.id] = sqs.create_queue(
            QueueName=physical_name(stage, queue.id),
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_seconds(queue.id)),
                "MessageRetentionPeriod": str(queue.retention_days * 86400),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )["QueueUrl"]
    topic_arns = {
        topic.id: sns.create_topic(Name=physical_name(stage, topic.id))["TopicArn"] for topic in spec.topics
    }
    for subscription in spec.subscriptions:
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_urls[subscription.queue], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true"}
        if subscription.filter_policy:
            attributes["FilterPolicy"] = json.dumps(subscription.filter_policy)
        sns.subscribe(
            TopicArn=topic_arns[subscription.topic], Protocol="sqs", Endpoint=queue_arn, Attributes=attributes
        )
    key_ids = {
        key.id: kms.create_key(KeySpec=key.key_spec, KeyUsage=key.usage, Description=key.purpose)
        ["KeyMetadata"]["KeyId"]
        for key in spec.keys
    }
    for key in spec.keys:
        if key.key_spec == "SYMMETRIC_DEFAULT":  # as the stack's: KMS rotates symmetric keys only
            kms.enable_key_rotation(KeyId=key_ids[key.id])
    return ResourceNames(tables=tables, queue_urls=queue_urls, topic_arns=topic_arns, key_ids=key_ids)


def table_definition(table: TableSpec) -> dict[str, Any]:
    """CreateTable arguments for a table of the spec (on-demand, as in the stack)."""
    keys = [table.partition_key, *([table.sort_key] if table.sort_key else [])]
    for index in table.indexes:
        keys += [index.partition_key, *([index.sort_key] if index.sort_key else [])]
    definition: dict[str, Any] = {
        "KeySchema": _key_schema(table.partition_key, table.sort_key),
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in {k.name: k.type for k in keys}.items()
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.partition_key, index.sort_key),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in table.indexes
        ]
    if table.stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream}
    return definition


def _key_schema(partition_key: Key, sort_key: Key | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition_key.name, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key.name, "KeyType": "RANGE"})
    return schema
