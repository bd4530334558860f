"""The citizen's internal patient id, the one every feature uses (device registration, referrals).

The citizen is found by a pseudonym (a keyed MAC of the CPR number), never by the CPR itself.
"Get or create" is a race between concurrent requests: the store's write is conditional, and a
lost race is settled by reading what the winner wrote. No boto3 here: the store and the
pseudonyms are injected (functions.shared.citizen_store holds the DynamoDB and KMS adapters).
"""

from __future__ import annotations

from typing import Protocol

from functions.shared.errors import ServiceUnavailable
from functions.shared.identifiers import new_id

ATTEMPTS = 3  # a lost race is settled on the next read; more attempts mean the store is struggling


class CitizenPseudonyms(Protocol):
    def pseudonym(self, cpr: str) -> str:
        """A stable, keyed pseudonym of the CPR number (hex), the same for every call."""


class CitizenStore(Protocol):
    def find_patient(self, pseudonym: str) -> str | None: ...

    def add_patient(self, pseudonym: str, patient_id: str, cpr: str) -> bool:
        """Store the citizen under ``patient_id``; False if the pseudonym already has a patient
        (or another request is storing one at this moment): nothing is then written."""


def get_or_create_patient(store: CitizenStore, pseudonym: str, cpr: str) -> str:
    """The citizen's patient id: the stored one, a new one, or the one a concurrent request created first."""
    existing = store.find_patient(pseudonym)
    if existing is not None:
        return existing
    for _ in range(ATTEMPTS):
        patient_id = new_id("pat")
        if store.add_patient(pseudonym, patient_id, cpr):
            return patient_id
        winner = store.find_patient(pseudonym)
        if winner is not None:
            return winner
    raise ServiceUnavailable("the citizen could not be registered now; retry the same request")
