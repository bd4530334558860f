"""Logger and metrics shared by every function.

Health data never goes here: log identifiers (upload_id, device_id, patient_id), counts and
error codes; never a CPR number, a name, a measured value or a request body.

Every metric carries two dimensions: ``service`` (the function, Powertools' POWERTOOLS_SERVICE_NAME)
and ``stage`` (TELEHUB_STAGE), so the metrics of two stages in one account and region stay apart.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from pydantic import Field

from functions.shared.settings import EnvironmentSettings

COUNT = "Count"  # the unit of every Telehub metric
STAGE_DIMENSION = "stage"


class ObservabilitySettings(EnvironmentSettings):
    telehub_stage: str = Field(pattern=r"^[a-z][a-z0-9]{1,15}$")


@cache
def stage() -> str:
    """The stage the function runs in, read from its environment at the first metric, not at import."""
    return ObservabilitySettings.from_environment().telehub_stage


class StageMetrics(Metrics):
    """Powertools' metrics with the stage as a default dimension, set when the first metric is added
    (and kept by Powertools across flushes)."""

    def add_metric(self, name: str, unit: MetricUnit | str, value: float,
                   resolution: MetricResolution | int = 60) -> None:
        if STAGE_DIMENSION not in self.default_dimensions:
            self.set_default_dimensions(**{STAGE_DIMENSION: stage()})
        super().add_metric(name, unit, value, resolution)


logger = Logger()
metrics = StageMetrics(namespace="Telehub")


class MetricsRecorder(Protocol):
    """What logic records metrics through: Powertools' ``metrics`` in Lambda, a fake in unit tests."""

    def add_metric(self, name: str, unit: str, value: float) -> None: ...
