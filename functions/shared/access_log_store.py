"""The access log in DynamoDB (functions.shared.access_log.AccessLog)."""

from __future__ import annotations

import secrets
from datetime import datetime

from functions.shared import aws
from functions.shared.dynamo import unavailable_when_throttled
from functions.shared.principal import Principal


class DynamoAccessLog:
    """One item per read: who (role, subject, organisation), what, when."""

    def __init__(self, table: str) -> None:
        self._table = table

    @unavailable_when_throttled
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime) -> None:
        aws.client("dynamodb").put_item(TableName=self._table, Item={
            "patient_id": {"S": patient_id},
            "access_id": {"S": f"{at.isoformat()}#{secrets.token_hex(6)}"},
            "accessed_at": {"S": at.isoformat()},
            "action": {"S": action},
            "episode_id": {"S": episode_id},
            "role": {"S": principal.role.value},
            "subject": {"S": principal.subject},
            "organisation": {"S": principal.organisation or ""},
        })
