"""The stream reader of the outbox recoveries (functions.shared.stream_shards), with a fake boto3 client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import stream_shards as stream_shards_module
from functions.shared.stream_recovery import StreamRecord, StreamRecordsGone
from functions.shared.stream_shards import DynamoDbStreamShards

STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-uploads/stream/2024-04-02T09:14:05"


def _refusal(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


class FakeStreams:
    def __init__(self, error: ClientError | None = None):
        self.error = error
        self.requests: list[dict[str, Any]] = []

    def get_shard_iterator(self, **request):
        self.requests.append(request)
        if self.error:
            raise self.error
        return {"ShardIterator": "iterator-1"}

    def get_records(self, **request):
        self.requests.append(request)
        return {
            "Records": [
                {"eventName": "INSERT", "dynamodb": {
                    "SequenceNumber": "100", "NewImage": {"upload_id": {"S": "u1"}, "accepted": {"N": "2"}},
                }},
                {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "101"}},
            ],
            "NextShardIterator": "iterator-2",
        }


@pytest.fixture
def clients(monkeypatch):
    installed: dict[str, Any] = {}
    monkeypatch.setattr(stream_shards_module.aws, "client", lambda service: installed[service])
    return installed


def test_the_stream_is_read_at_the_batch_position_and_its_items_deserialised(clients):
    # Given the stream
    clients["dynamodbstreams"] = streams = FakeStreams()
    shards = DynamoDbStreamShards()
    # When a position is asked for and its page read
    iterator = shards.iterator_at(STREAM_ARN, "shardId-1", "100")
    records, following = shards.records(iterator)
    # Then the position is AT the sequence number, and the records come typed, images as Python values
    assert streams.requests[0] == {"StreamArn": STREAM_ARN, "ShardId": "shardId-1",
                                   "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": "100"}
    assert records == [StreamRecord("100", "INSERT", {"upload_id": "u1", "accepted": 2}),
                       StreamRecord("101", "REMOVE", None)]
    assert following == "iterator-2"


@pytest.mark.parametrize("code", ["TrimmedDataAccessException", "ResourceNotFoundException",
                                  "ExpiredIteratorException"])
def test_a_position_the_stream_no_longer_has_is_reported_gone(clients, code):
    clients["dynamodbstreams"] = FakeStreams(_refusal(code, "GetShardIterator"))
    with pytest.raises(StreamRecordsGone, match=code):
        DynamoDbStreamShards().iterator_at(STREAM_ARN, "shardId-1", "100")


@pytest.mark.parametrize("code", ["LimitExceededException", "InternalServerError", "AccessDeniedException"])
def test_any_other_refusal_is_raised_as_it_is_so_the_message_is_retried(clients, code):
    clients["dynamodbstreams"] = FakeStreams(_refusal(code, "GetShardIterator"))
    with pytest.raises(ClientError, match=code):
        DynamoDbStreamShards().iterator_at(STREAM_ARN, "shardId-1", "100")
