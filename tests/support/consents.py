"""The consent store's in-memory fake (functions.cross_sector_sharing.consents.ConsentStore), for the unit
tier; tests/contract/test_consent_store.py holds it to DynamoConsentStore's promises."""

from __future__ import annotations

from functions.shared.citizen_records import SharingConsent


def _nothing() -> None:
    return None


class FakeConsentStore:
    """Every consent recorded per patient (the history) and the one that holds. ``before_record`` lets a
    test play a concurrent request that records first."""

    def __init__(self) -> None:
        self.history: dict[str, list[SharingConsent]] = {}
        self.holding: dict[str, SharingConsent] = {}
        self.before_record = _nothing

    def current(self, patient_id: str) -> SharingConsent | None:
        return self.holding.get(patient_id)

    def record(self, patient_id: str, consent: SharingConsent) -> bool:
        self.before_record()
        kept = self.history.setdefault(patient_id, [])
        holding = self.holding.get(patient_id)
        if (any((c.recorded_at, c.consent_id) == (consent.recorded_at, consent.consent_id) for c in kept)
                or (holding is not None and holding.recorded_at > consent.recorded_at)):
            return False
        kept.append(consent)
        self.holding[patient_id] = consent
        return True
