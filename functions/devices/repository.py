"""Devices in DynamoDB, and the serial claims in the citizens table (keys, statuses and the items
that claim, link and revoke: functions.shared.device_records).

Devices table (device_id): the device items of the contract, with episode_ids: the citizen's open
episodes of care at registration (and at a retried registration, for episodes opened since), each of
which is linked to the device (and made active) in the same transaction (functions.shared.episode_records).

Every "create" is a transaction of conditional puts, so two concurrent requests cannot both
create: the loser's transaction is cancelled, writes nothing, and the caller reads the winner's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.devices.models import Device
from functions.shared import aws
from functions.shared.citizen_store import DynamoCitizenLookup
from functions.shared.device_records import (
    DeviceCredentials,
    DeviceStatus,
    credential_attributes,
    credential_rotation_item,
    device_credentials,
    device_key,
    device_link_item,
    device_revocation_items,
    serial_claim_item,
    serial_claim_key,
)
from functions.shared.dynamo import get_item, transact, unavailable_when_throttled
from functions.shared.episode_records import OPEN_PREFIX, link_device_items, patient_partition


class DynamoDeviceRegistry(DynamoCitizenLookup):
    def __init__(self, citizens_table: str, devices_table: str, episodes_table: str) -> None:
        super().__init__(citizens_table)
        self._citizens = citizens_table
        self._devices = devices_table
        self._episodes = episodes_table

    @unavailable_when_throttled
    def open_episodes(self, patient_id: str) -> list[tuple[str, str]]:
        """(episode_id, logistics_centre) of every open episode of the citizen, from its open guards."""
        response = aws.client("dynamodb").query(
            TableName=self._episodes,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :open)",
            ExpressionAttributeValues={":pk": patient_partition(patient_id), ":open": {"S": OPEN_PREFIX}},
            ConsistentRead=True,
        )
        return [(item["episode_id"]["S"], item["logistics_centre"]["S"]) for item in response["Items"]]

    @unavailable_when_throttled
    def device_with_serial(self, vendor: str, serial: str) -> Device | None:
        claim = get_item(self._citizens, serial_claim_key(vendor, serial), "device_id")
        return self.find_device(claim["device_id"]["S"]) if claim else None

    @unavailable_when_throttled
    def add_device(self, device: Device) -> bool:
        return transact([
            serial_claim_item(self._citizens, device.device_id, device.vendor, device.serial),
            {"Put": {
                "TableName": self._devices,
                "Item": device_item(device),
                "ConditionExpression": "attribute_not_exists(device_id)",
            }},
            # Linked in the same transaction: an episode that ended meanwhile cancels the registration.
            *link_device_items(self._episodes, device.device_id, list(device.episode_ids)),
        ])

    @unavailable_when_throttled
    def link_device(self, device: Device, episode_ids: tuple[str, ...]) -> bool:
        return transact([
            device_link_item(self._devices, device.device_id, episode_ids),
            *link_device_items(self._episodes, device.device_id, list(episode_ids)),
        ])

    @unavailable_when_throttled
    def find_device(self, device_id: str) -> Device | None:
        item = get_item(self._devices, device_key(device_id))
        return device_from_item(item) if item else None

    @unavailable_when_throttled
    def revoke_device(self, device: Device, revoked_at: datetime) -> bool:
        return transact(device_revocation_items(self._devices, self._citizens, device.device_id,
                                                device.vendor, device.serial, revoked_at))

    @unavailable_when_throttled
    def rotate_credential(self, device: Device, credentials: DeviceCredentials) -> bool:
        return transact([credential_rotation_item(self._devices, device.device_id, device.credentials.current,
                                                  credentials)])


def device_item(device: Device) -> dict[str, Any]:
    item: dict[str, Any] = {
        **device_key(device.device_id),
        "patient_id": {"S": device.patient_id},
        "status": {"S": device.status},
        "vendor": {"S": device.vendor},
        "model": {"S": device.model},
        "serial": {"S": device.serial},
        "measurement_types": {"L": [{"S": kind} for kind in device.measurement_types]},
        "registered_by": {"S": device.registered_by},
        "registered_at": {"S": device.registered_at.isoformat()},
        **credential_attributes(device.credentials),
    }
    if device.medcom_instrument_code:
        item["medcom_instrument_code"] = {"S": device.medcom_instrument_code}
    if device.revoked_at:
        item["revoked_at"] = {"S": device.revoked_at.isoformat()}
    if device.episode_ids:
        item["episode_ids"] = {"SS": list(device.episode_ids)}
    return item


def device_from_item(item: dict[str, Any]) -> Device:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    revoked_at = optional("revoked_at")
    return Device(
        device_id=item["device_id"]["S"],
        patient_id=item["patient_id"]["S"],
        status=DeviceStatus(item["status"]["S"]),
        vendor=item["vendor"]["S"],
        model=item["model"]["S"],
        serial=item["serial"]["S"],
        measurement_types=tuple(kind["S"] for kind in item["measurement_types"]["L"]),
        medcom_instrument_code=optional("medcom_instrument_code"),
        registered_by=item["registered_by"]["S"],
        registered_at=datetime.fromisoformat(item["registered_at"]["S"]),
        revoked_at=datetime.fromisoformat(revoked_at) if revoked_at else None,
        episode_ids=tuple(sorted(item.get("episode_ids", {}).get("SS", []))),
        credentials=device_credentials(item),
    )
