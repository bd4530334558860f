"""An episode's relations read from the episodes table (functions.shared.episode_records), for the
features that guard a citizen's data by the organisations that hold the episode."""

from __future__ import annotations

from functions.shared import aws
from functions.shared.dynamo import batch_get, unavailable_when_throttled
from functions.shared.episode_records import (
    OPEN_PREFIX,
    RELATION_ATTRIBUTES,
    EpisodeRelations,
    episode_key,
    patient_partition,
    relations_from_item,
)


class DynamoEpisodeDirectory:
    def __init__(self, episodes_table: str) -> None:
        self._table = episodes_table

    @unavailable_when_throttled
    def relations(self, episode_id: str) -> EpisodeRelations | None:
        """The episode's relations as they are now (a strongly consistent read), None if there is none."""
        item = aws.client("dynamodb").get_item(
            TableName=self._table, Key=episode_key(episode_id), ConsistentRead=True,
            ProjectionExpression=", ".join(RELATION_ATTRIBUTES),
            ExpressionAttributeNames={"#status": "status"},
        ).get("Item")
        return relations_from_item(item) if item else None

    @unavailable_when_throttled
    def open_relations(self, patient_id: str) -> list[EpisodeRelations]:
        """The relations of the citizen's open episodes (at most one per disease area): the guards of the
        patient's partition name them, and one BatchGetItem reads them."""
        guards = aws.client("dynamodb").query(
            TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :open)",
            ExpressionAttributeValues={":pk": patient_partition(patient_id), ":open": {"S": OPEN_PREFIX}},
            ProjectionExpression="episode_id",
        )["Items"]
        items = batch_get(self._table, [episode_key(guard["episode_id"]["S"]) for guard in guards])
        relations = [relations_from_item(item) for item in items]
        return sorted((relation for relation in relations if relation.is_open), key=lambda r: r.episode_id)
