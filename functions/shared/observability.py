"""Logger and metrics shared by every function.

Health data never goes here: log identifiers (upload_id, device_id, patient_id), counts and
error codes; never a CPR number, a name, a measured value or a request body.
"""

from __future__ import annotations

from typing import Protocol

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Telehub")

COUNT = "Count"  # the unit of every Telehub metric


class MetricsRecorder(Protocol):
    """What logic records metrics through: Powertools' ``metrics`` in Lambda, a fake in unit tests."""

    def add_metric(self, name: str, unit: str, value: float) -> None: ...
