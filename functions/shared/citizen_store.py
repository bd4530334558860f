"""Citizens in DynamoDB and their pseudonyms in KMS: the adapters behind functions.shared.citizens.

The table's keys are functions.shared.citizen_records'. The table is encrypted with the data key.
"""

from __future__ import annotations

from typing import Any

from functions.shared import aws
from functions.shared.citizen_records import citizen_key, profile_key
from functions.shared.dynamo import get_item, transact, unavailable_when_throttled


class DynamoCitizenStore:
    def __init__(self, citizens_table: str) -> None:
        self._citizens = citizens_table

    @property
    def table_name(self) -> str:
        return self._citizens

    @unavailable_when_throttled
    def find_patient(self, pseudonym: str) -> str | None:
        item = get_item(self._citizens, citizen_key(pseudonym), "patient_id")
        return item["patient_id"]["S"] if item else None

    @unavailable_when_throttled
    def add_patient(self, pseudonym: str, patient_id: str, cpr: str) -> bool:
        return transact([
            {"Put": {
                "TableName": self._citizens,
                "Item": {**citizen_key(pseudonym), "patient_id": {"S": patient_id}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Put": {
                "TableName": self._citizens,
                "Item": {**profile_key(patient_id), "patient_id": {"S": patient_id}, "cpr": {"S": cpr}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
        ])

    @unavailable_when_throttled
    def profile(self, patient_id: str) -> dict[str, str] | None:
        """The citizen's cpr, name and phone (those known), for a message that must carry them."""
        item = aws.client("dynamodb").get_item(
            TableName=self._citizens, Key=profile_key(patient_id), ConsistentRead=True,
            ProjectionExpression="cpr, #name, phone", ExpressionAttributeNames={"#name": "name"},
        ).get("Item")
        return {name: value["S"] for name, value in item.items()} if item else None

    def contact_update(self, patient_id: str, name: str, phone: str) -> dict[str, Any]:
        """A transaction item that stores the contact details on the citizen's existing profile."""
        return {"Update": {
            "TableName": self._citizens,
            "Key": profile_key(patient_id),
            "UpdateExpression": "SET #name = :name, phone = :phone",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#name": "name"},
            "ExpressionAttributeValues": {":name": {"S": name}, ":phone": {"S": phone}},
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
