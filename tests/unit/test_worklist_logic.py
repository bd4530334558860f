"""The worklist's rules with in-memory fakes: rows by rank, counts, paging and cursors, who may read and
acknowledge (an alarm of another organisation refused as one that does not exist), 409s naming who,
acknowledging moving the row, and the version conflict read again (logic.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import Conflict, Forbidden, InvalidInput, NoRelation, ServiceUnavailable
from functions.shared.evaluation_records import OpenAlarm, head_key
from functions.shared.principal import Principal, Role
from functions.worklist.logic import ATTEMPTS, WorklistService, encode_cursor
from functions.worklist.models import AlarmStatus
from tests.support.fakes import FakeAccessLog, FakeEpisodeDirectory, FakeWorklistStore
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.worklist_items import alarm_item, head_item, reading_item

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
RED_AT, YELLOW_AT = "2026-11-25T08:01:00.000Z", "2026-11-25T07:00:00.000Z"
ALARM = "alm_" + "a" * 24


def nurse(organisation: str = MONITORING) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=organisation)


def relations(episode_id: str, patient_id: str, monitoring: str = MONITORING) -> EpisodeRelations:
    return EpisodeRelations(episode_id, patient_id, "copd", EpisodeStatus.ACTIVE, NOW, TREATING, monitoring,
                            handover_to=None)


@pytest.fixture
def store():
    return FakeWorklistStore()


@pytest.fixture
def directory():
    return FakeEpisodeDirectory([relations("epi_1", "pat_1"), relations("epi_2", "pat_2")])


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def service(store, directory, access_log):
    return WorklistService(store, directory, access_log, clock=lambda: NOW)


def red(at: str = RED_AT, late: bool = False) -> OpenAlarm:
    return OpenAlarm("RED", at, late)


def rows_of(page) -> list[str]:
    return [row.episode_id for row in page.rows]


# --- the worklist ----------------------------------------------------------------------------------


def test_rows_come_most_severe_first_then_longest_waiting(store, service):
    # Given rows of every colour, two RED ones raised at different times
    store.put(head_item("epi_green", "pat_g", green_uploads={"dev#u1": "2026-11-25T05:00:00.000Z"}))
    blue = OpenAlarm("BLUE", "2026-11-25T04:00:00.000Z", False)
    store.put(head_item("epi_blue", "pat_b", open_alarms={"alm_b": blue}))
    store.put(head_item("epi_red_new", "pat_n", open_alarms={"alm_n": red("2026-11-25T09:00:00.000Z")}))
    store.put(head_item("epi_yellow", "pat_y", open_alarms={"alm_y": OpenAlarm("YELLOW", YELLOW_AT, False)}))
    store.put(head_item("epi_red_old", "pat_o", open_alarms={"alm_o": red("2026-11-25T06:00:00.000Z")}))
    # When the monitoring organisation's nurse reads the worklist
    page = service.worklist(nurse(), 50, None)
    # Then RED comes first (the longest waiting first), then YELLOW, BLUE and GREEN
    assert rows_of(page) == ["epi_red_old", "epi_red_new", "epi_yellow", "epi_blue", "epi_green"]
    assert page.next_cursor is None


def test_a_row_shows_its_most_severe_alarm_the_counts_and_lateness(store, service):
    # Given an episode with two YELLOW alarms (one from a late measurement), a RED one and two GREEN uploads
    store.put(head_item("epi_1", "pat_1", open_alarms={
        "alm_y1": OpenAlarm("YELLOW", YELLOW_AT, True), "alm_y2": OpenAlarm("YELLOW", RED_AT, False),
        "alm_r": red()}, green_uploads={"dev#u1": RED_AT, "dev#u2": RED_AT}))
    # When the worklist is read
    (row,) = service.worklist(nurse(), 50, None).rows
    # Then the row names the RED alarm, counts each colour and is late (a late measurement's alarm waits)
    assert row.alarm is not None
    assert (row.alarm.alarm_id, row.alarm.colour, row.alarm.late) == ("alm_r", "RED", False)
    assert row.counts.model_dump() == {"RED": 1, "YELLOW": 2, "BLUE": 0, "GREEN": 2}
    assert row.late and (row.patient_id, row.disease_area) == ("pat_1", "copd")


def test_a_row_with_only_green_uploads_names_no_alarm(store, service):
    store.put(head_item("epi_1", "pat_1", green_uploads={"dev#u1": RED_AT}))
    (row,) = service.worklist(nurse(), 50, None).rows
    assert row.alarm is None and not row.late and row.counts.GREEN == 1


def test_an_organisation_sees_only_its_own_rows_and_none_is_empty(store, service):
    # Given a row on the monitoring organisation's worklist and one on the hospital's
    store.put(head_item("epi_1", "pat_1", open_alarms={"alm_1": red()}))
    store.put(head_item("epi_2", "pat_2", organisation=HOSPITAL, open_alarms={"alm_2": red()}))
    # Then each sees its own row, and an organisation with nothing waiting an empty list
    assert rows_of(service.worklist(nurse(), 50, None)) == ["epi_1"]
    assert rows_of(service.worklist(nurse(HOSPITAL), 50, None)) == ["epi_2"]
    assert service.worklist(nurse(OTHER), 50, None).rows == []


def test_a_caller_without_an_organisation_is_refused(service):
    with pytest.raises(Forbidden):
        service.worklist(Principal(role=Role.CLINICIAN, subject="nurse-1"), 50, None)


def test_every_row_returned_is_logged_as_a_read(store, service, access_log):
    store.put(head_item("epi_1", "pat_1", open_alarms={"alm_1": red()}))
    store.put(head_item("epi_2", "pat_2", green_uploads={"dev#u1": RED_AT}))
    service.worklist(nurse(), 50, None)
    assert sorted(access_log.entries) == [("pat_1", MONITORING, "read_worklist", "epi_1"),
                                          ("pat_2", MONITORING, "read_worklist", "epi_2")]


def test_pages_follow_one_another_and_the_last_says_so(store, service):
    # Given five RED rows
    for n in range(5):
        raised = red(f"2026-11-25T0{n}:00:00.000Z")
        store.put(head_item(f"epi_{n}", f"pat_{n}", open_alarms={f"alm_{n}": raised}))
    # When they are read two at a time
    first = service.worklist(nurse(), 2, None)
    second = service.worklist(nurse(), 2, first.next_cursor)
    third = service.worklist(nurse(), 2, second.next_cursor)
    # Then the pages hold every row once, in order, and the last page has no next cursor
    assert [rows_of(first), rows_of(second), rows_of(third)] == [["epi_0", "epi_1"], ["epi_2", "epi_3"],
                                                                  ["epi_4"]]
    assert first.next_cursor and second.next_cursor and third.next_cursor is None


def test_a_full_last_page_says_it_is_the_last(store, service):
    for n in range(2):
        store.put(head_item(f"epi_{n}", f"pat_{n}", open_alarms={f"alm_{n}": red()}))
    assert service.worklist(nurse(), 2, None).next_cursor is None


def test_a_cursor_of_another_organisation_is_refused(store, service):
    # Given a cursor of the hospital's worklist
    for n in range(3):
        store.put(head_item(f"epi_{n}", f"pat_{n}", organisation=HOSPITAL, open_alarms={f"alm_{n}": red()}))
    cursor = service.worklist(nurse(HOSPITAL), 1, None).next_cursor
    # When the monitoring organisation sends it, Then it is refused naming the cursor
    with pytest.raises(InvalidInput) as refused:
        service.worklist(nurse(), 1, cursor)
    assert refused.value.problems[0].field == "cursor"


@pytest.mark.parametrize("cursor", [
    "not base64 json",
    encode_cursor(f"worklist#{MONITORING}", {"pk": "EPISODE#epi_1", "sk": "EVAL"}),
    encode_cursor(f"worklist#{MONITORING}", {"worklist_organisation": HOSPITAL, "worklist_rank": "0#",
                                             "pk": "EPISODE#epi_1", "sk": "EVAL"}),
    encode_cursor("alarms#epi_1", {"pk": "EPISODE#epi_1", "sk": "ALARM#x"}),
    encode_cursor(f"worklist#{MONITORING}", {"worklist_organisation": MONITORING, "worklist_rank": "",
                                             "pk": "EPISODE#epi_1", "sk": "EVAL"}),  # DynamoDB refuses ""
])
def test_a_forged_or_mixed_up_cursor_is_refused(service, cursor):
    # A position with the caller's scope but another organisation's partition, a position of another list,
    # or no cursor at all
    with pytest.raises(InvalidInput):
        service.worklist(nurse(), 1, cursor)


# --- an episode's measurements and alarms ----------------------------------------------------------


def test_measurements_are_newest_first_within_the_range_and_type(store, service, access_log):
    # Given readings of two types at four instants
    for n, kind in enumerate(("spo2", "pulse", "spo2", "spo2")):
        measured_at = f"2026-11-2{n}T08:00:00.000Z"
        store.put(reading_item("epi_1", "pat_1", f"msr_{n}", measured_at, reading_type=kind))
    # When the treating organisation reads the spo2 measurements of the 21st to the 23rd
    page = service.measurements("epi_1", nurse(TREATING), datetime(2026, 11, 21, tzinfo=UTC),
                                datetime(2026, 11, 23, 8, tzinfo=UTC), "spo2", 50, None)
    # Then it gets those, newest first (both ends included), and the read is logged
    assert [m.measurement_id for m in page.measurements] == ["msr_3", "msr_2"]
    assert access_log.entries == [("pat_1", TREATING, "read_measurements", "epi_1")]


def test_measurements_page_through_the_episode(store, service):
    for n in range(3):
        store.put(reading_item("epi_1", "pat_1", f"msr_{n}", f"2026-11-2{n}T08:00:00.000Z"))
    first = service.measurements("epi_1", nurse(), None, None, None, 2, None)
    second = service.measurements("epi_1", nurse(), None, None, None, 2, first.next_cursor)
    assert [[m.measurement_id for m in page.measurements] for page in (first, second)] == [
        ["msr_2", "msr_1"], ["msr_0"]]
    assert second.next_cursor is None


def test_a_measurements_cursor_reads_only_its_own_episode(store, service):
    for n in range(2):
        store.put(reading_item("epi_1", "pat_1", f"msr_{n}", f"2026-11-2{n}T08:00:00.000Z"))
    cursor = service.measurements("epi_1", nurse(), None, None, None, 1, None).next_cursor
    with pytest.raises(InvalidInput):
        service.measurements("epi_2", nurse(), None, None, None, 1, cursor)


def test_a_cursor_continues_only_the_list_of_the_same_filters(store, service):
    # Given a cursor of the episode's weights (its position lies within that query's keys)
    for n in range(2):
        store.put(reading_item("epi_1", "pat_1", f"msr_{n}", f"2026-11-2{n}T08:00:00.000Z"))
    cursor = service.measurements("epi_1", nurse(), None, None, None, 1, None).next_cursor
    # When it is sent with another time range or type, Then it is refused naming the cursor (DynamoDB
    # would refuse a starting key outside the query's range with an error, not an empty page)
    for since, measurement_type in ((NOW, None), (None, "spo2")):
        with pytest.raises(InvalidInput) as refused:
            service.measurements("epi_1", nurse(), since, None, measurement_type, 1, cursor)
        assert refused.value.problems[0].field == "cursor"


def test_a_range_that_ends_before_it_starts_is_refused(service):
    with pytest.raises(InvalidInput) as refused:
        service.measurements("epi_1", nurse(), NOW, datetime(2026, 1, 1, tzinfo=UTC), None, 50, None)
    assert refused.value.problems[0].field == "from"


@pytest.mark.parametrize("read", ["measurements", "alarms"])
def test_only_the_treating_and_monitoring_organisations_read_an_episode(service, read):
    def reading(organisation: str, episode_id: str = "epi_1"):
        if read == "measurements":
            return service.measurements(episode_id, nurse(organisation), None, None, None, 50, None)
        return service.alarms(episode_id, nurse(organisation), None, 50, None)

    reading(TREATING), reading(MONITORING)
    with pytest.raises(NoRelation) as not_related:
        reading(OTHER)
    with pytest.raises(NoRelation) as unknown:
        reading(MONITORING, "epi_unknown")
    assert str(not_related.value) == str(unknown.value)


def test_alarms_are_newest_first_filtered_by_status_and_logged(store, service, access_log):
    # Given an open alarm, an acknowledged one and a lowered one, raised in that order
    store.put(alarm_item("epi_1", "pat_1", "alm_1", "2026-11-21T08:00:00.000Z"))
    store.put(alarm_item("epi_1", "pat_1", "alm_2", "2026-11-22T08:00:00.000Z", status="acknowledged"))
    store.put(alarm_item("epi_1", "pat_1", "alm_3", "2026-11-23T08:00:00.000Z", status="lowered",
                         colour="GREEN"))
    # When all alarms are read, and then the open ones
    every = service.alarms("epi_1", nurse(), None, 50, None)
    open_ones = service.alarms("epi_1", nurse(), AlarmStatus.OPEN, 50, None)
    # Then all come newest first, the filter keeps the open one, and each read is logged
    assert [alarm.alarm_id for alarm in every.alarms] == ["alm_3", "alm_2", "alm_1"]
    assert [alarm.alarm_id for alarm in open_ones.alarms] == ["alm_1"]
    assert access_log.entries == [("pat_1", MONITORING, "read_alarms", "epi_1")] * 2


# --- acknowledging an alarm ------------------------------------------------------------------------


def arrange_red_and_yellow(store: FakeWorklistStore) -> None:
    """epi_1 on the monitoring organisation's worklist with a RED alarm (ALARM) and a YELLOW one."""
    store.put(head_item("epi_1", "pat_1", open_alarms={ALARM: red(), "alm_y": OpenAlarm("YELLOW", YELLOW_AT,
                                                                                          False)}))
    store.put(alarm_item("epi_1", "pat_1", ALARM, RED_AT))
    store.put(alarm_item("epi_1", "pat_1", "alm_y", YELLOW_AT, colour="YELLOW"))


def test_acknowledging_records_who_when_and_the_note_and_moves_the_row(store, service, access_log):
    # Given a row with a RED and a YELLOW alarm
    arrange_red_and_yellow(store)
    # When the monitoring nurse acknowledges the RED one with a note
    alarm = service.acknowledge(ALARM, "Called the citizen: a cold.", nurse())
    # Then the alarm says who acknowledged it, when and why, also in its changes
    assert alarm.status is AlarmStatus.ACKNOWLEDGED and alarm.acknowledged is not None
    assert (alarm.acknowledged.by, alarm.acknowledged.organisation, alarm.acknowledged.at,
            alarm.acknowledged.note) == ("nurse-1", MONITORING, NOW, "Called the citizen: a cold.")
    [change] = alarm.changes
    assert (change.from_, change.to, change.reason) == (alarm.colour, alarm.colour, "acknowledged")
    # And it is stored so, and the row waits for the YELLOW alarm only (its rank recomputed)
    (stored,) = service.alarms("epi_1", nurse(), AlarmStatus.ACKNOWLEDGED, 50, None).alarms
    assert stored == alarm
    (row,) = service.worklist(nurse(), 50, None).rows
    assert row.alarm is not None and row.alarm.alarm_id == "alm_y"
    assert store.items["EPISODE#epi_1", "EVAL"]["worklist_rank"]["S"].startswith("1#")
    assert ("pat_1", MONITORING, "acknowledge_alarm", "epi_1") in access_log.entries


def test_acknowledging_the_last_alarm_takes_the_row_off_the_worklist(store, service):
    store.put(head_item("epi_1", "pat_1", open_alarms={ALARM: red()}))
    store.put(alarm_item("epi_1", "pat_1", ALARM, RED_AT))
    service.acknowledge(ALARM, "Seen.", nurse())
    assert service.worklist(nurse(), 50, None).rows == []


def test_a_second_acknowledgement_is_a_conflict_naming_who_and_when(store, service, access_log):
    arrange_red_and_yellow(store)
    service.acknowledge(ALARM, "Seen.", nurse())
    with pytest.raises(Conflict) as conflict:
        service.acknowledge(ALARM, "Seen too.", Principal(role=Role.CLINICIAN, subject="nurse-2",
                                                          organisation=MONITORING))
    assert "nurse-1" in conflict.value.message and MONITORING in conflict.value.message
    assert "2026-11-25T09:30:00" in conflict.value.message
    # And the refused attempt, which told who acknowledged it, is in the access log as the first is
    assert access_log.entries.count(("pat_1", MONITORING, "acknowledge_alarm", "epi_1")) == 2


@pytest.mark.parametrize("status", ["lowered", "invalidated"])
def test_an_alarm_that_waits_for_nobody_is_a_conflict_saying_so(store, service, status):
    store.put(head_item("epi_1", "pat_1", green_uploads={"dev#u1": RED_AT}))
    store.put(alarm_item("epi_1", "pat_1", ALARM, RED_AT, status=status))
    with pytest.raises(Conflict) as conflict:
        service.acknowledge(ALARM, "Seen.", nurse())
    assert status in conflict.value.message


def test_an_alarm_of_another_organisation_is_as_unknown_as_one_that_does_not_exist(store, service):
    # Given an alarm of an episode the other organisation has no part in
    arrange_red_and_yellow(store)
    # When it acknowledges that alarm, and one that does not exist
    with pytest.raises(NoRelation) as existing:
        service.acknowledge(ALARM, "Seen.", nurse(OTHER))
    with pytest.raises(NoRelation) as missing:
        service.acknowledge("alm_" + "b" * 24, "Seen.", nurse(OTHER))
    # Then both answers are the same, naming neither alarm
    assert str(existing.value) == str(missing.value) and ALARM not in str(existing.value)


def test_an_organisation_that_handed_the_row_over_meanwhile_may_not_acknowledge(store, directory, service,
                                                                                access_log):
    # Given a RED alarm whose row a handover moved to the hospital after the caller's relation was read
    store.put(head_item("epi_1", "pat_1", organisation=HOSPITAL, open_alarms={ALARM: red()}))
    store.put(alarm_item("epi_1", "pat_1", ALARM, RED_AT))
    # When the municipality's nurse acknowledges it, Then it is refused and the alarm still waits
    with pytest.raises(Forbidden):
        service.acknowledge(ALARM, "Seen.", nurse(MONITORING))
    assert store.items["EPISODE#epi_1", "EVAL"]["open_alarms"]["M"].keys() == {ALARM}
    # And the refusal was logged as denied
    assert access_log.denials == [("pat_1", MONITORING, "acknowledge_alarm", "epi_1")]


def test_the_treating_organisation_may_read_but_not_acknowledge(store, service, access_log):
    # Given an alarm of an episode the treating organisation may read
    arrange_red_and_yellow(store)
    # When it acknowledges the alarm, Then it is told only the monitoring organisation may
    with pytest.raises(Forbidden, match="only the organisation holding monitoring responsibility may"):
        service.acknowledge(ALARM, "Seen.", nurse(TREATING))
    # And the refusal was logged as denied, nothing as allowed
    assert access_log.denials == [("pat_1", TREATING, "acknowledge_alarm", "epi_1")]
    assert access_log.entries == []


def test_an_acknowledgement_that_cannot_be_logged_changes_nothing(store, service, access_log, monkeypatch):
    # Given an open alarm, and an access log that cannot store entries now
    arrange_red_and_yellow(store)

    def unavailable(*_: object) -> None:
        raise ServiceUnavailable("the access log could not store the entry; retry the request")

    monkeypatch.setattr(access_log, "record", unavailable)
    # When the monitoring nurse acknowledges it, Then the request fails and the alarm still waits
    with pytest.raises(ServiceUnavailable):
        service.acknowledge(ALARM, "Seen.", nurse())
    assert store.items["EPISODE#epi_1", "EVAL"]["open_alarms"]["M"].keys() == {ALARM, "alm_y"}


def test_a_change_of_the_episode_meanwhile_is_read_again(store, service, access_log):
    # Given an evaluation that raises another RED alarm between the nurse's read and write
    arrange_red_and_yellow(store)
    raised = {"done": False}

    def evaluation_raises_another() -> None:
        if not raised["done"]:
            raised["done"] = True
            head = store.items["EPISODE#epi_1", "EVAL"]
            waiting = {ALARM: red(), "alm_y": OpenAlarm("YELLOW", YELLOW_AT, False),
                       "alm_new": red("2026-11-25T09:00:00.000Z")}
            store.put(head_item("epi_1", "pat_1", version=int(head["version"]["N"]) + 1, open_alarms=waiting))

    store.before_write = evaluation_raises_another
    # When the nurse acknowledges the first RED alarm
    service.acknowledge(ALARM, "Seen.", nurse())
    # Then the head read again keeps the new alarm, without the acknowledged one
    (row,) = service.worklist(nurse(), 50, None).rows
    assert row.alarm is not None and row.alarm.alarm_id == "alm_new"
    assert row.counts.RED == 1 and row.counts.YELLOW == 1
    # And the request, tried twice, was logged once
    assert access_log.entries.count(("pat_1", MONITORING, "acknowledge_alarm", "epi_1")) == 1


def test_an_episode_that_keeps_changing_is_a_retry_later(store, service):
    arrange_red_and_yellow(store)
    key = (head_key("epi_1")["pk"]["S"], "EVAL")
    writes = {"count": 0}

    def another_change_first() -> None:
        writes["count"] += 1
        store.items[key]["version"] = {"N": str(int(store.items[key]["version"]["N"]) + 1)}

    store.before_write = another_change_first
    with pytest.raises(ServiceUnavailable):
        service.acknowledge(ALARM, "Seen.", nurse())
    assert writes["count"] == ATTEMPTS
    assert service.alarms("epi_1", nurse(), AlarmStatus.OPEN, 50, None).alarms  # nothing acknowledged


# --- acknowledging the GREEN uploads ---------------------------------------------------------------


def test_acknowledging_green_clears_every_green_upload_of_the_organisation(store, service, access_log):
    # Given a row with GREEN uploads only, one with a RED alarm and a GREEN upload, one with a RED alarm only,
    # and another organisation's row with a GREEN upload
    store.put(head_item("epi_1", "pat_1", green_uploads={"dev#u1": RED_AT, "dev#u2": RED_AT}))
    store.put(head_item("epi_2", "pat_2", open_alarms={"alm_2": red()}, green_uploads={"dev#u3": RED_AT}))
    store.put(head_item("epi_3", "pat_3", open_alarms={"alm_3": red()}))
    store.put(head_item("epi_4", "pat_4", organisation=HOSPITAL, green_uploads={"dev#u4": RED_AT}))
    # When the monitoring organisation acknowledges its GREEN uploads
    acknowledged = service.acknowledge_green(nurse())
    # Then its three uploads of two episodes are acknowledged, and the rows with alarms stay
    assert (acknowledged.uploads, acknowledged.episodes) == (3, 2)
    rows = service.worklist(nurse(), 50, None).rows
    assert [(row.episode_id, row.counts.GREEN) for row in rows] == [("epi_2", 0), ("epi_3", 0)]
    # And the hospital's row is untouched, and each changed episode is logged
    assert service.worklist(nurse(HOSPITAL), 50, None).rows[0].counts.GREEN == 1
    assert sorted(entry for entry in access_log.entries if entry[2] == "acknowledge_green") == [
        ("pat_1", MONITORING, "acknowledge_green", "epi_1"),
        ("pat_2", MONITORING, "acknowledge_green", "epi_2"),
    ]
    # And doing it again finds nothing
    assert service.acknowledge_green(nurse()).uploads == 0


def test_acknowledging_green_reaches_beyond_one_page(store, service):
    for n in range(105):
        store.put(head_item(f"epi_{n:03d}", f"pat_{n}", green_uploads={f"dev#u{n}": RED_AT}))
    assert service.acknowledge_green(nurse()).episodes == 105
    assert service.worklist(nurse(), 50, None).rows == []
