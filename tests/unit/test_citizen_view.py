"""The citizen's view and the monitoring organisation's view of an episode's access log, with in-memory fakes:
who sees which entries and measurements, in which order and pages, and that every view is logged first."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.citizen_view.logic import CitizenView
from functions.citizen_view.models import StoredAccess, StoredReading
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import NO_RELATION, InvalidInput, NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.citizen_view import FakeAccessEntries, FakeReadingStore
from tests.support.fakes import FakeAccessLog, FakeEpisodeDirectory
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
PATIENT = "pat_0123456789abcdef01234567"
OTHER_PATIENT = "pat_fedcba9876543210fedcba98"
COPD = "epi_00000000000000000000c0bd"
HEART = "epi_0000000000000000000ea417"
ENDED = "epi_0000000000000000000e17de"
CITIZEN = Principal(role=Role.CITIZEN, subject="mitid-citizen", patient_id=PATIENT)
NURSE = Principal(role=Role.CLINICIAN, subject="nurse-7", organisation=MONITORING)


def episode(episode_id: str, disease_area: str = "copd", patient_id: str = PATIENT,
            status: EpisodeStatus = EpisodeStatus.ACTIVE) -> EpisodeRelations:
    return EpisodeRelations(episode_id=episode_id, patient_id=patient_id, disease_area=disease_area,
                            status=status, created_at=NOW - timedelta(days=30),
                            treating_organisation=TREATING, monitoring_organisation=MONITORING,
                            handover_to=None)


def access(minutes_ago: int, organisation: str | None = MONITORING, episode_id: str = COPD,
           action: str = "read_measurements") -> StoredAccess:
    at = NOW - timedelta(minutes=minutes_ago)
    return StoredAccess(access_id=f"{at.isoformat()}#{minutes_ago:012x}", accessed_at=at, action=action,
                        episode_id=episode_id, role="clinician", subject=f"someone-{minutes_ago}",
                        organisation=organisation, endpoint=None, outcome=None)


def reading(episode_id: str, hours_ago: int, colour: str = "GREEN") -> StoredReading:
    measured_at = (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    measurement_id = f"msr_{hours_ago:024x}"
    return StoredReading(episode_id, f"EVAL#READING#spo2#{measured_at}#{measurement_id}",
                         f"{measured_at}#{measurement_id}", {
                             "measurement_id": measurement_id, "type": "spo2", "value": 95.0, "unit": "%",
                             "components": None, "measured_at": measured_at, "received_at": measured_at,
                             "colour": colour, "invalidated": None})


def forged(cursor: str | None, position: dict[str, str]) -> str:
    """The cursor with another position in the same list, as a client could make it."""
    assert cursor is not None
    decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    text = json.dumps({**decoded, "after": position})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def entries() -> FakeAccessEntries:
    return FakeAccessEntries()


@pytest.fixture
def readings() -> FakeReadingStore:
    return FakeReadingStore()


@pytest.fixture
def directory() -> FakeEpisodeDirectory:
    return FakeEpisodeDirectory([episode(COPD), episode(HEART, "heart_failure"),
                                 episode(ENDED, "diabetes", status=EpisodeStatus.ENDED)])


@pytest.fixture
def access_log() -> FakeAccessLog:
    return FakeAccessLog()


@pytest.fixture
def view(entries, readings, directory, access_log) -> CitizenView:
    return CitizenView(entries, readings, directory, access_log, lambda: NOW)


# --- the citizen's access log --------------------------------------------------------------------


def test_a_citizen_reads_who_looked_at_their_data_newest_first_and_the_read_is_logged(view, entries,
                                                                                      access_log):
    # Given entries of the citizen's data by the GP, the municipality and the hospital, and another citizen's
    entries.stored[PATIENT] += [access(30, TREATING, action="read_episode"), access(10, MONITORING),
                                access(20, HOSPITAL, episode_id=HEART)]
    entries.stored[OTHER_PATIENT] += [access(5, OTHER, episode_id="epi_elsewhere")]
    # When the citizen reads their access log
    page = view.my_access_log(CITIZEN, 50, None)
    # Then they see their own entries, newest first, with who, when, what and which episode
    assert [(entry.organisation, entry.action, entry.episode_id) for entry in page.entries] == [
        (MONITORING, "read_measurements", COPD), (HOSPITAL, "read_measurements", HEART),
        (TREATING, "read_episode", COPD)]
    assert page.entries[0].subject == "someone-10"
    assert page.entries[0].accessed_at == NOW - timedelta(minutes=10)
    assert page.next_cursor is None
    # And their reading is itself logged, under their patient id, as no organisation's
    assert access_log.entries == [(PATIENT, None, "read_own_access_log", "")]


def test_a_citizens_access_log_pages_with_the_cursor(view, entries, access_log):
    # Given five entries of the citizen's data
    entries.stored[PATIENT] += [access(minutes) for minutes in range(1, 6)]
    # When the citizen reads them two at a time, following the cursor
    pages, cursor = [], None
    while True:
        page = view.my_access_log(CITIZEN, 2, cursor)
        pages.append([entry.subject for entry in page.entries])
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then the pages hold every entry once, newest first, and each page's read is logged
    assert pages == [["someone-1", "someone-2"], ["someone-3", "someone-4"], ["someone-5"]]
    assert len(access_log.entries) == 3


def test_a_citizen_telehub_does_not_know_has_an_empty_access_log_and_nothing_is_logged(view, access_log):
    stranger = Principal(role=Role.CITIZEN, subject="mitid-stranger")
    page = view.my_access_log(stranger, 50, None)
    assert (page.entries, page.next_cursor, access_log.entries) == ([], None, [])


def test_a_cursor_of_another_citizens_access_log_is_a_422(view, entries):
    # Given a cursor of another citizen's access log
    entries.stored[OTHER_PATIENT] += [access(minutes) for minutes in range(1, 4)]
    other = Principal(role=Role.CITIZEN, subject="mitid-other", patient_id=OTHER_PATIENT)
    cursor = view.my_access_log(other, 1, None).next_cursor
    # When this citizen uses it, Then it is refused as no cursor of their list
    with pytest.raises(InvalidInput) as refused:
        view.my_access_log(CITIZEN, 1, cursor)
    assert refused.value.problems[0].field == "cursor"


def test_a_forged_position_in_an_access_log_cursor_is_a_422(view, entries):
    # Given a cursor of the citizen's own list whose position is made into something else than an access id
    entries.stored[PATIENT] += [access(1), access(2)]
    cursor = forged(view.my_access_log(CITIZEN, 1, None).next_cursor, {"pk": "PATIENT#pat_x"})
    # When it is used, Then it is refused
    with pytest.raises(InvalidInput):
        view.my_access_log(CITIZEN, 1, cursor)


def test_no_entry_is_returned_when_the_read_cannot_be_logged(entries, readings, directory):
    # Given an access log that cannot store entries now
    class Unavailable(FakeAccessLog):
        def record(self, *args: object, **kwargs: object) -> None:
            raise ServiceUnavailable("the access log could not store the entry; retry the request")

        def record_many(self, *args: object, **kwargs: object) -> None:
            raise ServiceUnavailable("the access log could not store the entry; retry the request")

    entries.stored[PATIENT] += [access(1)]
    readings.stored[COPD] += [reading(COPD, 1)]
    view = CitizenView(entries, readings, directory, Unavailable(), lambda: NOW)
    # When the citizen reads their log or measurements, Then the request fails with nothing returned
    with pytest.raises(ServiceUnavailable):
        view.my_access_log(CITIZEN, 50, None)
    with pytest.raises(ServiceUnavailable):
        view.my_measurements(CITIZEN, 50, None)


# --- an episode's access log ---------------------------------------------------------------------


def test_the_monitoring_organisation_reads_the_episodes_entries_only_and_the_read_is_logged(view, entries,
                                                                                           access_log):
    # Given entries of the citizen under the COPD episode and under another of their episodes
    entries.stored[PATIENT] += [access(3, TREATING), access(2, HOSPITAL, episode_id=HEART), access(1)]
    # When the monitoring organisation reads the COPD episode's access log
    page = view.episode_access_log(COPD, NURSE, 50, None)
    # Then it sees that episode's entries, newest first, and its read is logged under the episode
    assert [(entry.organisation, entry.episode_id) for entry in page.entries] == [(MONITORING, COPD),
                                                                                   (TREATING, COPD)]
    assert access_log.entries == [(PATIENT, MONITORING, "read_access_log", COPD)]


@pytest.mark.parametrize("organisation", [TREATING, OTHER])
def test_any_other_organisation_gets_the_reply_of_an_episode_that_does_not_exist(view, entries, access_log,
                                                                                 organisation):
    # Given entries under the episode, and a clinician of its treating organisation or of a stranger
    entries.stored[PATIENT] += [access(1)]
    caller = Principal(role=Role.CLINICIAN, subject="someone", organisation=organisation)
    # When it reads the episode's access log, and that of an episode that does not exist
    with pytest.raises(NoRelation) as existing:
        view.episode_access_log(COPD, caller, 50, None)
    with pytest.raises(NoRelation) as missing:
        view.episode_access_log("epi_000000000000000000000000", caller, 50, None)
    # Then both refusals are the one that tells nothing, and nothing was read or logged
    assert str(existing.value) == str(missing.value) == NO_RELATION
    assert access_log.entries == []


def test_an_episodes_access_log_pages_with_the_cursor_which_no_other_episode_accepts(view, entries,
                                                                                      directory):
    entries.stored[PATIENT] += [access(minutes) for minutes in range(1, 4)]
    first = view.episode_access_log(COPD, NURSE, 2, None)
    second = view.episode_access_log(COPD, NURSE, 2, first.next_cursor)
    assert [len(first.entries), len(second.entries), second.next_cursor] == [2, 1, None]
    with pytest.raises(InvalidInput):
        view.episode_access_log(HEART, NURSE, 2, first.next_cursor)


# --- the citizen's measurements ------------------------------------------------------------------


def test_a_citizen_reads_the_measurements_of_their_open_episodes_newest_first(view, readings, access_log):
    # Given readings of the citizen's COPD and heart-failure episodes and of an ended episode
    readings.stored[COPD] += [reading(COPD, 5, "RED"), reading(COPD, 1)]
    readings.stored[HEART] += [reading(HEART, 3, "YELLOW")]
    readings.stored[ENDED] += [reading(ENDED, 2)]
    # When the citizen reads their measurements
    page = view.my_measurements(CITIZEN, 50, None)
    # Then they see the open episodes' readings, newest measured first, each with its episode and colour
    assert [(m.episode_id, m.disease_area, m.colour) for m in page.measurements] == [
        (COPD, "copd", "GREEN"), (HEART, "heart_failure", "YELLOW"), (COPD, "copd", "RED")]
    assert page.measurements[0].value == 95.0
    assert page.next_cursor is None
    # And the read is logged under each open episode before the reply
    assert access_log.entries == [(PATIENT, None, "read_own_measurements", COPD),
                                  (PATIENT, None, "read_own_measurements", HEART)]


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_the_citizens_measurements_page_across_episodes_without_a_gap_or_a_repeat(view, readings, limit):
    # Given readings of two episodes interleaved in time, one measurement judged under both (the same instant)
    readings.stored[COPD] += [reading(COPD, hours) for hours in (1, 2, 4, 7, 8)]
    readings.stored[HEART] += [reading(HEART, hours) for hours in (2, 3, 5, 6)]
    # When the citizen pages through them ``limit`` at a time
    seen, cursor = [], None
    while True:
        page = view.my_measurements(CITIZEN, limit, cursor)
        seen += [(m.measured_at, m.episode_id) for m in page.measurements]
        cursor = page.next_cursor
        if cursor is None:
            break
    # Then every reading comes once, newest measured first (the same instant in episode id order)
    assert len(seen) == 9
    assert seen == sorted(seen, key=lambda item: (-item[0].timestamp(), item[1]))
    assert len(set(seen)) == 9


def test_an_episode_read_to_its_end_is_not_read_again(view, readings):
    readings.stored[COPD] += [reading(COPD, hours) for hours in (1, 2, 3)]
    readings.stored[HEART] += [reading(HEART, 10)]
    first = view.my_measurements(CITIZEN, 2, None)
    readings.reads.clear()
    view.my_measurements(CITIZEN, 2, first.next_cursor)
    assert [episode_id for episode_id, _ in readings.reads] == [COPD, HEART]
    last = view.my_measurements(CITIZEN, 2, first.next_cursor)
    assert last.next_cursor is None


def test_a_citizen_without_an_open_episode_or_unknown_to_telehub_has_no_measurements(view, readings,
                                                                                     access_log):
    readings.stored[ENDED] += [reading(ENDED, 1)]
    alone = Principal(role=Role.CITIZEN, subject="mitid-alone", patient_id=OTHER_PATIENT)
    stranger = Principal(role=Role.CITIZEN, subject="mitid-stranger")
    for citizen in (alone, stranger):
        page = view.my_measurements(citizen, 50, None)
        assert (page.measurements, page.next_cursor) == ([], None)
    assert access_log.entries == []


@pytest.mark.parametrize("position", ["EVAL#READING#spo2#not-a-time#msr_1",
                                      "ALARM#2026-11-25T09:30:00Z#alm_1",
                                      "EVAL#READING#spo2#2026-11-25T09:30:00#msr_1"])
def test_a_forged_position_in_a_measurements_cursor_is_a_422(view, readings, position):
    # Given a cursor of the citizen's measurements whose episode's position is no reading's sort key
    readings.stored[COPD] += [reading(COPD, 1), reading(COPD, 2)]
    cursor = forged(view.my_measurements(CITIZEN, 1, None).next_cursor, {COPD: position})
    # When it is used, Then it is refused before DynamoDB could be asked with it
    with pytest.raises(InvalidInput):
        view.my_measurements(CITIZEN, 1, cursor)
