"""An episode's relations read from the episodes table (functions.shared.episode_records), for the
features that guard a citizen's data by the organisations that hold the episode."""

from __future__ import annotations

from functions.shared import aws
from functions.shared.dynamo import unavailable_when_throttled
from functions.shared.episode_records import (
    RELATION_ATTRIBUTES,
    EpisodeRelations,
    episode_key,
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
