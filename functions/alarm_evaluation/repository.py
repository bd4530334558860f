"""The evaluations table in DynamoDB (keys: functions.shared.evaluation_records)."""

from __future__ import annotations

from typing import Any

from functions.shared.dynamo import IndexByHour, written_in_hour
from functions.shared.evaluation_records import EVALUATED_HOUR_INDEX

# The EVENT items by when they were evaluated (resource spec); only EVENT items carry these
# attributes, so the index holds nothing else.
EVENTS_BY_EVALUATED_HOUR = IndexByHour(EVALUATED_HOUR_INDEX, hour_attribute="evaluated_hour",
                                       time_attribute="evaluated_at", table_key=("pk", "sk"))


class DynamoEventsByHour:
    """The evaluations table's EVENT items found by when they were evaluated, for the outboxes' recoveries."""

    def __init__(self, evaluations_table: str) -> None:
        self._table = evaluations_table

    def evaluated_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """The EVENT items of ``hour`` evaluated between two instants, by the index by evaluated hour."""
        return written_in_hour(self._table, EVENTS_BY_EVALUATED_HOUR, hour, since, until)
