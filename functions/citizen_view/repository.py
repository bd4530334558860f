"""The citizen view's reads in DynamoDB: the access log by citizen (functions.shared.access_log_store writes
it) and an episode's readings from the evaluations table's readings-by-time index (keys:
functions.shared.evaluation_records).

An episode's entries are the citizen's partition filtered by episode id, not an index by episode: an index
would add a write to every access-log entry (the most frequent write in Telehub) for a view a monitoring
organisation opens now and then, while the filter passes over only the entries of the citizen's other
episodes (at most one open per disease area), so the read costs little more than the index's would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from functions.citizen_view.models import AccessPage, ReadingsPage, StoredAccess, StoredReading
from functions.shared.cursors import Position
from functions.shared.dynamo import query_page, unavailable_when_throttled
from functions.shared.evaluation_records import (
    READINGS_BY_TIME_INDEX,
    readings_by_time_position,
)

_deserializer = TypeDeserializer()


class DynamoAccessEntries:
    def __init__(self, access_log_table: str) -> None:
        self._table = access_log_table

    @unavailable_when_throttled
    def entries(self, patient_id: str, episode_id: str | None, limit: int,
                after: Position | None) -> AccessPage:
        """Newest first (an access id starts with its instant). One more than ``limit`` is read, so the last
        page says so; a query is continued while the episode filter leaves fewer."""
        values: dict[str, Any] = {":patient": {"S": patient_id}}
        # Strongly consistent: the log shown a moment after a read lists that read, which an eventually
        # consistent Query (DynamoDB's default) may leave out for a while.
        request: dict[str, Any] = {"TableName": self._table, "ScanIndexForward": False, "Limit": limit + 1,
                                   "KeyConditionExpression": "patient_id = :patient", "ConsistentRead": True}
        if episode_id is not None:
            request["FilterExpression"] = "episode_id = :episode"
            values[":episode"] = {"S": episode_id}
        request["ExpressionAttributeValues"] = values
        if after is not None:
            request["ExclusiveStartKey"] = {"patient_id": {"S": patient_id},
                                            "access_id": {"S": after["access_id"]}}
        page, more = query_page(request, limit)
        following = {"access_id": page[-1]["access_id"]["S"]} if more else None
        return AccessPage([access_from_item(item) for item in page], following)


class DynamoReadingStore:
    def __init__(self, evaluations_table: str) -> None:
        self._table = evaluations_table

    @unavailable_when_throttled
    def readings(self, episode_id: str, limit: int, after: str | None) -> ReadingsPage:
        """Newest measured first, from the readings-by-time index (eventually consistent: a reading evaluated
        a moment ago may be missing)."""
        request: dict[str, Any] = {"TableName": self._table, "IndexName": READINGS_BY_TIME_INDEX,
                                   "KeyConditionExpression": "reading_episode = :episode",
                                   "ExpressionAttributeValues": {":episode": {"S": episode_id}},
                                   "ScanIndexForward": False, "Limit": limit + 1}
        if after is not None:
            request["ExclusiveStartKey"] = readings_by_time_position(episode_id, after)
        items, more = query_page(request, limit)
        return ReadingsPage([reading_from_item(item) for item in items], more)


def access_from_item(item: dict[str, Any]) -> StoredAccess:
    """An entry as functions.shared.access_log_store writes it; endpoint and outcome are absent from the
    entries written before they were recorded, and an empty organisation or episode id means none."""

    def optional(name: str) -> str | None:
        return item[name]["S"] or None if name in item else None

    return StoredAccess(
        access_id=item["access_id"]["S"], accessed_at=datetime.fromisoformat(item["accessed_at"]["S"]),
        action=item["action"]["S"], episode_id=optional("episode_id"), role=item["role"]["S"],
        subject=item["subject"]["S"], organisation=optional("organisation"), endpoint=optional("endpoint"),
        outcome=optional("outcome"),
    )


def reading_from_item(item: dict[str, Any]) -> StoredReading:
    """A stored reading (functions.alarm_evaluation.repository.reading_item) as the citizen is shown it: its
    values and colour, when it was invalidated and why; not who invalidated it, nor the device or upload."""
    plain = {name: _deserializer.deserialize(value) for name, value in item.items()}
    invalidated = plain.get("invalidated")
    components = plain.get("components")
    measurement = {
        "measurement_id": plain["measurement_id"], "type": plain["type"],
        "value": float(plain["value"]) if "value" in plain else None, "unit": plain.get("unit"),
        "components": None if components is None else [
            {"type": component["type"], "value": float(component["value"]), "unit": component["unit"]}
            for component in components],
        "measured_at": plain["measured_at"], "received_at": plain["received_at"],
        "colour": plain.get("colour"),
        "invalidated": {"at": invalidated["at"], "reason": invalidated["reason"]} if invalidated else None,
    }
    return StoredReading(plain["episode_id"], plain["sk"], plain["measured_key"], measurement)
