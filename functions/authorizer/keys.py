"""The public keys the authorizer verifies with, fetched lazily and kept for the container's life.

The identity provider's keys come from its JWKS through PyJWT's PyJWKClient, which caches the key
set for ``JWKS_CACHE_SECONDS`` and refetches (rate-limited) when a token names an unknown ``kid``,
so the provider can rotate keys. The device-credential key is Telehub's own KMS key: its public
half is read once per cold start.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import load_der_public_key
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import DecodeError, PyJWKClientConnectionError, PyJWKClientError

from functions.shared import aws

JWKS_CACHE_SECONDS = 300
JWKS_TIMEOUT_SECONDS = 2  # well inside the authorizer's own timeout


class JwksIdentityProviderKeys:
    def __init__(self, jwks_uri: str) -> None:
        self._jwks_uri = jwks_uri
        self._client: PyJWKClient | None = None

    def signing_key(self, token: str) -> PyJWK | None:
        if self._client is None:
            self._client = PyJWKClient(
                self._jwks_uri, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT_SECONDS
            )
        try:
            return self._client.get_signing_key_from_jwt(token)
        except PyJWKClientConnectionError:
            raise  # the provider is unreachable: an outage (500), not the caller's fault (401)
        except (PyJWKClientError, DecodeError):
            return None


class KmsDeviceCredentialKey:
    def __init__(self, key_id: str) -> None:
        self._key_id = key_id
        self._public_key: Any = None

    def public_key(self) -> Any:
        if self._public_key is None:
            der = aws.client("kms").get_public_key(KeyId=self._key_id)["PublicKey"]
            self._public_key = load_der_public_key(der)
        return self._public_key
