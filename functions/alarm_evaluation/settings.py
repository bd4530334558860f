"""Each function of the feature reads only the resources it is granted (see the resource spec).

Read once, by the cached service factories in handler.py and api.py, at first use.
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


class AlarmEvaluationSettings(EnvironmentSettings):
    """The measurements-queue consumer: reads episodes and their thresholds, writes evaluations."""

    episodes_table_name: str
    evaluations_table_name: str


class MeasurementInvalidationSettings(EnvironmentSettings):
    episodes_table_name: str
    evaluations_table_name: str
    access_log_table_name: str
    access_log_retention_days: int
