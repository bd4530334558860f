"""A table's DynamoDB stream, read by position (GetShardIterator, GetRecords): the stream reader of
``functions.shared.stream_recovery``."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.stream_recovery import StreamRecord, StreamRecordsGone

_deserializer = TypeDeserializer()


class DynamoDbStreamShards:
    # The stream cannot give the range: trimmed (records live 24 hours), the shard or the stream
    # deleted, or a position older than its 15 minutes. The table has the items anyway.
    _GONE = frozenset({"TrimmedDataAccessException", "ResourceNotFoundException", "ExpiredIteratorException"})

    def iterator_at(self, stream_arn: str, shard_id: str, sequence_number: str) -> str:
        iterator: str = self._call(
            "get_shard_iterator",
            StreamArn=stream_arn,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=sequence_number,
        )["ShardIterator"]
        return iterator

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
            response: dict[str, Any] = getattr(aws.client("dynamodbstreams"), operation)(**request)
            return response
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in self._GONE:
                raise StreamRecordsGone(code) from error
            raise


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
