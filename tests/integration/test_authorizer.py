"""The authorizer handler under moto, with an identity provider publishing its JWKS on 127.0.0.1.

The provider is real HTTP on the loopback interface, so the key set's HTTP fetch runs unmodified; device
credentials are signed by moto's KMS through the devices handler.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from functions.authorizer import handler as authorizer
from functions.authorizer.keys import IdentityProviderUnavailable
from functions.shared import aws
from tests.support.devices_api import authorize, refer_citizen, register, revoke
from tests.support.events import load_event
from tests.support.runtime import PLATFORM, current

SOR = "123456789012345"
METHOD_ARN = load_event("authorizer/token.json")["methodArn"]


@dataclass
class IdentityProvider:
    key: rsa.RSAPrivateKey
    kid: str
    jwks_requests: list[str] = field(default_factory=list)

    def token(self, key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": PLATFORM.token_issuer, "aud": PLATFORM.token_audience, "iat": now, "exp": now + 600,
                  "sub": "nurse-42", "telehub_role": "clinician", "telehub_org": SOR, **overrides}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture
def identity_provider(resources) -> Iterator[IdentityProvider]:
    """An identity provider whose JWKS is served over HTTP on 127.0.0.1 (no other network)."""
    provider = IdentityProvider(rsa.generate_private_key(public_exponent=65537, key_size=2048), "idp-key-1")
    jwks = json.dumps({"keys": [{**RSAAlgorithm.to_jwk(provider.key.public_key(), as_dict=True),
                                 "kid": provider.kid, "use": "sig", "alg": "RS256"}]}).encode()

    class JwksEndpoint(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # named by the http.server interface
            provider.jwks_requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(jwks)))
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), JwksEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    current().use_platform(jwks_uri=f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json")
    yield provider
    server.shutdown()
    server.server_close()
    thread.join()


def assert_refused(token: str | None) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(token)


# --- people and systems ------------------------------------------------------------------------


def test_a_clinician_token_is_allowed_the_clinicians_routes_with_the_principal(identity_provider):
    # Given a clinician token from the identity provider
    # When API Gateway asks the authorizer about a method of the API (the sample event)
    policy = authorize(identity_provider.token())
    # Then the policy allows the clinician's routes of the stage (from ROUTE_ROLES), not the device's upload,
    # for the token's subject, with the principal as context
    api_stage = METHOD_ARN.split("/")[0] + "/" + METHOD_ARN.split("/")[1]
    allow, deny = policy["policyDocument"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert f"{api_stage}/POST/v1/referrals" in allow["Resource"]
    assert f"{api_stage}/GET/v1/episodes/*" in allow["Resource"]
    assert f"{api_stage}/POST/v1/measurements" not in allow["Resource"]
    # And the logistics centre's order contact route, which the episodes' wildcard covers, is denied
    assert deny == {"Action": "execute-api:Invoke", "Effect": "Deny",
                    "Resource": [f"{api_stage}/GET/v1/episodes/*/orders/*/contact"]}
    assert policy["principalId"] == "nurse-42"
    assert policy["context"] == {"role": "clinician", "subject": "nurse-42", "organisation": SOR}


def test_the_jwks_is_fetched_once_for_many_invocations(identity_provider):
    # Given a warm authorizer
    # When three tokens are checked
    for role in ("clinician", "logistics", "system"):
        authorize(identity_provider.token(telehub_role=role))
    # Then the provider's key set was fetched once
    assert identity_provider.jwks_requests == ["/.well-known/jwks.json"]


def test_a_flood_of_tokens_naming_unknown_keys_fetches_the_key_set_once(identity_provider):
    # Given a warm authorizer that has fetched the provider's key set
    authorize(identity_provider.token())
    # When forty tokens arrive, signed by a stranger, each naming a key id of its own
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for number in range(40):
        assert_refused(identity_provider.token(key=stranger, kid=f"made-up-{number}"))
    # Then the provider was not asked again (within the refetch interval), and its own tokens still pass
    assert authorize(identity_provider.token())["principalId"] == "nurse-42"
    assert identity_provider.jwks_requests == ["/.well-known/jwks.json"]


def test_a_token_is_taken_only_from_the_configured_clients(identity_provider):
    # Given the stage's configured clients, handed to the authorizer from the platform settings
    current().use_platform(token_client_ids=("telehub-clinician-web", "telehub-logistics"))
    # When tokens issued to a configured client, to another client, and to none are checked
    # Then the configured client's and the one naming no client pass; the other client's is refused
    assert authorize(identity_provider.token(azp="telehub-clinician-web"))["principalId"] == "nurse-42"
    assert authorize(identity_provider.token())["principalId"] == "nurse-42"
    assert_refused(identity_provider.token(azp="someone-elses-app"))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "another-api"},
        {"iss": "https://idp.elsewhere.example/"},
        {"telehub_role": "device"},
        {"telehub_role": "logistics", "telehub_org": None},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "device-role-from-provider", "no-organisation"],
)
def test_a_token_that_fails_a_check_is_unauthorized(identity_provider, claims):
    assert_refused(identity_provider.token(**claims))


def test_a_token_signed_by_another_key_is_unauthorized(identity_provider):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(identity_provider.token(key=stranger))
    assert_refused(identity_provider.token(key=stranger, kid="unpublished-key"))


def test_a_missing_token_is_unauthorized(identity_provider):
    assert_refused(None)


def test_an_unreachable_identity_provider_is_an_error_not_a_refusal(identity_provider):
    # Given the provider's JWKS endpoint cannot be reached (a closed loopback port)
    current().use_platform(jwks_uri="http://127.0.0.1:9/.well-known/jwks.json")
    # When a token is checked
    # Then the authorizer fails (API Gateway answers 500, the client retries) instead of saying 401
    with pytest.raises(IdentityProviderUnavailable):
        authorize(identity_provider.token())


def test_tokens_and_subjects_never_reach_the_logs(identity_provider, caplog):
    # Given one accepted and one refused token
    accepted, refused = identity_provider.token(), identity_provider.token(aud="another-api")
    # When both are checked
    authorize(accepted)
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(refused)
    # Then the log records (message and every extra field) hold no part of either token, nor the subject
    logged = [record for record in caplog.records if record.name == authorizer.logger.name]
    assert [record.getMessage() for record in logged] == ["token accepted", "token refused"]
    text = json.dumps([vars(record) for record in logged], default=str)
    for token in (accepted, refused):
        assert all(part not in text for part in token.split("."))
    assert "nurse-42" not in text


# --- devices ------------------------------------------------------------------------------------


def test_a_credential_works_until_the_device_is_revoked_and_kms_is_read_once(identity_provider):
    # Given a registered device, and a count of the authorizer's reads of the KMS public key
    refer_citizen()
    _, device = register()
    public_key_reads: list[str] = []
    aws.client("kms").meta.events.register(
        "before-call.kms.GetPublicKey", lambda **_: public_key_reads.append("GetPublicKey")
    )
    # When the device's credential is checked twice in a warm authorizer
    first, second = authorize(device["credential"]), authorize(device["credential"])
    # Then both are allowed as the device and its patient, and the public key was read once
    assert first["context"] == second["context"] == {
        "role": "device", "subject": device["device_id"], "device_id": device["device_id"],
        "patient_id": device["patient_id"], "measurement_types": "pulse spo2",
        "credential_id": jwt.decode(device["credential"], options={"verify_signature": False})["jti"],
    }
    assert public_key_reads == ["GetPublicKey"]
    # When the device is revoked, Then its credential is refused on the very next request
    assert revoke(device["device_id"])[0] == 204
    assert_refused(device["credential"])


def test_the_identity_provider_cannot_forge_a_device_credential(identity_provider):
    # Given a token signed by the provider's key that claims Telehub's device issuer and a real device
    refer_citizen()
    _, device = register()
    forged = identity_provider.token(
        iss=PLATFORM.device_credential_issuer, sub=device["device_id"], telehub_role="device",
        telehub_device=device["device_id"], kid=None,
    )
    # When it is checked, Then it is refused (it names neither Telehub's key nor verifies with it)
    assert_refused(forged)
