"""The evaluation store's contract (functions.alarm_evaluation.logic.EvaluationStore), for the fake and for
DynamoEvaluationStore under moto: what an evaluation commits is what the next one reads, a commit against
a version that moved on (or creating what exists) writes nothing, and a redelivery sends no transaction;
and the episode source's, for the episodes referral intake writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.alarm_evaluation.logic import AlarmEvaluator, EvaluationStore, MeasurementInvalidation
from functions.alarm_evaluation.models import Commit, HeadState, ReadingWrite
from functions.alarm_evaluation.repository import DynamoEpisodeSource, DynamoEvaluationStore
from functions.alarm_evaluation.triage import Colour
from functions.shared import aws
from functions.shared.evaluation_records import measurement_alarm_id, measurement_id, upload_event_id
from functions.shared.principal import Principal, Role
from tests.support.contract import FAKE, REAL
from tests.support.episodes import new_episode
from tests.support.evaluator_inputs import (
    COPD_EPISODE,
    PATIENT,
    episode,
    measured,
    pressure,
    store_episode,
    upload,
)
from tests.support.fakes import FakeAccessLog, FakeEpisodeSource, FakeEvaluationStore, RecordedMetrics
from tests.support.organisations import MONITORING

NOW = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
NURSE = Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=MONITORING)


@dataclass
class Store:
    store: EvaluationStore
    transactions: Any  # how many transactions were sent

    def evaluator(self, limit: int = 100) -> AlarmEvaluator:
        return AlarmEvaluator(FakeEpisodeSource(episode()), self.store, RecordedMetrics(), lambda: NOW, limit)


@pytest.fixture(params=[FAKE, REAL])
def store(request, monkeypatch) -> Store:
    if request.param == FAKE:
        fake = FakeEvaluationStore()
        return Store(fake, lambda: len(fake.commits) + fake.refused)
    names = request.getfixturevalue("moto_resources")
    sent = []
    client = aws.client("dynamodb")
    transact = client.transact_write_items
    monkeypatch.setattr(client, "transact_write_items",
                        lambda **request: sent.append(1) or transact(**request))
    return Store(DynamoEvaluationStore(names.tables["evaluations"]), lambda: len(sent))


def at(day: str, time: str = "08:00") -> datetime:
    return datetime.fromisoformat(f"2024-{day}T{time}:00+00:00")


def test_what_an_evaluation_commits_is_what_the_next_reads(store):
    # Given an upload of a RED SpO2 and a blood pressure evaluated through the store
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01")),
                  pressure(120, 80, at("04-01"), 70))
    store.evaluator().evaluate(sent)
    # When the episode is read again
    state = store.store.load(COPD_EPISODE)
    # Then both readings are there as judged, the head has the alarm and moved to version 1
    spo2, bp = (measurement_id(sent.dedupe_key, position) for position in (0, 1))
    readings = {reading.measurement_id: reading for reading in state.readings}
    assert (readings[spo2].colour, readings[spo2].threshold_version) == (Colour.RED, 1)
    assert [c.type for c in readings[bp].components] == ["systolic", "diastolic", "pulse"]
    alarm_id = measurement_alarm_id(COPD_EPISODE, spo2)
    assert readings[spo2].raised_alarm == alarm_id
    assert state.head.version == 1 and set(state.head.open_alarms) == {alarm_id}
    assert state.head.last_received_at == sent.received_at
    assert store.store.alarms(COPD_EPISODE, [(sent.received_at, alarm_id)])[alarm_id].status == "open"
    assert store.store.has_event(COPD_EPISODE, upload_event_id(COPD_EPISODE, sent.dedupe_key))


def test_a_redelivery_sends_no_transaction(store):
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01")))
    store.evaluator().evaluate(sent)
    before = store.transactions()
    store.evaluator().evaluate(sent)
    assert store.transactions() == before == 1


def test_a_commit_against_a_version_that_moved_on_writes_nothing(store):
    # Given a first upload committed (version 1)
    first = upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01")))
    store.evaluator().evaluate(first)
    state = store.store.load(COPD_EPISODE)
    # When a commit read at version 0 is sent
    stale = Commit(episode(), 0, HeadState({}, {}, None, None), (), None)
    # Then it is refused, and the episode is unchanged
    assert store.store.commit(stale) is False
    assert store.store.load(COPD_EPISODE) == state


def test_a_commit_that_creates_a_stored_reading_writes_nothing(store):
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 95, at("04-01")))
    store.evaluator().evaluate(sent)
    state = store.store.load(COPD_EPISODE)
    [reading] = state.readings
    again = Commit(episode(), state.head.version, HeadState({}, {}, None, None),
                   (ReadingWrite(reading, True),), None)
    assert store.store.commit(again) is False
    assert store.store.load(COPD_EPISODE) == state


def test_re_evaluation_and_invalidation_are_read_back(store):
    # Given a CAT score alarm lowered by a late earlier score, then that score invalidated
    first = upload("p", at("03-30", "16:05"), measured("cat_score", 14, at("03-30", "16:00")))
    second = upload("q", at("04-20", "16:05"), measured("cat_score", 19, at("04-20", "16:00")))
    late = upload("r", at("04-24", "09:00"), measured("cat_score", 17, at("03-28", "16:00"), late=True))
    for sent in (first, second, late):
        store.evaluator(limit=3).evaluate(sent)
    q = measurement_id(second.dedupe_key, 0)
    alarm_id = measurement_alarm_id(COPD_EPISODE, q)
    assert store.store.alarms(COPD_EPISODE, [(second.received_at, alarm_id)])[alarm_id].status == "lowered"
    invalidation = MeasurementInvalidation(FakeEpisodeSource(episode()), store.store, FakeAccessLog(),
                                           RecordedMetrics(), lambda: NOW)
    invalidation.invalidate(COPD_EPISODE, measurement_id(late.dedupe_key, 0), "typed the wrong day", NURSE)
    # When the episode is read
    state = store.store.load(COPD_EPISODE)
    readings = {reading.measurement_id: reading for reading in state.readings}
    # Then the invalid reading is kept with who and why, and the alarm is open again
    invalid = readings[measurement_id(late.dedupe_key, 0)]
    assert invalid.invalidated is not None and invalid.invalidated.reason == "typed the wrong day"
    assert readings[q].colour == Colour.YELLOW
    assert store.store.alarms(COPD_EPISODE, [(second.received_at, alarm_id)])[alarm_id].status == "open"
    assert set(state.head.open_alarms) == {alarm_id}


@pytest.fixture(params=[FAKE, REAL])
def source(request):
    if request.param == FAKE:
        return FakeEpisodeSource(replace(episode(), episode_id="epi_" + "a" * 24, created_at=_created()))
    names = request.getfixturevalue("moto_resources")
    store_episode(names.tables["episodes"], new_episode("epi_" + "a" * 24, PATIENT))
    return DynamoEpisodeSource(names.tables["episodes"])


def _created() -> datetime:
    return new_episode("epi_" + "a" * 24, PATIENT).episode.created_at


def test_the_source_gives_the_citizens_open_episodes_with_their_versions(source):
    # Given a citizen with an open COPD episode
    # When the evaluator asks for the citizen's open episodes and the episode
    [episode_id] = source.open_episode_ids(PATIENT)
    found = source.episode(episode_id)
    # Then it gets the episode, whom it concerns, who holds it and its versions
    assert (found.episode_id, found.patient_id, found.disease_area, found.is_open) == (
        "epi_" + "a" * 24, PATIENT, "copd", True)
    assert found.created_at == _created()
    assert [v.version for v in found.versions] == [1]
    assert source.open_episode_ids("pat_nobody") == []
    assert source.episode("epi_" + "b" * 24) is None
