"""The functions' metrics (functions/shared/observability.py) carry the stage as a dimension beside the
service, read from the function's environment when the first metric is added, not when the module is
imported."""

from __future__ import annotations

import json

import pytest

from functions.shared import observability
from functions.shared.observability import COUNT, STAGE_DIMENSION, metrics


@pytest.fixture
def fresh_stage(monkeypatch):
    """The stage not read yet, as in a function's new execution environment."""
    observability.stage.cache_clear()
    metrics.clear_default_dimensions()
    yield
    observability.stage.cache_clear()
    metrics.clear_default_dimensions()
    metrics.clear_metrics()


def _flushed(capsys) -> list[dict]:
    metrics.flush_metrics()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_every_metric_carries_the_stage_and_the_service_as_its_dimensions(fresh_stage, monkeypatch, capsys):
    # Given a function of the prod stage
    monkeypatch.setenv("TELEHUB_STAGE", "prod")
    # When it adds metrics over two invocations (each flushed)
    metrics.add_metric(name="UploadsAccepted", unit=COUNT, value=1)
    [first] = _flushed(capsys)
    metrics.add_metric(name="UploadsAccepted", unit=COUNT, value=1)
    [second] = _flushed(capsys)
    # Then both are published under the stage and the service together
    for document in (first, second):
        [directive] = document["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [[STAGE_DIMENSION, "service"]]
        assert (document[STAGE_DIMENSION], document["service"]) == ("prod", "telehub-tests")


def test_the_stage_is_read_at_the_first_metric_not_at_import(fresh_stage, monkeypatch, capsys):
    # Given the module imported while no stage was set
    monkeypatch.delenv("TELEHUB_STAGE", raising=False)
    assert STAGE_DIMENSION not in metrics.default_dimensions
    # When the environment names the stage before the first metric
    monkeypatch.setenv("TELEHUB_STAGE", "dev")
    metrics.add_metric(name="DevicesRegistered", unit=COUNT, value=1)
    # Then the metric is the dev stage's
    [document] = _flushed(capsys)
    assert document[STAGE_DIMENSION] == "dev"


def test_a_function_without_a_valid_stage_fails_at_its_first_metric(fresh_stage, monkeypatch):
    # Given an environment whose stage is no stage name, When a metric is added, Then it is refused
    monkeypatch.setenv("TELEHUB_STAGE", "Not a stage")
    with pytest.raises(ValueError, match="telehub_stage"):
        metrics.add_metric(name="DevicesRegistered", unit=COUNT, value=1)
