"""The citizen profile's personal data sealed with the citizen-profile KMS key, one part at a time.

A part (the CPR number; the name and phone together) is small, so KMS encrypts it directly: no data key,
no local cryptography. Its encryption context (functions.shared.citizen_records.profile_context) names the
citizen and the part, and KMS opens a ciphertext only under the context it was sealed with: a value copied to
another citizen's profile, or from one part to the other, does not open. Backups and point-in-time recovery
hold the ciphertext; only the functions granted kms:Decrypt on this key (for this context) can read it.

Any refusal by KMS (throttled, the key disabled, no grant, a ciphertext that does not open) is a 503 and
nothing is read or written: the profile fails closed. Only the part, the citizen's internal id and KMS's
error code are logged, never a plaintext.
"""

from __future__ import annotations

from typing import Protocol

from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.citizen_records import ProfilePart, profile_context
from functions.shared.errors import ServiceUnavailable
from functions.shared.observability import logger

# KMS's answer to a ciphertext that does not open under the key and context given: altered, or moved.
_DOES_NOT_OPEN = "InvalidCiphertextException"


class UnreadableProfile(ServiceUnavailable):
    """A sealed part that does not open under its own context: altered or copied from elsewhere. No retry
    mends it, so a batch leaves that citizen out rather than failing every message with it."""


class ProfileSealer(Protocol):
    def seal(self, patient_id: str, part: ProfilePart, plaintext: str) -> bytes:
        """``plaintext`` sealed for ``patient_id``'s profile part ``part`` (opens there only)."""

    def unseal(self, patient_id: str, part: ProfilePart, sealed: bytes) -> str:
        """The plaintext of a part sealed for ``patient_id``'s ``part``; UnreadableProfile if it was sealed
        for another citizen or part, or altered; ServiceUnavailable if KMS refuses."""


class KmsProfileSealer:
    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    def seal(self, patient_id: str, part: ProfilePart, plaintext: str) -> bytes:
        try:
            sealed: bytes = aws.client("kms").encrypt(
                KeyId=self._key_id, Plaintext=plaintext.encode("utf-8"),
                EncryptionContext=profile_context(patient_id, part),
            )["CiphertextBlob"]
        except ClientError as error:
            raise _refused("sealed", patient_id, part, error) from error
        return sealed

    def unseal(self, patient_id: str, part: ProfilePart, sealed: bytes) -> str:
        try:
            plaintext: bytes = aws.client("kms").decrypt(
                KeyId=self._key_id, CiphertextBlob=sealed,
                EncryptionContext=profile_context(patient_id, part),
            )["Plaintext"]
        except ClientError as error:
            raise _refused("opened", patient_id, part, error) from error
        return plaintext.decode("utf-8")


def _refused(done: str, patient_id: str, part: ProfilePart, error: ClientError) -> ServiceUnavailable:
    code = error.response.get("Error", {}).get("Code", "unknown")
    logger.warning(f"a profile part could not be {done}",
                   extra={"patient_id": patient_id, "part": part.value, "error_code": code})
    if code == _DOES_NOT_OPEN:
        return UnreadableProfile("the citizen's profile cannot be read; retry later")
    return ServiceUnavailable("the citizen's profile cannot be read or written now; retry the request")
