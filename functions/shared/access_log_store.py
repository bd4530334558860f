"""The access log in DynamoDB (functions.shared.access_log.AccessLog)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from functions.shared import aws
from functions.shared.access_log import Access
from functions.shared.dynamo import unavailable_when_throttled
from functions.shared.errors import ServiceUnavailable
from functions.shared.principal import Principal

BATCH_WRITE_LIMIT = 25
BATCH_WRITE_ATTEMPTS = 5


class DynamoAccessLog:
    """One item per read: who (role, subject, organisation), what, when."""

    def __init__(self, table: str) -> None:
        self._table = table

    @unavailable_when_throttled
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime) -> None:
        aws.client("dynamodb").put_item(TableName=self._table,
                                        Item=_entry(Access(patient_id, action, episode_id), principal, at))

    @unavailable_when_throttled
    def record_many(self, accesses: Sequence[Access], principal: Principal, at: datetime) -> None:
        """25 entries per BatchWriteItem, writing again those DynamoDB left unprocessed; ServiceUnavailable
        (retry later, and return nothing meanwhile) if some stay unwritten."""
        requests = [{"PutRequest": {"Item": _entry(access, principal, at)}} for access in accesses]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending = requests[start:start + BATCH_WRITE_LIMIT]
            for _ in range(BATCH_WRITE_ATTEMPTS):
                response = aws.client("dynamodb").batch_write_item(RequestItems={self._table: pending})
                pending = response.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
            else:
                raise ServiceUnavailable("the access log left entries unwritten; retry the request")


def _entry(access: Access, principal: Principal, at: datetime) -> dict[str, Any]:
    return {
        "patient_id": {"S": access.patient_id},
        # Unique even for the same citizen read twice in one instant.
        "access_id": {"S": f"{at.isoformat()}#{secrets.token_hex(6)}"},
        "accessed_at": {"S": at.isoformat()},
        "action": {"S": access.action},
        "episode_id": {"S": access.episode_id},
        "role": {"S": principal.role.value},
        "subject": {"S": principal.subject},
        "organisation": {"S": principal.organisation or ""},
    }
