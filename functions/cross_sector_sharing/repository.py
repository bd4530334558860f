"""What the sharing publisher decides by, read for a whole batch in one BatchGetItem across two tables:
each episode's relations (episodes table, META) and each citizen's consent and CPR number (citizens
table, SHARING_CONSENT and PROFILE), strongly consistent, so a consent withdrawn or a handover accepted
a moment ago already counts. The CPR numbers of the citizens whose consent is granted (no other is
shared) are opened with the citizen-profile key, once per citizen per batch, and kept no longer than the
batch."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import suppress
from typing import Any

from functions.cross_sector_sharing.logic import SharingState
from functions.cross_sector_sharing.relations import CitizenRelations
from functions.cross_sector_sharing.settings import SharingApiSettings
from functions.shared import aws
from functions.shared.citizen_records import (
    CONSENT_ATTRIBUTES,
    PROFILE,
    SEALED_ATTRIBUTES,
    SHARING_CONSENT,
    ProfilePart,
    consent_from_item,
    consent_key,
    profile_key,
)
from functions.shared.citizen_store import DynamoCitizenLookup, KmsCitizenPseudonyms
from functions.shared.dynamo import BATCH_GET_ATTEMPTS, BATCH_GET_LIMIT, unavailable_when_throttled
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.episode_records import RELATION_ATTRIBUTES, episode_key, relations_from_item
from functions.shared.errors import ServiceUnavailable
from functions.shared.profile_sealing import ProfileSealer, UnreadableProfile

_PATIENT_PREFIX = "PATIENT#"
# The citizens' items are told apart by their keys; "#source" because SOURCE is a reserved word.
_SEALED_CPR = SEALED_ATTRIBUTES[ProfilePart.CPR]
_CITIZEN_ATTRIBUTES = ("pk", "sk", _SEALED_CPR, *(f"#{name}" if name == "source" else name
                                                 for name in CONSENT_ATTRIBUTES))


class DynamoSharingDirectory:
    def __init__(self, citizens_table: str, episodes_table: str, sealer: ProfileSealer) -> None:
        self._citizens = citizens_table
        self._episodes = episodes_table
        self._sealer = sealer

    @unavailable_when_throttled
    def state(self, episode_ids: Collection[str], patient_ids: Collection[str]) -> SharingState:
        keys = [(self._episodes, episode_key(episode_id)) for episode_id in sorted(episode_ids)]
        keys += [(self._citizens, key) for patient_id in sorted(patient_ids)
                 for key in (consent_key(patient_id), profile_key(patient_id))]
        items = _batch_get(keys, {
            self._episodes: {"ProjectionExpression": ", ".join(RELATION_ATTRIBUTES),
                             "ExpressionAttributeNames": {"#status": "status"}},
            self._citizens: {"ProjectionExpression": ", ".join(_CITIZEN_ATTRIBUTES),
                             "ExpressionAttributeNames": {"#source": "source"}},
        })
        relations = [relations_from_item(item) for item in items[self._episodes]]
        citizens = items[self._citizens]
        consents = {_patient_id(item): consent_from_item(item)
                    for item in citizens if item["sk"]["S"] == SHARING_CONSENT}
        granted = {patient_id for patient_id, consent in consents.items() if consent.granted}
        return SharingState(
            relations={relation.episode_id: relation for relation in relations},
            consents=consents,
            cprs=self._cprs([item for item in citizens
                             if item["sk"]["S"] == PROFILE and _patient_id(item) in granted]),
        )

    def _cprs(self, profiles: list[dict[str, Any]]) -> dict[str, str]:
        """Each profile's CPR number opened; one that does not open is left out (its citizen's messages
        fail alone, as for a profile not found), while KMS refusing fails the batch, for SQS to retry."""
        cprs: dict[str, str] = {}
        for item in profiles:
            patient_id = _patient_id(item)
            with suppress(UnreadableProfile):
                cprs[patient_id] = self._sealer.unseal(patient_id, ProfilePart.CPR, item[_SEALED_CPR]["B"])
        return cprs


def _patient_id(item: dict[str, Any]) -> str:
    return str(item["pk"]["S"]).removeprefix(_PATIENT_PREFIX)


def _batch_get(keys: list[tuple[str, dict[str, Any]]],
               projections: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The items of ``keys`` (table, serialised key) from any number of tables, 100 keys per BatchGetItem
    (however they fall across the tables), asking again for the keys DynamoDB left unprocessed;
    ServiceUnavailable (retry later) if some stay unread."""
    items: dict[str, list[dict[str, Any]]] = {table: [] for table in projections}
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending: dict[str, Any] = {}
        for table, key in keys[start:start + BATCH_GET_LIMIT]:
            read = pending.setdefault(table, {"Keys": [], "ConsistentRead": True, **projections[table]})
            read["Keys"].append(key)
        for _ in range(BATCH_GET_ATTEMPTS):
            response = aws.client("dynamodb").batch_get_item(RequestItems=pending)
            for table, found in response["Responses"].items():
                items[table] += found
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        else:
            raise ServiceUnavailable("the sharing state left keys unread; retry")
    return items


def dynamo_citizen_relations(settings: SharingApiSettings) -> CitizenRelations:
    """The sharing API's relation check on DynamoDB, the CPR number made a pseudonym by the KMS key."""
    return CitizenRelations(DynamoCitizenLookup(settings.citizens_table_name),
                            KmsCitizenPseudonyms(settings.citizen_pseudonym_key_id),
                            DynamoEpisodeDirectory(settings.episodes_table_name))
