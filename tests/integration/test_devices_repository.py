"""The devices repository against DynamoDB (moto): conditional writes that make "create" race-safe."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import boto3
import pytest

from functions.devices.models import Device
from functions.devices.repository import DynamoDeviceRegistry
from functions.shared.device_records import DeviceStatus, serial_claim_key
from tests.support.organisations import CENTRE

REGISTERED_AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
DEVICE = Device(
    device_id="dev_0123456789abcdef01234567",
    patient_id="pat_0123456789abcdef01234567",
    status=DeviceStatus.ACTIVE,
    vendor="Nonin",
    model="3230",
    serial="502012345",
    measurement_types=("pulse", "spo2"),
    registered_by=CENTRE,
    registered_at=REGISTERED_AT,
)


@pytest.fixture
def registry(resources) -> DynamoDeviceRegistry:
    tables = resources.tables
    return DynamoDeviceRegistry(tables["citizens"], tables["devices"], tables["episodes"])


def get(resources, table: str, key: dict) -> dict | None:
    return boto3.Session().client("dynamodb").get_item(TableName=resources.tables[table], Key=key).get("Item")


def test_a_device_round_trips_with_its_optional_fields(registry):
    device = replace(DEVICE, medcom_instrument_code="MCS88015")
    assert registry.add_device(device)
    assert registry.find_device(device.device_id) == device
    assert registry.device_with_serial("NONIN", "502012345") == device


def test_a_second_device_with_a_claimed_serial_writes_nothing(registry, resources):
    # Given an active device holding a serial
    registry.add_device(DEVICE)
    # When another device with the same vendor and serial (other case) is added
    other = replace(DEVICE, device_id="dev_ffffffffffffffffffffffff", vendor="NONIN", patient_id="pat_other")
    # Then it is refused and neither the device nor a claim of it was written
    assert not registry.add_device(other)
    assert registry.find_device(other.device_id) is None
    claim = get(resources, "citizens", serial_claim_key("nonin", "502012345"))
    assert claim["device_id"]["S"] == DEVICE.device_id


def test_revoking_marks_the_device_and_releases_the_serial_once(registry):
    # Given an active device
    registry.add_device(DEVICE)
    revoked_at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    # When it is revoked
    assert registry.revoke_device(DEVICE, revoked_at)
    # Then it is revoked with the time, and its serial is free
    assert registry.find_device(DEVICE.device_id) == replace(DEVICE, status=DeviceStatus.REVOKED,
                                                             revoked_at=revoked_at)
    assert registry.device_with_serial(DEVICE.vendor, DEVICE.serial) is None
    # And a second revocation changes nothing
    assert not registry.revoke_device(DEVICE, datetime(2027, 1, 1, tzinfo=UTC))
    assert registry.find_device(DEVICE.device_id).revoked_at == revoked_at


def test_revoking_does_not_release_a_serial_claimed_by_another_device(registry, resources):
    # Given a device whose serial claim (by data damage) names another device
    registry.add_device(DEVICE)
    boto3.Session().client("dynamodb").put_item(
        TableName=resources.tables["citizens"],
        Item={**serial_claim_key(DEVICE.vendor, DEVICE.serial), "device_id": {"S": "dev_someone_else"}},
    )
    # When it is revoked, Then nothing is written: neither the device nor the other device's claim
    assert not registry.revoke_device(DEVICE, datetime(2026, 12, 1, tzinfo=UTC))
    assert registry.find_device(DEVICE.device_id).status == DeviceStatus.ACTIVE
