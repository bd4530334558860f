"""Episodes and uploads as the alarm evaluator sees them, for the tests of its logic, store and handler."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3

from functions.alarm_evaluation.models import Answer, Component, EpisodeToJudge, Measurement, Upload
from functions.referral_intake.models import NewEpisode
from functions.referral_intake.repository import episode_item
from functions.shared.catalogue import BLOOD_PRESSURE, catalogue
from functions.shared.clock import iso_utc
from functions.shared.disease_areas import disease_area
from functions.shared.episode_records import open_guard_key, thresholds_item
from functions.shared.thresholds import ThresholdOverrides, ThresholdVersion, merge
from tests.support.organisations import MONITORING, TREATING

STARTED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PATIENT = "pat_9a3e7c1d5b2f8e4a6c0d1b37"
COPD_EPISODE = "epi_" + "c0" * 12
HEART_EPISODE = "epi_" + "4e" * 12
DEVICE = "dev_5f0c2a9e41b7d3c8a6e1f042"
Sent = tuple[str, Any, datetime, bool]  # one measurement of an upload: type, value(s), measured_at, late


def version(number: int, valid_from: datetime, area: str = "copd",
            overrides: dict[str, Any] | None = None) -> ThresholdVersion:
    """The area's defaults with ``overrides`` (a threshold change's body), valid from ``valid_from``."""
    thresholds = merge(disease_area(area).thresholds,
                       ThresholdOverrides.model_validate(overrides) if overrides else None)
    return ThresholdVersion(number, valid_from, thresholds, TREATING, valid_from)


def episode(area: str = "copd", episode_id: str = COPD_EPISODE, *versions: ThresholdVersion,
            started: datetime = STARTED, patient_id: str = PATIENT) -> EpisodeToJudge:
    """An open episode of the citizen with the area's defaults as version 1 (or the given versions)."""
    return EpisodeToJudge(
        episode_id=episode_id, patient_id=patient_id, disease_area=area, created_at=started,
        treating_organisation=TREATING, monitoring_organisation=MONITORING, is_open=True,
        versions=versions or (version(1, started, area),),
    )


def ended(of: EpisodeToJudge) -> EpisodeToJudge:
    return replace(of, is_open=False)


def measured(kind: str, value: float | str, at: datetime, late: bool = False) -> Sent:
    """One measurement of a catalogue type, its value in the catalogue unit."""
    return kind, value, at, late


def pressure(systolic: int, diastolic: int, at: datetime, pulse: int | None = None,
             late: bool = False) -> Sent:
    parts = {"systolic": systolic, "diastolic": diastolic, **({"pulse": pulse} if pulse is not None else {})}
    return BLOOD_PRESSURE, parts, at, late


Answered = tuple[str, str, datetime, bool]


def answered(question_id: str, answer: str, at: datetime, late: bool = False) -> Answered:
    """One questionnaire answer, for ``upload``'s ``answers``."""
    return question_id, answer, at, late


def upload(name: str, received_at: datetime, *measurements: Sent, patient_id: str = PATIENT,
           answers: tuple[Answered, ...] = ()) -> Upload:
    """An accepted upload of ``measurements`` (from ``measured`` and ``pressure``) and ``answers`` (from
    ``answered``), named ``name``."""
    return Upload(
        dedupe_key=f"{DEVICE}/{name}", upload_id=name, device_id=DEVICE, patient_id=patient_id,
        received_at=iso_utc(received_at),
        measurements=tuple(
            Measurement(position, kind, _components(kind, value), iso_utc(at), "automatic", late)
            for position, (kind, value, at, late) in enumerate(measurements)
        ),
        answers=tuple(Answer(position, question, answer, iso_utc(at), late)
                      for position, (question, answer, at, late) in enumerate(answers)),
    )


def _components(kind: str, value: Any) -> tuple[Component, ...]:
    if kind == BLOOD_PRESSURE:
        return tuple(Component(part, Decimal(str(v)), catalogue()[part].unit) for part, v in value.items())
    return (Component(kind, Decimal(str(value)), catalogue()[kind].unit),)


def message(of: Upload) -> dict[str, Any]:
    """The measurements-queue message body of an upload (docs/messages.md)."""
    return {
        "message_type": "telehub.upload.accepted", "schema_version": 1, "dedupe_key": of.dedupe_key,
        "upload_id": of.upload_id, "device_id": of.device_id, "patient_id": of.patient_id,
        "received_at": of.received_at,
        "measurements": [_sent(measurement) for measurement in of.measurements],
        "answers": [{"question_id": a.question_id, "answer": a.answer, "answered_at": a.answered_at,
                     "late": a.late} for a in of.answers],
    }


def _sent(measurement: Measurement) -> dict[str, Any]:
    if measurement.type == BLOOD_PRESSURE:
        values: dict[str, Any] = {"components": [{"type": c.type, "value": float(c.value), "unit": c.unit}
                                                 for c in measurement.components]}
    else:
        [only] = measurement.components
        values = {"value": float(only.value), "unit": only.unit}
    return {"type": measurement.type, **values, "measured_at": measurement.measured_at,
            "method": measurement.method, "late": measurement.late}


def store_episode(episodes_table: str, new: NewEpisode) -> None:
    """Write an episode as an accepted referral leaves it for the evaluator: the episode, its threshold
    version and the citizen's open guard (the referral's other writes are not the evaluator's concern)."""
    dynamodb = boto3.Session().client("dynamodb")
    episode = new.episode
    for item in (episode_item(episode), thresholds_item(episode.episode_id, new.thresholds),
                 {**open_guard_key(episode.patient_id, episode.disease_area),
                  "episode_id": {"S": episode.episode_id}}):
        dynamodb.put_item(TableName=episodes_table, Item=item)


def evaluated_items(evaluations_table: str, episode_id: str, until: Callable[[list[dict[str, Any]]], bool],
                    timeout: float = 30) -> list[dict[str, Any]]:
    """The episode's items in the evaluations table once ``until`` holds for them (the embedded mode's
    evaluator runs behind the measurements queue), or as they are when ``timeout`` runs out."""
    dynamodb = boto3.Session().client("dynamodb")
    deadline = time.monotonic() + timeout
    while True:
        items = dynamodb.query(TableName=evaluations_table, KeyConditionExpression="pk = :pk",
                               ExpressionAttributeValues={":pk": {"S": f"EPISODE#{episode_id}"}},
                               ConsistentRead=True)["Items"]
        if until(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.1)
