"""Episodes, their thresholds, orders and guards in DynamoDB (keys: functions.shared.episode_records),
Ending an episode also revokes or unlinks its devices, with the devices table's
items of functions.shared.device_records; accepting a handover moves the episode's worklist row in the
evaluations table (functions.shared.evaluation_records) with it.

Every change is one conditional write or one transaction, so a refused or lost request writes
nothing: the referral's seven writes (episode, thresholds v1, order, open guard, logistics centre,
referral record, contact details), and the two of the consent to sharing it gives (functions.shared.
citizen_records), happen together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from functions.referral_intake.models import Episode, Handover, NewEpisode, Order, StoredReferral
from functions.shared import aws
from functions.shared.citizen_records import consent_items
from functions.shared.citizen_store import DynamoCitizenStore
from functions.shared.clock import hour_of, iso_utc
from functions.shared.device_records import (
    ActiveDevice,
    active_device,
    device_key,
    device_revocation_items,
    device_unlink_item,
)
from functions.shared.dynamo import (
    IndexByHour,
    get_item,
    query_page,
    transact,
    unavailable_when_throttled,
    written_in_hour,
)
from functions.shared.episode_records import (
    IS_OPEN,
    IS_OPEN_VALUES,
    THRESHOLDS_PREFIX,
    EpisodeStatus,
    episode_key,
    episode_partition,
    logistics_key,
    open_guard_key,
    order_key,
    referral_key,
    thresholds_from_item,
    thresholds_item,
    thresholds_key,
)
from functions.shared.evaluation_records import worklist_organisation_item
from functions.shared.hour_shards import sharded_hour
from functions.shared.thresholds import ThresholdVersion

# The ORDER items by when they were ordered (resource spec); only ORDER items carry these
# attributes, so the index holds nothing else.
ORDERED_HOUR_INDEX = IndexByHour("by-ordered-hour", hour_attribute="ordered_hour",
                                 time_attribute="ordered_at", table_key=("pk", "sk"))


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoEpisodeStore:
    def __init__(self, episodes_table: str, devices_table: str, citizens: DynamoCitizenStore, *,
                 evaluations_table: str) -> None:
        self._table = episodes_table
        self._devices = devices_table
        self._citizens = citizens
        self._evaluations = evaluations_table

    @unavailable_when_throttled
    def find_referral(self, organisation: str, referral_id: str) -> StoredReferral | None:
        item = get_item(self._table, referral_key(organisation, referral_id))
        if item is None:
            return None
        return StoredReferral(referral_id, item["body_hash"]["S"], json.loads(item["reply"]["S"]))

    @unavailable_when_throttled
    def open_episode_id(self, patient_id: str, disease_area: str) -> str | None:
        item = get_item(self._table, open_guard_key(patient_id, disease_area), "episode_id")
        return item["episode_id"]["S"] if item else None

    @unavailable_when_throttled
    def logistics_centre(self, patient_id: str) -> str | None:
        item = get_item(self._table, logistics_key(patient_id))
        return item["logistics_centre"]["S"] if item and "open_episodes" in item else None

    @unavailable_when_throttled
    def create(self, new: NewEpisode) -> bool:
        episode = new.episode
        return transact([
            self._put(episode_item(episode), "attribute_not_exists(pk)"),
            self._put(thresholds_item(episode.episode_id, new.thresholds), "attribute_not_exists(pk)"),
            self._put(order_item(new.order), "attribute_not_exists(pk)"),
            self._put({**open_guard_key(episode.patient_id, episode.disease_area),
                       "episode_id": _s(episode.episode_id),
                       "logistics_centre": _s(episode.logistics_centre)}, "attribute_not_exists(pk)"),
            {"Update": {
                "TableName": self._table,
                "Key": logistics_key(episode.patient_id),
                "UpdateExpression": "SET logistics_centre = :centre ADD open_episodes :episode",
                # One logistics centre per citizen: another only when no episode is open.
                "ConditionExpression": "attribute_not_exists(open_episodes) OR logistics_centre = :centre",
                "ExpressionAttributeValues": {
                    ":centre": _s(episode.logistics_centre), ":episode": {"SS": [episode.episode_id]},
                },
            }},
            self._put({**referral_key(episode.treating_organisation, new.referral.referral_id),
                       "episode_id": _s(episode.episode_id),
                       "body_hash": _s(new.referral.body_hash), "reply": _s(json.dumps(new.referral.reply))},
                      "attribute_not_exists(pk)"),
            self._citizens.contact_update(episode.patient_id, new.citizen_name, new.citizen_phone),
            *(consent_items(self._citizens.table_name, episode.patient_id, new.consent)
              if new.consent else []),
        ])

    @unavailable_when_throttled
    def episode(self, episode_id: str) -> Episode | None:
        item = get_item(self._table, episode_key(episode_id))
        return episode_from_item(item) if item else None

    @unavailable_when_throttled
    def order(self, episode_id: str, order_id: str) -> Order | None:
        item = get_item(self._table, order_key(episode_id, order_id))
        return order_from_item(item) if item else None

    @unavailable_when_throttled
    def threshold_versions(self, episode_id: str, after: int,
                           limit: int) -> tuple[list[ThresholdVersion], bool]:
        request = self._versions_query(episode_id, ScanIndexForward=True, Limit=limit + 1)
        if after:
            request["ExclusiveStartKey"] = thresholds_key(episode_id, after)
        items, more = query_page(request, limit)
        return [thresholds_from_item(item) for item in items], more

    @unavailable_when_throttled
    def latest_threshold_version(self, episode_id: str) -> ThresholdVersion:
        items, _ = query_page(self._versions_query(episode_id, ScanIndexForward=False, Limit=1), 1)
        return thresholds_from_item(items[0])

    @unavailable_when_throttled
    def threshold_version_at(self, episode_id: str, instant: datetime) -> ThresholdVersion:
        # Newest first: a version never starts before the one below it, so the first valid one is it, after
        # only the versions scheduled later than ``instant``.
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            **self._versions_query(episode_id, ScanIndexForward=False))
        version = None
        for item in (item for page in pages for item in page["Items"]):
            version = thresholds_from_item(item)
            if version.valid_from <= instant:
                return version
        if version is None:
            raise LookupError(f"episode {episode_id} has no thresholds")
        return version  # the first version, scheduled later than ``instant``

    def _versions_query(self, episode_id: str, **options: Any) -> dict[str, Any]:
        return {"TableName": self._table, "ConsistentRead": True,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": episode_partition(episode_id),
                                              ":prefix": _s(THRESHOLDS_PREFIX)}, **options}

    @unavailable_when_throttled
    def add_threshold_version(self, episode: Episode, version: ThresholdVersion) -> bool:
        return transact([
            self._put(thresholds_item(episode.episode_id, version), "attribute_not_exists(pk)"),
            self._update(episode, "SET threshold_version = :new",
                         f"threshold_version = :current AND {IS_OPEN}",
                         {":new": {"N": str(version.version)},
                          ":current": {"N": str(episode.threshold_version)}, **IS_OPEN_VALUES}),
        ])

    # The handover changes are single-item conditional updates, not transactions: a transaction would be
    # cancelled (a false 409) by any concurrent write to the episode, e.g. a threshold change. Accepting is
    # the exception: the worklist row moves in the same transaction, so that responsibility and the
    # unacknowledged alarms never part.
    @unavailable_when_throttled
    def offer_handover(self, episode: Episode, handover: Handover) -> bool:
        return _update_if(self._update(
            episode,
            "SET handover_to = :to, handover_by = :by, handover_at = :at",
            f"monitoring_organisation = :by AND attribute_not_exists(handover_to) AND {IS_OPEN}",
            {":to": _s(handover.to_organisation), ":by": _s(handover.offered_by),
             ":at": _s(handover.offered_at.isoformat()), **IS_OPEN_VALUES},
        ))

    @unavailable_when_throttled
    def accept_handover(self, episode: Episode, organisation: str) -> bool:
        return transact([
            self._update(episode,
                         "SET monitoring_organisation = :to REMOVE handover_to, handover_by, handover_at",
                         f"handover_to = :to AND {IS_OPEN}", {":to": _s(organisation), **IS_OPEN_VALUES}),
            worklist_organisation_item(self._evaluations, episode.episode_id, organisation),
        ])

    @unavailable_when_throttled
    def withdraw_handover(self, episode: Episode, handover: Handover) -> bool:
        return _update_if(self._update(
            episode, "REMOVE handover_to, handover_by, handover_at",
            "handover_to = :to AND handover_by = :by",
            {":to": _s(handover.to_organisation), ":by": _s(handover.offered_by)},
        ))

    @unavailable_when_throttled
    def decline_handover(self, episode: Episode, organisation: str, declined_at: datetime) -> bool:
        return _update_if(self._update(
            episode, "SET declined_by = :to, declined_at = :at REMOVE handover_to, handover_by, handover_at",
            "handover_to = :to", {":to": _s(organisation), ":at": _s(declined_at.isoformat())},
        ))

    @unavailable_when_throttled
    def device_links(self, device_id: str) -> tuple[str, ...] | None:
        device = self._active_device(device_id)
        return device.episode_ids if device else None

    @unavailable_when_throttled
    def end(self, episode: Episode, ended_at: datetime, order: Order, revoked: Sequence[str],
            kept: Mapping[str, Sequence[str]]) -> bool:
        """One transaction: the episode ended, its guard released, the collect order stored, the revoked
        devices revoked (and their serial claims released), the kept ones unlinked from the episode while
        the episodes keeping them are still open (an episode ending concurrently cancels it), on condition
        that the episode's devices are still those read (a device registered concurrently cancels it)."""
        # The devices decided on are pinned: a device linked since the read cancels it (and is decided on
        # in the caller's next attempt) instead of staying active on an ended episode, never collected.
        # device_ids only grows, so its size names the set read.
        devices_as_read = ("attribute_not_exists(device_ids)" if not episode.device_ids
                           else "size(device_ids) = :devices")
        pinned = {":devices": {"N": str(len(episode.device_ids))}} if episode.device_ids else {}
        items = [
            self._update(episode, "SET #status = :ended, ended_at = :at REMOVE handover_to, handover_by, "
                         "handover_at", f"{IS_OPEN} AND {devices_as_read}",
                         {":ended": _s(EpisodeStatus.ENDED), ":at": _s(ended_at.isoformat()),
                          **IS_OPEN_VALUES, **pinned}),
            {"Delete": {
                "TableName": self._table,
                "Key": open_guard_key(episode.patient_id, episode.disease_area),
                "ConditionExpression": "attribute_not_exists(pk) OR episode_id = :episode",
                "ExpressionAttributeValues": {":episode": _s(episode.episode_id)},
            }},
            {"Update": {
                "TableName": self._table,
                "Key": logistics_key(episode.patient_id),
                "UpdateExpression": "DELETE open_episodes :episode",
                "ExpressionAttributeValues": {":episode": {"SS": [episode.episode_id]}},
            }},
            self._put(order_item(order), "attribute_not_exists(pk)"),
        ]
        for device_id in revoked:
            device = self._active_device(device_id)
            if device is not None:  # else revoked meanwhile: nothing left to revoke
                items += device_revocation_items(self._devices, self._citizens.table_name, device.device_id,
                                                 device.vendor, device.serial, ended_at)
        for device_id in kept:
            items.append(device_unlink_item(self._devices, device_id, episode.episode_id))
        for other_id in sorted({other for others in kept.values() for other in others}):
            items.append({"ConditionCheck": {
                "TableName": self._table, "Key": episode_key(other_id), "ConditionExpression": IS_OPEN,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": IS_OPEN_VALUES,
            }})
        return transact(items)

    def _active_device(self, device_id: str) -> ActiveDevice | None:
        return active_device(get_item(self._devices, device_key(device_id)))

    def _put(self, item: dict[str, Any], condition: str) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": condition}}

    def _update(self, episode: Episode, expression: str, condition: str,
                values: dict[str, Any]) -> dict[str, Any]:
        names = {"#status": "status"} if "#status" in expression + condition else {}
        update: dict[str, Any] = {
            "TableName": self._table, "Key": episode_key(episode.episode_id), "UpdateExpression": expression,
            "ConditionExpression": condition, "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        return {"Update": update}


def _update_if(update: dict[str, Any]) -> bool:
    """One conditional UpdateItem (an ``_update`` transaction item): False if its condition failed."""
    try:
        aws.client("dynamodb").update_item(**update["Update"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


# --- items -----------------------------------------------------------------------------------------


def episode_item(episode: Episode) -> dict[str, Any]:
    item: dict[str, Any] = {
        **episode_key(episode.episode_id),
        "episode_id": _s(episode.episode_id),
        "patient_id": _s(episode.patient_id),
        "disease_area": _s(episode.disease_area),
        "status": _s(episode.status),
        "treating_organisation": _s(episode.treating_organisation),
        "monitoring_organisation": _s(episode.monitoring_organisation),
        "logistics_centre": _s(episode.logistics_centre),
        "referral_id": _s(episode.referral_id),
        "schedule": {"M": {name: {"N": str(value)} for name, value in episode.schedule.items()}},
        "created_at": _s(episode.created_at.isoformat()),
        "threshold_version": {"N": str(episode.threshold_version)},
    }
    if episode.note:
        item["note"] = _s(episode.note)
    return item


def episode_from_item(item: dict[str, Any]) -> Episode:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    handover = None
    if "handover_to" in item:
        handover = Handover(item["handover_to"]["S"], item["handover_by"]["S"],
                            datetime.fromisoformat(item["handover_at"]["S"]))
    ended_at = optional("ended_at")
    declined_at = optional("declined_at")
    return Episode(
        episode_id=item["episode_id"]["S"],
        patient_id=item["patient_id"]["S"],
        disease_area=item["disease_area"]["S"],
        status=EpisodeStatus(item["status"]["S"]),
        treating_organisation=item["treating_organisation"]["S"],
        monitoring_organisation=item["monitoring_organisation"]["S"],
        logistics_centre=item["logistics_centre"]["S"],
        referral_id=item["referral_id"]["S"],
        schedule={name: int(value["N"]) for name, value in item["schedule"]["M"].items()},
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        threshold_version=int(item["threshold_version"]["N"]),
        note=optional("note"),
        handover=handover,
        device_ids=tuple(sorted(item.get("device_ids", {}).get("SS", []))),
        ended_at=datetime.fromisoformat(ended_at) if ended_at else None,
        declined_by=optional("declined_by"),
        declined_at=datetime.fromisoformat(declined_at) if declined_at else None,
    )


def order_item(order: Order) -> dict[str, Any]:
    ordered_at = datetime.fromisoformat(order.body["ordered_at"])
    return {
        **order_key(order.episode_id, order.order_id),
        "order_id": _s(order.order_id),
        "kind": _s(order.kind),
        "episode_id": _s(order.episode_id),
        "logistics_centre": _s(order.logistics_centre),
        "message": _s(json.dumps(order.body, separators=(",", ":"))),
        # Only for the episodes table's sparse index by ordered hour (the outbox recovery's fallback).
        "ordered_at": _s(iso_utc(ordered_at)),
        "ordered_hour": _s(sharded_hour(hour_of(ordered_at), order.order_id)),
    }


def order_from_item(item: dict[str, Any]) -> Order:
    return Order(item["order_id"]["S"], item["kind"]["S"], item["episode_id"]["S"],
                 item["logistics_centre"]["S"], json.loads(item["message"]["S"]))


class DynamoOrdersByHour:
    """The episodes table's ORDER items found by when they were ordered, for the outbox recovery."""

    def __init__(self, episodes_table: str) -> None:
        self._table = episodes_table

    def ordered_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """The ORDER items of ``hour`` ordered between two instants, found by the index by ordered hour."""
        return written_in_hour(self._table, ORDERED_HOUR_INDEX, hour, since, until)
