"""The citizen's consent to sharing in the citizens table (its keys and items:
functions.shared.citizen_records)."""

from __future__ import annotations

from functions.shared.citizen_records import (
    SharingConsent,
    consent_from_item,
    consent_items,
    consent_key,
)
from functions.shared.dynamo import get_item, transact, unavailable_when_throttled


class DynamoConsentStore:
    def __init__(self, citizens_table: str) -> None:
        self._table = citizens_table

    @unavailable_when_throttled
    def current(self, patient_id: str) -> SharingConsent | None:
        item = get_item(self._table, consent_key(patient_id))
        return consent_from_item(item) if item else None

    @unavailable_when_throttled
    def record(self, patient_id: str, consent: SharingConsent) -> bool:
        """One transaction: the consent kept in the history and made current, unless a later one is."""
        return transact(consent_items(self._table, patient_id, consent))
