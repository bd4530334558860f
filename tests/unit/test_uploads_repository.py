"""The uploads table's adapter (repository.py) as the outbox recovery uses it: uploads found by
arrival, with fake boto3 clients."""

from __future__ import annotations

from typing import Any

import pytest

from functions.device_uploads import repository as repository_module
from functions.device_uploads.repository import ARRIVAL_INDEX, DynamoDbUploadRepository
from functions.shared.errors import ServiceUnavailable
from infrastructure.resource_spec import SPEC, Key

STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/telehub-dev-uploads/stream/2024-04-02T09:14:05"
TABLE = "telehub-dev-uploads"


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
    table = SPEC.table("uploads")
    [index] = [index for index in table.indexes if index.name == ARRIVAL_INDEX.name]
    assert (index.partition_key, index.sort_key) == (Key(ARRIVAL_INDEX.hour_attribute),
                                                     Key(ARRIVAL_INDEX.time_attribute))
    # And keys only, which is why the code reads the items, by the table's key, with BatchGetItem
    assert index.projection == "KEYS_ONLY"
    assert tuple(map(Key, ARRIVAL_INDEX.table_key)) == (table.partition_key, table.sort_key)
