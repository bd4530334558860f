"""The worklist store's contract (functions.worklist.logic.WorklistStore), for the fake and for
DynamoWorklistStore under moto: the worklist, alarm-id and readings-by-time indexes, pages and their
positions, and the writes against the head's version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.shared.errors import InvalidInput
from functions.shared.evaluation_records import OpenAlarm
from functions.worklist.logic import WorklistStore
from functions.worklist.models import Acknowledgement, AlarmChange, AlarmKey, AlarmStatus, Head
from functions.worklist.repository import DynamoWorklistStore
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakeWorklistStore
from tests.support.moto_state import table_items
from tests.support.organisations import HOSPITAL, MONITORING
from tests.support.worklist_items import RECEIVED, alarm_item, head_item, put_items, reading_item

AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
ALARM = "alm_" + "a" * 24
RED = OpenAlarm("RED", RECEIVED, False)
YELLOW = OpenAlarm("YELLOW", "2026-11-25T07:00:00.000Z", True)


@dataclass
class Store:
    """The store, how a test arranges the evaluator's items, and the items as stored (by pk and sk)."""

    store: WorklistStore
    put: Callable[[dict[str, Any]], None]
    items: Callable[[], dict[tuple[str, str], dict[str, Any]]]

    def arrange(self, *items: dict[str, Any]) -> None:
        for item in items:
            self.put(item)


@pytest.fixture(params=[FAKE, REAL])
def evaluations(request) -> Store:
    if request.param == FAKE:
        fake = FakeWorklistStore()
        return Store(fake, fake.put, lambda: fake.items)
    names = request.getfixturevalue("moto_resources")
    table = names.tables["evaluations"]
    return Store(DynamoWorklistStore(table), lambda item: put_items(table, [item]),
                 lambda: {(i["pk"]["S"], i["sk"]["S"]): i for i in table_items(names, "evaluations")})


def head_of(evaluations: Store, episode_id: str) -> dict[str, Any]:
    return evaluations.items()[f"EPISODE#{episode_id}", "EVAL"]


# --- the worklist index ----------------------------------------------------------------------------


def test_the_worklist_holds_the_organisations_waiting_rows_by_rank_a_page_at_a_time(evaluations):
    # Given three rows of the monitoring organisation, one of the hospital's, and a head with nothing waiting
    evaluations.arrange(
        head_item("epi_green", "pat_1", green_uploads={"dev#u1": RECEIVED}),
        head_item("epi_red", "pat_2", open_alarms={ALARM: RED}),
        head_item("epi_yellow", "pat_3", open_alarms={"alm_y": YELLOW}),
        head_item("epi_hospital", "pat_4", organisation=HOSPITAL, open_alarms={"alm_h": RED}),
        head_item("epi_quiet", "pat_5"),
    )
    # When the monitoring organisation's worklist is read two rows at a time
    first = evaluations.store.worklist(MONITORING, 2, None)
    second = evaluations.store.worklist(MONITORING, 2, first.after)
    # Then its rows come most severe first, each once, and the second page is the last
    assert [head.episode_id for head in first.items + second.items] == ["epi_red", "epi_yellow", "epi_green"]
    assert first.after is not None and second.after is None
    # And each row is the head as stored
    assert first.items[1] == Head("epi_yellow", 1, "pat_3", "copd", MONITORING, {"alm_y": YELLOW}, {},
                                  datetime(2026, 11, 25, 8, tzinfo=UTC))


def test_a_position_of_another_list_is_refused(evaluations):
    evaluations.arrange(*(head_item(f"epi_{n}", f"pat_{n}", organisation=HOSPITAL,
                                    open_alarms={f"alm_{n}": RED}) for n in range(2)))
    hospitals = evaluations.store.worklist(HOSPITAL, 1, None).after
    with pytest.raises(InvalidInput):
        evaluations.store.worklist(MONITORING, 1, hospitals)
    with pytest.raises(InvalidInput):
        evaluations.store.measurements("epi_1", None, None, None, 1, hospitals)


def test_a_head_not_yet_written_is_at_version_0(evaluations):
    assert evaluations.store.head("epi_new") == Head("epi_new")


# --- alarms ----------------------------------------------------------------------------------------


def test_an_alarm_is_found_by_its_id_alone(evaluations):
    evaluations.arrange(alarm_item("epi_1", "pat_1", ALARM, RECEIVED, late=True))
    key = evaluations.store.find_alarm(ALARM)
    assert key == AlarmKey("epi_1", RECEIVED, ALARM)
    alarm = evaluations.store.alarm(key)
    assert alarm is not None and (alarm.alarm_id, alarm.status, alarm.colour, alarm.late) == (
        ALARM, AlarmStatus.OPEN, "RED", True)
    assert evaluations.store.find_alarm("alm_" + "b" * 24) is None


def test_an_episodes_alarms_come_newest_first_filtered_and_paged(evaluations):
    # Given three alarms, the middle one acknowledged, and another episode's
    evaluations.arrange(
        alarm_item("epi_1", "pat_1", "alm_1", "2026-11-21T08:00:00.000Z"),
        alarm_item("epi_1", "pat_1", "alm_2", "2026-11-22T08:00:00.000Z", status="acknowledged"),
        alarm_item("epi_1", "pat_1", "alm_3", "2026-11-23T08:00:00.000Z", due_at="2026-11-23T08:00:00.000Z",
                   colour="BLUE"),
        alarm_item("epi_2", "pat_2", "alm_4", "2026-11-24T08:00:00.000Z"),
    )
    # When they are read a page of two, and filtered by status
    first = evaluations.store.alarms("epi_1", None, 2, None)
    second = evaluations.store.alarms("epi_1", None, 2, first.after)
    still_open = evaluations.store.alarms("epi_1", AlarmStatus.OPEN, 1, None)
    # Then every alarm of the episode comes once, newest first, the filter keeping the open ones
    assert [a.alarm_id for a in first.items + second.items] == ["alm_3", "alm_2", "alm_1"]
    assert second.after is None and first.items[0].due_at == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert [a.alarm_id for a in still_open.items] == ["alm_3"]
    next_open = evaluations.store.alarms("epi_1", AlarmStatus.OPEN, 1, still_open.after)
    assert [a.alarm_id for a in next_open.items] == ["alm_1"]


def arrange_red_and_yellow(evaluations: Store) -> Head:
    evaluations.arrange(head_item("epi_1", "pat_1", open_alarms={ALARM: RED, "alm_y": YELLOW}, version=3),
                        alarm_item("epi_1", "pat_1", ALARM, RECEIVED))
    return evaluations.store.head("epi_1")


def acknowledge(evaluations: Store, head: Head) -> bool:
    waiting = {alarm_id: alarm for alarm_id, alarm in head.open_alarms.items() if alarm_id != ALARM}
    return evaluations.store.acknowledge(
        AlarmKey("epi_1", RECEIVED, ALARM), Acknowledgement(by="nurse-1", organisation=MONITORING, at=AT,
                                                            note="Seen."),
        AlarmChange(at=AT, from_="RED", to="RED", reason="acknowledged"),
        replace(head, open_alarms=waiting), MONITORING)


def test_acknowledging_writes_the_alarm_and_the_head_together(evaluations):
    # Given a head at version 3 with a RED and a YELLOW alarm
    head = arrange_red_and_yellow(evaluations)
    # When the RED one is acknowledged against version 3
    assert acknowledge(evaluations, head)
    # Then the alarm is acknowledged, with who, when, the note and the change
    alarm = evaluations.store.alarm(AlarmKey("epi_1", RECEIVED, ALARM))
    assert alarm is not None and alarm.status is AlarmStatus.ACKNOWLEDGED and alarm.acknowledged is not None
    assert (alarm.acknowledged.by, alarm.acknowledged.organisation, alarm.acknowledged.at,
            alarm.acknowledged.note) == ("nurse-1", MONITORING, AT, "Seen.")
    assert [(c.at, c.from_, c.to, c.reason) for c in alarm.changes] == [(AT, "RED", "RED", "acknowledged")]
    # And the head moved on to version 4, waiting for the YELLOW alarm, ranked as YELLOW
    stored = evaluations.store.head("epi_1")
    assert (stored.version, stored.open_alarms) == (4, {"alm_y": YELLOW})
    assert head_of(evaluations, "epi_1")["worklist_rank"]["S"] == f"1#{YELLOW.raised_at}#epi_1"


def test_an_acknowledgement_against_an_old_version_writes_nothing(evaluations):
    # Given a head read at version 3, changed since
    head = arrange_red_and_yellow(evaluations)
    evaluations.arrange(head_item("epi_1", "pat_1", open_alarms={ALARM: RED, "alm_y": YELLOW}, version=4))
    # When the alarm is acknowledged against version 3, Then nothing is written
    assert not acknowledge(evaluations, head)
    alarm = evaluations.store.alarm(AlarmKey("epi_1", RECEIVED, ALARM))
    assert alarm is not None and alarm.status is AlarmStatus.OPEN
    assert evaluations.store.head("epi_1").version == 4


def test_an_alarm_acknowledged_meanwhile_is_not_acknowledged_again(evaluations):
    head = arrange_red_and_yellow(evaluations)
    assert acknowledge(evaluations, head)
    assert not acknowledge(evaluations, evaluations.store.head("epi_1"))
    assert evaluations.store.head("epi_1").version == 4


def test_the_last_thing_waiting_gone_the_row_leaves_the_worklist(evaluations):
    evaluations.arrange(head_item("epi_1", "pat_1", green_uploads={"dev#u1": RECEIVED}, version=2))
    head = evaluations.store.head("epi_1")
    assert evaluations.store.write_head(replace(head, green_uploads={}), MONITORING)
    assert evaluations.store.worklist(MONITORING, 10, None).items == []
    assert "worklist_rank" not in head_of(evaluations, "epi_1")
    assert not evaluations.store.write_head(replace(head, green_uploads={}), MONITORING)  # version 2 is gone


def test_only_the_organisation_whose_worklist_holds_the_row_writes_its_head(evaluations):
    # Given a row a handover moved to the hospital (the version moved on with it)
    evaluations.arrange({"pk": {"S": "EPISODE#epi_1"}, "sk": {"S": "EVAL"}, "episode_id": {"S": "epi_1"},
                         "patient_id": {"S": "pat_1"}, "disease_area": {"S": "copd"}, "version": {"N": "3"},
                         "worklist_organisation": {"S": HOSPITAL}})
    head = evaluations.store.head("epi_1")
    # When the organisation that monitored it before writes on its own behalf, Then nothing is written
    assert not evaluations.store.write_head(replace(head, open_alarms={ALARM: RED}), MONITORING)
    assert head_of(evaluations, "epi_1")["version"]["N"] == "3"
    # When the hospital does, Then the row is written and stays the hospital's
    assert evaluations.store.write_head(replace(head, open_alarms={ALARM: RED}), HOSPITAL)
    assert head_of(evaluations, "epi_1")["worklist_organisation"]["S"] == HOSPITAL
    assert head_of(evaluations, "epi_1")["version"]["N"] == "4"


# --- readings by time ------------------------------------------------------------------------------


def test_readings_come_newest_first_within_the_range_and_type_a_page_at_a_time(evaluations):
    # Given readings of an episode on four days (one a blood pressure, one invalidated) and another episode's
    evaluations.arrange(
        reading_item("epi_1", "pat_1", "msr_0", "2026-11-20T08:00:00.000Z", colour=None,
                     threshold_version=None),
        reading_item("epi_1", "pat_1", "msr_1", "2026-11-21T08:00:00.000Z", raised_alarm=ALARM, late=True),
        reading_item("epi_1", "pat_1", "msr_2", "2026-11-22T08:00:00.000Z", reading_type="blood_pressure",
                     components=[("systolic", 141, "mmHg"), ("diastolic", 92, "mmHg")]),
        reading_item("epi_1", "pat_1", "msr_3", "2026-11-23T08:00:00.000Z",
                     invalidated={"by": "nurse-1", "organisation": MONITORING,
                                  "at": "2026-11-23T09:00:00.000Z", "reason": "cuff"}),
        reading_item("epi_2", "pat_2", "msr_4", "2026-11-22T08:00:00.000Z"),
    )
    store = evaluations.store
    # When they are read in pages of two, from the 21st 08:00 to the 23rd 08:00 (both included), and by type
    first = store.measurements("epi_1", datetime(2026, 11, 21, 8, tzinfo=UTC),
                               datetime(2026, 11, 23, 8, tzinfo=UTC), None, 2, None)
    second = store.measurements("epi_1", datetime(2026, 11, 21, 8, tzinfo=UTC),
                                datetime(2026, 11, 23, 8, tzinfo=UTC), None, 2, first.after)
    spo2 = store.measurements("epi_1", None, None, "spo2", 2, None)
    # Then each comes once, newest first, within the range, and the type filter still fills its page
    assert [m.measurement_id for m in first.items + second.items] == ["msr_3", "msr_2", "msr_1"]
    assert second.after is None
    assert [m.measurement_id for m in spo2.items] == ["msr_3", "msr_1"] and spo2.after is not None
    assert [m.measurement_id for m in store.measurements("epi_1", None, None, "spo2", 2, spo2.after).items] \
        == ["msr_0"]
    # And each shows what was stored: components, the alarm it raised, the invalidation, no colour unjudged
    invalidated, pressure, alarming = first.items + second.items
    assert invalidated.invalidated is not None and invalidated.invalidated.reason == "cuff"
    assert pressure.value is None and [(c.type, c.value) for c in pressure.components or []] == [
        ("systolic", 141), ("diastolic", 92)]
    assert (alarming.alarm_id, alarming.late, alarming.value, alarming.unit) == (ALARM, True, 91, "%")
    first_day = datetime(2026, 11, 20, 8, tzinfo=UTC)
    (unjudged,) = store.measurements("epi_1", None, first_day, None, 5, None).items
    assert (unjudged.colour, unjudged.threshold_version) == (None, None)
