"""The uploads table (one item per upload, written once with a conditional PutItem) and its stream."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from functions.device_uploads.logic import StreamRecord, StreamRecordsGone
from functions.device_uploads.models import StoredUpload
from functions.shared import aws
from functions.shared.errors import ServiceUnavailable

# The uploads by arrival: partition received_hour, sort received_at, keys only (resource spec).
ARRIVAL_INDEX = "by-received-hour"
BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 5

# DynamoDB's answers that mean "try again later", not "this request is wrong".
_TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
})
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDbUploadRepository:
    def __init__(self, table_name: str):
        self._table_name = table_name

    def put_new(self, upload: StoredUpload) -> StoredUpload | None:
        """One conditional PutItem: the item is the upload, its idempotency record and (through
        the stream) its outbox entry, so it is stored whole or not at all. If the key exists,
        DynamoDB returns the stored item with the refusal, so a retry costs no second read."""
        try:
            aws.client("dynamodb").put_item(
                TableName=self._table_name,
                Item=_serialise(upload.item()),
                ConditionExpression="attribute_not_exists(upload_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return StoredUpload.from_item(_deserialise(error.response["Item"]))
            raise _unavailable_or(error) from error
        except (ConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable("the upload store is unreachable; retry the upload") from error
        return None

    def get(self, device_id: str, upload_id: str) -> StoredUpload | None:
        try:
            response = aws.client("dynamodb").get_item(
                TableName=self._table_name,
                Key=_serialise({"device_id": device_id, "upload_id": upload_id}),
                ConsistentRead=True,
            )
        except ClientError as error:
            raise _unavailable_or(error) from error
        except (ConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable("the upload store is unreachable; retry the upload") from error
        item = response.get("Item")
        return StoredUpload.from_item(_deserialise(item)) if item else None


    def received_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """The upload items received in ``hour`` between two instants: their keys from the arrival
        index (keys only, so an upload costs the index one small write), then the items."""
        dynamodb = aws.client("dynamodb")
        keys = [
            {"device_id": key["device_id"], "upload_id": key["upload_id"]}
            for page in dynamodb.get_paginator("query").paginate(
                TableName=self._table_name,
                IndexName=ARRIVAL_INDEX,
                KeyConditionExpression="received_hour = :hour AND received_at BETWEEN :since AND :until",
                ExpressionAttributeValues=_serialise({":hour": hour, ":since": since, ":until": until}),
            )
            for key in page["Items"]
        ]
        items = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            items += self._get_many(keys[start:start + BATCH_GET_LIMIT])
        return items

    def _get_many(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(BATCH_GET_ATTEMPTS):
            response = aws.client("dynamodb").batch_get_item(
                RequestItems={self._table_name: {"Keys": keys}}
            )
            items += [_deserialise(item) for item in response["Responses"].get(self._table_name, [])]
            keys = response.get("UnprocessedKeys", {}).get(self._table_name, {}).get("Keys", [])
            if not keys:
                return items
        raise ServiceUnavailable("the upload store left keys unread; retry")


class DynamoDbStreamShards:
    """The uploads table's stream, read by position (GetShardIterator, GetRecords)."""

    # The stream cannot give the range: trimmed (records live 24 hours), the shard or the stream
    # deleted, or a position older than its 15 minutes. The uploads table has the items anyway.
    _GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"})

    def iterator_at(self, stream_arn: str, shard_id: str, sequence_number: str) -> str:
        return self._call(
            "get_shard_iterator",
            StreamArn=stream_arn,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=sequence_number,
        )["ShardIterator"]

    def records(self, iterator: str) -> tuple[list[StreamRecord], str | None]:
        response = self._call("get_records", ShardIterator=iterator)
        records = [
            StreamRecord(
                sequence_number=record["dynamodb"]["SequenceNumber"],
                event_name=record["eventName"],
                new_image=_deserialise(record["dynamodb"]["NewImage"]) if "NewImage" in record["dynamodb"]
                else None,
            )
            for record in response["Records"]
        ]
        return records, response.get("NextShardIterator")

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            return getattr(aws.client("dynamodbstreams"), operation)(**request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in self._GONE:
                raise StreamRecordsGone(code) from error
            raise


def _unavailable_or(error: ClientError) -> Exception:
    if error.response["Error"]["Code"] in _TRANSIENT_CODES:
        return ServiceUnavailable("the upload store is busy; retry the upload")
    return error


def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
