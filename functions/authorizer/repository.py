"""The authorizer's reads: whether a device is still active, and for which patient; a citizen's patient id."""

from __future__ import annotations

from functions.shared import aws
from functions.shared.citizen_store import DynamoCitizenLookup, KmsCitizenPseudonyms
from functions.shared.device_records import STANDING_PROJECTION, DeviceStanding, device_key, device_standing


class DynamoDeviceDirectory:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def standing(self, device_id: str) -> DeviceStanding | None:
        # Consistent read: a revocation a moment ago must already refuse the credential.
        return device_standing(aws.client("dynamodb").get_item(
            TableName=self._table_name, Key=device_key(device_id), ConsistentRead=True, **STANDING_PROJECTION,
        ).get("Item"))


class DynamoCitizenDirectory:
    """The citizens table's identity item, found by the KMS MAC of the CPR number (one GenerateMac and one
    GetItem per citizen's request: the authorizer caches no policy)."""

    def __init__(self, citizens_table: str, pseudonym_key_id: str) -> None:
        self._citizens = DynamoCitizenLookup(citizens_table)
        self._pseudonyms = KmsCitizenPseudonyms(pseudonym_key_id)

    def patient_id(self, cpr: str) -> str | None:
        return self._citizens.find_patient(self._pseudonyms.pseudonym(cpr))
