"""Device registration and revocation rules with in-memory fakes: get-or-create, retries, 409, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.devices.logic import CredentialIssuer, DeviceService
from functions.devices.models import Device, DeviceRegistration
from functions.shared.device_records import DeviceStatus
from functions.shared.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.fakes import FakeDeviceRegistry, FakePseudonyms, FakeSigner
from tests.support.organisations import CENTRE

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
TTL = timedelta(days=365)
ISSUER = "https://telehub.example.dk/device-credentials"
AUDIENCE = "telehub-unit"
OTHER_CENTRE = "543210987654321"
CITIZEN = "2512489996"
OTHER_CITIZEN = "0101011235"
LOGISTICS = Principal(role=Role.LOGISTICS, subject="user-17", organisation=CENTRE)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def registry() -> FakeDeviceRegistry:
    return FakeDeviceRegistry()


@pytest.fixture
def service(registry, signing_key) -> DeviceService:
    credentials = CredentialIssuer(FakeSigner(signing_key), ISSUER, AUDIENCE, TTL, clock=lambda: NOW)
    return DeviceService(registry, FakePseudonyms(), credentials, clock=lambda: NOW)


def registration(**overrides) -> DeviceRegistration:
    fields = {"cpr": "251248-9996", "vendor": "Nonin", "model": "3230", "serial": "502012345",
              "measurement_types": ["spo2", "pulse"], **overrides}
    return DeviceRegistration.model_validate(fields)


def verified_claims(token: str, signing_key: rsa.RSAPrivateKey) -> dict:
    return jwt.decode(
        token, signing_key.public_key(), algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )


# --- registering --------------------------------------------------------------------------------


def test_a_new_device_is_registered_for_a_new_citizen(service, registry):
    # Given no citizen and no device yet
    # When the logistics centre registers a blood-pressure monitor
    outcome = service.register(registration(measurement_types=["blood_pressure"], serial="BP-1"), LOGISTICS)
    # Then a device is created, active, in the catalogue's vocabulary, registered by the centre
    device = outcome.device
    assert outcome.created
    assert device.status == DeviceStatus.ACTIVE
    assert device.measurement_types == ("diastolic", "pulse", "systolic")
    assert (device.registered_by, device.registered_at) == (CENTRE, NOW)
    assert device.device_id.startswith("dev_") and device.patient_id.startswith("pat_")
    # And the citizen got a patient id under the pseudonym, with the CPR kept only in the profile
    assert registry.patients == {FakePseudonyms().pseudonym(CITIZEN): device.patient_id}
    assert registry.profiles == {device.patient_id: {"cpr": CITIZEN}}


def test_the_credential_is_an_rs256_jwt_for_the_device(service, signing_key):
    # Given a registered device
    outcome = service.register(registration(), LOGISTICS)
    token = outcome.credential.token
    # When its credential is verified with the signing key's public half
    claims = verified_claims(token, signing_key)
    # Then it names the device as subject and role, with the key id and the configured lifetime
    device_id = outcome.device.device_id
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": FakeSigner.key_id}
    assert claims["sub"] == claims["telehub_device"] == device_id
    assert claims["telehub_role"] == "device"
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] == int((NOW + TTL).timestamp())
    assert outcome.credential.expires_at == NOW + TTL
    # And it says nothing about the citizen
    assert CITIZEN not in str(claims) and outcome.device.patient_id not in str(claims)


def test_a_second_device_for_the_same_citizen_gets_the_same_patient_id(service, registry):
    # Given a citizen with one device
    first = service.register(registration(), LOGISTICS).device
    # When a second device is registered for the same CPR written with the dash
    second = service.register(registration(serial="SCALE-7", measurement_types=["weight"]), LOGISTICS).device
    # Then it is a new device of the same patient
    assert second.device_id != first.device_id
    assert second.patient_id == first.patient_id
    assert len(registry.patients) == 1


def test_another_citizen_gets_another_patient_id(service):
    first = service.register(registration(), LOGISTICS).device
    other = service.register(registration(cpr=OTHER_CITIZEN, serial="X-2"), LOGISTICS).device
    assert other.patient_id != first.patient_id


def test_a_retried_registration_returns_the_same_device_with_a_fresh_credential(service, registry):
    # Given a device registered once
    first = service.register(registration(), LOGISTICS)
    # When the same registration arrives again (the reply was lost; a client retries)
    retry = service.register(registration(), LOGISTICS)
    # Then nothing new is created: the same device comes back, marked as not created, with a credential
    assert not retry.created
    assert retry.device == first.device
    assert retry.credential.token
    assert len(registry.devices) == 1


def test_a_retry_links_the_device_to_an_episode_opened_since(service, registry):
    # Given a device registered while the citizen had one open episode (COPD)
    first = service.register(registration(), LOGISTICS).device
    registry.episodes[first.patient_id] = [("epi_copd", CENTRE)]
    first = service.register(registration(), LOGISTICS).device
    assert first.episode_ids == ("epi_copd",)
    # When a heart-failure episode opens and the centre registers the same scale again for it
    registry.episodes[first.patient_id] = [("epi_copd", CENTRE), ("epi_hf", CENTRE)]
    retry = service.register(registration(), LOGISTICS)
    # Then the same device now serves both episodes, in the reply and in the store
    assert not retry.created and retry.device.device_id == first.device_id
    assert retry.device.episode_ids == ("epi_copd", "epi_hf")
    assert registry.devices[first.device_id].episode_ids == ("epi_copd", "epi_hf")


def test_a_retry_whose_device_is_revoked_meanwhile_registers_a_new_device(service, registry):
    # Given a registered device, and an episode of the citizen opened since
    first = service.register(registration(), LOGISTICS).device
    registry.episodes[first.patient_id] = [("epi_hf", CENTRE)]
    # When the device is revoked between the retry's read and its link
    registry.before_link_device = lambda: service.revoke(first.device_id, LOGISTICS)
    retry = service.register(registration(), LOGISTICS)
    # Then the retry decides again: a new device, linked to the episode
    assert retry.created and retry.device.device_id != first.device_id
    assert retry.device.episode_ids == ("epi_hf",)


def test_a_retry_matches_vendor_and_serial_without_regard_to_case(service, registry):
    first = service.register(registration(), LOGISTICS)
    retry = service.register(registration(vendor="NONIN", serial="502012345"), LOGISTICS)
    assert retry.device.device_id == first.device.device_id and len(registry.devices) == 1


def test_a_serial_active_for_another_citizen_is_a_conflict_and_writes_nothing(service, registry):
    # Given the serial is active for one citizen
    service.register(registration(), LOGISTICS)
    patients_before, devices_before = dict(registry.patients), dict(registry.devices)
    # When the same vendor and serial are registered for another citizen
    # Then it is a conflict
    with pytest.raises(Conflict, match="another citizen"):
        service.register(registration(cpr=OTHER_CITIZEN), LOGISTICS)
    # And nothing was written: no device, and not the other citizen either
    assert (registry.patients, registry.devices) == (patients_before, devices_before)


def test_the_same_device_from_another_organisation_is_a_conflict(service):
    service.register(registration(), LOGISTICS)
    other_centre = LOGISTICS.model_copy(update={"organisation": OTHER_CENTRE})
    with pytest.raises(Conflict, match="another organisation"):
        service.register(registration(), other_centre)


def test_a_concurrent_first_registration_of_a_citizen_yields_one_patient_id(service, registry):
    # Given another request creates the citizen between this request's read and its write
    competitor = "pat_competitor000000000000"
    pseudonym = FakePseudonyms().pseudonym(CITIZEN)
    registry.before_add_patient = lambda: registry.patients.setdefault(pseudonym, competitor)
    # When this request registers a device for the citizen
    device = service.register(registration(), LOGISTICS).device
    # Then it uses the competitor's patient id: the citizen still has exactly one
    assert device.patient_id == competitor
    assert registry.patients == {pseudonym: competitor}
    assert registry.profiles == {}


def test_a_concurrent_registration_of_the_same_device_yields_one_device(service, registry):
    # Given an identical request wins the device write between this request's read and its write
    winner = {}

    def competitor_registers() -> None:
        if not winner:
            registry.before_add_device = lambda: None
            winner["outcome"] = service.register(registration(), LOGISTICS)

    registry.before_add_device = competitor_registers
    # When this request completes
    outcome = service.register(registration(), LOGISTICS)
    # Then it returns the winner's device as a retry: there is one device
    assert not outcome.created
    assert outcome.device == winner["outcome"].device
    assert len(registry.devices) == 1


def test_a_store_that_keeps_refusing_writes_is_a_503_not_a_loop(service, registry):
    registry.refuse_writes = True
    with pytest.raises(ServiceUnavailable):
        service.register(registration(), LOGISTICS)


def test_a_logistics_principal_without_organisation_may_not_register(service, registry):
    with pytest.raises(Forbidden):
        service.register(registration(), Principal(role=Role.LOGISTICS, subject="x"))
    assert registry.patients == {}


# --- revoking -----------------------------------------------------------------------------------


def test_revoking_marks_the_device_revoked_and_releases_its_serial(service, registry):
    # Given a registered device
    device = service.register(registration(), LOGISTICS).device
    # When the registering centre revokes it
    service.revoke(device.device_id, LOGISTICS)
    # Then it is revoked with the time of revocation, and its serial may be registered again
    stored = registry.devices[device.device_id]
    assert (stored.status, stored.revoked_at) == (DeviceStatus.REVOKED, NOW)
    again = service.register(registration(cpr=OTHER_CITIZEN), LOGISTICS)
    assert again.created and again.device.device_id != device.device_id


def test_revoking_twice_is_harmless(service, registry):
    device = service.register(registration(), LOGISTICS).device
    service.revoke(device.device_id, LOGISTICS)
    revoked = registry.devices[device.device_id]
    service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id] == revoked


def test_revoking_an_unknown_device_is_not_found(service):
    with pytest.raises(NotFound):
        service.revoke("dev_000000000000000000000000", LOGISTICS)


def test_only_the_registering_organisation_may_revoke(service, registry):
    # Given a device registered by one centre
    device = service.register(registration(), LOGISTICS).device
    # When another centre tries to revoke it, Then it is forbidden and the device stays active
    with pytest.raises(Forbidden):
        service.revoke(device.device_id, LOGISTICS.model_copy(update={"organisation": OTHER_CENTRE}))
    assert registry.devices[device.device_id].status == DeviceStatus.ACTIVE


def test_a_revocation_that_lost_a_race_to_another_revocation_succeeds(service, registry):
    # Given the device is revoked by a concurrent request between this request's read and its write
    device = service.register(registration(), LOGISTICS).device
    original_revoke = registry.revoke_device

    def concurrent_revocation(target: Device, revoked_at: datetime) -> bool:
        original_revoke(target, revoked_at)
        return False

    registry.revoke_device = concurrent_revocation
    # When this request revokes, Then it succeeds: the device is revoked either way
    service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id].status == DeviceStatus.REVOKED


def test_a_revocation_the_store_refuses_is_a_503(service, registry):
    device = service.register(registration(), LOGISTICS).device
    registry.refuse_writes = True
    with pytest.raises(ServiceUnavailable):
        service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id].status == DeviceStatus.ACTIVE
