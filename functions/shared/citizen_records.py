"""Every key of the citizens table, and the citizen's consent to cross-sector sharing. Pure: no boto3.

Citizens table (pk, sk):
- ``CITIZEN#<pseudonym>`` / ``IDENTITY``: patient_id. The pseudonym is a KMS MAC of the CPR number.
- ``PATIENT#<patient_id>`` / ``PROFILE``: the citizen's personal data, each part sealed on its own with the
  citizen-profile KMS key (functions.shared.profile_sealing): ``sealed_cpr`` (for the standard exchange that
  must carry it, sealed once when the citizen is first registered) and ``sealed_contact`` (the name and phone
  the latest referral gave, sealed together). Each is bound to its item and part by its encryption context,
  so a sealed value copied to another citizen's profile, or to the other part, does not open.
- ``PATIENT#<patient_id>`` / ``SHARING_CONSENT``: the consent that holds now (granted or withdrawn), who
  recorded it and when. No item: none was recorded, and nothing is shared.
- ``PATIENT#<patient_id>`` / ``CONSENT#<recorded_at>#<consent_id>``: every consent ever recorded, kept.

The CPR number, the name and the phone are sealed attributes, never keys, and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

IDENTITY = "IDENTITY"
PROFILE = "PROFILE"
SHARING_CONSENT = "SHARING_CONSENT"
CONSENT_HISTORY_PREFIX = "CONSENT#"


def citizen_key(pseudonym: str) -> dict[str, Any]:
    return {"pk": {"S": f"CITIZEN#{pseudonym}"}, "sk": {"S": IDENTITY}}


def profile_key(patient_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": PROFILE}}


class ProfilePart(StrEnum):
    CPR = "cpr"
    CONTACT = "contact"  # name and phone: a referral gives both, and nothing reads one without the other


SEALED_ATTRIBUTES = {ProfilePart.CPR: "sealed_cpr", ProfilePart.CONTACT: "sealed_contact"}
# The part of every profile part's encryption context that is the same for all: the citizen-profile key's
# grants require it (infrastructure/resource_spec.py), so the key seals and opens nothing else.
PROFILE_CONTEXT = {"table": "citizens", "item": PROFILE}


def profile_context(patient_id: str, part: ProfilePart) -> dict[str, str]:
    """The encryption context a profile part is sealed under: its item and part, so it opens there only."""
    return {**PROFILE_CONTEXT, "patient_id": patient_id, "part": part.value}


def consent_key(patient_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"PATIENT#{patient_id}"}, "sk": {"S": SHARING_CONSENT}}


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ConsentSource(StrEnum):
    REFERRAL = "referral"  # recorded with the referral that opened an episode
    REQUEST = "consent_request"  # POST /v1/consents: a withdrawal or a renewal


@dataclass(frozen=True)
class SharingConsent:
    """One recorded consent: the citizen's say on sharing from ``recorded_at`` until the next one."""

    consent_id: str
    status: ConsentStatus
    recorded_at: str  # ISO 8601 UTC with milliseconds: orders consents, as strings
    organisation: str  # the organisation that recorded it (treating or monitoring)
    source: ConsentSource

    @property
    def granted(self) -> bool:
        return self.status is ConsentStatus.GRANTED


CONSENT_ATTRIBUTES = ("consent_id", "consent_status", "recorded_at", "organisation", "source")


def _consent_attributes(consent: SharingConsent) -> dict[str, Any]:
    return {"consent_id": {"S": consent.consent_id}, "consent_status": {"S": consent.status},
            "recorded_at": {"S": consent.recorded_at}, "organisation": {"S": consent.organisation},
            "source": {"S": consent.source}}


def consent_items(citizens_table: str, patient_id: str, consent: SharingConsent) -> list[dict[str, Any]]:
    """Transaction items that record ``consent``: kept in the history (once: a retry of the same consent is
    refused by its condition) and made the current one unless a later one is already current."""
    history_key = {"pk": {"S": f"PATIENT#{patient_id}"},
                   "sk": {"S": f"{CONSENT_HISTORY_PREFIX}{consent.recorded_at}#{consent.consent_id}"}}
    return [
        {"Put": {
            "TableName": citizens_table,
            "Item": {**history_key, "patient_id": {"S": patient_id}, **_consent_attributes(consent)},
            "ConditionExpression": "attribute_not_exists(pk)",
        }},
        {"Put": {
            "TableName": citizens_table,
            "Item": {**consent_key(patient_id), "patient_id": {"S": patient_id},
                     **_consent_attributes(consent)},
            "ConditionExpression": "attribute_not_exists(pk) OR recorded_at <= :recorded_at",
            "ExpressionAttributeValues": {":recorded_at": {"S": consent.recorded_at}},
        }},
    ]


def consent_from_item(item: dict[str, Any]) -> SharingConsent:
    return SharingConsent(
        consent_id=item["consent_id"]["S"], status=ConsentStatus(item["consent_status"]["S"]),
        recorded_at=item["recorded_at"]["S"], organisation=item["organisation"]["S"],
        source=ConsentSource(item["source"]["S"]),
    )
