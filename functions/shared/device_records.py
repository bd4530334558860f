"""The devices table's key and statuses, the serial claims, the transaction items that change a
device, and what the authorizer reads of one: the one place device registration, referral intake
(ending an episode) and the authorizer learn them from. Items and keys only, no boto3: each
feature's repository sends them.

Devices table (device_id): one item per device (its other attributes: functions.devices.repository),
``status`` active until revoked (the authorizer then refuses every credential of it), ``episode_ids``:
the open episodes of care it serves (their side of the link: functions.shared.episode_records), and the ids
(``jti``) of the credentials it may use: ``credential_id``, the current one (issued at
``credential_issued_at``), and ``previous_credential_id``, the one it replaced, until
``previous_credential_until`` (the grace a rotation gives the device to switch).

Citizens table (pk, sk), beside the citizen items of functions.shared.citizen_store:
- ``DEVICE_SERIAL#<vendor>#<serial>`` / ``CLAIM``: device_id of the active device with that serial
  (vendor and serial case-folded). It makes "one active device per serial" a conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeviceStatus(StrEnum):
    """Active from registration until revoked; a revoked device's credential is refused."""

    ACTIVE = "active"
    REVOKED = "revoked"


CLAIM = "CLAIM"
# The JWT header ``typ`` of a device credential: its own, so no other token passes as one, nor it as another.
DEVICE_CREDENTIAL_TYPE = "telehub-device+jwt"
# The condition "the device is active" in a write, with its value ("#status" names the status attribute).
_IS_ACTIVE = "#status = :active"
_IS_ACTIVE_VALUES = {":active": {"S": DeviceStatus.ACTIVE}}


def device_key(device_id: str) -> dict[str, Any]:
    return {"device_id": {"S": device_id}}


def serial_claim_key(vendor: str, serial: str) -> dict[str, Any]:
    # A serial has no '#', so the text after the last '#' is always the whole serial.
    return {"pk": {"S": f"DEVICE_SERIAL#{vendor.casefold()}#{serial.casefold()}"}, "sk": {"S": CLAIM}}


@dataclass(frozen=True)
class DeviceCredentials:
    """The ids (``jti``) of the credentials a device may use: the current one, and the one it replaced until
    ``previous_until``. Only these two: a credential that is neither is refused, however well signed. When the
    current one was issued, for the devices' limit on how often a device rotates its own."""

    current: str | None = None
    previous: str | None = None
    previous_until: datetime | None = None
    current_issued_at: datetime | None = None

    def accepts(self, credential_id: str, now: datetime) -> bool:
        if credential_id == self.current:
            return True
        return (credential_id == self.previous and self.previous_until is not None
                and now < self.previous_until)

    def rotated(self, issued: str, caller: str | None, grace_until: datetime,
                issued_at: datetime) -> DeviceCredentials:
        """The credentials once ``issued`` (at ``issued_at``) replaces the current one, for a caller holding
        ``caller`` (the device's own credential, which the caller checked ``accepts``; None for its logistics
        centre): the issued one is current, the one that was current is the previous until ``grace_until``.
        A device calling with its previous credential (the reply to its last rotation was lost) keeps that one
        as the previous, with the grace it had: the current one, which it never received, stops at once, and
        no grace is ever extended."""
        if caller is not None and caller == self.previous:
            return DeviceCredentials(issued, self.previous, self.previous_until, issued_at)
        return DeviceCredentials(issued, self.current, grace_until if self.current else None, issued_at)


@dataclass(frozen=True)
class DeviceStanding:
    """What the authorizer reads about a device: whether it may upload, with which credentials, for which
    patient, and which measurement types (the catalogue's, as registered)."""

    status: DeviceStatus
    patient_id: str
    measurement_types: tuple[str, ...]
    credentials: DeviceCredentials = DeviceCredentials()

    @property
    def active(self) -> bool:
        return self.status == DeviceStatus.ACTIVE


# A GetItem's projection of a device item to its standing ("status" is a reserved word, hence "#status").
STANDING_PROJECTION: dict[str, Any] = {
    "ProjectionExpression": ("#status, patient_id, measurement_types, credential_id, previous_credential_id, "
                             "previous_credential_until"),
    "ExpressionAttributeNames": {"#status": "status"},
}


def device_standing(item: dict[str, Any] | None) -> DeviceStanding | None:
    """The device item (serialised form; ``STANDING_PROJECTION`` of it will do) as its standing, or None
    if there is no item."""
    if item is None:
        return None
    return DeviceStanding(status=DeviceStatus(item["status"]["S"]), patient_id=item["patient_id"]["S"],
                          measurement_types=tuple(kind["S"] for kind in item["measurement_types"]["L"]),
                          credentials=device_credentials(item))


def device_credentials(item: dict[str, Any]) -> DeviceCredentials:
    """The credential ids of a device item (serialised form)."""
    until, issued_at = item.get("previous_credential_until"), item.get("credential_issued_at")
    return DeviceCredentials(
        current=item["credential_id"]["S"] if "credential_id" in item else None,
        previous=item["previous_credential_id"]["S"] if "previous_credential_id" in item else None,
        previous_until=datetime.fromisoformat(until["S"]) if until else None,
        current_issued_at=datetime.fromisoformat(issued_at["S"]) if issued_at else None,
    )


def credential_attributes(credentials: DeviceCredentials) -> dict[str, Any]:
    """The credential ids as a device item's attributes (serialised form; absent ones left out)."""
    attributes: dict[str, Any] = {}
    if credentials.current:
        attributes["credential_id"] = {"S": credentials.current}
    if credentials.current_issued_at:
        attributes["credential_issued_at"] = {"S": credentials.current_issued_at.isoformat()}
    if credentials.previous and credentials.previous_until:
        attributes["previous_credential_id"] = {"S": credentials.previous}
        attributes["previous_credential_until"] = {"S": credentials.previous_until.isoformat()}
    return attributes


@dataclass(frozen=True)
class ActiveDevice:
    """What ending an episode needs of an active device: the episodes it serves, and its serial
    (whose claim a revocation releases)."""

    device_id: str
    vendor: str
    serial: str
    episode_ids: tuple[str, ...]


def active_device(item: dict[str, Any] | None) -> ActiveDevice | None:
    """The device item (serialised form) as an ActiveDevice; None if there is none or it is revoked."""
    if item is None or item["status"]["S"] != DeviceStatus.ACTIVE:
        return None
    return ActiveDevice(
        device_id=item["device_id"]["S"],
        vendor=item["vendor"]["S"],
        serial=item["serial"]["S"],
        episode_ids=tuple(sorted(item.get("episode_ids", {}).get("SS", []))),
    )


def serial_claim_item(citizens_table: str, device_id: str, vendor: str, serial: str) -> dict[str, Any]:
    """The device claims its serial; cancelled if an active device holds it."""
    return {"Put": {
        "TableName": citizens_table,
        "Item": {**serial_claim_key(vendor, serial), "device_id": {"S": device_id}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }}


def device_link_item(devices_table: str, device_id: str, episode_ids: tuple[str, ...]) -> dict[str, Any]:
    """The active device serves more episodes; cancelled if it was revoked meanwhile."""
    return {"Update": {
        "TableName": devices_table,
        "Key": device_key(device_id),
        "UpdateExpression": "ADD episode_ids :episodes",
        "ConditionExpression": _IS_ACTIVE,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":episodes": {"SS": list(episode_ids)}, **_IS_ACTIVE_VALUES},
    }}


def credential_rotation_item(devices_table: str, device_id: str, replaced: str | None,
                             credentials: DeviceCredentials) -> dict[str, Any]:
    """The active device's credentials become ``credentials``; cancelled if it was revoked meanwhile or its
    current credential is no longer ``replaced`` (a concurrent rotation came first: decide again)."""
    current = "credential_id = :replaced" if replaced else "attribute_not_exists(credential_id)"
    attributes = credential_attributes(credentials)
    values = {f":{name}": value for name, value in attributes.items()}
    update = "SET " + ", ".join(f"{name} = :{name}" for name in attributes)
    if "previous_credential_id" not in attributes:
        update += " REMOVE previous_credential_id, previous_credential_until"
    if replaced:
        values[":replaced"] = {"S": replaced}
    return {"Update": {
        "TableName": devices_table,
        "Key": device_key(device_id),
        "UpdateExpression": update,
        "ConditionExpression": f"{_IS_ACTIVE} AND {current}",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {**values, **_IS_ACTIVE_VALUES},
    }}


def device_unlink_item(devices_table: str, device_id: str, episode_id: str) -> dict[str, Any]:
    """The active device no longer serves the episode; it keeps uploading for the others."""
    return {"Update": {
        "TableName": devices_table,
        "Key": device_key(device_id),
        "UpdateExpression": "DELETE episode_ids :episode",
        "ConditionExpression": _IS_ACTIVE,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {":episode": {"SS": [episode_id]}, **_IS_ACTIVE_VALUES},
    }}


def device_revocation_items(devices_table: str, citizens_table: str, device_id: str, vendor: str, serial: str,
                            revoked_at: datetime) -> list[dict[str, Any]]:
    """The active device revoked (every credential of it refused from now on) and its serial claim
    released."""
    return [
        {"Update": {
            "TableName": devices_table,
            "Key": device_key(device_id),
            "UpdateExpression": "SET #status = :revoked, revoked_at = :revoked_at",
            "ConditionExpression": _IS_ACTIVE,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":revoked": {"S": DeviceStatus.REVOKED}, **_IS_ACTIVE_VALUES,
                ":revoked_at": {"S": revoked_at.isoformat()},
            },
        }},
        {"Delete": {
            "TableName": citizens_table,
            "Key": serial_claim_key(vendor, serial),
            # Only this device's claim; a missing claim must not block the revocation.
            "ConditionExpression": "attribute_not_exists(pk) OR device_id = :device_id",
            "ExpressionAttributeValues": {":device_id": {"S": device_id}},
        }},
    ]
