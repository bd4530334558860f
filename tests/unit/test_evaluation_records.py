"""The evaluations table's ids and the worklist row's rules (functions.shared.evaluation_records)."""

from __future__ import annotations

import pytest

from functions.shared.evaluation_records import (
    HeadOwner,
    OpenAlarm,
    green_uploads_of,
    head_update,
    measurement_alarm_id,
    measurement_id,
    missed_alarm_id,
    open_alarms_attribute,
    open_alarms_of,
    upload_event_id,
    version_of,
    worklist_rank,
)

RED_EARLY = OpenAlarm("RED", "2026-11-20T08:00:00.000Z", late=False)
RED_LATE = OpenAlarm("RED", "2026-11-21T08:00:00.000Z", late=True)
YELLOW = OpenAlarm("YELLOW", "2026-11-19T08:00:00.000Z", late=False)
BLUE = OpenAlarm("BLUE", "2026-11-18T08:00:00.000Z", late=False)
OWNER = HeadOwner("epi_1", "pat_1", "copd", "org_a")


def test_ids_are_stable_and_distinct():
    # Given the same upload delivered twice, Then its measurements and alarms get the same ids
    assert measurement_id("dev_1/up-1", 0) == measurement_id("dev_1/up-1", 0)
    assert measurement_id("dev_1/up-1", 0) != measurement_id("dev_1/up-1", 1)
    assert measurement_alarm_id("epi_1", "msr_1") != measurement_alarm_id("epi_2", "msr_1")
    due = "2026-11-20T08:00:00.000Z"
    assert missed_alarm_id("epi_1", due) != measurement_alarm_id("epi_1", due)
    assert upload_event_id("epi_1", "dev_1/up-1").startswith("evt_")
    assert len(measurement_id("dev_1/up-1", 0)) == len("msr_") + 24


@pytest.mark.parametrize(("alarms", "greens", "expected"), [
    ({}, {}, None),
    ({}, {"dev_1/up-1": "2026-11-22T08:00:00.000Z"}, "3#2026-11-22T08:00:00.000Z#epi_1"),
    ({"a": BLUE}, {"dev_1/up-1": "2026-11-01T08:00:00.000Z"}, "2#2026-11-18T08:00:00.000Z#epi_1"),
    ({"a": YELLOW, "b": BLUE}, {}, "1#2026-11-19T08:00:00.000Z#epi_1"),
    # The most severe colour decides, then the longest waiting alarm of that colour
    ({"a": YELLOW, "b": RED_LATE, "c": RED_EARLY}, {}, "0#2026-11-20T08:00:00.000Z#epi_1"),
])
def test_the_rank_puts_the_most_severe_and_longest_waiting_first(alarms, greens, expected):
    assert worklist_rank("epi_1", alarms, greens) == expected


def test_ranks_sort_as_the_worklist_does():
    # Given rows of several episodes, When sorted by rank as text (the index's sort key)
    ranks = {
        "green": worklist_rank("epi_g", {}, {"u": "2026-11-01T00:00:00.000Z"}),
        "yellow": worklist_rank("epi_y", {"a": YELLOW}, {}),
        "red_new": worklist_rank("epi_rn", {"a": RED_LATE}, {}),
        "red_old": worklist_rank("epi_ro", {"a": RED_EARLY}, {}),
        "blue": worklist_rank("epi_b", {"a": BLUE}, {}),
    }
    # Then RED comes first (oldest first), then YELLOW, BLUE and GREEN
    in_order = sorted(ranks, key=lambda name: ranks[name] or "")
    assert in_order == ["red_old", "red_new", "yellow", "blue", "green"]


def test_open_alarms_survive_the_round_trip_through_the_head():
    alarms = {"a": RED_LATE, "b": BLUE}
    head = {"open_alarms": open_alarms_attribute(alarms), "green_uploads": {"M": {"u": {"S": "t"}}},
            "version": {"N": "7"}}
    assert open_alarms_of(head) == alarms
    assert green_uploads_of(head) == {"u": "t"}
    assert version_of(head) == 7
    assert version_of(None) == 0 and version_of({}) == 0 and open_alarms_of({}) == {}


def test_the_head_update_moves_the_version_on_from_the_one_read():
    update = head_update("evaluations", OWNER, 3, {"a": RED_EARLY}, {},
                         {"last_measured_at": {"S": "2026-11-20T07:00:00.000Z"}})["Update"]
    values = update["ExpressionAttributeValues"]
    assert (values[":read"], values[":next"]) == ({"N": "3"}, {"N": "4"})
    assert "version = :read" in update["ConditionExpression"]
    assert values[":rank"] == {"S": "0#2026-11-20T08:00:00.000Z#epi_1"}
    assert update["ExpressionAttributeNames"] == {"#extra0": "last_measured_at"}
    # The organisation is only set on a head that has none: a handover moves it, nothing else
    assert "if_not_exists(worklist_organisation, :organisation)" in update["UpdateExpression"]
    # And every write names the row's citizen and disease area, which the worklist shows
    assert (values[":patient"], values[":area"]) == ({"S": "pat_1"}, {"S": "copd"})
    assert "worklist_organisation = :acting" not in update["ConditionExpression"]


def test_a_change_on_an_organisations_behalf_needs_the_row_on_its_worklist():
    update = head_update("evaluations", OWNER, 3, {}, {}, acting_organisation="org_a")["Update"]
    assert update["ConditionExpression"].endswith("AND worklist_organisation = :acting")
    assert update["ExpressionAttributeValues"][":acting"] == {"S": "org_a"}


def test_a_head_with_nothing_waiting_leaves_the_worklist():
    update = head_update("evaluations", OWNER, 0, {}, {})["Update"]
    assert update["UpdateExpression"].endswith("REMOVE worklist_rank")
    assert ":rank" not in update["ExpressionAttributeValues"]
