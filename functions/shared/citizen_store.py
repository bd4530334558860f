"""Citizens in DynamoDB and their pseudonyms in KMS: the adapters behind functions.shared.citizens.

The table's keys are functions.shared.citizen_records'. The table is encrypted with the data key, and the
profile's personal data besides, part by part, with the citizen-profile key
(functions.shared.profile_sealing).
"""

from __future__ import annotations

import json
from typing import Any

from functions.shared import aws
from functions.shared.citizen_records import SEALED_ATTRIBUTES, ProfilePart, citizen_key, profile_key
from functions.shared.dynamo import get_item, transact, unavailable_when_throttled
from functions.shared.profile_sealing import ProfileSealer


class DynamoCitizenLookup:
    """A citizen's patient id by pseudonym: all that the functions holding no profile key read."""

    def __init__(self, citizens_table: str) -> None:
        self._citizens = citizens_table

    @property
    def table_name(self) -> str:
        return self._citizens

    @unavailable_when_throttled
    def find_patient(self, pseudonym: str) -> str | None:
        item = get_item(self._citizens, citizen_key(pseudonym), "patient_id")
        return item["patient_id"]["S"] if item else None


class DynamoCitizenStore(DynamoCitizenLookup):
    """The citizens and their profiles, whose personal data is sealed by ``sealer`` part by part: the CPR
    number once, when the citizen is registered; the name and phone, together, by each referral (so updating
    them needs no CPR number)."""

    def __init__(self, citizens_table: str, sealer: ProfileSealer) -> None:
        super().__init__(citizens_table)
        self._sealer = sealer

    @unavailable_when_throttled
    def add_patient(self, pseudonym: str, patient_id: str, cpr: str) -> bool:
        sealed_cpr = self._sealer.seal(patient_id, ProfilePart.CPR, cpr)
        return transact([
            {"Put": {
                "TableName": self._citizens,
                "Item": {**citizen_key(pseudonym), "patient_id": {"S": patient_id}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Put": {
                "TableName": self._citizens,
                "Item": {**profile_key(patient_id), "patient_id": {"S": patient_id},
                         SEALED_ATTRIBUTES[ProfilePart.CPR]: {"B": sealed_cpr}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
        ])

    @unavailable_when_throttled
    def profile(self, patient_id: str) -> dict[str, str] | None:
        """The citizen's cpr, name and phone (those known), for a message that must carry them."""
        item = aws.client("dynamodb").get_item(
            TableName=self._citizens, Key=profile_key(patient_id), ConsistentRead=True,
            ProjectionExpression=", ".join(SEALED_ATTRIBUTES.values()),
        ).get("Item")
        if item is None:
            return None
        found: dict[str, str] = {}
        if cpr := item.get(SEALED_ATTRIBUTES[ProfilePart.CPR]):
            found["cpr"] = self._sealer.unseal(patient_id, ProfilePart.CPR, cpr["B"])
        if contact := item.get(SEALED_ATTRIBUTES[ProfilePart.CONTACT]):
            found |= json.loads(self._sealer.unseal(patient_id, ProfilePart.CONTACT, contact["B"]))
        return found

    def contact_update(self, patient_id: str, name: str, phone: str) -> dict[str, Any]:
        """A transaction item that stores the contact details, sealed, on the citizen's existing profile."""
        contact = json.dumps({"name": name, "phone": phone}, separators=(",", ":"))
        return {"Update": {
            "TableName": self._citizens,
            "Key": profile_key(patient_id),
            "UpdateExpression": "SET #contact = :contact",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#contact": SEALED_ATTRIBUTES[ProfilePart.CONTACT]},
            "ExpressionAttributeValues": {
                ":contact": {"B": self._sealer.seal(patient_id, ProfilePart.CONTACT, contact)},
            },
        }}


class KmsCitizenPseudonyms:
    """HMAC-SHA-256 of the CPR number under a KMS key: stable, and useless without the key."""

    def __init__(self, key_id: str) -> None:
        self._key_id = key_id

    @unavailable_when_throttled
    def pseudonym(self, cpr: str) -> str:
        mac = aws.client("kms").generate_mac(
            KeyId=self._key_id, MacAlgorithm="HMAC_SHA_256", Message=cpr.encode("ascii")
        )
        digest: bytes = mac["Mac"]
        return digest.hex()
