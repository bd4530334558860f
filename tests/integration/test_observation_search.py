"""The FHIR search under moto through the sharing API's real handler: an episode referred through the
referral API (its threshold version 1 from the referral), readings written as the evaluator writes them,
the form-encoded search as API Gateway passes it on."""

from __future__ import annotations

import json

import pytest

from infrastructure.config import COPD_SHARED_MEASUREMENT_TYPES
from tests.support.moto_state import table_items
from tests.support.observation_search import (
    CPR,
    CPR_IDENTIFIER,
    UNKNOWN_CPR_IDENTIFIER,
    matches,
    measurement_ids,
    next_cursor,
    search,
    search_json,
    valid_searchset,
)
from tests.support.organisations import MONITORING, OTHER, TREATING
from tests.support.referrals_api import refer
from tests.support.runtime import current
from tests.support.worklist_api import nurse
from tests.support.worklist_items import put_items, reading_item

SPO2_CODE = "urn:oid:1.2.208.176.2.1|NPU03011"


@pytest.fixture
def episode(resources) -> dict:
    """A referred episode with five saturations, one a day from the 20th, judged under version 1, and the
    COPD programme's types as the stage's nationally agreed ones."""
    current().use_platform(shared_measurement_types=COPD_SHARED_MEASUREMENT_TYPES)
    status, episode = refer()
    assert status == 201, episode
    put_items(resources.tables["evaluations"], [
        reading_item(episode["episode_id"], episode["patient_id"], f"msr_{day}",
                     f"2026-11-{day}T08:00:00.000Z", value=89, colour="YELLOW")
        for day in range(20, 25)])
    return episode


def _searches(resources) -> list[tuple[str, str, str]]:
    """The searches allowed and logged (a refusal of an existing citizen is logged as denied)."""
    return [(item["patient_id"]["S"], item["organisation"]["S"], item["episode_id"]["S"])
            for item in table_items(resources, "access-log")
            if item["action"]["S"] == "fhir_search" and item["outcome"]["S"] == "allowed"]


def test_the_treating_doctor_pulls_the_observations_as_a_searchset(resources, episode):
    # When the treating organisation's doctor searches the citizen's saturations since the 23rd
    status, media_type, body = search({"patient.identifier": CPR_IDENTIFIER, "code": SPO2_CODE,
                                       "date": "ge2026-11-23"}, nurse(TREATING))
    # Then the reply is a FHIR searchset of the two, with the referral's thresholds as reference ranges
    assert (status, media_type) == (200, "application/fhir+json")
    bundle = json.loads(body)
    valid_searchset(bundle)
    assert measurement_ids(bundle) == ["msr_24", "msr_23"]
    red = matches(bundle)[0]["referenceRange"][0]
    assert (red["type"]["coding"][0]["code"], red["low"]["value"]) == ("RAL", 86)
    assert matches(bundle)[0]["interpretation"][0]["text"] == "YELLOW"
    # And the search was written to the access log, under the episode; the CPR is in no link
    assert _searches(resources) == [(episode["patient_id"], TREATING, episode["episode_id"])]
    assert CPR not in json.dumps(bundle["link"])


def test_the_pages_follow_the_next_link_with_the_same_body(resources, episode):
    form = {"patient.identifier": CPR_IDENTIFIER, "_count": "2"}
    found, cursor = [], None
    for _ in range(3):
        status, bundle = search_json(form, nurse(MONITORING), cursor)
        assert status == 200
        valid_searchset(bundle)
        found += measurement_ids(bundle)
        cursor = next_cursor(bundle)
        if cursor:
            assert bundle["link"][1]["url"].startswith(
                "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/test/fhir/Observation/_search?_cursor=")
    assert cursor is None
    assert found == [f"msr_{day}" for day in range(24, 19, -1)]
    assert len(_searches(resources)) == 3
    # Another organisation's cursor, or the cursor with other parameters, is a 422 naming it
    cursor = next_cursor(search_json(form, nurse(MONITORING))[1])
    for who, other_form in ((nurse(TREATING), form), (nurse(MONITORING), {**form, "code": SPO2_CODE})):
        status, problem = search_json(other_form, who, cursor)
        assert (status, [error["field"] for error in problem["errors"]]) == (422, ["_cursor"])


def test_a_caller_without_a_relation_gets_the_same_bytes_as_for_an_unknown_citizen(resources, episode):
    for who in (nurse(OTHER), nurse(TREATING)):
        known = search({"patient.identifier": CPR_IDENTIFIER}, nurse(OTHER))
        unknown = search({"patient.identifier": UNKNOWN_CPR_IDENTIFIER}, who)
        assert known[0] == 403 and known == unknown
    assert _searches(resources) == []


@pytest.mark.parametrize(("form", "field"), [
    ({}, "patient.identifier"),
    ({"patient.identifier": f"urn:oid:1.2.208.176.1.9|{CPR}"}, "patient.identifier[0]"),
    ({"patient.identifier": CPR}, "patient.identifier[0]"),
    ({"patient.identifier": "urn:oid:1.2.208.176.1.2|3212489996"}, "patient.identifier[0]"),
    ({"patient.identifier": [CPR_IDENTIFIER, UNKNOWN_CPR_IDENTIFIER]}, "patient.identifier"),
    ({"code": "a|b|c"}, "code[0]"),
    ({"code": ["NPU03011", ""]}, "code[1]"),
    ({"date": "2026-13-01"}, "date[0]"),
    ({"date": "ne2026-11-01"}, "date[0]"),
    ({"date": "ge2026-11-01T08:00:00"}, "date[0]"),
    ({"date": ["ge2026-11-01", "le2026-11-30", "ne2026-11-15"]}, "date"),
    ({"_count": "0"}, "_count"),
    ({"_count": "101"}, "_count"),
    ({"_count": "many"}, "_count"),
])
def test_bad_parameters_are_422s_naming_them(resources, episode, form, field):
    status, problem = search_json({"patient.identifier": CPR_IDENTIFIER} | form if form else form,
                                  nurse(TREATING))
    assert (status, [error["field"] for error in problem["errors"]]) == (422, [field])
    assert CPR not in json.dumps(problem)


def test_a_malformed_cursor_or_a_json_body_is_refused(resources, episode):
    status, problem = search_json({"patient.identifier": CPR_IDENTIFIER}, nurse(TREATING),
                                  cursor="not*a*cursor")
    assert (status, problem["errors"][0]["field"]) == (422, "_cursor")
    status, _, body = search(json.dumps({"patient.identifier": CPR_IDENTIFIER}), nurse(TREATING),
                             content_type="application/json")
    assert (status, json.loads(body)["code"]) == (415, "unsupported_media_type")
    assert _searches(resources) == []
