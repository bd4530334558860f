"""The citizen profile's sealing for tests: the citizen store on a moto account's citizen-profile key, and an
in-memory fake of the sealer port (functions.shared.profile_sealing.ProfileSealer) that, like KMS, opens a
sealed part only under the context it was sealed with."""

from __future__ import annotations

import json
from typing import Any

import boto3

from functions.shared.citizen_records import ProfilePart, profile_context
from functions.shared.citizen_store import DynamoCitizenStore
from functions.shared.profile_sealing import KmsProfileSealer, UnreadableProfile
from infrastructure.resource_spec import ResourceNames

PROFILE_KEY = "citizen-profile"


def citizen_store(names: ResourceNames) -> DynamoCitizenStore:
    """The citizens table of a moto account, its profiles sealed with the account's citizen-profile key."""
    return DynamoCitizenStore(names.tables["citizens"], KmsProfileSealer(names.key_ids[PROFILE_KEY]))


def stored_profile(names: ResourceNames, patient_id: str) -> dict[str, Any] | None:
    """The PROFILE item as it is at rest (DynamoDB JSON), read past the store."""
    item: dict[str, Any] | None = boto3.Session().client("dynamodb").get_item(
        TableName=names.tables["citizens"],
        Key={"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": "PROFILE"}}, ConsistentRead=True,
    ).get("Item")
    return item


class FakeProfileSealer:
    """Seals by recording the plaintext with its context under a new token; opens a token only under the
    same context (UnreadableProfile otherwise), as KMS does."""

    def __init__(self) -> None:
        self._sealed: dict[bytes, tuple[str, str]] = {}

    def seal(self, patient_id: str, part: ProfilePart, plaintext: str) -> bytes:
        token = f"sealed-{len(self._sealed)}".encode("ascii")
        self._sealed[token] = (_context(patient_id, part), plaintext)
        return token

    def unseal(self, patient_id: str, part: ProfilePart, sealed: bytes) -> str:
        context, plaintext = self._sealed.get(sealed, ("", ""))
        if context != _context(patient_id, part):
            raise UnreadableProfile("the citizen's profile cannot be read; retry later")
        return plaintext


def _context(patient_id: str, part: ProfilePart) -> str:
    return json.dumps(profile_context(patient_id, part), sort_keys=True)
