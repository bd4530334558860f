"""The citizen-view API under moto: the handler with its own environment, an episode referred through the
referral API, its readings as the evaluator writes them, and the access-log entries the other functions
write when they read the citizen's data."""

from __future__ import annotations

from typing import Any

import pytest

from functions.authorizer.repository import DynamoCitizenDirectory
from functions.shared import aws
from tests.support.citizen_view_api import call, citizen, clinician
from tests.support.moto_state import table_items
from tests.support.organisations import MONITORING, OTHER, TREATING
from tests.support.referrals_api import SAMPLE, refer
from tests.support.referrals_api import call as referral_call
from tests.support.referrals_api import clinician as referrer
from tests.support.worklist_api import call as worklist_call
from tests.support.worklist_api import nurse
from tests.support.worklist_items import put_items, reading_item

MISSING_EPISODE = "epi_000000000000000000000000"
UNKNOWN_CPR = "0101001234"  # a test CPR number no referral names


def referred_and_read(resources) -> dict[str, Any]:
    """An episode the treating GP referred to the monitoring organisation, with a RED and a GREEN reading; the
    GP has read the episode and the monitoring nurse its measurements."""
    status, episode = refer()
    assert status == 201, episode
    episode_id, patient_id = episode["episode_id"], episode["patient_id"]
    put_items(resources.tables["evaluations"], [
        reading_item(episode_id, patient_id, "msr_1", "2026-11-25T08:00:00.000Z", value=84, colour="RED"),
        reading_item(episode_id, patient_id, "msr_2", "2026-11-24T07:00:00.000Z", value=95, colour="GREEN"),
    ])
    assert referral_call("GET", f"/v1/episodes/{episode_id}", who=referrer(TREATING))[0] == 200
    assert worklist_call("GET", f"/v1/episodes/{episode_id}/measurements", who=nurse(MONITORING))[0] == 200
    return episode


def logged(resources, action: str) -> list[dict[str, Any]]:
    return [item for item in table_items(resources, "access-log") if item["action"]["S"] == action]


def test_the_authorizers_citizen_directory_finds_the_referred_citizen_by_cpr_number_only(resources):
    # Given a citizen referred by CPR number (the referral keeps the KMS MAC of it, never the number as a key)
    status, episode = refer()
    assert status == 201, episode
    directory = DynamoCitizenDirectory(resources.tables["citizens"], resources.key_ids["citizen-pseudonym"])
    # When the authorizer's directory looks up that CPR number and another, Then it finds that citizen only
    assert directory.patient_id(SAMPLE["citizen"]["cpr"].replace("-", "")) == episode["patient_id"]
    assert directory.patient_id(UNKNOWN_CPR) is None


def test_the_citizen_reads_who_looked_at_their_data_and_that_read_is_logged(resources):
    # Given an episode whose data the GP and the monitoring nurse have read
    episode = referred_and_read(resources)
    # When the citizen reads who looked at their data
    status, page, body = call("/v1/me/access-log", citizen(episode["patient_id"]))
    # Then they see the GP's and the nurse's reads, newest first, with who, when, what and the episode
    assert status == 200, page
    seen = [(entry["organisation"], entry["role"], entry["action"], entry["episode_id"])
            for entry in page["entries"]]
    assert (TREATING, "clinician", "read_episode", episode["episode_id"]) in seen
    assert seen[0] == (MONITORING, "clinician", "read_measurements", episode["episode_id"])
    assert page["entries"][0]["subject"] == "nurse-17"
    times = [entry["accessed_at"] for entry in page["entries"]]
    assert times == sorted(times, reverse=True)
    # And their own read is logged as the citizen's, of no organisation, and no reply names their CPR number
    [own] = logged(resources, "read_own_access_log")
    assert (own["patient_id"]["S"], own["role"]["S"], own["organisation"]["S"]) == (
        episode["patient_id"], "citizen", "")
    assert SAMPLE["citizen"]["cpr"].replace("-", "") not in body.replace("-", "")


def test_the_citizen_reads_their_measurements_with_colours_and_the_read_is_logged(resources):
    # Given an episode with a RED and a GREEN reading
    episode = referred_and_read(resources)
    # When the citizen reads their measurements
    status, page, _ = call("/v1/me/measurements", citizen(episode["patient_id"]))
    # Then they see both, newest measured first, with their episode, disease area, values and colours
    assert status == 200, page
    assert [(m["measurement_id"], m["episode_id"], m["disease_area"], m["value"], m["colour"])
            for m in page["measurements"]] == [
        ("msr_1", episode["episode_id"], "copd", 84.0, "RED"),
        ("msr_2", episode["episode_id"], "copd", 95.0, "GREEN")]
    assert page["next_cursor"] is None
    # And the read is logged under the episode, as the citizen's
    [own] = logged(resources, "read_own_measurements")
    assert (own["episode_id"]["S"], own["role"]["S"]) == (episode["episode_id"], "citizen")


def test_the_citizens_measurements_page_with_the_cursor(resources):
    episode = referred_and_read(resources)
    status, first, _ = call("/v1/me/measurements", citizen(episode["patient_id"]), {"limit": "1"})
    assert status == 200 and [m["measurement_id"] for m in first["measurements"]] == ["msr_1"]
    status, second, _ = call("/v1/me/measurements", citizen(episode["patient_id"]),
                             {"limit": "1", "cursor": first["next_cursor"]})
    assert status == 200 and [m["measurement_id"] for m in second["measurements"]] == ["msr_2"]
    assert second["next_cursor"] is None


def test_a_citizen_telehub_does_not_know_gets_empty_lists_and_nothing_is_logged(resources):
    # Given a citizen's token whose CPR number Telehub does not know (the authorizer found no patient id)
    referred_and_read(resources)
    entries_before = len(table_items(resources, "access-log"))
    # When they read their access log and measurements, Then both are empty, and nothing is logged
    for path, name in (("/v1/me/access-log", "entries"), ("/v1/me/measurements", "measurements")):
        status, page, _ = call(path, citizen(None))
        assert (status, page[name], page["next_cursor"]) == (200, [], None)
    assert len(table_items(resources, "access-log")) == entries_before


def test_the_monitoring_organisation_reads_the_episodes_access_log(resources):
    # Given an episode whose data the GP and the monitoring nurse have read
    episode = referred_and_read(resources)
    # When the monitoring organisation reads the episode's access log
    status, page, _ = call(f"/v1/episodes/{episode['episode_id']}/access-log", clinician(MONITORING))
    # Then it sees the episode's entries, and its read is logged under the episode
    assert status == 200, page
    assert {(entry["organisation"], entry["action"]) for entry in page["entries"]} >= {
        (TREATING, "read_episode"), (MONITORING, "read_measurements")}
    assert all(entry["episode_id"] == episode["episode_id"] for entry in page["entries"])
    [read] = logged(resources, "read_access_log")
    assert (read["organisation"]["S"], read["episode_id"]["S"]) == (MONITORING, episode["episode_id"])


def test_an_access_log_is_read_strongly_consistent_so_it_lists_a_read_of_a_moment_ago(resources):
    # Given an episode whose data the GP and the monitoring nurse have just read
    episode = referred_and_read(resources)
    queries: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == resources.tables["access-log"]:
            queries.append(params)

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.Query", record)
    try:
        # When the monitoring organisation reads the episode's access log, and the citizen their own
        assert call(f"/v1/episodes/{episode['episode_id']}/access-log", clinician(MONITORING))[0] == 200
        assert call("/v1/me/access-log", citizen(episode["patient_id"]))[0] == 200
    finally:
        events.unregister("before-parameter-build.dynamodb.Query", record)
    # Then each read the citizen's entries strongly consistent: DynamoDB's default, eventually consistent
    # Query may leave out an entry written a moment before (moto never does, so the request is what is seen)
    assert len(queries) == 2 and all(query.get("ConsistentRead") is True for query in queries), queries


@pytest.mark.parametrize("organisation", [TREATING, OTHER])
def test_any_other_organisation_gets_byte_for_byte_the_reply_of_an_episode_that_does_not_exist(resources,
                                                                                              organisation):
    # Given an episode, and a clinician of its treating organisation or of a stranger
    episode = referred_and_read(resources)
    # When it reads the episode's access log, and that of an episode that does not exist
    existing = call(f"/v1/episodes/{episode['episode_id']}/access-log", clinician(organisation))
    missing = call(f"/v1/episodes/{MISSING_EPISODE}/access-log", clinician(organisation))
    # Then both are the same 403, byte for byte, and the existing episode's citizen has the refusal logged as
    # denied (the unknown episode has no citizen to log for)
    assert existing[0] == missing[0] == 403
    assert existing[2] == missing[2]
    [denied] = logged(resources, "read_access_log")
    assert (denied["organisation"]["S"], denied["episode_id"]["S"], denied["outcome"]["S"]) == (
        organisation, episode["episode_id"], "denied")


@pytest.mark.parametrize(("path", "who"), [
    ("/v1/me/access-log", clinician(MONITORING)),
    ("/v1/me/measurements", clinician(MONITORING)),
    (f"/v1/episodes/{MISSING_EPISODE}/access-log", citizen("pat_0123456789abcdef01234567")),
])
def test_a_route_refuses_the_roles_it_is_not_for(resources, path, who):
    status, problem, _ = call(path, who)
    assert status == 403 and problem["code"] == "forbidden"


@pytest.mark.parametrize("query", [{"cursor": "bm90LWEtY3Vyc29y"}, {"cursor": "%%%"}, {"limit": "0"},
                                   {"limit": "101"}])
def test_a_bad_cursor_or_limit_is_a_422_naming_it(resources, query):
    status, problem, _ = call("/v1/me/access-log", citizen("pat_0123456789abcdef01234567"), query)
    assert status == 422
    assert [field["field"] for field in problem["errors"]] == list(query)
