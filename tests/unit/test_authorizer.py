"""The authorizer's rules with in-memory keys and devices: who is let in, and every way to be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from functions.authorizer.logic import LEEWAY_SECONDS, MAX_TOKEN_CHARS, Authenticator
from functions.authorizer.models import NotAuthenticated, TrustSettings, policy_for
from functions.authorizer.usage import UsageKeys
from functions.shared.device_records import (
    DEVICE_CREDENTIAL_TYPE,
    DeviceCredentials,
    DeviceStanding,
    DeviceStatus,
)
from functions.shared.principal import Principal, Role
from tests.support.citizen_view import FakeCitizenDirectory
from tests.support.fakes import FakeDeviceDirectory, FakeDeviceKey, FakeIdentityProviderKeys, MovableClock

IDP = "https://idp.example.dk/"
DEVICE_ISSUER = "https://telehub.example.dk/device-credentials"
AUDIENCE = "telehub-unit"
DEVICE_KEY_ID = "kms-key-1"
SOR = "123456789012345"
DEVICE_ID = "dev_0123456789abcdef01234567"
PATIENT_ID = "pat_76543210fedcba9876543210"
MEASURES = ("pulse", "spo2")  # what the device was registered for
CLIENT = "telehub-clinician-web"
TRUST = TrustSettings(IDP, AUDIENCE, DEVICE_ISSUER, DEVICE_KEY_ID, frozenset({CLIENT, "telehub-logistics"}))
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # the authorizer's clock, for a credential's grace
CREDENTIAL_ID, PREVIOUS_ID, OLDER_ID = "crd_current", "crd_previous", "crd_older"
GRACE_END = NOW + timedelta(minutes=4)
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/DELETE/v1/devices/dev_1"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "idp-rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "idp-ec": ec.generate_private_key(ec.SECP256R1()),
        "device": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


# The device's credentials: the current one, and the one it replaced, whose grace ends in four minutes.
CREDENTIALS = DeviceCredentials(CREDENTIAL_ID, PREVIOUS_ID, GRACE_END)


@pytest.fixture
def devices() -> FakeDeviceDirectory:
    return FakeDeviceDirectory({
        DEVICE_ID: DeviceStanding(DeviceStatus.ACTIVE, PATIENT_ID, MEASURES, CREDENTIALS)})




@pytest.fixture
def clock() -> MovableClock[datetime]:
    return MovableClock(NOW)


@pytest.fixture
def authenticator(keys, devices, clock) -> Authenticator:
    published = {"rsa-1": keys["idp-rsa"].public_key(), "ec-1": keys["idp-ec"].public_key()}
    device_key = FakeDeviceKey(keys["device"].public_key())
    return Authenticator(TRUST, FakeIdentityProviderKeys(published), device_key, devices,
                         FakeCitizenDirectory(), clock)


def person_token(keys, kid: str = "rsa-1", key: str = "idp-rsa", algorithm: str = "RS256", typ: str = "JWT",
                 **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": IDP, "aud": AUDIENCE, "iat": now, "exp": now + 600, "sub": "user-17",
              "telehub_role": "logistics", "telehub_org": SOR, **overrides}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, keys[key], algorithm=algorithm, headers={"kid": kid, "typ": typ})


def device_token(keys, kid: str = DEVICE_KEY_ID, key: str = "device", typ: str = DEVICE_CREDENTIAL_TYPE,
                 **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": DEVICE_ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 86400, "sub": DEVICE_ID,
              "jti": CREDENTIAL_ID, "telehub_role": "device", "telehub_device": DEVICE_ID, **overrides}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(claims, keys[key], algorithm="RS256", headers={"kid": kid, "typ": typ})


def refusal(authenticator: Authenticator, authorization: str | None) -> str:
    with pytest.raises(NotAuthenticated) as refused:
        authenticator.authenticate(authorization)
    return refused.value.reason


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(segment(part) for part in parts)


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "logistics"])
def test_a_person_of_an_organisation_is_let_in_with_role_and_organisation(authenticator, keys, role):
    # Given a valid identity-provider token for a clinician or logistics user of an organisation
    token = person_token(keys, telehub_role=role)
    # When it is authenticated
    principal = authenticator.authenticate(f"Bearer {token}")
    # Then the principal carries the role, the subject and the organisation, and no device
    assert principal == Principal(role=Role(role), subject="user-17", organisation=SOR)


def test_a_system_needs_no_organisation(authenticator, keys):
    # Given a system token without telehub_org
    token = person_token(keys, telehub_role="system", telehub_org=None, sub="svc-region")
    # When it is authenticated, Then it is let in as a system
    assert authenticator.authenticate(f"Bearer {token}") == Principal(role=Role.SYSTEM, subject="svc-region")


def test_an_es256_token_from_the_identity_provider_is_accepted(authenticator, keys):
    # Given a token signed with the provider's P-256 key
    token = person_token(keys, kid="ec-1", key="idp-ec", algorithm="ES256")
    # When it is authenticated, Then it is let in
    assert authenticator.authenticate(f"Bearer {token}").organisation == SOR


def test_the_bearer_scheme_is_case_insensitive(authenticator, keys):
    assert authenticator.authenticate(f"bearer {person_token(keys)}").role is Role.LOGISTICS


def test_an_active_device_is_let_in_with_its_patient_from_the_device_item(authenticator, keys, devices):
    # Given a device credential of an active device
    # When it is authenticated
    principal = authenticator.authenticate(f"Bearer {device_token(keys)}")
    # Then the principal is the device, with the patient and the measurement types read from the device
    # item (not the token)
    assert principal == Principal(
        role=Role.DEVICE, subject=DEVICE_ID, device_id=DEVICE_ID, patient_id=PATIENT_ID,
        measurement_types=MEASURES, credential_id=CREDENTIAL_ID,
    )
    assert devices.reads == [DEVICE_ID]


def test_expiry_within_the_leeway_is_tolerated(authenticator, keys):
    # Given a token that expired a little less than the leeway ago (clock skew)
    token = person_token(keys, exp=int(time.time()) - LEEWAY_SECONDS + 5)
    # When it is authenticated, Then it is still let in
    assert authenticator.authenticate(f"Bearer {token}").subject == "user-17"


# --- refused: the token itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a.b.c", "malformed"),
        ("Bearer " + "a" * MAX_TOKEN_CHARS + ".b.c", "malformed"),
        (12345, "malformed"),  # authorizationToken that is no string
        (["Bearer a.b.c"], "malformed"),
    ],
)
def test_a_missing_or_malformed_authorization_is_refused(authenticator, authorization, reason):
    # Given no token, another scheme, or text that is no JWT
    # When it is authenticated, Then it is refused for that reason
    assert refusal(authenticator, authorization) == reason


def test_an_expired_token_is_refused(authenticator, keys):
    token = person_token(keys, iat=int(time.time()) - 3600, exp=int(time.time()) - LEEWAY_SECONDS - 5)
    assert refusal(authenticator, f"Bearer {token}") == "expired"


def test_a_token_issued_in_the_future_is_refused(authenticator, keys):
    token = person_token(keys, iat=int(time.time()) + 600)
    assert refusal(authenticator, f"Bearer {token}") == "not_yet_valid"


def test_a_token_for_another_audience_is_refused(authenticator, keys):
    assert refusal(authenticator, f"Bearer {person_token(keys, aud='another-api')}") == "wrong_audience"


def test_a_token_from_an_unknown_issuer_is_refused(authenticator, keys):
    token = person_token(keys, iss="https://evil.example/")
    assert refusal(authenticator, f"Bearer {token}") == "unknown_issuer"


def test_a_token_without_an_issuer_is_refused(authenticator, keys):
    assert refusal(authenticator, f"Bearer {person_token(keys, iss=None)}") == "unknown_issuer"


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(authenticator, keys):
    # Given a token that names the provider's key id but was signed with a stranger's key
    token = person_token(keys, key="stranger")
    # When it is authenticated, Then the signature does not verify
    assert refusal(authenticator, f"Bearer {token}") == "bad_signature"


def test_a_token_naming_an_unpublished_key_is_refused(authenticator, keys):
    token = person_token(keys, kid="rsa-9", key="stranger")
    assert refusal(authenticator, f"Bearer {token}") == "unknown_key"


@pytest.mark.parametrize(("signature", "reason"), [(b"", "malformed"), (b"junk", "algorithm_not_allowed")])
def test_an_alg_none_token_is_refused(authenticator, signature, reason):
    # Given a token with alg "none" naming a published key: unsigned as the spec has it, or with junk
    now = int(time.time())
    claims = {"iss": IDP, "aud": AUDIENCE, "iat": now, "exp": now + 600, "sub": "x", "telehub_role": "system"}
    token = unsigned({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims, signature)
    # When it is authenticated, Then it is refused: no signature at all, or an algorithm not allowed
    assert refusal(authenticator, f"Bearer {token}") == reason


def test_an_hmac_token_keyed_with_the_public_key_is_refused(authenticator, keys):
    # Given the classic confusion attack: HS256 "signed" with the provider's public key as the secret
    public_pem = keys["idp-rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": IDP, "aud": AUDIENCE, "iat": now, "exp": now + 600, "sub": "x", "telehub_role": "system"}
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    signing_input = ".".join(unsigned(header, claims).split(".")[:2])
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    # When it is authenticated, Then HS256 is not among the allowed algorithms
    assert refusal(authenticator, f"Bearer {forged}") == "algorithm_not_allowed"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "telehub_role", "aud"])
def test_a_token_missing_a_required_claim_is_refused(authenticator, keys, claim):
    assert refusal(authenticator, f"Bearer {person_token(keys, **{claim: None})}") == "missing_claim"


def test_a_token_with_an_empty_subject_is_refused(authenticator, keys):
    assert refusal(authenticator, f"Bearer {person_token(keys, sub='')}") == "missing_claim"


# --- refused: who the token says the caller is -------------------------------------------------


def test_an_unknown_role_is_refused(authenticator, keys):
    assert refusal(authenticator, f"Bearer {person_token(keys, telehub_role='admin')}") == "unknown_role"


def test_the_identity_provider_cannot_make_a_device(authenticator, keys):
    # Given a provider token claiming the device role (only Telehub issues device credentials)
    token = person_token(keys, telehub_role="device", telehub_device=DEVICE_ID)
    # When it is authenticated, Then it is refused
    assert refusal(authenticator, f"Bearer {token}") == "role_not_issued_by_identity_provider"


@pytest.mark.parametrize("role", ["clinician", "logistics"])
def test_a_person_without_an_organisation_is_refused(authenticator, keys, role):
    token = person_token(keys, telehub_role=role, telehub_org=None)
    assert refusal(authenticator, f"Bearer {token}") == "missing_organisation"


def test_a_general_practice_is_let_in_with_its_ydernummer(authenticator, keys):
    # Given a clinician of a general practice known by its 6-digit ydernummer, not a SOR code
    token = person_token(keys, telehub_role="clinician", telehub_org="012345")
    # When it is authenticated, Then the principal carries the ydernummer as its organisation
    assert authenticator.authenticate(f"Bearer {token}").organisation == "012345"


@pytest.mark.parametrize("organisation", ["1234", "12345", "1234567", "ABC45678901", 12345678901234])
def test_an_organisation_that_is_no_sor_code_is_refused(authenticator, keys, organisation):
    token = person_token(keys, telehub_org=organisation)
    assert refusal(authenticator, f"Bearer {token}") == "invalid_organisation"


# --- refused: device credentials ---------------------------------------------------------------


def test_a_device_credential_naming_another_key_is_refused(authenticator, keys, devices):
    assert refusal(authenticator, f"Bearer {device_token(keys, kid='another-key')}") == "unknown_key"
    assert devices.reads == []


def test_a_device_credential_not_signed_by_telehub_is_refused(authenticator, keys, devices):
    # Given a credential with Telehub's issuer and key id but signed by someone else's key
    token = device_token(keys, key="stranger")
    # When it is authenticated, Then the signature fails and the device is never looked up
    assert refusal(authenticator, f"Bearer {token}") == "bad_signature"
    assert devices.reads == []


def test_an_identity_provider_token_cannot_pose_as_a_device_credential(authenticator, keys):
    # Given a token signed by the provider's key that claims Telehub's device issuer
    token = device_token(keys, key="idp-rsa")
    # When it is authenticated, Then it does not verify with Telehub's key
    assert refusal(authenticator, f"Bearer {token}") == "bad_signature"


@pytest.mark.parametrize(
    "overrides",
    [{"telehub_role": "logistics"}, {"telehub_device": "dev_ffffffffffffffffffffffff"}],
)
def test_a_device_credential_must_name_the_device_role_and_its_own_subject(authenticator, keys, overrides):
    assert refusal(authenticator, f"Bearer {device_token(keys, **overrides)}") == "not_a_device_credential"


def test_a_device_credential_without_the_device_claim_is_refused(authenticator, keys):
    assert refusal(authenticator, f"Bearer {device_token(keys, telehub_device=None)}") == "missing_claim"


def test_an_expired_device_credential_is_refused(authenticator, keys, devices):
    token = device_token(keys, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    assert refusal(authenticator, f"Bearer {token}") == "expired"
    assert devices.reads == []


def test_the_credential_of_an_unknown_device_is_refused(authenticator, keys, devices):
    devices.devices.clear()
    assert refusal(authenticator, f"Bearer {device_token(keys)}") == "unknown_device"


@pytest.mark.parametrize("credential_id", [CREDENTIAL_ID, PREVIOUS_ID])
def test_every_credential_of_a_revoked_device_is_refused(authenticator, keys, devices, credential_id):
    # Given a well-signed, unexpired credential (the current or the previous) of a device since revoked
    devices.devices[DEVICE_ID] = DeviceStanding(DeviceStatus.REVOKED, PATIENT_ID, MEASURES, CREDENTIALS)
    # When it is authenticated, Then it is refused
    assert refusal(authenticator, f"Bearer {device_token(keys, jti=credential_id)}") == "revoked_device"


def test_the_previous_credential_works_until_its_grace_ends(authenticator, keys, clock):
    # Given the credential a rotation replaced, its grace ending in four minutes
    token = device_token(keys, jti=PREVIOUS_ID)
    # When it is authenticated within the grace, Then it is let in, as the credential it is
    assert authenticator.authenticate(f"Bearer {token}").credential_id == PREVIOUS_ID
    # When the grace has ended, Then it is refused, and the current credential still works
    clock.now = GRACE_END
    assert refusal(authenticator, f"Bearer {token}") == "superseded_credential"
    assert authenticator.authenticate(f"Bearer {device_token(keys)}").credential_id == CREDENTIAL_ID


@pytest.mark.parametrize("credential_id", [OLDER_ID, "crd_never_recorded"])
def test_a_credential_the_device_does_not_record_is_refused(authenticator, keys, credential_id):
    # Given a well-signed credential of the device that is neither its current nor its previous one (one
    # from before the last two rotations, or one a lost race issued and never recorded)
    token = device_token(keys, jti=credential_id)
    # When it is authenticated, Then it is refused
    assert refusal(authenticator, f"Bearer {token}") == "superseded_credential"


def test_a_device_credential_without_an_id_is_refused(authenticator, keys, devices):
    # Given a credential without jti (as they were before credentials had ids)
    token = device_token(keys, jti=None)
    # When it is authenticated, Then it is refused before the device is read
    assert refusal(authenticator, f"Bearer {token}") == "missing_claim"
    assert devices.reads == []


# --- refused: the token's type and client --------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "application/at+JWT"])
def test_the_identity_providers_token_types_are_accepted(authenticator, keys, typ):
    assert authenticator.authenticate(f"Bearer {person_token(keys, typ=typ)}").organisation == SOR


@pytest.mark.parametrize("typ", [DEVICE_CREDENTIAL_TYPE, "id+jwt", "logout+jwt", "JOSE"])
def test_a_token_of_another_type_from_the_identity_provider_is_refused(authenticator, keys, typ):
    # Given a token the provider signed, of a type that is no access token (a device credential's own, say)
    token = person_token(keys, typ=typ)
    # When it is authenticated, Then it is refused for its type
    assert refusal(authenticator, f"Bearer {token}") == "wrong_type"


def test_a_token_without_a_type_is_refused(authenticator, keys):
    now = int(time.time())
    claims = {"iss": IDP, "aud": AUDIENCE, "iat": now, "exp": now + 600, "sub": "x", "telehub_role": "system"}
    token = jwt.encode(claims, keys["idp-rsa"], algorithm="RS256", headers={"kid": "rsa-1", "typ": None})
    assert "typ" not in jwt.get_unverified_header(token)
    assert refusal(authenticator, f"Bearer {token}") == "wrong_type"


@pytest.mark.parametrize("typ", ["JWT", "at+jwt"])
def test_a_device_credential_needs_the_device_credential_type(authenticator, keys, devices, typ):
    # Given a credential signed by Telehub's key for the device, but typed as another kind of token
    token = device_token(keys, typ=typ)
    # When it is authenticated, Then it is refused before the device is read
    assert refusal(authenticator, f"Bearer {token}") == "wrong_type"
    assert devices.reads == []


def test_a_token_issued_to_a_configured_client_is_accepted(authenticator, keys):
    assert authenticator.authenticate(f"Bearer {person_token(keys, azp=CLIENT)}").organisation == SOR


@pytest.mark.parametrize("client", ["another-app", "", 42])
def test_a_token_issued_to_another_client_is_refused(authenticator, keys, client):
    # Given a token of the provider issued to a client Telehub does not take tokens from
    token = person_token(keys, azp=client)
    # When it is authenticated, Then it is refused
    assert refusal(authenticator, f"Bearer {token}") == "unknown_client"


# --- the policy ---------------------------------------------------------------------------------


API = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
USAGE = UsageKeys("prod", frozenset({SOR}))  # SOR has a usage-plan bucket of its own
ROUTES = (
    ("POST", "/v1/devices", frozenset({Role.LOGISTICS})),
    ("DELETE", "/v1/devices/{device_id}", frozenset({Role.LOGISTICS})),
    ("POST", "/v1/measurements", frozenset({Role.DEVICE})),
    ("GET", "/v1/episodes/{episode_id}", frozenset({Role.CLINICIAN})),
    ("POST", "/v1/episodes/{episode_id}/handover/accept", frozenset({Role.CLINICIAN})),
)


def test_a_device_is_allowed_only_the_upload_and_carries_the_principal_as_strings():
    # Given a device principal and the ARN of the method being called
    principal = Principal(role=Role.DEVICE, subject=DEVICE_ID, device_id=DEVICE_ID, patient_id=PATIENT_ID,
                          measurement_types=MEASURES, credential_id=CREDENTIAL_ID)
    # When the policy is built
    policy = policy_for(principal, METHOD_ARN, ROUTES, USAGE)
    # Then it allows only the device's one route, on the called stage, whatever method was called
    assert policy["principalId"] == DEVICE_ID
    assert policy["policyDocument"]["Statement"] == [{
        "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{API}/prod/POST/v1/measurements"],
    }]
    # And the context holds the principal's present fields, all strings (the types space-separated)
    assert policy["context"] == {"role": "device", "subject": DEVICE_ID, "device_id": DEVICE_ID,
                                 "patient_id": PATIENT_ID, "measurement_types": "pulse spo2",
                                 "credential_id": CREDENTIAL_ID}


@pytest.mark.parametrize(
    ("principal", "key"),
    [
        (Principal(role=Role.CLINICIAN, subject="nurse", organisation=SOR),
         f"telehub-prod-usage-organisation-{SOR}"),
        (Principal(role=Role.LOGISTICS, subject="centre", organisation="265161000016009"),
         "telehub-prod-usage-other-organisations"),
        (Principal(role=Role.SYSTEM, subject="svc"), "telehub-prod-usage-other-organisations"),
        (Principal(role=Role.CITIZEN, subject="someone", patient_id=PATIENT_ID),
         "telehub-prod-usage-citizens"),
        (Principal(role=Role.DEVICE, subject=DEVICE_ID, device_id=DEVICE_ID, patient_id=PATIENT_ID),
         "telehub-prod-usage-devices"),
    ],
)
def test_the_policy_names_the_usage_plan_key_of_the_callers_bucket(principal, key):
    # Given a principal, and a stage in which one organisation (SOR) has a usage-plan bucket of its own
    # When the policy is built
    policy = policy_for(principal, METHOD_ARN, ROUTES, USAGE)
    # Then API Gateway is told the key of the caller's bucket: its listed organisation's, the one every other
    # organisation shares, the citizens' or the devices' (a device never counts against an organisation)
    assert policy["usageIdentifierKey"] == key
    # And the key is one API Gateway accepts (20 characters at least) and says nothing about the caller's data
    assert len(key) >= 20
    assert PATIENT_ID not in key and DEVICE_ID not in key


@pytest.mark.parametrize(
    ("role", "resources"),
    [
        (Role.LOGISTICS, ["POST/v1/devices", "DELETE/v1/devices/*"]),
        (Role.CLINICIAN, ["GET/v1/episodes/*", "POST/v1/episodes/*/handover/accept"]),
    ],
)
def test_each_role_is_allowed_its_routes_with_path_parameters_as_wildcards(role, resources):
    # Given a person's principal
    principal = Principal(role=role, subject="someone", organisation=SOR)
    # When the policy is built, Then it allows that role's routes, each {param} a '*'
    [statement] = policy_for(principal, METHOD_ARN, ROUTES, USAGE)["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == [f"{API}/prod/{resource}" for resource in resources]


def test_another_roles_route_under_an_allowed_wildcard_is_denied_explicitly():
    # Given a logistics route below a clinician's route ('*' in an execute-api ARN matches across '/')
    contact = ("GET", "/v1/episodes/{episode_id}/orders/{order_id}/contact", frozenset({Role.LOGISTICS}))
    routes = (*ROUTES, contact)
    # When a clinician's policy is built
    statements = policy_for(Principal(role=Role.CLINICIAN, subject="someone", organisation=SOR), METHOD_ARN,
                            routes, USAGE)["policyDocument"]["Statement"]
    # Then it allows the clinician's routes and denies the logistics route they cover (a Deny wins)
    assert [statement["Effect"] for statement in statements] == ["Allow", "Deny"]
    assert statements[1]["Resource"] == [f"{API}/prod/GET/v1/episodes/*/orders/*/contact"]
    # And the logistics centre's own policy allows it, with nothing to deny
    [statement] = policy_for(Principal(role=Role.LOGISTICS, subject="centre", organisation=SOR), METHOD_ARN,
                             routes, USAGE)["policyDocument"]["Statement"]
    assert f"{API}/prod/GET/v1/episodes/*/orders/*/contact" in statement["Resource"]


def test_a_role_without_routes_is_denied_the_whole_api():
    # Given a system principal, and no route a system may call
    principal = Principal(role=Role.SYSTEM, subject="svc")
    # When the policy is built, Then it denies every stage, method and path of the API explicitly
    policy = policy_for(principal, METHOD_ARN, ROUTES, USAGE)
    assert policy["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": f"{API}/*"}
    ]


@pytest.mark.parametrize(
    "method_arn", ["", "arn:aws:lambda:eu-west-1:123456789012:function:x", "a1b2c3/prod/GET/"]
)
def test_a_method_arn_that_is_no_execute_api_arn_is_refused(method_arn):
    principal = Principal(role=Role.SYSTEM, subject="svc")
    with pytest.raises(NotAuthenticated):
        policy_for(principal, method_arn, ROUTES, USAGE)
