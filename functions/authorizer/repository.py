"""The authorizer's one read: whether a device is still active, and for which patient."""

from __future__ import annotations

from functions.shared import aws
from functions.shared.device_records import STANDING_PROJECTION, DeviceStanding, device_key, device_standing


class DynamoDeviceDirectory:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def standing(self, device_id: str) -> DeviceStanding | None:
        # Consistent read: a revocation a moment ago must already refuse the credential.
        return device_standing(aws.client("dynamodb").get_item(
            TableName=self._table_name, Key=device_key(device_id), ConsistentRead=True, **STANDING_PROJECTION,
        ).get("Item"))
