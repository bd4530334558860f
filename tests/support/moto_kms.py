"""moto's KMS without the RSA key pairs that symmetric and HMAC keys never use.

moto makes a 2048-bit RSA key pair for every key it creates, whatever the key's spec (about 50 ms of
CPU each), and uses it only to sign, verify and give out a public key, which only asymmetric keys do.
Three of the spec's four keys are symmetric or HMAC, and the tests create them in every moto account,
so these key pairs were a quarter of the integration tier's time. Those keys now share one pair made
once per process; their key material (what encrypts and MACs) is still each key's own, and every
asymmetric key still gets a key pair of its own.
"""

from __future__ import annotations

from functools import cache

import moto.kms.models
from moto.kms.utils import AbstractPrivateKey, KeySpec, generate_private_key

_ASYMMETRIC = frozenset({*KeySpec.rsa_key_specs(), *KeySpec.ecc_key_specs(), KeySpec.SM2.value})


@cache
def _unused_key_pair() -> AbstractPrivateKey:
    return generate_private_key(KeySpec.RSA_2048.value)


def _private_key(key_spec: str) -> AbstractPrivateKey:
    return generate_private_key(key_spec) if key_spec in _ASYMMETRIC else _unused_key_pair()


def skip_unused_key_pairs() -> None:
    """From now on moto makes key pairs for asymmetric keys only (idempotent)."""
    moto.kms.models.generate_private_key = _private_key  # type: ignore[attr-defined]
