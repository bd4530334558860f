"""The authorizer and a citizen's token (the national login): the CPR number becomes the patient id there,
and goes no further than the authorizer's memory."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.authorizer.logic import CPR_CLAIM, Authenticator
from functions.authorizer.models import NotAuthenticated, TrustSettings, policy_for
from functions.authorizer.usage import UsageKeys
from functions.shared.principal import Principal, Role
from tests.support.citizen_view import FakeCitizenDirectory
from tests.support.fakes import FakeDeviceDirectory, FakeDeviceKey, FakeIdentityProviderKeys

IDP = "https://idp.example.dk/"
AUDIENCE = "telehub-unit"
TRUST = TrustSettings(IDP, AUDIENCE, "https://telehub.example.dk/device-credentials", "kms-key-1")
CPR = "2512489996"  # a test CPR number (DESIGN §5)
PATIENT_ID = "pat_76543210fedcba9876543210"
SUBJECT = "mitid-8f14e45f-ceea-467a-9575-6f1bd4a3c0b2"
API = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
ROUTES = (("GET", "/v1/me/access-log", frozenset({Role.CITIZEN})),
          ("GET", "/v1/me/measurements", frozenset({Role.CITIZEN})),
          ("GET", "/v1/worklist", frozenset({Role.CLINICIAN})))


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def citizens() -> FakeCitizenDirectory:
    return FakeCitizenDirectory({CPR: PATIENT_ID})


@pytest.fixture
def authenticator(signing_key, citizens) -> Authenticator:
    return Authenticator(TRUST, FakeIdentityProviderKeys({"rsa-1": signing_key.public_key()}),
                         FakeDeviceKey(None), FakeDeviceDirectory({}), citizens)


def citizen_token(signing_key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": IDP, "aud": AUDIENCE, "iat": now, "exp": now + 600, "sub": SUBJECT,
              "telehub_role": "citizen", CPR_CLAIM: CPR, **overrides}
    claims = {name: value for name, value in claims.items() if value is not None}
    return "Bearer " + jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "rsa-1"})


def refusal(authenticator: Authenticator, authorization: str) -> str:
    with pytest.raises(NotAuthenticated) as refused:
        authenticator.authenticate(authorization)
    return refused.value.reason


def test_a_known_citizen_is_let_in_as_their_patient_id_and_the_cpr_goes_no_further(authenticator, signing_key,
                                                                                      citizens):
    # Given a citizen's token whose CPR number Telehub knows
    # When it is authenticated and its policy made
    principal = authenticator.authenticate(citizen_token(signing_key))
    policy = policy_for(principal, f"{API}/prod/GET/v1/me/access-log", ROUTES, UsageKeys("prod"))
    # Then the principal is the citizen's patient id, without organisation, found by the CPR number
    assert principal == Principal(role=Role.CITIZEN, subject=SUBJECT, patient_id=PATIENT_ID)
    assert citizens.lookups == [CPR]
    # And the policy allows the citizen's routes only, its context and principal id without the CPR number
    assert policy["policyDocument"]["Statement"][0]["Resource"] == [
        f"{API}/prod/GET/v1/me/access-log", f"{API}/prod/GET/v1/me/measurements"]
    assert policy["context"] == {"role": "citizen", "subject": SUBJECT, "patient_id": PATIENT_ID}
    assert CPR not in json.dumps(policy)


def test_a_citizen_telehub_does_not_know_is_let_in_without_a_patient_id(authenticator, signing_key, citizens):
    # Given a citizen's token whose CPR number no referral or device registration ever named
    citizens.patients.clear()
    # When it is authenticated
    principal = authenticator.authenticate(citizen_token(signing_key))
    # Then the citizen is let in with no patient id (their lists are empty), and nobody is created
    assert principal == Principal(role=Role.CITIZEN, subject=SUBJECT)
    assert citizens.patients == {}


def test_a_cpr_number_with_a_dash_is_looked_up_as_its_ten_digits(authenticator, signing_key, citizens):
    principal = authenticator.authenticate(citizen_token(signing_key, **{CPR_CLAIM: "251248-9996"}))
    assert (principal.patient_id, citizens.lookups) == (PATIENT_ID, [CPR])


def test_an_organisation_in_a_citizens_token_is_ignored(authenticator, signing_key):
    # Given a citizen's token that also names an organisation
    principal = authenticator.authenticate(citizen_token(signing_key, telehub_org="123456789012345"))
    # Then the citizen acts for no organisation
    assert principal.organisation is None


@pytest.mark.parametrize(("cpr", "reason"), [
    (None, "missing_claim"),
    ("3212489996", "invalid_cpr"),  # no 32nd day
    ("25124899", "invalid_cpr"),
    (2512489996, "invalid_cpr"),  # a number, not a string
    (["2512489996"], "invalid_cpr"),
])
def test_a_citizens_token_without_a_valid_cpr_number_is_refused(authenticator, signing_key, citizens, cpr,
                                                                 reason):
    # Given a citizen's token whose CPR claim is missing or no CPR number
    # When it is authenticated, Then it is refused, and nobody is looked up
    assert refusal(authenticator, citizen_token(signing_key, **{CPR_CLAIM: cpr})) == reason
    assert citizens.lookups == []


@pytest.mark.parametrize("subject", [CPR, "251248-9996", f"mitid|{CPR}"])
def test_a_citizens_token_whose_subject_holds_the_cpr_number_is_refused(authenticator, signing_key, subject):
    # Given a citizen's token whose subject (the principal id API Gateway logs) contains the CPR number
    # When it is authenticated, Then it is refused rather than let the CPR number reach a log
    assert refusal(authenticator, citizen_token(signing_key, sub=subject)) == "cpr_in_subject"


def test_a_clinicians_token_with_a_cpr_claim_looks_nobody_up(authenticator, signing_key, citizens):
    # Given a clinician's token that happens to carry a CPR claim
    token = citizen_token(signing_key, telehub_role="clinician", telehub_org="123456789012345")
    # When it is authenticated, Then it is the clinician, without a patient id, and no citizen was looked up
    principal = authenticator.authenticate(token)
    assert (principal.role, principal.patient_id, citizens.lookups) == (Role.CLINICIAN, None, [])
