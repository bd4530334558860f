"""The uploads table's adapter (repository.py) as the outbox recovery uses it: uploads found by
arrival, with fake boto3 clients."""

from __future__ import annotations

from typing import Any

import pytest

from functions.device_uploads import repository as repository_module
from functions.device_uploads.models import received_hour
from functions.device_uploads.repository import ARRIVAL_INDEX, DynamoDbUploadRepository
from functions.shared.errors import ServiceUnavailable
from functions.shared.hour_shards import HOUR_SHARDS, hour_partitions, shard_of
from infrastructure.resource_spec import SPEC, Key

STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-uploads/stream/2024-04-02T09:14:05"
TABLE = "telehub-dev-uploads"


class FakeDynamoDb:
    """Serves the arrival index's entries of the partition queried, one per page, and BatchGetItem leaving
    keys unprocessed ``unprocessed`` times."""

    def __init__(self, entries: list[dict[str, Any]], unprocessed: int = 0):
        self.entries, self.unprocessed = entries, unprocessed
        self.queries: list[dict[str, Any]] = []
        self.batch_gets: list[list[dict[str, Any]]] = []

    def get_paginator(self, operation: str):
        assert operation == "query"
        fake = self

        class Pages:
            def paginate(self, **request):
                fake.queries.append(request)
                partition = request["ExpressionAttributeValues"][":hour"]
                return [{"Items": [entry]} for entry in fake.entries if entry["received_hour"] == partition]

        return Pages()

    def batch_get_item(self, RequestItems):  # boto3's parameter name
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


def _entry(upload_id: str, hour: str = "2024-05-01T08") -> dict[str, Any]:
    """The arrival index's entry of an upload of dev_1 received in ``hour``, as the upload's item keys it."""
    received_at = f"{hour}:05:00.000Z"
    return {"device_id": {"S": "dev_1"}, "upload_id": {"S": upload_id}, "received_at": {"S": received_at},
            "received_hour": {"S": received_hour(received_at, "dev_1", upload_id)}}


def test_uploads_of_an_hour_are_found_by_the_arrival_index_and_read_whole(clients):
    # Given the index holding the keys of uploads in several of the hour's shards, one of another hour,
    # and BatchGetItem leaving them unprocessed once
    upload_ids = [f"u{n}" for n in range(8)]
    assert len({shard_of(f"dev_1/{upload_id}") for upload_id in upload_ids}) > 1
    entries = [*map(_entry, upload_ids), _entry("later", "2024-05-01T09")]
    clients["dynamodb"] = dynamodb = FakeDynamoDb(entries, unprocessed=1)
    # When the uploads received in an hour's window are asked for
    items = DynamoDbUploadRepository(TABLE).received_in_hour(
        "2024-05-01T08", "2024-05-01T08:04:01.000Z", "2024-05-01T08:06:03.000Z"
    )
    # Then the index was queried for that window in every shard of the hour, once each
    assert [query["IndexName"] for query in dynamodb.queries] == ["by-received-hour"] * HOUR_SHARDS
    assert [query["ExpressionAttributeValues"] for query in dynamodb.queries] == [
        {":hour": {"S": partition}, ":since": {"S": "2024-05-01T08:04:01.000Z"},
         ":until": {"S": "2024-05-01T08:06:03.000Z"}}
        for partition in hour_partitions("2024-05-01T08")
    ]
    # And the items of every shard were read (retrying what was left), and none of the other hour
    keys = [{"device_id": entry["device_id"], "upload_id": entry["upload_id"]}
            for partition in hour_partitions("2024-05-01T08")
            for entry in map(_entry, upload_ids) if entry["received_hour"] == {"S": partition}]
    assert dynamodb.batch_gets == [keys, keys]
    assert sorted(item["upload_id"] for item in items) == upload_ids


def test_keys_left_unread_again_and_again_are_a_retryable_failure(clients):
    clients["dynamodb"] = FakeDynamoDb([_entry("u1")], unprocessed=99)
    with pytest.raises(ServiceUnavailable):
        DynamoDbUploadRepository(TABLE).received_in_hour("2024-05-01T08", "a", "b")


def test_the_arrival_index_queried_is_the_one_the_resource_spec_builds():
    # Given the uploads table of the spec, Then it has the index the code queries, keyed as queried
    table = SPEC.table("uploads")
    [index] = [index for index in table.indexes if index.name == ARRIVAL_INDEX.name]
    assert (index.partition_key, index.sort_key) == (Key(ARRIVAL_INDEX.hour_attribute),
                                                     Key(ARRIVAL_INDEX.time_attribute))
    # And keys only, which is why the code reads the items, by the table's key, with BatchGetItem
    assert index.projection == "KEYS_ONLY"
    assert tuple(map(Key, ARRIVAL_INDEX.table_key)) == (table.partition_key, table.sort_key)
