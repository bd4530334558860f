"""The authorizer's device directory contract (functions.authorizer.logic.DeviceDirectory), for the
fake and for DynamoDeviceDirectory under moto: a device's standing as the devices feature wrote it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from functions.authorizer.logic import DeviceDirectory
from functions.authorizer.repository import DynamoDeviceDirectory
from functions.devices.models import Device
from functions.devices.repository import DynamoDeviceRegistry
from functions.shared.device_records import DeviceCredentials, DeviceStanding, DeviceStatus
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeDeviceDirectory

REGISTERED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
PATIENT = "pat_000000000000000000000001"
TYPES = ("spo2",)  # what the device was registered for
CREDENTIALS = DeviceCredentials("crd_2", "crd_1", datetime(2026, 11, 25, 9, 40, tzinfo=UTC))
DEVICE = Device(device_id="dev_1", patient_id=PATIENT, status=DeviceStatus.ACTIVE, vendor="Nonin",
                model="3230", serial="502012345", measurement_types=TYPES,
                registered_by="345678901234567", registered_at=REGISTERED, credentials=CREDENTIALS)


def standing(status: DeviceStatus) -> DeviceStanding:
    return DeviceStanding(status, PATIENT, TYPES, CREDENTIALS)


@dataclass
class Directory:
    """The directory, and how a test registers and revokes a device (the devices feature's writes)."""

    directory: DeviceDirectory
    register: Callable[[], None]
    revoke: Callable[[], None]


@pytest.fixture(params=[FAKE, REAL])
def devices(request) -> Directory:
    if request.param == FAKE:
        fake = FakeDeviceDirectory({})
        return Directory(fake, lambda: fake.devices.update({"dev_1": standing(DeviceStatus.ACTIVE)}),
                         lambda: fake.devices.update({"dev_1": standing(DeviceStatus.REVOKED)}))
    tables = request.getfixturevalue("moto_resources").tables
    registry = DynamoDeviceRegistry(tables["citizens"], tables["devices"], tables["episodes"])
    return Directory(DynamoDeviceDirectory(tables["devices"]), lambda: registry.add_device(DEVICE),
                     lambda: registry.revoke_device(DEVICE, REGISTERED))


def test_a_device_stands_active_for_its_patient_types_and_credentials_until_revoked(devices):
    assert devices.directory.standing("dev_1") is None
    devices.register()
    assert devices.directory.standing("dev_1") == standing(DeviceStatus.ACTIVE)
    devices.revoke()
    assert devices.directory.standing("dev_1") == standing(DeviceStatus.REVOKED)
