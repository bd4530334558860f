"""The access log in DynamoDB (functions.shared.access_log.AccessLog), append-only.

Every write is conditional on the entry's absence (``attribute_not_exists(access_id)``), so not even the
functions' own code can overwrite an entry, and their IAM policy grants dynamodb:PutItem alone on the table
(no UpdateItem, DeleteItem or BatchWriteItem, whose puts would overwrite). One access is one conditional
PutItem; a list of them is one TransactWriteItems of up to 100 conditional puts (a transaction's puts are
authorised as PutItem), so a worklist page of 100 rows is one request, written all or not at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.access_log import Access, AccessContext, Outcome
from functions.shared.dynamo import transact, unavailable_when_throttled
from functions.shared.errors import ServiceUnavailable
from functions.shared.principal import Principal

TRANSACTION_LIMIT = 100
ABSENT = "attribute_not_exists(access_id)"
_NOT_WRITTEN = "the access log could not store the entry; retry the request"


def current_request(router: BaseRouter) -> Callable[[], AccessContext]:
    """The request ``router`` (a resolver, or a router included in one) is handling at the moment an entry
    is written: its route template as the resolver matched it, and API Gateway's request id (the Lambda
    invocation's if the event has none). The services log through it without carrying the request."""

    def context() -> AccessContext:
        request = router.request
        request_id: str | None = (router.current_event.get("requestContext") or {}).get("requestId")
        return AccessContext(endpoint=f"{request.method} {request.route}",
                             request_id=request_id or router.lambda_context.aws_request_id)

    return context


class DynamoAccessLog:
    """One item per access: the citizen (partition), who, what, when, the outcome and the request; it
    expires ``retention_days`` after the access (the table's TTL attribute ``expires_at``)."""

    def __init__(self, table: str, retention_days: int, request: Callable[[], AccessContext]) -> None:
        self._table = table
        self._retention = timedelta(days=retention_days)
        self._request = request

    @unavailable_when_throttled
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime, outcome: Outcome = Outcome.ALLOWED) -> None:
        item = self._entry(Access(patient_id, action, episode_id, outcome), principal, self._request(), at)
        try:
            aws.client("dynamodb").put_item(TableName=self._table, Item=item, ConditionExpression=ABSENT)
        except ClientError as error:
            # An entry of that id exists: never overwritten, and this access not logged, so nothing returned.
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ServiceUnavailable(_NOT_WRITTEN) from error
            raise

    @unavailable_when_throttled
    def record_many(self, accesses: Sequence[Access], principal: Principal, at: datetime) -> None:
        """100 entries per transaction; a cancelled one (throttled, or a conflict) is ServiceUnavailable:
        the request is retried later and returns nothing meanwhile."""
        if not accesses:
            return
        context = self._request()
        for start in range(0, len(accesses), TRANSACTION_LIMIT):
            puts = [{"Put": {"TableName": self._table, "Item": self._entry(access, principal, context, at),
                             "ConditionExpression": ABSENT}}
                    for access in accesses[start:start + TRANSACTION_LIMIT]]
            if not transact(puts):
                raise ServiceUnavailable(_NOT_WRITTEN)

    def _entry(self, access: Access, principal: Principal, context: AccessContext,
               at: datetime) -> dict[str, Any]:
        return {
            "patient_id": {"S": access.patient_id},
            # Unique even for the same citizen read twice in one instant; sorts by time.
            "access_id": {"S": f"{at.isoformat()}#{secrets.token_hex(6)}"},
            "accessed_at": {"S": at.isoformat()},
            "action": {"S": access.action},
            "episode_id": {"S": access.episode_id},
            "outcome": {"S": access.outcome.value},
            "endpoint": {"S": context.endpoint},
            "request_id": {"S": context.request_id},
            "role": {"S": principal.role.value},
            "subject": {"S": principal.subject},
            "organisation": {"S": principal.organisation or ""},
            "expires_at": {"N": str(int((at + self._retention).timestamp()))},
        }
