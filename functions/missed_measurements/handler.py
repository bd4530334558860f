"""Entry point of the missed-measurement schedule (``schedule_handler``, an EventBridge rule's scheduled
event). The pauses API (``pauses_handler``) is in api.py, so that the schedule does not load the REST
resolver."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from functions.missed_measurements.logic import MissedMeasurementSchedule
from functions.missed_measurements.models import ScheduleSettings
from functions.missed_measurements.repository import DynamoMonitoringSchedule
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.errors import ServiceUnavailable
from functions.shared.observability import COUNT, logger, metrics


@cache
def _schedule() -> MissedMeasurementSchedule:
    settings = ScheduleSettings.from_environment()
    return MissedMeasurementSchedule(
        DynamoMonitoringSchedule(settings.episodes_table_name, settings.evaluations_table_name),
        DynamoEpisodeDirectory(settings.episodes_table_name),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def schedule_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """One run of the schedule, judged as of the event's time (the scheduled time: a late or repeated
    delivery judges the same). Fails, after every other episode, if some could not be brought up to date:
    Lambda retries the run, and the next run catches up anyway."""
    scheduled = parse(event=event, model=EventBridgeModel)
    summary = _schedule().run(scheduled.time)
    metrics.add_metric(name="EpisodesScheduled", unit=COUNT, value=summary.episodes)
    metrics.add_metric(name="MissedMeasurementsRaised", unit=COUNT, value=summary.misses)
    logger.info("missed-measurement schedule ran", extra={
        "episodes": summary.episodes, "started": summary.started, "misses": summary.misses,
        "failed": len(summary.failed)})
    if summary.failed:
        metrics.add_metric(name="EpisodesNotScheduled", unit=COUNT, value=len(summary.failed))
        logger.warning("episodes left for the next run", extra={"episode_ids": list(summary.failed)})
        raise ServiceUnavailable(f"{len(summary.failed)} episode(s) could not be brought up to date")
    return {"episodes": summary.episodes, "started": summary.started, "misses": summary.misses}
