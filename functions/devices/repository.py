"""Citizens and devices in DynamoDB.

Citizens table (pk, sk):
- ``CITIZEN#<pseudonym>`` / ``IDENTITY``: patient_id. The pseudonym is a KMS MAC of the CPR number.
- ``PATIENT#<patient_id>`` / ``PROFILE``: cpr, kept for later standard exchange (the table is
  encrypted with the data key). The CPR number is an attribute, never a key.
- ``DEVICE_SERIAL#<vendor>#<serial>`` / ``CLAIM``: device_id of the active device with that serial
  (vendor and serial case-folded). It makes "one active device per serial" a conditional write.

Devices table (device_id): the device items of the contract.

Every "create" is a transaction of conditional puts, so two concurrent requests cannot both
create: the loser's transaction is cancelled, writes nothing, and the caller reads the winner's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import ClientError

from functions.devices.models import ACTIVE, REVOKED, Device
from functions.shared import aws
from functions.shared.errors import ServiceUnavailable

IDENTITY = "IDENTITY"
PROFILE = "PROFILE"
CLAIM = "CLAIM"
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


def citizen_key(pseudonym: str) -> dict[str, Any]:
    return {"pk": {"S": f"CITIZEN#{pseudonym}"}, "sk": {"S": IDENTITY}}


def profile_key(patient_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": PROFILE}}


def serial_claim_key(vendor: str, serial: str) -> dict[str, Any]:
    # A serial has no '#', so the text after the last '#' is always the whole serial.
    return {"pk": {"S": f"DEVICE_SERIAL#{vendor.casefold()}#{serial.casefold()}"}, "sk": {"S": CLAIM}}


class DynamoDeviceRegistry:
    def __init__(self, citizens_table: str, devices_table: str) -> None:
        self._citizens = citizens_table
        self._devices = devices_table

    @unavailable_when_throttled
    def find_patient(self, pseudonym: str) -> str | None:
        item = self._get(self._citizens, citizen_key(pseudonym), "patient_id")
        return item["patient_id"]["S"] if item else None

    @unavailable_when_throttled
    def add_patient(self, pseudonym: str, patient_id: str, cpr: str) -> bool:
        return self._transact([
            {"Put": {
                "TableName": self._citizens,
                "Item": {**citizen_key(pseudonym), "patient_id": {"S": patient_id}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Put": {
                "TableName": self._citizens,
                "Item": {**profile_key(patient_id), "patient_id": {"S": patient_id}, "cpr": {"S": cpr}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
        ])

    @unavailable_when_throttled
    def device_with_serial(self, vendor: str, serial: str) -> Device | None:
        claim = self._get(self._citizens, serial_claim_key(vendor, serial), "device_id")
        return self.find_device(claim["device_id"]["S"]) if claim else None

    @unavailable_when_throttled
    def add_device(self, device: Device) -> bool:
        return self._transact([
            {"Put": {
                "TableName": self._citizens,
                "Item": {
                    **serial_claim_key(device.vendor, device.serial), "device_id": {"S": device.device_id}
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Put": {
                "TableName": self._devices,
                "Item": device_item(device),
                "ConditionExpression": "attribute_not_exists(device_id)",
            }},
        ])

    @unavailable_when_throttled
    def find_device(self, device_id: str) -> Device | None:
        item = self._get(self._devices, {"device_id": {"S": device_id}})
        return device_from_item(item) if item else None

    @unavailable_when_throttled
    def revoke_device(self, device: Device, revoked_at: datetime) -> bool:
        return self._transact([
            {"Update": {
                "TableName": self._devices,
                "Key": {"device_id": {"S": device.device_id}},
                "UpdateExpression": "SET #status = :revoked, revoked_at = :revoked_at",
                "ConditionExpression": "#status = :active",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":revoked": {"S": REVOKED},
                    ":active": {"S": ACTIVE},
                    ":revoked_at": {"S": revoked_at.isoformat()},
                },
            }},
            {"Delete": {
                "TableName": self._citizens,
                "Key": serial_claim_key(device.vendor, device.serial),
                # Only this device's claim; a missing claim must not block the revocation.
                "ConditionExpression": "attribute_not_exists(pk) OR device_id = :device_id",
                "ExpressionAttributeValues": {":device_id": {"S": device.device_id}},
            }},
        ])

    def _get(self, table: str, key: dict[str, Any], *attributes: str) -> dict[str, Any] | None:
        request: dict[str, Any] = {"TableName": table, "Key": key, "ConsistentRead": True}
        if attributes:
            request["ProjectionExpression"] = ", ".join(attributes)
        return aws.client("dynamodb").get_item(**request).get("Item")

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """True if every conditional write happened; False if the transaction was cancelled because a
        condition failed or a concurrent transaction touched the same item (nothing is then written)."""
        try:
            aws.client("dynamodb").transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                return False
            raise
        return True


def device_item(device: Device) -> dict[str, Any]:
    item: dict[str, Any] = {
        "device_id": {"S": device.device_id},
        "patient_id": {"S": device.patient_id},
        "status": {"S": device.status},
        "vendor": {"S": device.vendor},
        "model": {"S": device.model},
        "serial": {"S": device.serial},
        "measurement_types": {"L": [{"S": kind} for kind in device.measurement_types]},
        "registered_by": {"S": device.registered_by},
        "registered_at": {"S": device.registered_at.isoformat()},
    }
    if device.medcom_instrument_code:
        item["medcom_instrument_code"] = {"S": device.medcom_instrument_code}
    if device.revoked_at:
        item["revoked_at"] = {"S": device.revoked_at.isoformat()}
    return item


def device_from_item(item: dict[str, Any]) -> Device:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    revoked_at = optional("revoked_at")
    return Device(
        device_id=item["device_id"]["S"],
        patient_id=item["patient_id"]["S"],
        status=item["status"]["S"],
        vendor=item["vendor"]["S"],
        model=item["model"]["S"],
        serial=item["serial"]["S"],
        measurement_types=tuple(kind["S"] for kind in item["measurement_types"]["L"]),
        medcom_instrument_code=optional("medcom_instrument_code"),
        registered_by=item["registered_by"]["S"],
        registered_at=datetime.fromisoformat(item["registered_at"]["S"]),
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
    )
