"""The uploads table: one item per upload, written once with a conditional PutItem; and the
citizen's open disease areas, read from the episodes table's open guards (referral intake writes them)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from functions.device_uploads.models import StoredUpload
from functions.shared import aws
from functions.shared.dynamo import IndexByHour, unavailable_when_throttled, written_in_hour
from functions.shared.episode_records import OPEN_PREFIX, patient_partition
from functions.shared.errors import ServiceUnavailable

# The uploads by arrival (resource spec).
ARRIVAL_INDEX = IndexByHour("by-received-hour", hour_attribute="received_hour", time_attribute="received_at",
                            table_key=("device_id", "upload_id"))

# Busy (throttled) is unavailable_when_throttled's 503; unreachable (no answer at all) is this one.
_UNREACHABLE = "the upload store is unreachable; retry the upload"
_EPISODES_UNREACHABLE = "the episode store is unreachable; retry the upload"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class DynamoDbUploadRepository:
    def __init__(self, table_name: str):
        self._table_name = table_name

    @unavailable_when_throttled
    def put_new(self, upload: StoredUpload) -> StoredUpload | None:
        """One conditional PutItem: the item is the upload, its idempotency record and (through
        the stream) its outbox entry, so it is stored whole or not at all. If the key exists,
        DynamoDB returns the stored item with the refusal, so a retry costs no second read."""
        try:
            aws.client("dynamodb").put_item(
                TableName=self._table_name,
                Item=_serialise(upload.item()),
                ConditionExpression="attribute_not_exists(upload_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            refused = error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            stored = error.response.get("Item")  # ReturnValuesOnConditionCheckFailure: sent with the refusal
            if refused and isinstance(stored, dict):
                return StoredUpload.from_item(_deserialise(stored))
            raise
        except (ConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable(_UNREACHABLE) from error
        return None

    @unavailable_when_throttled
    def get(self, device_id: str, upload_id: str) -> StoredUpload | None:
        try:
            response = aws.client("dynamodb").get_item(
                TableName=self._table_name,
                Key=_serialise({"device_id": device_id, "upload_id": upload_id}),
                ConsistentRead=True,
            )
        except (ConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable(_UNREACHABLE) from error
        item = response.get("Item")
        return StoredUpload.from_item(_deserialise(item)) if item else None

    def received_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """The upload items received in ``hour`` between two instants, found by the arrival index."""
        return written_in_hour(self._table_name, ARRIVAL_INDEX, hour, since, until)


class DynamoDbOpenDiseaseAreas:
    def __init__(self, episodes_table_name: str):
        self._table_name = episodes_table_name

    @unavailable_when_throttled
    def open_disease_areas(self, patient_id: str) -> frozenset[str]:
        """One Query of the citizen's ``OPEN#<area>`` guards, which exist exactly while the episode of
        that area is open. Consistent, so answers sent just after a referral are not refused."""
        try:
            response = aws.client("dynamodb").query(
                TableName=self._table_name,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :open)",
                ExpressionAttributeValues={":pk": patient_partition(patient_id), ":open": {"S": OPEN_PREFIX}},
                ProjectionExpression="sk",
                ConsistentRead=True,
            )
        except (ConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable(_EPISODES_UNREACHABLE) from error
        return frozenset(item["sk"]["S"].removeprefix(OPEN_PREFIX) for item in response["Items"])


def _serialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in item.items()}


def _deserialise(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}
