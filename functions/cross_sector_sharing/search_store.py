"""The FHIR search's reads in DynamoDB (functions.cross_sector_sharing.search.ReadingStore): an episode's
readings from the evaluations table's readings-by-time index, its threshold versions from the episodes
table (keys: functions.shared.evaluation_records, functions.shared.episode_records)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from functions.cross_sector_sharing.search_models import ReadingsPage, StoredReading, Window
from functions.shared import aws
from functions.shared.clock import iso_utc
from functions.shared.dynamo import query_page, unavailable_when_throttled
from functions.shared.episode_records import THRESHOLDS_PREFIX, episode_partition, thresholds_from_item
from functions.shared.evaluation_records import (
    READINGS_BY_TIME_INDEX,
    readings_by_time_position,
)

# After every measurement id in a measured_key (<measured_at>#<measurement id>): the end of an instant.
_END_OF_INSTANT = "#~"
_MILLISECOND = timedelta(milliseconds=1)  # measured_at's precision
_deserializer = TypeDeserializer()


class DynamoReadingStore:
    def __init__(self, evaluations_table: str, episodes_table: str) -> None:
        self._evaluations = evaluations_table
        self._episodes = episodes_table

    @unavailable_when_throttled
    def readings(self, episode_id: str, window: Window, types: frozenset[str] | None, limit: int,
                 after: str | None) -> ReadingsPage:
        """Newest measured first, from the readings-by-time index (eventually consistent: a reading
        evaluated a moment ago may be missing). One query, continued only while the type filter leaves
        fewer than ``limit`` + 1 readings of a full page."""
        values: dict[str, Any] = {":episode": {"S": episode_id}}
        condition = "reading_episode = :episode"
        if window.since is not None:
            values[":since"] = {"S": iso_utc(window.since)}
        if window.until is not None:  # exclusive: to the millisecond before it, with every id measured then
            values[":until"] = {"S": iso_utc(window.until - _MILLISECOND) + _END_OF_INSTANT}
        if window.since is not None and window.until is not None:
            condition += " AND measured_key BETWEEN :since AND :until"
        elif window.since is not None:
            condition += " AND measured_key >= :since"
        elif window.until is not None:
            condition += " AND measured_key <= :until"
        request: dict[str, Any] = {"TableName": self._evaluations, "IndexName": READINGS_BY_TIME_INDEX,
                                   "KeyConditionExpression": condition, "ScanIndexForward": False,
                                   "Limit": limit + 1}
        if types is not None:
            names = {f":type{position}": {"S": reading_type}
                     for position, reading_type in enumerate(sorted(types))}
            request["FilterExpression"] = f"#type IN ({', '.join(names)})"
            request["ExpressionAttributeNames"] = {"#type": "type"}
            values |= names
        request["ExpressionAttributeValues"] = values
        if after is not None:
            request["ExclusiveStartKey"] = readings_by_time_position(episode_id, after)
        items, more = query_page(request, limit)
        return ReadingsPage([reading_from_item(item) for item in items], more)

    @unavailable_when_throttled
    def threshold_versions(self, episode_id: str) -> dict[int, dict[str, Any]]:
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            TableName=self._episodes, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :versions)",
            ExpressionAttributeValues={":pk": episode_partition(episode_id),
                                       ":versions": {"S": THRESHOLDS_PREFIX}},
        )
        versions = [thresholds_from_item(item) for page in pages for item in page["Items"]]
        return {version.version: version.thresholds.model_dump(mode="json", exclude_none=True)
                for version in versions}


def reading_from_item(item: dict[str, Any]) -> StoredReading:
    """A stored reading (functions.alarm_evaluation.repository.reading_item) as the Observation builder
    takes a measurement."""
    plain = {name: _deserializer.deserialize(value) for name, value in item.items()}
    version = plain.get("threshold_version")
    measurement: dict[str, Any] = {
        "measurement_id": plain["measurement_id"], "type": plain["type"], "measured_at": plain["measured_at"],
        "method": plain["method"], "late": plain["late"], "colour": plain.get("colour"),
        "threshold_version": int(version) if version is not None else None,
        "invalidated": plain.get("invalidated"),
    }
    if "components" in plain:
        measurement["components"] = plain["components"]
    else:
        measurement |= {"value": plain["value"], "unit": plain["unit"]}
    return StoredReading(plain["episode_id"], plain["sk"], plain["device_id"], measurement)
