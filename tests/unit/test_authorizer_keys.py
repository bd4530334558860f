"""The identity provider's key cache (functions.authorizer.keys.CachedIdentityProviderKeys) with a counted
key-set source and an injected clock: how often the provider is asked, whatever the tokens say."""

from __future__ import annotations

import base64
import json
import math
import secrets
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from functions.authorizer.keys import CachedIdentityProviderKeys, IdentityProviderUnavailable
from tests.support.fakes import MovableClock

INTERVAL = 60.0  # seconds between fetches at most
MAX_AGE = 300.0  # a key set this old is fetched again


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, rsa.RSAPrivateKey]:
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}


def jwk(key: rsa.RSAPrivateKey, kid: str, use: str = "sig") -> dict[str, Any]:
    return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": use, "alg": "RS256"}


class Provider:
    """The provider's JWKS endpoint: what it publishes now, whether it answers, and each fetch's time."""

    def __init__(self, clock: MovableClock[float], published: list[dict[str, Any]]) -> None:
        self.clock = clock
        self.published = published
        self.down = False
        self.fetched_at: list[float] = []

    def __call__(self) -> Mapping[str, Any]:
        self.fetched_at.append(self.clock.now)
        if self.down:
            raise IdentityProviderUnavailable("ConnectionRefusedError")
        return {"keys": list(self.published)}




@pytest.fixture
def clock() -> MovableClock[float]:
    return MovableClock(1000.0)


@pytest.fixture
def provider(clock, signing_keys) -> Provider:
    return Provider(clock, [jwk(signing_keys["k1"], "k1")])


@pytest.fixture
def cache(provider, clock) -> CachedIdentityProviderKeys:
    return CachedIdentityProviderKeys(provider, INTERVAL, MAX_AGE, clock)


def token(header: dict[str, Any]) -> str:
    """A token with this header (the cache reads nothing else of it; the signature is the authenticator's)."""
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment({'sub': 'x'})}.c2ln"


# Headers whose kid names no key: none, a number, empty.
UNUSABLE_KIDS = [{"alg": "RS256"}, {"alg": "RS256", "kid": 7}, {"alg": "RS256", "kid": ""}]


def naming(kid: str) -> str:
    return token({"alg": "RS256", "typ": "JWT", "kid": kid})


def test_a_known_kid_is_served_from_one_fetch(cache, provider, clock):
    # Given a warm cache
    # When tokens naming the published kid come for the key set's whole life
    for _ in range(10):
        assert cache.signing_key(naming("k1")).key_id == "k1"
        clock.now += MAX_AGE / 20
    # Then the provider was asked once
    assert len(provider.fetched_at) == 1


def test_a_flood_of_random_kids_fetches_at_most_once_per_interval(cache, provider, clock):
    # Given an attacker sending 5,000 tokens, each naming a kid of its own, over ten minutes
    duration, count = 600.0, 5000
    started = clock.now
    refused = 0
    for _ in range(count):
        refused += cache.signing_key(naming(secrets.token_hex(8))) is None
        clock.now += duration / count
    # Then every one is refused, and the provider was asked at most once per interval (and once more)
    assert refused == count
    assert len(provider.fetched_at) <= math.ceil(duration / INTERVAL) + 1
    fetched = provider.fetched_at
    assert all(later - earlier >= INTERVAL for earlier, later in zip(fetched, fetched[1:], strict=False))
    assert provider.fetched_at[-1] - started <= duration
    # And the published key still verifies meanwhile, from the cache
    assert cache.signing_key(naming("k1")).key_id == "k1"


def test_an_unknown_kid_is_refused_without_a_fetch_inside_the_interval(cache, provider, clock):
    # Given the key set fetched a moment ago
    cache.signing_key(naming("k1"))
    clock.now += INTERVAL / 2
    # When tokens naming kids the set lacks arrive inside the interval
    for kid in ("k9", "k9", "k10"):
        assert cache.signing_key(naming(kid)) is None
    # Then none of them made the provider fetch again
    assert len(provider.fetched_at) == 1


def test_a_rotated_key_is_found_once_the_interval_has_passed(cache, provider, clock, signing_keys):
    # Given the cache holds the provider's first key, and a token names k2 before the provider publishes it
    cache.signing_key(naming("k1"))
    assert cache.signing_key(naming("k2")) is None
    # When the provider rotates (publishes k2, withdraws k1) and a token names k2 after the interval
    provider.published = [jwk(signing_keys["k2"], "k2")]
    clock.now += INTERVAL
    # Then the set is fetched again and k2 verifies; k1 is gone with the set that had it
    assert cache.signing_key(naming("k2")).key_id == "k2"
    assert cache.signing_key(naming("k1")) is None
    assert len(provider.fetched_at) == 2


def test_a_withdrawn_key_stops_verifying_once_the_set_is_old(cache, provider, clock, signing_keys):
    # Given k1 cached, then withdrawn by the provider
    cache.signing_key(naming("k1"))
    provider.published = [jwk(signing_keys["k2"], "k2")]
    # When a token naming k1 comes before and after the set's maximum age
    clock.now += MAX_AGE - 1
    assert cache.signing_key(naming("k1")) is not None
    clock.now += 1
    # Then the old set served until then, and the fresh one no longer has k1
    assert cache.signing_key(naming("k1")) is None


def test_a_failed_fetch_keeps_the_last_good_keys(cache, provider, clock, signing_keys):
    # Given the key set fetched, then the provider going down
    cache.signing_key(naming("k1"))
    provider.down = True
    # When the set is due again (old, and a token names a new kid) and the fetch fails
    clock.now += MAX_AGE
    assert cache.signing_key(naming("k2")) is None
    # Then the known key still verifies, from the last good set, and the failure counts against the interval
    assert cache.signing_key(naming("k1")).key_id == "k1"
    assert len(provider.fetched_at) == 2
    # And once the provider is back, the next fetch (after the interval) brings the new set
    provider.down, provider.published = False, [jwk(signing_keys["k1"], "k1"), jwk(signing_keys["k2"], "k2")]
    clock.now += INTERVAL
    assert cache.signing_key(naming("k2")).key_id == "k2"


@pytest.mark.parametrize("published", [[], [{"kty": "RSA"}], ["junk"]], ids=["empty", "unusable", "junk"])
def test_a_key_set_without_a_usable_key_is_a_failed_fetch(cache, provider, clock, published):
    # Given the key set fetched, then the provider publishing a set with no usable signing key
    cache.signing_key(naming("k1"))
    provider.published = published
    # When the set is fetched again, Then the last good set serves on
    clock.now += MAX_AGE
    assert cache.signing_key(naming("k1")).key_id == "k1"


def test_only_signature_keys_with_a_kid_are_taken(cache, provider, signing_keys):
    # Given a set with a key for encryption and a key without kid beside the signing key
    without_kid = {name: value for name, value in jwk(signing_keys["k2"], "-").items() if name != "kid"}
    provider.published = [jwk(signing_keys["k1"], "k1"), jwk(signing_keys["k2"], "enc-1", use="enc"),
                          without_kid]
    # Then only the signing key verifies
    assert cache.signing_key(naming("k1")).key_id == "k1"
    assert cache.signing_key(naming("enc-1")) is None


def test_without_any_key_set_a_failed_fetch_is_an_outage(cache, provider, clock):
    # Given a cold cache and the provider down
    provider.down = True
    # When a token is checked, Then it is an outage (API Gateway's 500), not a refusal (401)
    with pytest.raises(IdentityProviderUnavailable):
        cache.signing_key(naming("k1"))
    # And inside the interval the next token is an outage too, without asking the provider again
    clock.now += INTERVAL / 2
    with pytest.raises(IdentityProviderUnavailable):
        cache.signing_key(naming("k1"))
    assert len(provider.fetched_at) == 1


@pytest.mark.parametrize("header", UNUSABLE_KIDS,
                         ids=["none", "number", "empty"])
def test_a_token_without_a_usable_kid_is_refused_without_a_fetch(cache, provider, header):
    assert cache.signing_key(token(header)) is None
    assert provider.fetched_at == []
