"""Device registration and revocation rules with in-memory fakes: get-or-create, retries, 409, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.devices.logic import (
    CREDENTIAL_GRACE,
    MINIMUM_ROTATION_INTERVAL,
    SERIAL_TAKEN,
    CredentialIssuer,
    DeviceService,
)
from functions.devices.models import Device, DeviceRegistration
from functions.shared.device_records import DEVICE_CREDENTIAL_TYPE, DeviceCredentials, DeviceStatus
from functions.shared.errors import (
    NO_RELATION,
    Conflict,
    Forbidden,
    NoRelation,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from functions.shared.principal import Principal, Role
from tests.support.fakes import FakeAccessLog, FakeDeviceRegistry, FakePseudonyms, FakeSigner, MovableClock
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
def access_log() -> FakeAccessLog:
    return FakeAccessLog()




@pytest.fixture
def clock() -> MovableClock[datetime]:
    return MovableClock(NOW)


@pytest.fixture
def service(registry, signing_key, access_log, clock) -> DeviceService:
    credentials = CredentialIssuer(FakeSigner(signing_key), ISSUER, AUDIENCE, TTL, clock=clock)
    return DeviceService(registry, FakePseudonyms(), credentials, access_log, clock=clock)


def registration(**overrides) -> DeviceRegistration:
    fields = {"cpr": "251248-9996", "vendor": "Nonin", "model": "3230", "serial": "502012345",
              "measurement_types": ["spo2", "pulse"], **overrides}
    return DeviceRegistration.model_validate(fields)


def referred(registry: FakeDeviceRegistry, cpr: str = CITIZEN, *episodes: tuple[str, str]) -> str:
    """The citizen as a referral leaves them: known, with open episodes (id, logistics centre); their
    patient id. One COPD episode of CENTRE unless ``episodes`` are given."""
    patient_id = f"pat_{cpr}"
    registry.add_patient(FakePseudonyms().pseudonym(cpr), patient_id, cpr)
    registry.episodes[patient_id] = list(episodes or [(f"epi_copd_{cpr}", CENTRE)])
    return patient_id


def verified_claims(token: str, signing_key: rsa.RSAPrivateKey) -> dict:
    return jwt.decode(
        token, signing_key.public_key(), algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )


# --- registering --------------------------------------------------------------------------------


def test_a_device_is_registered_for_a_citizen_of_an_open_episode_of_the_centre(service, registry):
    # Given a citizen referred with a planned COPD episode whose logistics centre is CENTRE
    patient_id = referred(registry)
    # When the centre registers a blood-pressure monitor
    outcome = service.register(registration(measurement_types=["blood_pressure"], serial="BP-1"), LOGISTICS)
    # Then a device is created, active, in the catalogue's vocabulary, registered by the centre
    device = outcome.device
    assert outcome.created
    assert device.status == DeviceStatus.ACTIVE
    assert device.measurement_types == ("diastolic", "pulse", "systolic")
    assert (device.registered_by, device.registered_at) == (CENTRE, NOW)
    assert device.device_id.startswith("dev_")
    # And it is the referred citizen's, linked to the episode; no citizen was created
    assert (device.patient_id, device.episode_ids) == (patient_id, (f"epi_copd_{CITIZEN}",))
    assert registry.patients == {FakePseudonyms().pseudonym(CITIZEN): patient_id}


def test_the_credential_is_an_rs256_jwt_for_the_device(service, registry, signing_key):
    # Given a registered device
    referred(registry)
    outcome = service.register(registration(), LOGISTICS)
    token = outcome.credential.token
    # When its credential is verified with the signing key's public half
    claims = verified_claims(token, signing_key)
    # Then it names the device as subject and role, with the key id and the configured lifetime
    device_id = outcome.device.device_id
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": DEVICE_CREDENTIAL_TYPE,
                                                "kid": FakeSigner.key_id}
    assert claims["sub"] == claims["telehub_device"] == device_id
    # And its id is the device's current credential, as stored
    assert claims["jti"] == outcome.credential.credential_id
    assert outcome.device.credentials == registry.devices[device_id].credentials == DeviceCredentials(
        claims["jti"], current_issued_at=NOW)
    assert claims["telehub_role"] == "device"
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] == int((NOW + TTL).timestamp())
    assert outcome.credential.expires_at == NOW + TTL
    # And it says nothing about the citizen
    assert CITIZEN not in str(claims) and outcome.device.patient_id not in str(claims)


def test_a_second_device_for_the_same_citizen_gets_the_same_patient_id(service, registry):
    # Given a referred citizen with one device
    referred(registry)
    first = service.register(registration(), LOGISTICS).device
    # When a second device is registered for the same CPR written with the dash
    second = service.register(registration(serial="SCALE-7", measurement_types=["weight"]), LOGISTICS).device
    # Then it is a new device of the same patient
    assert second.device_id != first.device_id
    assert second.patient_id == first.patient_id


def test_another_citizen_gets_another_patient_id(service, registry):
    referred(registry)
    referred(registry, OTHER_CITIZEN)
    first = service.register(registration(), LOGISTICS).device
    other = service.register(registration(cpr=OTHER_CITIZEN, serial="X-2"), LOGISTICS).device
    assert other.patient_id != first.patient_id


def test_a_retried_registration_returns_the_same_device_with_a_fresh_credential(service, registry, clock):
    # Given a device registered once
    referred(registry)
    first = service.register(registration(), LOGISTICS)
    # When the same registration arrives again (the reply was lost; a client retries)
    clock.now = NOW + timedelta(seconds=5)
    retry = service.register(registration(), LOGISTICS)
    # Then nothing new is created: the same device comes back, marked as not created, with a credential
    assert not retry.created
    assert retry.device.device_id == first.device.device_id
    assert len(registry.devices) == 1
    # And the retry's credential replaced the first: current now, the first one the previous for the grace
    assert retry.credential.credential_id != first.credential.credential_id
    assert retry.device.credentials == registry.devices[first.device.device_id].credentials == (
        DeviceCredentials(retry.credential.credential_id, first.credential.credential_id,
                          clock.now + CREDENTIAL_GRACE, clock.now))


def test_retries_never_multiply_the_valid_credentials(service, registry, clock):
    # Given a registration sent five times (a client that retried on every timeout)
    referred(registry)
    replies = [service.register(registration(), LOGISTICS) for _ in range(5)]
    sent = [reply.credential.credential_id for reply in replies]
    # When the credentials are checked within the grace of the last retry
    credentials = registry.devices[replies[0].device.device_id].credentials
    clock.now = NOW + CREDENTIAL_GRACE / 2
    # Then only the last two are valid (the last reply's, and the one before for the grace), not the others
    assert [credential for credential in sent if credentials.accepts(credential, clock.now)] == sent[-2:]


def test_a_retry_links_the_device_to_an_episode_opened_since(service, registry):
    # Given a device registered while the citizen had one open episode (COPD)
    patient_id = referred(registry, CITIZEN, ("epi_copd", CENTRE))
    first = service.register(registration(), LOGISTICS).device
    assert first.episode_ids == ("epi_copd",)
    # When a heart-failure episode opens and the centre registers the same scale again for it
    registry.episodes[patient_id].append(("epi_hf", CENTRE))
    retry = service.register(registration(), LOGISTICS)
    # Then the same device now serves both episodes, in the reply and in the store
    assert not retry.created and retry.device.device_id == first.device_id
    assert retry.device.episode_ids == ("epi_copd", "epi_hf")
    assert registry.devices[first.device_id].episode_ids == ("epi_copd", "epi_hf")


def test_a_retry_whose_device_is_revoked_meanwhile_registers_a_new_device(service, registry):
    # Given a registered device, and an episode of the citizen opened since
    patient_id = referred(registry, CITIZEN, ("epi_copd", CENTRE))
    first = service.register(registration(), LOGISTICS).device
    registry.episodes[patient_id].append(("epi_hf", CENTRE))
    # When the device is revoked between the retry's read and its link
    registry.before_link_device = lambda: service.revoke(first.device_id, LOGISTICS)
    retry = service.register(registration(), LOGISTICS)
    # Then the retry decides again: a new device, linked to both episodes
    assert retry.created and retry.device.device_id != first.device_id
    assert retry.device.episode_ids == ("epi_copd", "epi_hf")


def test_a_retry_matches_vendor_and_serial_without_regard_to_case(service, registry):
    referred(registry)
    first = service.register(registration(), LOGISTICS)
    retry = service.register(registration(vendor="NONIN", serial="502012345"), LOGISTICS)
    assert retry.device.device_id == first.device.device_id and len(registry.devices) == 1


# --- refused: no reason, or the serial is taken -----------------------------------------------------


def no_episode(registry: FakeDeviceRegistry) -> None:
    registry.add_patient(FakePseudonyms().pseudonym(CITIZEN), "pat_known", CITIZEN)


def another_centres_episode(registry: FakeDeviceRegistry) -> None:
    referred(registry, CITIZEN, ("epi_copd", OTHER_CENTRE))


@pytest.mark.parametrize("arrange", [lambda registry: None, no_episode, another_centres_episode],
                         ids=["unknown citizen", "known, no open episode", "another centre's episode"])
def test_without_an_open_episode_of_its_own_the_centre_is_refused_alike_and_nothing_is_written(
        service, registry, arrange):
    # Given a CPR unknown, known without an open episode, or with another logistics centre's episode
    arrange(registry)
    patients_before = dict(registry.patients)
    # When the centre registers a device for the citizen
    with pytest.raises(Forbidden) as refusal:
        service.register(registration(), LOGISTICS)
    # Then it is one refusal, which says nothing about the citizen, and nothing is written
    assert isinstance(refusal.value, NoRelation)
    assert (refusal.value.message, refusal.value.problems) == (NO_RELATION, [])
    assert registry.devices == {} and registry.claims == {} and registry.patients == patients_before


def test_an_episode_that_ends_before_the_device_is_stored_takes_the_reason_away(service, registry):
    # Given a referred citizen whose only episode ends between the request's read and its write
    patient_id = referred(registry)
    registry.before_add_device = lambda: registry.episodes.pop(patient_id)
    # When the centre registers a device, Then it is refused as if there had been no episode
    with pytest.raises(Forbidden, match=NO_RELATION):
        service.register(registration(), LOGISTICS)
    assert registry.devices == {}


def test_a_retry_after_the_last_episode_ended_is_refused(service, registry):
    # Given a device registered during an episode that has ended since (ending revokes its devices;
    # here the device is left active, as if the ending had not reached it)
    patient_id = referred(registry)
    service.register(registration(), LOGISTICS)
    registry.episodes[patient_id] = []
    # When the centre sends the registration again, Then it is refused: no fresh credential
    with pytest.raises(Forbidden, match=NO_RELATION):
        service.register(registration(), LOGISTICS)


def test_a_serial_active_for_another_citizen_is_a_conflict_that_names_no_one_and_writes_nothing(
        service, registry):
    # Given the serial is active for one citizen, and another citizen referred to the same centre
    referred(registry)
    referred(registry, OTHER_CITIZEN)
    service.register(registration(), LOGISTICS)
    devices_before = dict(registry.devices)
    # When the same vendor and serial are registered for the other citizen
    # Then it is a conflict saying only that the serial is taken
    with pytest.raises(Conflict) as conflict:
        service.register(registration(cpr=OTHER_CITIZEN), LOGISTICS)
    assert (conflict.value.message, conflict.value.problems) == (SERIAL_TAKEN, [])
    # And nothing was written
    assert registry.devices == devices_before


def test_the_citizens_device_registered_by_another_centre_is_the_same_conflict(service, registry):
    # Given a device another centre registered for the citizen, still active, and the citizen's episode
    # now with this centre (a new referral named it)
    patient_id = referred(registry, CITIZEN, ("epi_copd", OTHER_CENTRE))
    service.register(registration(), LOGISTICS.model_copy(update={"organisation": OTHER_CENTRE}))
    registry.episodes[patient_id] = [("epi_hf", CENTRE)]
    # When this centre registers the same serial, Then the 409 says only that the serial is taken
    with pytest.raises(Conflict) as conflict:
        service.register(registration(), LOGISTICS)
    assert conflict.value.message == SERIAL_TAKEN


def test_a_concurrent_registration_of_the_same_device_yields_one_device(service, registry):
    # Given an identical request wins the device write between this request's read and its write
    referred(registry)
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
    assert outcome.device.device_id == winner["outcome"].device.device_id
    assert len(registry.devices) == 1
    # And the device uses this request's credential, with the winner's for the grace
    assert outcome.device.credentials.current == outcome.credential.credential_id
    assert outcome.device.credentials.previous == winner["outcome"].credential.credential_id


def test_a_registration_that_loses_a_race_is_logged_once(service, registry, access_log):
    # Given an identical request that wins the device write between this request's read and its write
    patient_id = referred(registry)
    registry.before_add_device = lambda: setattr(registry, "before_add_device", lambda: None) or (
        service.register(registration(), LOGISTICS))
    # When this request completes (as a retry, on its second attempt)
    assert not service.register(registration(), LOGISTICS).created
    # Then each of the two requests has one entry, not one per attempt
    assert access_log.entries == [(patient_id, CENTRE, "register_device", f"epi_copd_{CITIZEN}")] * 2


def test_a_registration_and_its_retry_are_logged_for_each_episode_the_device_serves(
        service, registry, access_log):
    # Given a citizen with two open episodes of the centre
    patient_id = referred(registry, CITIZEN, ("epi_copd", CENTRE), ("epi_hf", CENTRE))
    # When the centre registers a device, and retries (its reply, which names the patient id, was lost)
    service.register(registration(), LOGISTICS)
    service.register(registration(), LOGISTICS)
    # Then each reply was logged first, once for each episode the device joined
    assert access_log.entries == [(patient_id, CENTRE, "register_device", "epi_copd"),
                                  (patient_id, CENTRE, "register_device", "epi_hf")] * 2
    assert access_log.denials == []


def _unavailable(*_: object) -> None:
    raise ServiceUnavailable("the access log could not store the entry; retry the request")


def test_nothing_is_registered_when_the_registration_cannot_be_logged(service, registry, access_log,
                                                                    monkeypatch):
    # Given a referred citizen, and an access log that cannot store entries now
    referred(registry)
    monkeypatch.setattr(access_log, "record_many", _unavailable)
    # When the centre registers a device, Then the request fails and no device or serial claim is stored
    with pytest.raises(ServiceUnavailable):
        service.register(registration(), LOGISTICS)
    assert registry.devices == {} and registry.claims == {}


def test_a_refused_registration_is_logged_as_denied_only_for_a_known_citizen(service, registry, access_log):
    # Given a citizen known with another centre's episode, and a CPR number nobody has
    patient_id = referred(registry, CITIZEN, ("epi_copd", OTHER_CENTRE))
    # When the centre registers a device for each, Then both are refused
    for cpr in (CITIZEN, OTHER_CITIZEN):
        with pytest.raises(NoRelation):
            service.register(registration(cpr=cpr), LOGISTICS)
    # And only the known citizen's refusal is logged, denied, under no episode
    assert access_log.denials == [(patient_id, CENTRE, "register_device", "")]
    assert access_log.entries == []


def test_a_store_that_keeps_refusing_writes_is_a_503_not_a_loop(service, registry):
    referred(registry)
    registry.refuse_writes = True
    with pytest.raises(ServiceUnavailable):
        service.register(registration(), LOGISTICS)


def test_a_logistics_principal_without_organisation_may_not_register(service, registry):
    referred(registry)
    with pytest.raises(Forbidden):
        service.register(registration(), Principal(role=Role.LOGISTICS, subject="x"))
    assert registry.devices == {}


# --- revoking -----------------------------------------------------------------------------------


@pytest.fixture
def device(service, registry, clock) -> Device:
    """A device the centre registered for a referred citizen, long enough ago that it may rotate now."""
    referred(registry)
    clock.now = NOW - MINIMUM_ROTATION_INTERVAL
    registered = service.register(registration(), LOGISTICS).device
    clock.now = NOW
    return registered


def test_revoking_marks_the_device_revoked_and_releases_its_serial(service, registry, device):
    # Given a registered device, and another citizen referred to the centre
    referred(registry, OTHER_CITIZEN)
    # When the registering centre revokes it
    service.revoke(device.device_id, LOGISTICS)
    # Then it is revoked with the time of revocation, and its serial may be registered again
    stored = registry.devices[device.device_id]
    assert (stored.status, stored.revoked_at) == (DeviceStatus.REVOKED, NOW)
    again = service.register(registration(cpr=OTHER_CITIZEN), LOGISTICS)
    assert again.created and again.device.device_id != device.device_id


def test_revoking_twice_is_harmless(service, registry, device):
    service.revoke(device.device_id, LOGISTICS)
    revoked = registry.devices[device.device_id]
    service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id] == revoked


def test_revoking_an_unknown_device_is_the_no_relation_refusal(service):
    with pytest.raises(NoRelation):
        service.revoke("dev_000000000000000000000000", LOGISTICS)


def test_another_organisations_device_is_as_unknown_to_it_as_no_device(service, registry, device):
    # Given a device registered by one centre
    other_centre = LOGISTICS.model_copy(update={"organisation": OTHER_CENTRE})
    # When another centre revokes it, and a device id that names no device
    with pytest.raises(NoRelation) as theirs:
        service.revoke(device.device_id, other_centre)
    with pytest.raises(NoRelation) as unknown:
        service.revoke("dev_000000000000000000000000", other_centre)
    # Then both are the one refusal, which tells nothing of the device, and the device stays active
    assert theirs.value == unknown.value
    assert registry.devices[device.device_id].status == DeviceStatus.ACTIVE


def test_a_revocation_that_lost_a_race_to_another_revocation_succeeds(service, registry, device):
    # Given the device is revoked by a concurrent request between this request's read and its write
    original_revoke = registry.revoke_device

    def concurrent_revocation(target: Device, revoked_at: datetime) -> bool:
        original_revoke(target, revoked_at)
        return False

    registry.revoke_device = concurrent_revocation
    # When this request revokes, Then it succeeds: the device is revoked either way
    service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id].status == DeviceStatus.REVOKED


def test_a_revocation_the_store_refuses_is_a_503(service, registry, device):
    registry.refuse_writes = True
    with pytest.raises(ServiceUnavailable):
        service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id].status == DeviceStatus.ACTIVE


def test_a_revocation_and_its_retry_are_logged_and_another_centres_attempt_denied(
        service, registry, device, access_log):
    # Given a registered device (its registration's entry set aside)
    access_log.entries.clear()
    # When its centre revokes it twice, and another centre tries to
    service.revoke(device.device_id, LOGISTICS)
    service.revoke(device.device_id, LOGISTICS)
    with pytest.raises(NoRelation):
        service.revoke(device.device_id, LOGISTICS.model_copy(update={"organisation": OTHER_CENTRE}))
    # Then each revocation is logged under the device's episode, and the other centre's as denied
    assert access_log.entries == [(device.patient_id, CENTRE, "revoke_device", device.episode_ids[0])] * 2
    assert access_log.denials == [(device.patient_id, OTHER_CENTRE, "revoke_device", "")]


def test_a_revocation_that_cannot_be_logged_leaves_the_device_active(service, registry, device, access_log,
                                                                     monkeypatch):
    monkeypatch.setattr(access_log, "record_many", _unavailable)
    with pytest.raises(ServiceUnavailable):
        service.revoke(device.device_id, LOGISTICS)
    assert registry.devices[device.device_id].status == DeviceStatus.ACTIVE


# --- rotating the credential --------------------------------------------------------------------


def as_device(device: Device, credential_id: str | None) -> Principal:
    """The device's principal, as the authorizer hands it on for a credential it let in."""
    return Principal(role=Role.DEVICE, subject=device.device_id, device_id=device.device_id,
                     patient_id=device.patient_id, measurement_types=device.measurement_types,
                     credential_id=credential_id)


def test_a_rotation_makes_a_new_credential_current_and_gives_the_old_one_a_grace(
        service, registry, device, clock, signing_key, access_log):
    # Given a registered device calling with its credential, a day later
    old = device.credentials.current
    clock.now = NOW + timedelta(days=1)
    logged = list(access_log.entries)
    # When it rotates
    rotation = service.rotate_credential(as_device(device, old))
    # Then it gets a new credential of its own, as long-lived as a registered one
    claims = verified_claims(rotation.credential.token, signing_key)
    assert (claims["sub"], claims["jti"]) == (device.device_id, rotation.credential.credential_id)
    assert rotation.credential.expires_at == clock.now + TTL
    # And the device records the new one as current and the old one until the grace ends, which the reply says
    assert registry.devices[device.device_id].credentials == DeviceCredentials(
        rotation.credential.credential_id, old, clock.now + CREDENTIAL_GRACE, clock.now)
    assert rotation.previous_valid_until == clock.now + CREDENTIAL_GRACE
    # And a rotation names no citizen's data: nothing is access-logged for it
    assert access_log.entries == logged and access_log.denials == []


def test_the_old_credential_stops_once_the_grace_ends(service, registry, device, clock):
    # Given a rotated credential
    old = device.credentials.current
    rotation = service.rotate_credential(as_device(device, old))
    credentials = registry.devices[device.device_id].credentials
    # Then the old one works until the grace ends, and not from then on; the new one on
    assert credentials.accepts(old, NOW + CREDENTIAL_GRACE - timedelta(seconds=1))
    assert not credentials.accepts(old, NOW + CREDENTIAL_GRACE)
    assert credentials.accepts(rotation.credential.credential_id, NOW + CREDENTIAL_GRACE)


def test_a_retry_with_the_old_credential_gets_the_lost_reply_again_and_keeps_its_grace(
        service, registry, device, clock):
    # Given a rotation whose reply the device never received
    old = device.credentials.current
    lost = service.rotate_credential(as_device(device, old))
    recorded = registry.devices[device.device_id]
    # When the device retries with its old credential, three minutes on (within the interval: not refused)
    clock.now = NOW + timedelta(minutes=3)
    retry = service.rotate_credential(as_device(device, old))
    # Then it gets the lost reply's credential again, the very token, with the grace the old one had (not
    # extended), and nothing is written: a retry never makes a third credential
    assert retry.credential == lost.credential
    assert retry.previous_valid_until == lost.previous_valid_until == NOW + CREDENTIAL_GRACE
    assert registry.devices[device.device_id] == recorded


def test_a_rotation_with_the_new_credential_retires_the_old_one_at_once(service, registry, device, clock):
    # Given a rotation the device received
    old = device.credentials.current
    first = service.rotate_credential(as_device(device, old))
    # When it rotates again, with the new credential, once it may
    clock.now = NOW + MINIMUM_ROTATION_INTERVAL
    second = service.rotate_credential(as_device(device, first.credential.credential_id))
    # Then the first rotation's credential has the grace, and the original one is valid no more
    credentials = registry.devices[device.device_id].credentials
    assert (credentials.current, credentials.previous) == (second.credential.credential_id,
                                                          first.credential.credential_id)
    assert not credentials.accepts(old, clock.now)


def test_a_device_rotating_its_current_credential_too_soon_is_told_when_it_may(service, registry, device,
                                                                                clock):
    # Given a device whose current credential it got by a rotation 4 minutes and 0.5 seconds ago
    rotated = service.rotate_credential(as_device(device, device.credentials.current))
    clock.now = NOW + timedelta(minutes=4, milliseconds=500)
    before = registry.devices[device.device_id]
    # When it rotates again with that credential
    with pytest.raises(TooManyRequests) as refused:
        service.rotate_credential(as_device(device, rotated.credential.credential_id))
    # Then it is refused with the whole seconds left of the interval, and nothing changes
    assert refused.value.retry_after_seconds == (MINIMUM_ROTATION_INTERVAL - timedelta(minutes=4)).seconds
    assert refused.value.headers() == {"Retry-After": str(refused.value.retry_after_seconds)}
    assert registry.devices[device.device_id] == before
    # And once the interval has passed since that credential was issued, it may
    clock.now = NOW + MINIMUM_ROTATION_INTERVAL
    again = service.rotate_credential(as_device(device, rotated.credential.credential_id))
    assert registry.devices[device.device_id].credentials.current == again.credential.credential_id


def test_a_just_registered_device_waits_the_interval_before_its_first_rotation(service, registry, clock):
    # Given a device registered a minute ago
    referred(registry)
    device = service.register(registration(), LOGISTICS).device
    clock.now = NOW + timedelta(minutes=1)
    # When it rotates, Then the registration's credential counts as issued then
    with pytest.raises(TooManyRequests) as refused:
        service.rotate_credential(as_device(device, device.credentials.current))
    assert refused.value.retry_after_seconds == (MINIMUM_ROTATION_INTERVAL - timedelta(minutes=1)).seconds


def test_rotating_again_and_again_gets_a_device_one_new_credential_per_interval_and_never_three(
        service, registry, device, clock):
    # Given a device that asks to rotate every 10 seconds for an hour, with its newest credential and, when
    # refused, with the one before (a firmware escaping the per-credential limit would try both)
    held = [device.credentials.current]  # the credentials it got, the newest last
    for step in range(360):
        clock.now = NOW + timedelta(seconds=10 * step)
        for caller in reversed(held[-2:]):
            if not registry.devices[device.device_id].credentials.accepts(caller, clock.now):
                continue
            try:
                rotation = service.rotate_credential(as_device(device, caller))
            except TooManyRequests:
                continue
            if rotation.credential.credential_id not in held:
                held.append(rotation.credential.credential_id)
            break
        # Then at no time are more than two of its credentials valid
        credentials = registry.devices[device.device_id].credentials
        assert sum(credentials.accepts(credential, clock.now) for credential in held) <= 2
    # And it got a new credential once per interval, no more
    assert len(held) == 1 + timedelta(hours=1) // MINIMUM_ROTATION_INTERVAL


def test_a_registration_retry_is_not_held_to_the_devices_rotation_interval(service, registry, clock):
    # Given a device registered a minute ago, whose centre retries the registration (its reply was lost)
    referred(registry)
    first = service.register(registration(), LOGISTICS)
    clock.now = NOW + timedelta(minutes=1)
    # When the retry arrives, Then it rotates at once: the centre gets a working credential
    retry = service.register(registration(), LOGISTICS)
    credentials = registry.devices[first.device.device_id].credentials
    assert (credentials.current, credentials.previous) == (retry.credential.credential_id,
                                                          first.credential.credential_id)


@pytest.mark.parametrize("caller", ["crd_never_recorded", None])
def test_a_credential_the_device_does_not_accept_cannot_rotate(service, registry, device, caller):
    # Given a caller whose credential is not the device's (replaced since the authorizer let it in), or none
    before = registry.devices[device.device_id]
    # When it rotates, Then it is refused as unauthenticated and nothing changes
    with pytest.raises(Unauthorized):
        service.rotate_credential(as_device(device, caller))
    assert registry.devices[device.device_id] == before


def test_a_previous_credential_after_its_grace_cannot_rotate(service, registry, device, clock):
    old = device.credentials.current
    service.rotate_credential(as_device(device, old))
    clock.now = NOW + CREDENTIAL_GRACE
    with pytest.raises(Unauthorized):
        service.rotate_credential(as_device(device, old))


def test_a_revoked_device_cannot_rotate(service, registry, device):
    # Given a device revoked after the authorizer let its request in
    service.revoke(device.device_id, LOGISTICS)
    # When it rotates, Then it is refused and the device keeps no new credential
    with pytest.raises(Unauthorized):
        service.rotate_credential(as_device(device, device.credentials.current))
    assert registry.devices[device.device_id].credentials == device.credentials


def test_a_rotation_that_loses_a_race_decides_again_on_what_is_stored(service, registry, device):
    # Given another rotation with the same credential that wins between this one's read and its write
    old = device.credentials.current
    winner = {}

    def competitor_rotates() -> None:
        registry.before_rotate_credential = lambda: None
        winner["rotation"] = service.rotate_credential(as_device(device, old))

    registry.before_rotate_credential = competitor_rotates
    # When this rotation completes
    rotation = service.rotate_credential(as_device(device, old))
    # Then it sees its credential replaced, as a retry would, and gets the winner's credential too: one
    # current credential, the old one the previous with its grace
    assert rotation.credential == winner["rotation"].credential
    credentials = registry.devices[device.device_id].credentials
    assert (credentials.current, credentials.previous) == (rotation.credential.credential_id, old)


def test_a_rotation_the_store_keeps_refusing_is_a_503(service, registry, device):
    registry.refuse_writes = True
    with pytest.raises(ServiceUnavailable):
        service.rotate_credential(as_device(device, device.credentials.current))
