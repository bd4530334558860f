"""What every DynamoDB and KMS adapter does the same way: throttling is a 503, a cancelled
transaction is "not written", and an outbox's items are found by the hour they were written."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.errors import ServiceUnavailable
from functions.shared.hour_shards import hour_partitions

# The answers of DynamoDB and KMS that mean "try again later", not "this request is wrong".
_THROTTLED = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "KMSInternalException", "DependencyTimeoutException",
    "LimitExceededException",
})

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def is_throttled(error: ClientError) -> bool:
    """The dependency is busy or briefly failing: the request may succeed when retried later."""
    return error.response.get("Error", {}).get("Code") in _THROTTLED


def unavailable_when_throttled(call: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """A dependency that is still throttled after botocore's retries is a 503 (retry later), not a 500."""

    @functools.wraps(call)
    def guarded(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            return call(*args, **kwargs)
        except ClientError as error:
            if is_throttled(error):
                raise ServiceUnavailable("a storage or key service is busy; retry the request") from error
            raise

    return guarded


def transact(items: list[dict[str, Any]]) -> bool:
    """True if every write happened; False if the transaction was cancelled because a condition failed
    or a concurrent transaction touched the same item (nothing is then written)."""
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=items)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            return False
        raise
    return True


def get_item(table: str, key: dict[str, Any], *attributes: str) -> dict[str, Any] | None:
    request: dict[str, Any] = {"TableName": table, "Key": key, "ConsistentRead": True}
    if attributes:
        request["ProjectionExpression"] = ", ".join(attributes)
    item: dict[str, Any] | None = aws.client("dynamodb").get_item(**request).get("Item")
    return item


BATCH_GET_LIMIT = 100
BATCH_GET_ATTEMPTS = 5


def batch_get(table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items of ``keys`` (serialised form), 100 per BatchGetItem, asking again for the keys
    DynamoDB left unprocessed; ServiceUnavailable (retry later) if some stay unread."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending = keys[start:start + BATCH_GET_LIMIT]
        for _ in range(BATCH_GET_ATTEMPTS):
            response = aws.client("dynamodb").batch_get_item(RequestItems={table: {"Keys": pending}})
            items += response["Responses"].get(table, [])
            pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                break
        else:
            raise ServiceUnavailable(f"{table} left keys unread; retry")
    return items


def query_page(request: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` items of a Query (``request`` asks for ``Limit`` limit + 1), and whether more follow.
    The query is continued while a filter leaves fewer than that, or a page's items pass DynamoDB's 1 MB."""
    items: list[dict[str, Any]] = []
    while True:
        response = aws.client("dynamodb").query(**request)
        items += response["Items"]
        if len(items) > limit or "LastEvaluatedKey" not in response:
            return items[:limit], len(items) > limit
        request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}


@dataclass(frozen=True)
class IndexByHour:
    """A keys-only index of a table's items by when they were written: partition the hour
    (``hour_of`` form) and the item's shard (``hour_shards.sharded_hour``), sort the instant
    (``iso_utc`` form). Keys only, so a write costs the index one small item; the items themselves
    are then read from the table."""

    name: str
    hour_attribute: str
    time_attribute: str
    table_key: tuple[str, ...]  # the table's key attributes, which every index entry carries


_deserializer = TypeDeserializer()


def written_in_hour(table: str, index: IndexByHour, hour: str, since: str,
                    until: str) -> list[dict[str, Any]]:
    """The items of ``hour`` written between two ``iso_utc`` instants: their keys from the index, a paged
    Query of each of the hour's shards (HOUR_SHARDS Queries at least), then the items, deserialised as a
    stream's NEW_IMAGE is (the outbox recovery's fallback)."""
    window = f"{index.hour_attribute} = :hour AND {index.time_attribute} BETWEEN :since AND :until"
    keys = [
        {name: entry[name] for name in index.table_key}
        for partition in hour_partitions(hour)
        for page in aws.client("dynamodb").get_paginator("query").paginate(
            TableName=table,
            IndexName=index.name,
            KeyConditionExpression=window,
            ExpressionAttributeValues={":hour": {"S": partition}, ":since": {"S": since},
                                       ":until": {"S": until}},
        )
        for entry in page["Items"]
    ]
    return [{name: _deserializer.deserialize(value) for name, value in item.items()}
            for item in batch_get(table, keys)]
