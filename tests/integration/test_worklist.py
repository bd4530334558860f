"""The worklist API under moto: the handler with its own environment, episodes referred through the
referral API, and the evaluator's items written to the evaluations table as it writes them."""

from __future__ import annotations

from typing import Any

from functions.shared.evaluation_records import OpenAlarm, measurement_alarm_id
from tests.support.moto_state import table_items
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.referrals_api import call as referral_call
from tests.support.referrals_api import clinician, refer
from tests.support.worklist_api import acknowledge, call, nurse, worklist
from tests.support.worklist_items import RECEIVED, alarm_item, head_item, put_items, reading_item

YELLOW_AT = "2026-11-25T07:00:00.000Z"


def referred_with_alarms(resources) -> dict[str, Any]:
    """An episode referred to the monitoring organisation, with a RED and a YELLOW alarm waiting and the
    readings that raised them; the referral's reply with the two alarm ids."""
    status, episode = refer()
    assert status == 201, episode
    episode_id, patient_id = episode["episode_id"], episode["patient_id"]
    red, yellow = (measurement_alarm_id(episode_id, f"msr_{n}") for n in (1, 2))
    put_items(resources.tables["evaluations"], [
        head_item(episode_id, patient_id, open_alarms={red: OpenAlarm("RED", RECEIVED, False),
                                                       yellow: OpenAlarm("YELLOW", YELLOW_AT, True)}),
        alarm_item(episode_id, patient_id, red, RECEIVED, measurement_id="msr_1"),
        alarm_item(episode_id, patient_id, yellow, YELLOW_AT, colour="YELLOW", late=True,
                   measurement_id="msr_2"),
        reading_item(episode_id, patient_id, "msr_1", "2026-11-25T08:00:00.000Z", value=84, colour="RED",
                     raised_alarm=red),
        reading_item(episode_id, patient_id, "msr_2", "2026-11-24T07:00:00.000Z", value=89,
                     raised_alarm=yellow, late=True),
    ])
    return episode | {"red": red, "yellow": yellow}


def access_entries(resources, action: str) -> list[tuple[str, str, str]]:
    return sorted((item["patient_id"]["S"], item["organisation"]["S"], item["episode_id"]["S"])
                  for item in table_items(resources, "access-log") if item["action"]["S"] == action)


def test_the_monitoring_nurse_sees_the_red_row_and_acknowledging_it_leaves_the_yellow(resources):
    # Given an episode with a RED and a YELLOW alarm
    episode = referred_with_alarms(resources)
    # When the monitoring organisation's nurse reads the worklist
    status, page = worklist()
    # Then the row shows the RED alarm, both counts and lateness, and the read is logged
    assert status == 200 and page["next_cursor"] is None
    (row,) = page["rows"]
    assert (row["episode_id"], row["alarm"]["alarm_id"], row["alarm"]["colour"]) == (
        episode["episode_id"], episode["red"], "RED")
    assert row["counts"] == {"RED": 1, "YELLOW": 1, "BLUE": 0, "GREEN": 0} and row["late"] is True
    assert access_entries(resources, "read_worklist") == [(episode["patient_id"], MONITORING,
                                                          episode["episode_id"])]
    # When she acknowledges the RED alarm with a note
    status, alarm = acknowledge(episode["red"], "Called the citizen: a cold.")
    # Then it is acknowledged by her, and the row now leads with the YELLOW alarm
    assert status == 200 and alarm["status"] == "acknowledged"
    acknowledged = alarm["acknowledged"]
    assert (acknowledged["by"], acknowledged["organisation"], acknowledged["note"]) == (
        "nurse-17", MONITORING, "Called the citizen: a cold.")
    assert worklist()[1]["rows"][0]["alarm"]["alarm_id"] == episode["yellow"]
    # And a second acknowledgement is a 409 naming who acknowledged it
    status, problem = acknowledge(episode["red"], who=nurse(subject="nurse-18"))
    assert status == 409 and "nurse-17" in problem["detail"]


def test_other_organisations_see_no_row_and_no_alarm(resources):
    episode = referred_with_alarms(resources)
    assert worklist(nurse(OTHER)) == (200, {"rows": [], "next_cursor": None})
    # An existing alarm of an episode it has no part in answers as one that does not exist
    unknown = "alm_" + "0" * 24
    existing, missing = acknowledge(episode["red"], who=nurse(OTHER)), acknowledge(unknown, who=nurse(OTHER))
    assert existing == missing and existing[0] == 403
    # The treating organisation may read it but not acknowledge it
    assert acknowledge(episode["red"], who=nurse(TREATING))[0] == 403
    # A caller whose token names no organisation is refused
    assert worklist({"principalId": "x", "role": "clinician", "subject": "x"})[0] == 403


def test_the_worklist_is_read_a_page_at_a_time(resources):
    # Given three rows with a RED alarm each, raised an hour apart
    episode_ids = []
    for n in range(3):
        episode_id, patient_id = f"epi_{n:024x}", f"pat_{n}"
        put_items(resources.tables["evaluations"], [head_item(episode_id, patient_id, open_alarms={
            f"alm_{n}": OpenAlarm("RED", f"2026-11-25T0{n}:00:00.000Z", False)})])
        episode_ids.append(episode_id)
    # When it is read two rows at a time
    _, first = worklist(limit="2")
    _, second = worklist(limit="2", cursor=first["next_cursor"])
    # Then the two pages hold the three rows, the longest waiting first
    assert [row["episode_id"] for row in first["rows"] + second["rows"]] == episode_ids
    assert second["next_cursor"] is None
    # And another organisation cannot use the cursor
    status, problem = worklist(nurse(HOSPITAL), limit="2", cursor=first["next_cursor"])
    assert status == 422 and problem["errors"][0]["field"] == "cursor"


def test_an_episodes_measurements_and_alarms_for_its_organisations(resources):
    episode = referred_with_alarms(resources)
    path = f"/v1/episodes/{episode['episode_id']}"
    # When the treating organisation reads the measurements since the 25th, and the open alarms
    status, measurements = call("GET", f"{path}/measurements", {"from": "2026-11-25T00:00:00Z"},
                                who=nurse(TREATING))
    _, alarms = call("GET", f"{path}/alarms", {"status": "open"}, who=nurse(TREATING))
    # Then it gets the RED reading with its colour, version and alarm, and both alarms newest first
    assert status == 200 and measurements["next_cursor"] is None
    (reading,) = measurements["measurements"]
    assert (reading["measurement_id"], reading["value"], reading["colour"], reading["threshold_version"],
            reading["alarm_id"], reading["invalidated"]) == ("msr_1", 84, "RED", 1, episode["red"], None)
    assert [alarm["alarm_id"] for alarm in alarms["alarms"]] == [episode["red"], episode["yellow"]]
    # And both reads are logged before the replies
    assert access_entries(resources, "read_measurements") == [(episode["patient_id"], TREATING,
                                                              episode["episode_id"])]
    assert len(access_entries(resources, "read_alarms")) == 1
    # And another organisation is refused, as an unknown episode is
    assert call("GET", f"{path}/alarms", who=nurse(OTHER))[0] == 403
    assert call("GET", "/v1/episodes/epi_" + "0" * 24 + "/measurements")[0] == 403


def test_requests_the_schema_refuses_are_422s_naming_the_field(resources):
    episode = referred_with_alarms(resources)
    path = f"/v1/episodes/{episode['episode_id']}/measurements"
    for query, field in (({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"),
                         ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
                         ({"from": "2026-11-25T00:00:00Z", "to": "2026-11-24T00:00:00Z"}, "from")):
        status, problem = call("GET", path, query)
        assert (status, [error["field"] for error in problem["errors"]]) == (422, [field]), query
    status, problem = acknowledge(episode["red"], note=" " * 3)
    assert status == 422 and problem["errors"][0]["field"] == "note"
    assert acknowledge(episode["red"], note="x" * 1001)[0] == 422


def test_acknowledging_green_clears_the_organisations_green_uploads(resources):
    put_items(resources.tables["evaluations"], [
        head_item("epi_" + "1" * 24, "pat_1", green_uploads={"dev#u1": RECEIVED, "dev#u2": RECEIVED}),
        head_item("epi_" + "2" * 24, "pat_2", organisation=HOSPITAL, green_uploads={"dev#u3": RECEIVED}),
    ])
    assert call("POST", "/v1/worklist/acknowledge-green", body={}) == (200, {"uploads": 2, "episodes": 1})
    assert worklist()[1]["rows"] == []
    assert len(worklist(nurse(HOSPITAL))[1]["rows"]) == 1


def test_after_a_handover_the_row_and_its_alarms_move_to_the_new_organisation(resources):
    # Given an episode with alarms waiting on the monitoring organisation's worklist
    episode = referred_with_alarms(resources)
    path = f"/v1/episodes/{episode['episode_id']}/handover"
    # When it offers monitoring to the hospital, the row stays until the hospital accepts
    assert referral_call("POST", path, {"to_organisation": HOSPITAL}, clinician(MONITORING))[0] == 200
    assert len(worklist()[1]["rows"]) == 1 and worklist(nurse(HOSPITAL))[1]["rows"] == []
    assert referral_call("POST", f"{path}/accept", {}, clinician(HOSPITAL))[0] == 200
    # Then the hospital's worklist has the row with both alarms, and the former organisation's has none
    (row,) = worklist(nurse(HOSPITAL))[1]["rows"]
    assert (row["episode_id"], row["counts"]["RED"], row["counts"]["YELLOW"]) == (episode["episode_id"], 1, 1)
    assert worklist()[1]["rows"] == []
    # And only the hospital may acknowledge the alarms now: the former organisation has no relation left
    assert acknowledge(episode["red"]) == acknowledge("alm_" + "0" * 24)
    assert acknowledge(episode["red"], who=nurse(HOSPITAL))[0] == 200


def test_a_handover_before_any_alarm_puts_the_first_alarm_on_the_new_organisations_worklist(resources):
    # Given an episode handed over to the hospital before anything was evaluated
    _, episode = refer()
    path = f"/v1/episodes/{episode['episode_id']}/handover"
    referral_call("POST", path, {"to_organisation": HOSPITAL}, clinician(MONITORING))
    assert referral_call("POST", f"{path}/accept", {}, clinician(HOSPITAL))[0] == 200
    heads = [item for item in table_items(resources, "evaluations") if item["sk"]["S"] == "EVAL"]
    assert [head["worklist_organisation"]["S"] for head in heads] == [HOSPITAL]
    assert heads[0]["version"] == {"N": "1"} and "worklist_rank" not in heads[0]  # nothing waits yet
