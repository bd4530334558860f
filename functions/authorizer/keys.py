"""The public keys the authorizer verifies with.

The identity provider's keys come from its JWKS, held by ``CachedIdentityProviderKeys``: the key set is
fetched at first use and refreshed once it is older than ``max_age``; a token naming a kid the set lacks
(the provider rotated its keys) fetches it again. Never more than one fetch per ``refetch_interval``,
whatever the tokens say: a flood of tokens with made-up kids costs the provider one request per interval.
An unknown kid is not stored anywhere: a kid the set fetched within the interval lacks is refused without
a fetch, so what the cache remembers of unknown kids is the set and the time of its last fetch, however
many of them arrive. A failed fetch (unreachable, an error status, no usable key) keeps the last good set,
which serves on, and counts against the interval; only without any set is it an outage
(``IdentityProviderUnavailable``: API Gateway answers 500 and the client retries, rather than concluding
that its token is bad).

The device-credential key is Telehub's own KMS key: its public half is read once per cold start.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_der_public_key
from jwt import PyJWK, PyJWKSet

from functions.shared import aws
from functions.shared.observability import logger

JWKS_TIMEOUT_SECONDS = 2  # well inside the authorizer's own timeout
MAX_JWKS_BYTES = 64 * 1024  # a provider publishes a few keys (a few KB); more is not a key set

JwksSource = Callable[[], Mapping[str, Any]]


class IdentityProviderUnavailable(Exception):
    """The identity provider's key set could not be fetched (or held no usable key)."""


class HttpJwks:
    """The provider's JWKS document over HTTPS: one GET per call."""

    def __init__(self, jwks_uri: str) -> None:
        self._jwks_uri = jwks_uri

    def __call__(self) -> Mapping[str, Any]:
        request = urllib.request.Request(self._jwks_uri, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT_SECONDS) as response:
                body: bytes = response.read(MAX_JWKS_BYTES + 1)
        except OSError as error:  # unreachable, timed out, or an error status (HTTPError)
            raise IdentityProviderUnavailable(type(error).__name__) from error
        if len(body) > MAX_JWKS_BYTES:
            raise IdentityProviderUnavailable("the key set is larger than a key set can be")
        try:
            document = json.loads(body)
        except ValueError:
            raise IdentityProviderUnavailable("the key set is no JSON") from None
        if not isinstance(document, dict):
            raise IdentityProviderUnavailable("the key set is no JSON object")
        return document


class CachedIdentityProviderKeys:
    """The provider's signing keys by kid, fetched through ``source`` at most once per
    ``refetch_interval_seconds`` (``clock``: seconds, monotonic)."""

    def __init__(self, source: JwksSource, refetch_interval_seconds: float, max_age_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._refetch_interval = refetch_interval_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] | None = None  # the last good set
        self._fetched_at = 0.0  # of the last good set
        self._tried_at: float | None = None  # the last fetch, good or failed

    def signing_key(self, token: str) -> PyJWK | None:
        """The key the token's kid names, or None if the provider publishes none by that kid."""
        kid = _kid(token)
        if kid is None:
            return None
        if self._keys is None or kid not in self._keys or self._clock() - self._fetched_at >= self._max_age:
            self._fetch_if_due()
        if self._keys is None:
            raise IdentityProviderUnavailable("no key set has been fetched yet")
        return self._keys.get(kid)

    def _fetch_if_due(self) -> None:
        now = self._clock()
        if self._tried_at is not None and now - self._tried_at < self._refetch_interval:
            return
        self._tried_at = now
        try:
            keys = _signing_keys(self._source())
        except IdentityProviderUnavailable as failure:
            if self._keys is None:
                raise
            logger.warning("identity provider keys not refreshed; the last good set serves",
                           extra={"reason": str(failure)})
            return
        self._keys, self._fetched_at = keys, now


def _kid(token: str) -> str | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) and kid else None


def _signing_keys(document: Mapping[str, Any]) -> dict[str, PyJWK]:
    """The set's signature keys by kid (keys without a kid, or for encryption, are no signing keys)."""
    try:
        key_set = PyJWKSet.from_dict(dict(document))
    except jwt.PyJWTError as error:  # no "keys", or no usable key among them
        raise IdentityProviderUnavailable(str(error)) from None
    keys = {key.key_id: key for key in key_set.keys if key.key_id and key.public_key_use in (None, "sig")}
    if not keys:
        raise IdentityProviderUnavailable("the key set holds no signing key with a kid")
    return keys


class KmsDeviceCredentialKey:
    def __init__(self, key_id: str) -> None:
        self._key_id = key_id
        self._public_key: Any = None

    def public_key(self) -> Any:
        if self._public_key is None:
            der = aws.client("kms").get_public_key(KeyId=self._key_id)["PublicKey"]
            self._public_key = load_der_public_key(der)
        return self._public_key
