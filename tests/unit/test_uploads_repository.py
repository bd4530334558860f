"""The uploads table's adapters (repository.py) as the outbox recovery uses them: the stream read by
position, and uploads found by arrival, with fake boto3 clients."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.device_uploads import repository as repository_module
from functions.device_uploads.logic import StreamRecord, StreamRecordsGone
from functions.device_uploads.repository import ARRIVAL_INDEX, DynamoDbStreamShards, DynamoDbUploadRepository
from functions.shared.errors import ServiceUnavailable
from infrastructure.resource_spec import SPEC, Key

STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-uploads/stream/2024-04-02T09:14:05"
TABLE = "telehub-dev-uploads"


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


class FakeDynamoDb:
    """Serves the arrival index's keys, and BatchGetItem leaving keys unprocessed ``unprocessed`` times."""

    def __init__(self, keys: list[dict[str, Any]], unprocessed: int = 0):
        self.keys, self.unprocessed = keys, unprocessed
        self.queries: list[dict[str, Any]] = []
        self.batch_gets: list[list[dict[str, Any]]] = []

    def get_paginator(self, operation: str):
        assert operation == "query"
        fake = self

        class Pages:
            def paginate(self, **request):
                fake.queries.append(request)
                return [{"Items": fake.keys[:1]}, {"Items": fake.keys[1:]}]

        return Pages()

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's parameter name
        keys = RequestItems[TABLE]["Keys"]
        self.batch_gets.append(keys)
        if self.unprocessed:
            self.unprocessed -= 1
            return {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": keys}}}
        items = [{**key, "patient_id": {"S": "pat_1"}} for key in keys]
        return {"Responses": {TABLE: items}, "UnprocessedKeys": {}}


@pytest.fixture
def clients(monkeypatch):
    installed: dict[str, Any] = {}
    monkeypatch.setattr(repository_module.aws, "client", lambda service: installed[service])
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


def test_uploads_of_an_hour_are_found_by_the_arrival_index_and_read_whole(clients):
    # Given the index holding two uploads' keys, and BatchGetItem leaving them unprocessed once
    keys = [{"device_id": {"S": "dev_1"}, "upload_id": {"S": f"u{n}"}} for n in range(2)]
    arrival = {"received_hour": {"S": "2024-05-01T08"}, "received_at": {"S": "2024-05-01T08:05:00.000Z"}}
    index_entries = [{**key, **arrival} for key in keys]
    clients["dynamodb"] = dynamodb = FakeDynamoDb(index_entries, unprocessed=1)
    # When the uploads received in an hour's window are asked for
    items = DynamoDbUploadRepository(TABLE).received_in_hour(
        "2024-05-01T08", "2024-05-01T08:04:01.000Z", "2024-05-01T08:06:03.000Z"
    )
    # Then the index was queried for that hour and window, and the items read (retrying what was left)
    query = dynamodb.queries[0]
    assert query["IndexName"] == "by-received-hour"
    assert query["ExpressionAttributeValues"] == {
        ":hour": {"S": "2024-05-01T08"}, ":since": {"S": "2024-05-01T08:04:01.000Z"},
        ":until": {"S": "2024-05-01T08:06:03.000Z"},
    }
    assert dynamodb.batch_gets == [keys, keys]
    assert items == [{"device_id": "dev_1", "upload_id": f"u{n}", "patient_id": "pat_1"} for n in range(2)]


def test_keys_left_unread_again_and_again_are_a_retryable_failure(clients):
    keys = [{"device_id": {"S": "dev_1"}, "upload_id": {"S": "u1"}}]
    clients["dynamodb"] = FakeDynamoDb(keys, unprocessed=99)
    with pytest.raises(ServiceUnavailable):
        DynamoDbUploadRepository(TABLE).received_in_hour("2024-05-01T08", "a", "b")


def test_the_arrival_index_queried_is_the_one_the_resource_spec_builds():
    # Given the uploads table of the spec, Then it has the index the code queries, keyed as queried
    [index] = [index for index in SPEC.table("uploads").indexes if index.name == ARRIVAL_INDEX]
    assert (index.partition_key, index.sort_key) == (Key("received_hour"), Key("received_at"))
    # And keys only, which is why the code reads the items with BatchGetItem
    assert index.projection == "KEYS_ONLY"
