"""Each function of the feature reads only the resources it is granted (see the resource spec).

Read once, by the cached service factories in handler.py, at first use.
"""

from __future__ import annotations

from functions.shared.settings import EnvironmentSettings


class EvaluationOutboxSettings(EnvironmentSettings):
    evaluated_uploads_queue_url: str


class AlarmOutboxSettings(EnvironmentSettings):
    clinical_alarms_topic_arn: str


class OutboxRecoverySettings(EnvironmentSettings):
    """Either outbox's recovery: the table whose stream failures it recovers, and its fallback source."""

    evaluations_table_name: str
