"""What every DynamoDB and KMS adapter does the same way: throttling is a 503, a cancelled
transaction is "not written"."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.errors import ServiceUnavailable

_THROTTLED = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "KMSInternalException", "DependencyTimeoutException", "LimitExceededException",
})

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def unavailable_when_throttled(call: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """A dependency that is still throttled after botocore's retries is a 503 (retry later), not a 500."""

    @functools.wraps(call)
    def guarded(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            return call(*args, **kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _THROTTLED:
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
    return aws.client("dynamodb").get_item(**request).get("Item")
