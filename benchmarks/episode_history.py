"""A COPD episode with a realistic history, for timing the evaluator without AWS.

The citizen measured a whole COPD session (every type the area judges, a blood pressure among them) at
the schedule's rate since the episode started, with the day-to-day scatter of real readings, and the
doctor tightened the SpO2 limits once. Each session is judged by the evaluator itself, so the history
holds what production would store: colours, threshold versions, an alarm now and then. Uploads take the
production path into the evaluator's form: validated as the upload API validates them, normalised and
stored as it stores them, relayed as the outbox relays them and parsed as the consumer parses them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.sample import COPD_SESSION
from functions.alarm_evaluation.logic import AlarmEvaluator
from functions.alarm_evaluation.models import (
    AlarmState,
    Commit,
    EpisodeState,
    EpisodeToJudge,
    Head,
    Reading,
    Upload,
    UploadAccepted,
)
from functions.device_uploads.logic import normalise
from functions.device_uploads.models import StoredUpload, UploadRequest
from functions.device_uploads.outbox import upload_message
from functions.shared.clock import iso_utc
from functions.shared.disease_areas import disease_area
from functions.shared.thresholds import ThresholdOverrides, ThresholdVersion, merge

AREA = "copd"
EPISODE_ID = "epi_" + "b3" * 12
PATIENT_ID = "pat_" + "b3" * 12
DEVICE_ID = "dev_" + "b3" * 12
TREATING, MONITORING = "123456", "328081000016008"  # a GP's provider number, a SOR code
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
# A session's readings scatter around COPD_SESSION's values by up to this much (weight and CAT score by
# their own rules below): real readings vary, and a flat history would never raise an alarm.
SCATTER = {"spo2": 2.5, "pulse": 10.0, "temperature": 0.4, "respiration_rate": 3.0}
TIGHTENED_SPO2 = {"absolute": {"spo2": {"red_low": 89, "yellow_low": 93}}}


class NoMetrics:
    def add_metric(self, name: str, unit: str, value: float) -> None:
        pass


class OneEpisode:
    """The evaluator's episode source: the one episode, open."""

    def __init__(self, episode: EpisodeToJudge) -> None:
        self.episode_to_judge = episode

    def open_episode_ids(self, patient_id: str) -> list[str]:
        return [self.episode_to_judge.episode_id]

    def episode(self, episode_id: str) -> EpisodeToJudge | None:
        return self.episode_to_judge


class EpisodeStore:
    """The evaluation store's port for one episode, in memory. It keeps what the history's commits write
    (the nurse acknowledging whatever waited after each session); once ``frozen`` it returns that history
    to every load and discards commits, so each timed evaluation meets the same episode."""

    def __init__(self) -> None:
        self.head = Head()
        self.readings: dict[str, Reading] = {}
        self.alarm_states: dict[str, AlarmState] = {}
        self.frozen = False
        self._loaded: tuple[Reading, ...] | None = None

    def load(self, episode_id: str) -> EpisodeState:
        if self._loaded is None:  # the table's order: by type, then time
            self._loaded = tuple(sorted(self.readings.values(),
                                        key=lambda r: (r.type, r.measured_at, r.measurement_id)))
        return EpisodeState(self.head, self._loaded)

    def alarms(self, episode_id: str, keys: Sequence[tuple[str, str]]) -> dict[str, AlarmState]:
        stored = self.alarm_states
        return {alarm_id: stored[alarm_id] for _, alarm_id in keys if alarm_id in stored}

    def has_event(self, episode_id: str, event_id: str) -> bool:
        return False  # asked only when every reading of the upload is stored already: never here

    def commit(self, commit: Commit) -> bool:
        if self.frozen:
            return True
        for write in commit.writes:
            self.readings[write.reading.measurement_id] = write.reading
            if write.new_alarm is not None:
                self.alarm_states[write.new_alarm.alarm_id] = AlarmState(
                    write.new_alarm.alarm_id, write.reading.received_at, "open", write.new_alarm.colour)
            if write.alarm_update is not None:
                update = write.alarm_update
                self.alarm_states[update.alarm_id] = replace(self.alarm_states[update.alarm_id],
                                                             status=update.status, colour=update.colour)
        self.head = Head(commit.read_version + 1, {}, {}, commit.head.last_measured_at,
                         commit.head.last_received_at)
        for alarm_id in commit.head.open_alarms:
            self.alarm_states[alarm_id] = replace(self.alarm_states[alarm_id], status="acknowledged")
        self._loaded = None
        return True


def queue_message(upload_id: str, measurements: list[dict[str, Any]], received_at: datetime) -> str:
    """The measurements-queue message of an upload (the API's JSON form), as the upload outbox sends it."""
    request = UploadRequest.model_validate({"upload_id": upload_id, "measurements": measurements})
    stored = StoredUpload(device_id=DEVICE_ID, upload_id=upload_id, patient_id=PATIENT_ID,
                          received_at=iso_utc(received_at), body_hash="", accepted=len(measurements),
                          measurements=[normalise(m, received_at) for m in request.measurements])
    return upload_message(stored).body


def accepted_upload(upload_id: str, measurements: list[dict[str, Any]], received_at: datetime) -> Upload:
    """An upload (the API's JSON form) as the evaluator receives it from the measurements queue."""
    return UploadAccepted.model_validate_json(queue_message(upload_id, measurements, received_at)).upload()


def _session(at: datetime, scatter: random.Random, weight: float, cat_score: int) -> list[dict[str, Any]]:
    readings = []
    for minute, reading in enumerate(COPD_SESSION):
        kind = reading["type"]
        if kind == "weight":
            reading = {**reading, "value": round(weight, 1)}
        elif kind == "cat_score":
            reading = {**reading, "value": float(cat_score)}
        elif kind == "blood_pressure":
            systolic = round(reading["systolic"] + scatter.uniform(-15, 15))
            reading = {**reading, "systolic": float(systolic),
                       "diastolic": float(round(reading["diastolic"] + scatter.uniform(-8, 8)))}
        else:
            value = min(100.0, reading["value"] + scatter.uniform(-SCATTER[kind], SCATTER[kind]))
            reading = {**reading, "value": round(value, 1)}
        readings.append({**reading, "measured_at": (at + timedelta(minutes=minute)).isoformat(),
                         "method": "automatic"})
    return readings


@dataclass(frozen=True)
class History:
    evaluator: AlarmEvaluator  # its store frozen: every evaluation meets the history below
    episode: EpisodeToJudge
    readings: tuple[Reading, ...]  # as stored


def episode_with_history(days: int, now: datetime = NOW) -> History:
    """An evaluator whose one episode started ``days`` before ``now`` and holds a session at the
    schedule's rate since."""
    started = now - timedelta(days=days)
    template = disease_area(AREA)
    versions = (
        ThresholdVersion(1, started, merge(template.thresholds, None), TREATING, started),
        ThresholdVersion(2, started + timedelta(days=days // 2),
                         merge(template.thresholds, ThresholdOverrides.model_validate(TIGHTENED_SPO2)),
                         TREATING, started + timedelta(days=days // 2)),
    )
    episode = EpisodeToJudge(episode_id=EPISODE_ID, patient_id=PATIENT_ID, disease_area=AREA,
                             created_at=started, treating_organisation=TREATING,
                             monitoring_organisation=MONITORING, is_open=True, versions=versions)
    store = EpisodeStore()
    evaluator = AlarmEvaluator(OneEpisode(episode), store, NoMetrics(), lambda: now)
    scatter = random.Random(days)  # the same history on every run
    weight, cat_score = 76.4, 14
    every = timedelta(days=7 / template.schedule.per_week)
    at, session = started + timedelta(hours=1), 0
    while at < now - every:
        weight += scatter.uniform(-0.6, 0.55)
        cat_score = max(0, min(40, cat_score + scatter.choice((-2, -1, 0, 0, 1, 2))))
        measurements = _session(at, scatter, weight, cat_score)
        received = at + timedelta(minutes=10)
        evaluator.evaluate(accepted_upload(f"history-{session:04d}", measurements, received))
        at, session = at + every, session + 1
    store.frozen = True
    return History(evaluator, episode, store.load(EPISODE_ID).readings)
