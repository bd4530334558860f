"""The missed-measurement rule and a run of the schedule with in-memory fakes (logic.py): when a miss is
due, consecutive misses, pauses, ended and planned episodes, once per miss, lost races, batched reads."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.missed_measurements.logic import MISSES_PER_WRITE, MissedMeasurementSchedule, due_misses
from functions.missed_measurements.models import MonitoredEpisode, PauseWindow, ScheduleHead
from functions.shared.clock import iso_utc
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.evaluation_records import missed_alarm_id
from tests.support.fakes import FakeEpisodeDirectory, FakeMonitoringSchedule
from tests.support.organisations import HOSPITAL, MONITORING, TREATING

H = timedelta(hours=96)  # COPD's missed_after_hours
SINCE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # when the schedule first saw the episode active
MEASURED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
EPISODE = "epi_0123456789abcdef01234567"
HOUR, MINUTE = timedelta(hours=1), timedelta(minutes=1)


def head(**changes) -> ScheduleHead:
    return replace(ScheduleHead(version=3, schedule_since=SINCE, last_measured_at=MEASURED), **changes)


def pause(starts_at: datetime, ends_at: datetime) -> dict[str, PauseWindow]:
    return {"pau_1": PauseWindow(starts_at, ends_at)}


@pytest.mark.parametrize(("case", "state", "now", "due"), [
    ("just before missed_after_hours", head(), MEASURED + H - MINUTE, []),
    ("at missed_after_hours", head(), MEASURED + H, [MEASURED + H]),
    ("just after", head(), MEASURED + H + MINUTE, [MEASURED + H]),
    ("consecutive misses while nothing arrives", head(), MEASURED + 3 * H + HOUR,
     [MEASURED + H, MEASURED + 2 * H, MEASURED + 3 * H]),
    ("raised before: only the next", head(missed_through=MEASURED + H), MEASURED + 2 * H,
     [MEASURED + 2 * H]),
    ("raised before, nothing new", head(missed_through=MEASURED + H), MEASURED + 2 * H - MINUTE, []),
    ("never measured: counted from the schedule's start", head(last_measured_at=None), SINCE + H,
     [SINCE + H]),
    ("measured before the schedule started: from its start", head(last_measured_at=SINCE - 10 * H),
     SINCE + H - MINUTE, []),
    ("the schedule has not seen the episode yet", head(schedule_since=None), MEASURED + 5 * H, []),
    ("a measurement after a miss restarts the count", head(missed_through=MEASURED + H,
     last_measured_at=MEASURED + H + HOUR), MEASURED + 2 * H + HOUR - MINUTE, []),
    ("inside a pause: nothing", head(pauses=pause(MEASURED + H - HOUR, MEASURED + 3 * H)),
     MEASURED + 2 * H + HOUR, []),
    ("a pause that ended restarts the count at its end",
     head(pauses=pause(MEASURED + H - HOUR, MEASURED + H + HOUR)), MEASURED + 2 * H + HOUR,
     [MEASURED + 2 * H + HOUR]),
    ("a pause that ended, just before the next", head(pauses=pause(MEASURED + HOUR, MEASURED + 2 * HOUR)),
     MEASURED + 2 * HOUR + H - MINUTE, []),
    ("a miss due before a pause began is raised", head(pauses=pause(MEASURED + H + HOUR, MEASURED + 5 * H)),
     MEASURED + 2 * H + HOUR, [MEASURED + H]),
    ("a planned pause changes nothing yet", head(pauses=pause(MEASURED + 3 * H, MEASURED + 4 * H)),
     MEASURED + H, [MEASURED + H]),
])
def test_a_miss_is_due_missed_after_hours_after_the_reference(case, state, now, due):
    # Given an episode's head (last measurement, the schedule's start, misses raised, pauses)
    # When the misses due as of now are asked for
    # Then they are those of the rule, oldest first
    assert due_misses(state, H, now) == due, case


def test_a_miss_exactly_at_a_pause_end_belongs_to_the_pause():
    # Given a pause that ends exactly when a miss would be due
    state = head(pauses=pause(MEASURED + HOUR, MEASURED + H))
    # When asked just as it ends, Then that moment counts from the pause's end: nothing due
    assert due_misses(state, H, MEASURED + H) == []


# --- a run ----------------------------------------------------------------------------------------------


def episode(episode_id: str = EPISODE, missed_after: timedelta = H) -> MonitoredEpisode:
    return MonitoredEpisode(episode_id, "pat_1", "copd", TREATING, MONITORING, missed_after)


def relations(episode_id: str = EPISODE, status: EpisodeStatus = EpisodeStatus.ACTIVE,
              monitoring: str = MONITORING) -> EpisodeRelations:
    return EpisodeRelations(episode_id, "pat_1", "copd", status, SINCE - 2 * H, TREATING, monitoring, None)


@pytest.fixture
def store():
    return FakeMonitoringSchedule()


@pytest.fixture
def directory():
    return FakeEpisodeDirectory([relations()])


@pytest.fixture
def schedule(store, directory):
    return MissedMeasurementSchedule(store, directory)


def test_the_first_run_starts_the_count_and_raises_nothing(store, schedule):
    # Given an active episode the schedule has never seen, last measured long ago
    store.active = [episode()]
    store.stored_heads[EPISODE] = ScheduleHead(version=2, last_measured_at=MEASURED - 10 * H)
    # When the schedule runs
    summary = schedule.run(SINCE)
    # Then it remembers when it first saw the episode, and raises no alarm for the past
    assert (summary.started, summary.misses) == (1, 0)
    assert store.stored_heads[EPISODE].schedule_since == SINCE
    assert store.stored_heads[EPISODE].version == 3
    assert store.alarms == {}


def test_a_miss_raises_one_blue_alarm_with_its_event_and_a_second_run_writes_nothing(store, schedule):
    # Given an episode last measured more than missed_after_hours ago
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()
    now = MEASURED + H + HOUR
    # When the schedule runs twice
    first = schedule.run(now)
    heads_after_first = dict(store.stored_heads)
    second = schedule.run(now + 15 * MINUTE)
    # Then the first raised one BLUE alarm, due (and raised) at measured + missed_after_hours, counted in the
    # head's open alarms and worklist, with one event; the second wrote nothing
    alarm_id = missed_alarm_id(EPISODE, iso_utc(MEASURED + H))
    assert (first.misses, second.misses) == (1, 0)
    assert store.alarms == {alarm_id: (EPISODE, MEASURED + H)}
    stored = store.stored_heads[EPISODE]
    assert stored.open_alarms[alarm_id].colour == "BLUE"
    assert stored.open_alarms[alarm_id].raised_at == iso_utc(MEASURED + H)
    assert stored.missed_through == MEASURED + H
    assert store.stored_heads == heads_after_first
    (body,) = [json.loads(event) for event in store.events.values()]
    assert body["trigger"] == "missed_measurement"
    assert body["upload"] is None and body["measurements"] == []
    assert body["alarms"] == [{"alarm_id": alarm_id, "colour": "BLUE", "change": "raised",
                               "kind": "missed_measurement", "measurement_id": None,
                               "due_at": iso_utc(MEASURED + H), "raised_at": iso_utc(MEASURED + H),
                               "late": False}]
    assert body["monitoring_organisation"] == MONITORING


def test_consecutive_misses_are_one_alarm_each(store, schedule):
    # Given an episode unmeasured for three periods (the schedule was down)
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()
    # When the schedule runs
    summary = schedule.run(MEASURED + 3 * H + HOUR)
    # Then each miss is its own alarm
    assert summary.misses == 3
    assert sorted(due for _, due in store.alarms.values()) == [MEASURED + n * H for n in (1, 2, 3)]


def test_a_long_outage_is_caught_up_in_writes_of_at_most_the_transaction_limit(store, schedule):
    # Given an episode with one miss an hour over more than two writes' worth
    store.active = [episode(missed_after=HOUR)]
    store.stored_heads[EPISODE] = head()
    # When the schedule runs
    summary = schedule.run(MEASURED + (2 * MISSES_PER_WRITE + 3) * HOUR)
    # Then every miss is raised, in three writes with an event each
    assert summary.misses == 2 * MISSES_PER_WRITE + 3
    assert len(store.events) == 3
    assert store.stored_heads[EPISODE].version == head().version + 3


@pytest.mark.parametrize("status", [EpisodeStatus.ENDED, EpisodeStatus.PLANNED])
def test_an_episode_not_active_any_more_gets_nothing(store, directory, schedule, status):
    # Given an episode the index still lists as active, but ended (or not active) since
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()
    directory.episodes[EPISODE] = relations(status=status)
    # When the schedule runs after a miss was due
    summary = schedule.run(MEASURED + 2 * H)
    # Then nothing is raised
    assert summary.misses == 0
    assert store.alarms == {}


def test_an_episode_ended_is_not_read_at_all(store, directory, schedule):
    # Given no active episode (ended and planned ones are not in the index by status)
    # When the schedule runs
    summary = schedule.run(MEASURED + 2 * H)
    # Then it checked none
    assert summary.episodes == 0
    assert directory.reads == 0


def test_an_episode_handed_over_raises_its_alarm_for_the_new_monitoring_organisation(store, directory,
                                                                                       schedule):
    # Given an episode handed over since the index was written
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()
    directory.episodes[EPISODE] = relations(monitoring=HOSPITAL)
    # When the schedule raises a miss
    schedule.run(MEASURED + H)
    # Then its event names the organisation monitoring now
    (body,) = [json.loads(event) for event in store.events.values()]
    assert body["monitoring_organisation"] == HOSPITAL


def test_a_handover_landing_during_the_run_sends_the_alarm_to_the_new_organisation(store, schedule):
    # Given a miss due, and a handover to the hospital committed between the schedule's read and write
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()

    def handover_wins() -> None:
        store.before_write = lambda: None
        store.hand_over(EPISODE, HOSPITAL)

    store.before_write = handover_wins
    # When the schedule runs
    summary = schedule.run(MEASURED + H)
    # Then it read the head again and raised the miss for the organisation that holds the row now
    assert summary.misses == 1
    (body,) = [json.loads(event) for event in store.events.values()]
    assert body["monitoring_organisation"] == HOSPITAL


def test_a_concurrent_change_is_read_again_and_the_miss_raised_once(store, schedule):
    # Given an episode with a miss due, and an evaluation that commits between the schedule's read and write
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()

    def evaluation_wins() -> None:
        store.before_write = lambda: None
        store.stored_heads[EPISODE] = replace(store.stored_heads[EPISODE], version=4)

    store.before_write = evaluation_wins
    # When the schedule runs
    summary = schedule.run(MEASURED + H)
    # Then it read the head again and raised the miss once, on top of the evaluation's version
    assert summary.misses == 1
    assert store.consistent_reads == 1
    assert store.stored_heads[EPISODE].version == 5


def test_a_measurement_arriving_meanwhile_cancels_the_miss(store, schedule):
    # Given a miss due, and a measurement judged between the schedule's read and write
    store.active = [episode()]
    store.stored_heads[EPISODE] = head()

    def measured_meanwhile() -> None:
        store.before_write = lambda: None
        store.stored_heads[EPISODE] = replace(store.stored_heads[EPISODE], version=4,
                                              last_measured_at=MEASURED + H - HOUR)

    store.before_write = measured_meanwhile
    # When the schedule runs
    summary = schedule.run(MEASURED + H)
    # Then, read again, nothing is due any more
    assert summary.misses == 0
    assert store.alarms == {}


def test_an_episode_that_always_races_is_left_for_the_next_run_after_the_others(store, directory, schedule):
    # Given two episodes with a miss due, the first changing on every attempt
    other = "epi_fedcba9876543210fedcba98"
    store.active = [episode(), episode(other)]
    store.stored_heads = {EPISODE: head(), other: head()}
    directory.episodes[other] = relations(other)
    original = store.record

    def racing(change_episode, read, change):
        if change_episode.episode_id == EPISODE:
            store.stored_heads[EPISODE] = replace(store.stored_heads[EPISODE],
                                                  version=store.stored_heads[EPISODE].version + 1)
        return original(change_episode, read, change)

    store.record = racing
    # When the schedule runs
    summary = schedule.run(MEASURED + H)
    # Then the other episode got its alarm, and the first is reported as failed
    assert summary.failed == (EPISODE,)
    assert summary.misses == 1
    assert [episode_id for episode_id, _ in store.alarms.values()] == [other]


def test_a_quiet_run_reads_heads_in_batches_and_nothing_one_by_one(store, directory):
    # Given 250 active episodes, all measured recently, in pages of 100
    ids = [f"epi_{n:024x}" for n in range(250)]
    store.active = [episode(episode_id) for episode_id in ids]
    store.stored_heads = {episode_id: head() for episode_id in ids}
    directory.episodes = {episode_id: relations(episode_id) for episode_id in ids}
    # When the schedule runs before any miss is due
    summary = MissedMeasurementSchedule(store, directory).run(MEASURED + H - MINUTE)
    # Then it read three batches of heads and nothing per episode
    assert summary.episodes == 250
    assert store.batches == [100, 100, 50]
    assert (store.consistent_reads, directory.reads) == (0, 0)
