"""The schedule's and the pauses' store contract (functions.missed_measurements.logic ScheduleStore and
PauseStore), for the fake and for DynamoMonitoringSchedule under moto: which episodes a run sees, what a
write requires (the head's version, alarms and pauses not there yet) and what the head shows after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from functions.missed_measurements.logic import next_change
from functions.missed_measurements.models import MonitoredEpisode, Pause, ScheduleHead
from functions.missed_measurements.repository import DynamoMonitoringSchedule
from functions.shared.clock import iso_utc
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus, episode_key
from functions.shared.evaluation_records import OpenAlarm, head_key
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeMonitoringSchedule
from tests.support.organisations import MONITORING, TREATING

H = timedelta(hours=96)
SINCE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
MEASURED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
EPISODE = "epi_0123456789abcdef01234567"
ALARM = OpenAlarm("RED", "2026-11-02T08:00:00.000Z", False)


def monitored(episode_id: str = EPISODE) -> MonitoredEpisode:
    return MonitoredEpisode(episode_id, "pat_1", "copd", TREATING, MONITORING, H)


@dataclass
class Store:
    store: FakeMonitoringSchedule | DynamoMonitoringSchedule
    # An episode of a status, as referral intake and device registration leave its META item.
    add_episode: Callable[[str, EpisodeStatus], None]
    # A head as the evaluator leaves it: a version, an open alarm, the last measurement.
    add_head: Callable[[str], None]


@pytest.fixture(params=[FAKE, REAL])
def given(request) -> Store:
    if request.param == FAKE:
        fake = FakeMonitoringSchedule(page_size=2)

        def add_fake_episode(episode_id: str, status: EpisodeStatus) -> None:
            if status == EpisodeStatus.ACTIVE:
                fake.active.append(monitored(episode_id))

        def add_fake_head(episode_id: str) -> None:
            fake.stored_heads[episode_id] = ScheduleHead(version=2, open_alarms={"alm_red": ALARM},
                                                         last_measured_at=MEASURED)

        return Store(fake, add_fake_episode, add_fake_head)
    names = request.getfixturevalue("moto_resources")
    dynamodb = boto3.client("dynamodb")

    def add_episode(episode_id: str, status: EpisodeStatus) -> None:
        dynamodb.put_item(TableName=names.tables["episodes"], Item={
            **episode_key(episode_id), "episode_id": {"S": episode_id}, "patient_id": {"S": "pat_1"},
            "disease_area": {"S": "copd"}, "status": {"S": status}, "treating_organisation": {"S": TREATING},
            "monitoring_organisation": {"S": MONITORING},
            "schedule": {"M": {"per_week": {"N": "2"}, "missed_after_hours": {"N": "96"}}}})

    def add_head(episode_id: str) -> None:
        dynamodb.put_item(TableName=names.tables["evaluations"], Item={
            **head_key(episode_id), "episode_id": {"S": episode_id}, "version": {"N": "2"},
            "open_alarms": {"M": {"alm_red": {"M": {
                "colour": {"S": "RED"}, "raised_at": {"S": ALARM.raised_at}, "late": {"BOOL": False}}}}},
            "last_measured_at": {"S": iso_utc(MEASURED)}})

    return Store(DynamoMonitoringSchedule(names.tables["episodes"], names.tables["evaluations"]), add_episode,
                 add_head)


def relations(episode_id: str = EPISODE) -> EpisodeRelations:
    return EpisodeRelations(episode_id, "pat_1", "copd", EpisodeStatus.ACTIVE, SINCE, TREATING, MONITORING,
                            None)


def pause(pause_id: str, starts_at: datetime, days: int = 5) -> Pause:
    return Pause(pause_id, EPISODE, starts_at, starts_at + timedelta(days=days), "Admitted", "nurse-1",
                 MONITORING, SINCE)


def test_a_run_sees_the_active_episodes_only_in_pages(given):
    # Given three active episodes, one planned and one ended
    active = [f"epi_{n:024x}" for n in range(3)]
    for episode_id in active:
        given.add_episode(episode_id, EpisodeStatus.ACTIVE)
    given.add_episode("epi_aaaaaaaaaaaaaaaaaaaaaaaa", EpisodeStatus.PLANNED)
    given.add_episode("epi_bbbbbbbbbbbbbbbbbbbbbbbb", EpisodeStatus.ENDED)
    # When the store lists the active ones
    listed = [episode for page in given.store.active_episodes() for episode in page]
    # Then it lists exactly those, with their schedule
    assert sorted(episode.episode_id for episode in listed) == active
    assert {episode.missed_after for episode in listed} == {H}


def test_heads_are_read_in_a_batch_and_an_episode_without_one_has_none(given):
    given.add_head(EPISODE)
    heads = given.store.heads([EPISODE, "epi_ffffffffffffffffffffffff"])
    assert list(heads) == [EPISODE]
    assert heads[EPISODE] == ScheduleHead(version=2, open_alarms={"alm_red": ALARM},
                                          last_measured_at=MEASURED)
    assert given.store.head("epi_ffffffffffffffffffffffff") == ScheduleHead()


def test_the_first_sight_and_a_miss_move_the_head_on_and_keep_the_evaluators_attributes(given):
    # Given the evaluator's head
    given.add_head(EPISODE)
    head = given.store.head(EPISODE)
    # When the schedule first sees the episode, and later raises a miss
    start = next_change(monitored(), head, SINCE)
    assert start is not None and given.store.record(monitored(), head, start)
    started = given.store.head(EPISODE)
    miss = next_change(monitored(), started, MEASURED + H)
    assert miss is not None and given.store.record(monitored(), started, miss)
    # Then the head counts both writes, holds the BLUE beside the evaluator's alarm, and the schedule's own
    after = given.store.head(EPISODE)
    (missed,) = miss.misses
    assert after.version == 4
    blue = OpenAlarm("BLUE", iso_utc(MEASURED + H), False)
    assert after.open_alarms == {"alm_red": ALARM, missed.alarm_id: blue}
    assert (after.schedule_since, after.missed_through) == (SINCE, MEASURED + H)
    assert after.last_measured_at == MEASURED


def test_a_write_on_a_stale_version_writes_nothing(given):
    given.add_head(EPISODE)
    stale = ScheduleHead(version=1, schedule_since=SINCE)
    change = next_change(monitored(), stale, MEASURED + H)
    assert change is not None
    assert not given.store.record(monitored(), stale, change)
    assert given.store.head(EPISODE).version == 2


def test_a_miss_raised_before_is_not_raised_again_even_on_the_current_version(given):
    # Given the schedule started and a miss raised
    started = next_change(monitored(), ScheduleHead(), SINCE)
    assert started is not None and given.store.record(monitored(), ScheduleHead(), started)
    view = ScheduleHead(schedule_since=SINCE, last_measured_at=MEASURED)
    miss = next_change(monitored(), view, MEASURED + H)
    assert miss is not None and given.store.record(monitored(), given.store.head(EPISODE), miss)
    # When the same miss is written again against the current version (by a view that did not see it)
    current = given.store.head(EPISODE)
    # Then its existing alarm refuses it
    assert not given.store.record(monitored(), current, miss)
    assert given.store.head(EPISODE).version == current.version


def test_a_pause_is_stored_in_the_head_and_listed_by_start(given):
    # Given the evaluator's head
    given.add_head(EPISODE)
    later, earlier = pause("pau_2", SINCE + timedelta(days=10)), pause("pau_1", SINCE + timedelta(days=2))
    # When two pauses are added, the later one first
    assert given.store.add_pause(relations(), given.store.head(EPISODE), later)
    assert given.store.add_pause(relations(), given.store.head(EPISODE), earlier)
    # Then both are listed, oldest start first, and the head holds both windows beside the alarms
    assert given.store.pauses(EPISODE) == [earlier, later]
    head = given.store.head(EPISODE)
    assert head.pauses == {"pau_1": earlier.window, "pau_2": later.window}
    assert (head.version, head.open_alarms) == (4, {"alm_red": ALARM})


def test_a_pause_on_a_stale_version_or_twice_writes_nothing(given):
    given.add_head(EPISODE)
    stale = ScheduleHead(version=1)
    assert not given.store.add_pause(relations(), stale, pause("pau_1", SINCE))
    assert given.store.add_pause(relations(), given.store.head(EPISODE), pause("pau_1", SINCE))
    assert not given.store.add_pause(relations(), given.store.head(EPISODE), pause("pau_1", SINCE))
    assert len(given.store.pauses(EPISODE)) == 1
