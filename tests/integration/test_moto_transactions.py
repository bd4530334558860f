"""The embedded layer's all-or-nothing TransactWriteItems over moto (embedded/moto_transactions.py): a
cancelled transaction writes nothing, streams nothing and leaves the table's stream to those reading it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded import moto_transactions


@pytest.fixture
def table(resources) -> str:
    moto_transactions.install()
    return resources.tables["uploads"]


@pytest.fixture
def dynamodb() -> Any:
    return boto3.Session().client("dynamodb")


def key(upload_id: str) -> dict[str, Any]:
    return {"device_id": {"S": "dev_1"}, "upload_id": {"S": upload_id}}


def put(table: str, upload_id: str, **more: Any) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {**key(upload_id), **more},
                    "ConditionExpression": "attribute_not_exists(upload_id)"}}


class Stream:
    """The table's stream as a reader that started at its beginning sees it, page after page."""

    def __init__(self, table: str) -> None:
        session = boto3.Session()
        self._streams = session.client("dynamodbstreams")
        arn = session.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        [shard] = self._streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self._iterator = self._streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read(self) -> list[tuple[str, str]]:
        page = self._streams.get_records(ShardIterator=self._iterator)
        self._iterator = page["NextShardIterator"]
        return [(record["eventName"], record["dynamodb"]["Keys"]["upload_id"]["S"])
                for record in page["Records"]]


def cancellation(dynamodb, items: list[dict[str, Any]]) -> dict[str, Any]:
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=items)
    return cancelled.value.response


def test_a_transaction_whose_condition_fails_writes_nothing_and_says_which_item_failed(table, dynamodb):
    # Given a stored upload and a reader of the stream
    dynamodb.put_item(TableName=table, Item={**key("u1"), "note": {"S": "first"}})
    stream = Stream(table)
    assert stream.read() == [("INSERT", "u1")]
    # When a transaction puts a new upload and u1 again, on the condition that neither exists
    again = put(table, "u1")
    again["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    response = cancellation(dynamodb, [put(table, "u2"), again])
    # Then it is cancelled with DynamoDB's reasons, item by item, the stored u1 given back
    assert response["Error"]["Code"] == "TransactionCanceledException"
    reasons = response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["note"] == {"S": "first"}
    # and nothing was written: u2 is not stored, and the stream shows no change
    assert "Item" not in dynamodb.get_item(TableName=table, Key=key("u2"))
    assert stream.read() == []
    # and the reader sees what is written next
    dynamodb.put_item(TableName=table, Item=key("u3"))
    assert stream.read() == [("INSERT", "u3")]


def test_a_transaction_whose_conditions_hold_writes_everything_in_order(table, dynamodb):
    stream = Stream(table)
    dynamodb.transact_write_items(TransactItems=[put(table, "u1"), put(table, "u2")])
    assert stream.read() == [("INSERT", "u1"), ("INSERT", "u2")]


def test_a_transaction_moto_rolls_back_part_way_keeps_the_stream_for_its_readers(table, dynamodb):
    # Given a reader of the stream
    stream = Stream(table)
    # When moto refuses a transaction after writing part of it (two operations on one item: refused only
    # when moto meets the second) and rolls the table back
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[put(table, "u1"), put(table, "u2"), put(table, "u2")])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    dynamodb.put_item(TableName=table, Item=key("u3"))
    # Then the reader sees only what was written after, and the table holds only that
    assert stream.read() == [("INSERT", "u3")]
    assert [item["upload_id"]["S"] for item in dynamodb.scan(TableName=table)["Items"]] == ["u3"]
