"""Pauses of the missed-measurement schedule with in-memory fakes (logic.py): who may pause, the period's
rules, idempotent retries, the pause in the head, no miss inside it, reading them, the access log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.missed_measurements.logic import MissedMeasurementSchedule, PauseService
from functions.missed_measurements.models import MonitoredEpisode, PauseRequest, ScheduleHead
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import Conflict, Forbidden, InvalidInput, NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.fakes import FakeAccessLog, FakeEpisodeDirectory, FakeMonitoringSchedule
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
EPISODE = "epi_0123456789abcdef01234567"
DAY = timedelta(days=1)


def nurse(organisation: str = MONITORING) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=organisation)


def request(**fields) -> PauseRequest:
    body = {"ends_at": (NOW + 7 * DAY).isoformat(), "reason": " Admitted ", **fields}
    return PauseRequest.model_validate(body)


def relations(status: EpisodeStatus = EpisodeStatus.ACTIVE) -> EpisodeRelations:
    return EpisodeRelations(EPISODE, "pat_1", "copd", status, NOW - 30 * DAY, TREATING, MONITORING, None)


@pytest.fixture
def store():
    return FakeMonitoringSchedule()


@pytest.fixture
def directory():
    return FakeEpisodeDirectory([relations()])


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def service(store, directory, access_log):
    return PauseService(store, directory, access_log, clock=lambda: NOW)


def test_the_monitoring_organisation_pauses_from_now_and_the_read_is_logged(service, store, access_log):
    # When a nurse of the monitoring organisation pauses the episode for a week
    pause, created = service.pause(EPISODE, request(), nurse())
    # Then the pause starts now, is stored with who and why, and its window is in the head
    assert created
    assert (pause.starts_at, pause.ends_at, pause.reason) == (NOW, NOW + 7 * DAY, "Admitted")
    assert (pause.created_by, pause.created_by_organisation, pause.created_at) == ("nurse-1", MONITORING, NOW)
    assert store.pauses(EPISODE) == [pause]
    assert store.stored_heads[EPISODE].pauses == {pause.pause_id: pause.window}
    assert access_log.entries == [("pat_1", MONITORING, "pause_monitoring", EPISODE)]


def test_a_retry_of_the_same_request_is_the_same_pause(service, store):
    # Given a pause made a minute ago without a start
    first, _ = service.pause(EPISODE, request(), nurse())
    later = PauseService(store, FakeEpisodeDirectory([relations()]), FakeAccessLog(),
                         clock=lambda: NOW + timedelta(minutes=1))
    # When the same request comes again
    again, created = later.pause(EPISODE, request(), nurse())
    # Then it is the stored pause, not a second one
    assert not created
    assert again == first
    assert len(store.pauses(EPISODE)) == 1


def test_another_reason_is_another_pause(service, store):
    service.pause(EPISODE, request(), nurse())
    # When the nurse pauses again with another reason, Then there are two pauses
    _, created = service.pause(EPISODE, request(reason="Holiday"), nurse())
    assert created
    assert len(store.pauses(EPISODE)) == 2


@pytest.mark.parametrize(("organisation", "told"), [
    (TREATING, "only the organisation holding monitoring responsibility may pause it"),
    (OTHER, NoRelation().message),
])
def test_only_the_monitoring_organisation_may_pause(service, store, access_log, organisation, told):
    # When the treating organisation (told why) or a stranger (told nothing) pauses the episode
    with pytest.raises(Forbidden) as refused:
        service.pause(EPISODE, request(), nurse(organisation))
    # Then it is refused, logged as denied first, and nothing is stored
    assert refused.value.message == told
    assert access_log.denials == [("pat_1", organisation, "pause_monitoring", EPISODE)]
    assert access_log.entries == [] and store.pauses(EPISODE) == []


def test_an_organisation_that_handed_the_episode_over_meanwhile_may_not_pause(service, store):
    # Given the row moved to the hospital by a handover after the caller's relation was read
    store.hand_over(EPISODE, HOSPITAL)
    # When the municipality's nurse pauses it, Then it is refused and nothing is stored
    with pytest.raises(Forbidden):
        service.pause(EPISODE, request(), nurse(MONITORING))
    assert store.pauses(EPISODE) == []


def test_an_unknown_episode_is_refused_as_another_organisations_is(service):
    with pytest.raises(NoRelation) as unknown:
        service.pause("epi_ffffffffffffffffffffffff", request(), nurse())
    with pytest.raises(NoRelation) as not_related:
        service.pauses(EPISODE, nurse(OTHER))
    assert str(unknown.value) == str(not_related.value)


def test_an_ended_episode_is_409(service, directory):
    directory.episodes[EPISODE] = relations(EpisodeStatus.ENDED)
    with pytest.raises(Conflict):
        service.pause(EPISODE, request(), nurse())


@pytest.mark.parametrize(("fields", "field"), [
    ({"ends_at": (NOW - DAY).isoformat()}, "ends_at"),  # in the past
    ({"starts_at": (NOW + 2 * DAY).isoformat(), "ends_at": (NOW + DAY).isoformat()}, "ends_at"),  # ends first
    ({"starts_at": (NOW + DAY).isoformat(), "ends_at": (NOW + DAY).isoformat()}, "ends_at"),  # empty
    ({"ends_at": (NOW + 91 * DAY).isoformat()}, "ends_at"),  # longer than 90 days
    ({"starts_at": (NOW - 31 * DAY).isoformat()}, "starts_at"),  # began too long ago
])
def test_a_period_that_breaks_a_rule_is_422_naming_the_field(service, store, fields, field):
    with pytest.raises(InvalidInput) as refused:
        service.pause(EPISODE, request(**fields), nurse())
    assert [problem.field for problem in refused.value.problems] == [field]
    assert store.pauses(EPISODE) == []


def test_the_longest_pause_and_one_that_began_yesterday_are_accepted(service):
    _, created = service.pause(EPISODE, request(ends_at=(NOW + 90 * DAY).isoformat()), nurse())
    assert created
    pause, _ = service.pause(EPISODE, request(starts_at=(NOW - DAY).isoformat()), nurse())
    assert pause.starts_at == NOW - DAY


def test_a_concurrent_change_is_read_again(service, store):
    # Given an evaluation that commits between the pause's read of the head and its write
    def evaluation_wins() -> None:
        store.before_write = lambda: None
        store.stored_heads[EPISODE] = ScheduleHead(version=1)

    store.before_write = evaluation_wins
    # When the nurse pauses, Then the pause is written on top of the evaluation
    _, created = service.pause(EPISODE, request(), nurse())
    assert created
    assert store.stored_heads[EPISODE].version == 2


def test_a_pause_is_logged_once_before_it_whatever_the_races(service, store, access_log):
    # Given an evaluation that commits between the pause's read of the head and its write
    def evaluation_wins() -> None:
        store.before_write = lambda: None
        store.stored_heads[EPISODE] = ScheduleHead(version=1)

    store.before_write = evaluation_wins
    # When the nurse pauses (written on the second attempt), Then the request has one entry
    service.pause(EPISODE, request(), nurse())
    assert access_log.entries == [("pat_1", MONITORING, "pause_monitoring", EPISODE)]


def test_a_pause_that_cannot_be_logged_is_not_stored(service, store, access_log, monkeypatch):
    def unavailable(*_: object) -> None:
        raise ServiceUnavailable("the access log could not store the entry; retry the request")

    monkeypatch.setattr(access_log, "record", unavailable)
    with pytest.raises(ServiceUnavailable):
        service.pause(EPISODE, request(), nurse())
    assert store.pauses(EPISODE) == []


def test_the_treating_and_monitoring_organisations_read_the_pauses(service, access_log):
    pause, _ = service.pause(EPISODE, request(), nurse())
    for organisation in (TREATING, MONITORING):
        assert service.pauses(EPISODE, nurse(organisation)) == [pause]
    assert access_log.entries[1:] == [("pat_1", TREATING, "read_pauses", EPISODE),
                                      ("pat_1", MONITORING, "read_pauses", EPISODE)]
    with pytest.raises(Forbidden):
        service.pauses(EPISODE, nurse(OTHER))


def test_no_miss_is_raised_inside_a_pause_and_the_count_restarts_when_it_ends(service, store, directory):
    # Given an episode measured last at NOW, with a 36-hour schedule, paused from tomorrow for five days
    store.stored_heads[EPISODE] = ScheduleHead(schedule_since=NOW - 10 * DAY, last_measured_at=NOW)
    pause, _ = service.pause(EPISODE, request(starts_at=(NOW + DAY).isoformat(),
                                              ends_at=(NOW + 6 * DAY).isoformat()), nurse())
    store.active = [MonitoredEpisode(EPISODE, "pat_1", "copd", TREATING, MONITORING, timedelta(hours=36))]
    schedule = MissedMeasurementSchedule(store, directory)
    # When the schedule runs inside the pause, and again 36 hours after it ended
    inside = schedule.run(NOW + 5 * DAY)
    after = schedule.run(pause.ends_at + timedelta(hours=36))
    # Then nothing was raised inside it, and one miss, due 36 hours after its end, after it
    assert inside.misses == 0
    assert after.misses == 1
    assert [due for _, due in store.alarms.values()] == [pause.ends_at + timedelta(hours=36)]
