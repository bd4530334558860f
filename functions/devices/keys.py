"""The two KMS keys device registration uses: a MAC key for citizen pseudonyms, a signing key
for device credentials. The key material never leaves KMS."""

from __future__ import annotations

from functions.devices.repository import unavailable_when_throttled
from functions.shared import aws

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"  # JWT RS256


class KmsCitizenPseudonyms:
    """HMAC-SHA-256 of the CPR number under a KMS key: stable, and useless without the key."""

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    @unavailable_when_throttled
    def pseudonym(self, cpr: str) -> str:
        mac = aws.client("kms").generate_mac(
            KeyId=self._key_id, MacAlgorithm="HMAC_SHA_256", Message=cpr.encode("ascii")
        )
        return mac["Mac"].hex()


class KmsCredentialSigner:
    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    @unavailable_when_throttled
    def sign(self, message: bytes) -> bytes:
        # RAW: KMS hashes the message itself (at most 4 KB; a credential's signing input is far smaller).
        signed = aws.client("kms").sign(
            KeyId=self._key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return signed["Signature"]
