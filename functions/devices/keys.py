"""The KMS key that signs device credentials (the citizen pseudonym key is in
functions.shared.citizen_store). The key material never leaves KMS."""

from __future__ import annotations

from functions.shared import aws
from functions.shared.dynamo import unavailable_when_throttled

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"  # JWT RS256


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
        signature: bytes = signed["Signature"]
        return signature
