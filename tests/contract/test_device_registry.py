"""The device registry's contract (functions.devices.logic.DeviceRegistry), for the fake and for the DynamoDB
adapter under moto. The citizen store's is tests/contract/test_citizen_store.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import boto3
import pytest

from functions.devices.logic import DeviceRegistry
from functions.devices.models import Device
from functions.devices.repository import DynamoDeviceRegistry
from functions.referral_intake.repository import DynamoEpisodeStore
from functions.shared.device_records import DeviceCredentials, DeviceStatus, serial_claim_key
from tests.support.contract import FAKE, REAL
from tests.support.episodes import new_episode, order
from tests.support.fakes import FakeDeviceRegistry
from tests.support.organisations import CENTRE
from tests.support.profiles import citizen_store

REGISTERED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
REVOKED_AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PATIENT = "pat_000000000000000000000001"
CPR = "2512489996"
SERIAL = "502012345"


@dataclass
class Registry:
    """The registry, and how a test opens and ends a citizen's episodes (the episode store's writes)."""

    devices: DeviceRegistry
    open_episode: Callable[[str, str], None]  # episode id, disease area
    end_episode: Callable[[str], None]
    damage_claim: Callable[[str | None], None]  # the sample serial's claim names this device, or is lost


@pytest.fixture(params=[FAKE, REAL])
def registry(request) -> Registry:
    if request.param == FAKE:
        fake = FakeDeviceRegistry()
        fake.add_patient("pseudonym-1", PATIENT, CPR)

        def end_fake(episode_id: str) -> None:
            fake.episodes[PATIENT] = [entry for entry in fake.episodes[PATIENT] if entry[0] != episode_id]

        def damage_fake_claim(device_id: str | None) -> None:
            fake.claims.pop(("nonin", SERIAL), None)
            if device_id is not None:
                fake.claims[("nonin", SERIAL)] = device_id

        return Registry(
            fake, lambda episode_id, area: fake.episodes.setdefault(PATIENT, []).append((episode_id, CENTRE)),
            end_fake, damage_fake_claim,
        )
    names = request.getfixturevalue("moto_resources")
    tables = names.tables
    real = DynamoDeviceRegistry(tables["citizens"], tables["devices"], tables["episodes"])
    citizens = citizen_store(names)
    citizens.add_patient("pseudonym-1", PATIENT, CPR)
    episodes = DynamoEpisodeStore(tables["episodes"], tables["devices"], citizens,
                                  evaluations_table=tables["evaluations"])

    def end_real(episode_id: str) -> None:
        episode = episodes.episode(episode_id)
        assert episode is not None
        assert episodes.end(episode, REVOKED_AT, order(episode_id, "collect"), revoked=(), kept={})

    def damage_real_claim(device_id: str | None) -> None:
        dynamodb, claim = boto3.Session().client("dynamodb"), serial_claim_key("Nonin", SERIAL)
        if device_id is None:
            dynamodb.delete_item(TableName=tables["citizens"], Key=claim)
        else:
            dynamodb.put_item(TableName=tables["citizens"], Item={**claim, "device_id": {"S": device_id}})

    return Registry(
        real, lambda episode_id, area: episodes.create(new_episode(episode_id, PATIENT, area)), end_real,
        damage_real_claim,
    )


FIRST = DeviceCredentials("crd_1")


def device(device_id: str = "dev_1", serial: str = SERIAL, vendor: str = "Nonin",
           episode_ids: tuple[str, ...] = (), credentials: DeviceCredentials = FIRST) -> Device:
    return Device(
        device_id=device_id, patient_id=PATIENT, status=DeviceStatus.ACTIVE, vendor=vendor, model="3230",
        serial=serial, measurement_types=("pulse", "spo2"), registered_by=CENTRE, registered_at=REGISTERED,
        medcom_instrument_code="MCI00001", episode_ids=episode_ids, credentials=credentials,
    )


def test_a_registered_device_is_found_by_id_and_by_its_serial_in_any_case(registry):
    assert registry.devices.add_device(device())
    assert registry.devices.find_device("dev_1") == device()
    assert registry.devices.device_with_serial("NONIN", SERIAL) == device()
    assert registry.devices.find_device("dev_unknown") is None
    assert registry.devices.device_with_serial("Nonin", "999") is None


def test_a_claimed_serial_refuses_another_device_until_the_first_is_revoked(registry):
    registry.devices.add_device(device())
    # Another device with the same serial (another spelling of the vendor) is refused, and not stored
    assert not registry.devices.add_device(device("dev_2", vendor="nonin"))
    assert registry.devices.find_device("dev_2") is None
    # Once the first is revoked, it is found revoked and the serial is free
    assert registry.devices.revoke_device(device(), REVOKED_AT)
    assert registry.devices.find_device("dev_1") == replace(device(), status=DeviceStatus.REVOKED,
                                                            revoked_at=REVOKED_AT)
    assert registry.devices.device_with_serial("Nonin", SERIAL) is None
    assert registry.devices.add_device(device("dev_2"))


def test_only_an_active_device_is_revoked(registry):
    registry.devices.add_device(device())
    assert registry.devices.revoke_device(device(), REVOKED_AT)
    assert not registry.devices.revoke_device(device(), REVOKED_AT)
    assert not registry.devices.revoke_device(device("dev_unknown"), REVOKED_AT)


def test_a_revocation_is_refused_while_the_serial_claim_names_another_device(registry):
    # Given a device whose serial claim (by data damage) names another device
    registry.devices.add_device(device())
    registry.damage_claim("dev_someone_else")
    # When it is revoked, Then nothing is written: the device stays active, the other's claim stays
    assert not registry.devices.revoke_device(device(), REVOKED_AT)
    assert registry.devices.find_device("dev_1").status == DeviceStatus.ACTIVE
    assert registry.devices.device_with_serial("Nonin", SERIAL) is None  # the claim's device is unknown
    assert not registry.devices.add_device(device("dev_2"))


def test_a_lost_serial_claim_does_not_block_a_revocation(registry):
    registry.devices.add_device(device())
    registry.damage_claim(None)
    assert registry.devices.revoke_device(device(), REVOKED_AT)
    assert registry.devices.find_device("dev_1").status == DeviceStatus.REVOKED


def test_the_citizens_open_episodes_are_listed_with_their_logistics_centre(registry):
    assert registry.devices.open_episodes(PATIENT) == []
    registry.open_episode("epi_1", "copd")
    registry.open_episode("epi_2", "heart_failure")
    assert sorted(registry.devices.open_episodes(PATIENT)) == [("epi_1", CENTRE), ("epi_2", CENTRE)]
    registry.end_episode("epi_1")
    assert registry.devices.open_episodes(PATIENT) == [("epi_2", CENTRE)]


def test_a_device_is_registered_for_open_episodes_only(registry):
    registry.open_episode("epi_1", "copd")
    registry.open_episode("epi_2", "heart_failure")
    registry.end_episode("epi_2")
    # For an episode that ended, nothing is registered
    assert not registry.devices.add_device(device(episode_ids=("epi_1", "epi_2")))
    assert registry.devices.find_device("dev_1") is None
    # For the open one, it is
    assert registry.devices.add_device(device(episode_ids=("epi_1",)))
    assert registry.devices.find_device("dev_1").episode_ids == ("epi_1",)


def test_an_active_device_is_linked_to_more_open_episodes(registry):
    registry.open_episode("epi_1", "copd")
    registry.devices.add_device(device(episode_ids=("epi_1",)))
    registry.open_episode("epi_2", "heart_failure")
    registry.open_episode("epi_3", "diabetes")
    registry.end_episode("epi_3")
    # To an episode that ended, it is not linked
    assert not registry.devices.link_device(device(), ("epi_3",))
    # To an open one, it is, and keeps its links
    assert registry.devices.link_device(device(), ("epi_2",))
    assert registry.devices.find_device("dev_1").episode_ids == ("epi_1", "epi_2")
    # A revoked device is linked to nothing
    registry.devices.revoke_device(device(), REVOKED_AT)
    registry.open_episode("epi_4", "hypertension")
    assert not registry.devices.link_device(device(), ("epi_4",))


def test_an_unknown_device_is_linked_to_nothing(registry):
    registry.open_episode("epi_1", "copd")
    assert not registry.devices.link_device(device(), ("epi_1",))
    assert registry.devices.find_device("dev_1") is None


GRACE_END = datetime(2026, 11, 25, 9, 40, 0, 123456, tzinfo=UTC)


def test_a_rotation_records_the_credentials_while_the_current_one_is_the_one_read(registry):
    # Given a device registered with its first credential
    registry.devices.add_device(device())
    # When its credentials are rotated, from what was read
    second = DeviceCredentials("crd_2", "crd_1", GRACE_END)
    assert registry.devices.rotate_credential(device(), second)
    # Then the device holds them, the grace's end to the microsecond
    assert registry.devices.find_device("dev_1").credentials == second
    # And a rotation from the stale read (the current credential is no longer crd_1) writes nothing
    assert not registry.devices.rotate_credential(device(), DeviceCredentials("crd_3", "crd_1", GRACE_END))
    # While one from the fresh read does, and one without a previous credential clears it
    assert registry.devices.rotate_credential(device(credentials=second), DeviceCredentials("crd_4"))
    assert registry.devices.find_device("dev_1").credentials == DeviceCredentials("crd_4")


def test_a_revoked_or_unknown_device_is_not_rotated(registry):
    registry.devices.add_device(device())
    registry.devices.revoke_device(device(), REVOKED_AT)
    assert not registry.devices.rotate_credential(device(), DeviceCredentials("crd_2", "crd_1", GRACE_END))
    assert registry.devices.find_device("dev_1").credentials == FIRST
    assert not registry.devices.rotate_credential(device("dev_unknown"), DeviceCredentials("crd_2"))
    assert registry.devices.find_device("dev_unknown") is None
