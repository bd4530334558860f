"""The episodes table's keys and statuses, the condition "the episode is open", and the items that
link a device to episodes (which makes a planned episode active): the one place referral intake and
device registration learn them from. Items and keys only, no boto3: each feature's repository sends them.

Episodes table (pk, sk), no CPR in any key:
- ``EPISODE#<id>`` / ``META``: the episode; ``THRESHOLDS#v0001``..: its threshold versions;
  ``ORDER#<order id>``: a logistics order (the stream relays it to the logistics-orders queue); it names
  the citizen by patient id only, never by CPR number, name or phone.
- ``PATIENT#<patient_id>`` / ``OPEN#<disease area>``: episode_id and logistics_centre of the open
  episode (at most one per citizen and area); ``LOGISTICS``: the citizen's one logistics centre while
  any episode is open (open_episodes, a string set).
- ``REFERRAL#<treating organisation>#<referral_id>`` / ``REFERRAL``: the referral's body hash and reply
  (idempotency; a referral id is the referring organisation's own, unique only within it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from functions.shared.access_rules import Relation, episode_relations
from functions.shared.thresholds import Thresholds, ThresholdVersion

# An episode's id (identifiers.new_id("epi")) as every API that names one in its path accepts it.
EPISODE_ID_PATTERN = r"^epi_[0-9a-f]{24}$"
ORDER_ID_PATTERN = r"^ord_[0-9a-f]{24}$"
META = "META"
OPEN_PREFIX = "OPEN#"
ORDER_PREFIX = "ORDER#"
THRESHOLDS_PREFIX = "THRESHOLDS#v"


class EpisodeStatus(StrEnum):
    """Planned from the referral until a device is linked, then active, and ended once."""

    PLANNED = "planned"
    ACTIVE = "active"
    ENDED = "ended"


OPEN_STATUSES = frozenset({EpisodeStatus.PLANNED, EpisodeStatus.ACTIVE})
# The condition "the episode is open" in a write, with its values ("#status" names the status attribute).
IS_OPEN = "#status IN (:planned, :active)"
IS_OPEN_VALUES = {":planned": {"S": EpisodeStatus.PLANNED}, ":active": {"S": EpisodeStatus.ACTIVE}}


def episode_partition(episode_id: str) -> dict[str, Any]:
    """The partition of the episode's items: the episode, its threshold versions and its orders."""
    return {"S": f"EPISODE#{episode_id}"}


def episode_key(episode_id: str) -> dict[str, Any]:
    return {"pk": episode_partition(episode_id), "sk": {"S": META}}


def thresholds_key(episode_id: str, version: int) -> dict[str, Any]:
    return {"pk": episode_partition(episode_id), "sk": {"S": f"{THRESHOLDS_PREFIX}{version:04d}"}}


def thresholds_item(episode_id: str, version: ThresholdVersion) -> dict[str, Any]:
    """A threshold version as stored: written by referral intake, read by the evaluator too."""
    return {
        **thresholds_key(episode_id, version.version),
        "version": {"N": str(version.version)},
        "valid_from": {"S": version.valid_from.isoformat()},
        "thresholds": {"S": version.thresholds.model_dump_json(exclude_none=True)},
        "set_by": {"S": version.set_by},
        "set_at": {"S": version.set_at.isoformat()},
    }


def thresholds_from_item(item: dict[str, Any]) -> ThresholdVersion:
    return ThresholdVersion(
        version=int(item["version"]["N"]),
        valid_from=datetime.fromisoformat(item["valid_from"]["S"]),
        thresholds=Thresholds.model_validate_json(item["thresholds"]["S"]),
        set_by=item["set_by"]["S"],
        set_at=datetime.fromisoformat(item["set_at"]["S"]),
    )


def order_key(episode_id: str, order_id: str) -> dict[str, Any]:
    return {"pk": episode_partition(episode_id), "sk": {"S": f"{ORDER_PREFIX}{order_id}"}}


def referral_key(organisation: str, referral_id: str) -> dict[str, Any]:
    """Each referring organisation names its own referrals, so the id is unique only within it."""
    return {"pk": {"S": f"REFERRAL#{organisation}#{referral_id}"}, "sk": {"S": "REFERRAL"}}


def patient_partition(patient_id: str) -> dict[str, Any]:
    """The partition of the citizen's guards: the open episode per disease area, the logistics centre."""
    return {"S": f"PATIENT#{patient_id}"}


def open_guard_key(patient_id: str, disease_area: str) -> dict[str, Any]:
    return {"pk": patient_partition(patient_id), "sk": {"S": f"{OPEN_PREFIX}{disease_area}"}}


def logistics_key(patient_id: str) -> dict[str, Any]:
    return {"pk": patient_partition(patient_id), "sk": {"S": "LOGISTICS"}}


def link_device_items(episodes_table: str, device_id: str, episode_ids: list[str]) -> list[dict[str, Any]]:
    """Transaction items that add the device to each open episode and make a planned one active."""
    return [
        {"Update": {
            "TableName": episodes_table,
            "Key": episode_key(episode_id),
            "UpdateExpression": "SET #status = :active ADD device_ids :device",
            "ConditionExpression": IS_OPEN,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {**IS_OPEN_VALUES, ":device": {"SS": [device_id]}},
        }}
        for episode_id in episode_ids
    ]


@dataclass(frozen=True)
class EpisodeRelations:
    """Who an episode concerns and which organisations hold it: what another feature needs to decide
    whether a caller may see or change the episode's data, without the rest of the episode."""

    episode_id: str
    patient_id: str
    disease_area: str
    status: EpisodeStatus
    created_at: datetime
    treating_organisation: str
    monitoring_organisation: str
    handover_to: str | None  # the organisation offered monitoring responsibility, while the offer stands

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def held_by(self, organisation: str | None) -> frozenset[Relation]:
        """What ``organisation`` is to the episode, for its route's access rule."""
        return episode_relations(organisation, treating=self.treating_organisation,
                                 monitoring=self.monitoring_organisation, offered=self.handover_to)


RELATION_ATTRIBUTES = ("episode_id", "patient_id", "disease_area", "#status", "created_at",
                       "treating_organisation", "monitoring_organisation", "handover_to")


def relations_from_item(item: dict[str, Any]) -> EpisodeRelations:
    """The relations of an episode item (serialised form, at least RELATION_ATTRIBUTES)."""
    return EpisodeRelations(
        episode_id=item["episode_id"]["S"],
        patient_id=item["patient_id"]["S"],
        disease_area=item["disease_area"]["S"],
        status=EpisodeStatus(item["status"]["S"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        treating_organisation=item["treating_organisation"]["S"],
        monitoring_organisation=item["monitoring_organisation"]["S"],
        handover_to=item["handover_to"]["S"] if "handover_to" in item else None,
    )
