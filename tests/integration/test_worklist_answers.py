"""An episode's questionnaire answers under moto: two uploads of answers evaluated by the real evaluator (so
the events are read as it stores them), then read through the worklist's handler: newest first with their
colours and alarm, paged, within a range, logged; another organisation refused as for an unknown episode."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support.episodes import CREATED, new_episode
from tests.support.evaluator_inputs import answered, message, store_episode, upload, version
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import MONITORING, OTHER, TREATING
from tests.support.runtime import invoke
from tests.support.worklist_api import call, nurse

EPISODE = "epi_0a1b2c3d4e5f60718293a4b6"
PATIENT = "pat_9a3e7c1d5b2f8e4a6c0d1b37"  # the sample message's
PATH = f"/v1/episodes/{EPISODE}/answers"
FIRST, SECOND = CREATED + timedelta(days=1), CREATED + timedelta(days=2)


def _evaluate(*uploads: Any) -> None:
    sample = load_event("alarm_evaluation/measurements_sqs.json")["Records"][0]
    records = [{**sample, "messageId": f"m-{n}", "body": json.dumps(message(of))}
               for n, of in enumerate(uploads)]
    assert invoke("alarm-evaluation", {"Records": records}) == {"batchItemFailures": []}


@pytest.fixture
def answered_twice(resources):
    """A COPD episode whose citizen answered twice: on the first day "no" to both questions (GREEN), on the
    second "yes" to coloured sputum (RED, an alarm) and "no" to more cough; more cough a minute after
    sputum each time."""
    store_episode(resources.tables["episodes"],
                  replace(new_episode(EPISODE, PATIENT), thresholds=version(1, CREATED)))
    _evaluate(
        upload("first-sitting", FIRST + timedelta(minutes=5), patient_id=PATIENT, answers=(
            answered("coloured_sputum", "no", FIRST),
            answered("more_cough_than_usual", "no", FIRST + timedelta(minutes=1)))),
        upload("second-sitting", SECOND + timedelta(minutes=5), patient_id=PATIENT, answers=(
            answered("coloured_sputum", "yes", SECOND),
            answered("more_cough_than_usual", "no", SECOND + timedelta(minutes=1)))),
    )
    return resources


def test_every_answer_is_listed_newest_first_with_its_colour_and_alarm_and_the_read_logged(answered_twice):
    # When the treating organisation's nurse reads the episode's answers
    status, page = call("GET", PATH, who=nurse(TREATING))
    # Then the four answers come newest answered first, GREEN ones too, the RED one with its alarm
    assert status == 200 and page["next_cursor"] is None
    assert [(a["question_id"], a["answer"], a["colour"], a["alarm_id"] is not None)
            for a in page["answers"]] == [
        ("more_cough_than_usual", "no", "GREEN", False), ("coloured_sputum", "yes", "RED", True),
        ("more_cough_than_usual", "no", "GREEN", False), ("coloured_sputum", "no", "GREEN", False),
    ]
    assert not any(a["late"] for a in page["answers"])
    [alarm] = [item for item in table_items(answered_twice, "evaluations")
               if item["sk"]["S"].startswith("ALARM#")]
    assert page["answers"][1]["alarm_id"] == alarm["alarm_id"]["S"]
    # And the read was logged before the reply
    logged = [(item["organisation"]["S"], item["episode_id"]["S"])
              for item in table_items(answered_twice, "access-log") if item["action"]["S"] == "read_answers"]
    assert logged == [(TREATING, EPISODE)]


def test_answers_are_read_a_page_at_a_time_and_within_a_range(answered_twice):
    # When the monitoring nurse reads them three at a time
    _, first = call("GET", PATH, {"limit": "3"})
    _, second = call("GET", PATH, {"limit": "3", "cursor": first["next_cursor"]})
    # Then the two pages hold the four answers once each, in order
    everything = call("GET", PATH)[1]["answers"]
    assert first["answers"] + second["answers"] == everything and second["next_cursor"] is None
    # And the first day alone holds its two answers
    day = {"from": FIRST.isoformat(), "to": (FIRST + timedelta(hours=23)).isoformat()}
    assert [a["answer_id"] for a in call("GET", PATH, day)[1]["answers"]] == [
        a["answer_id"] for a in everything[2:]]
    # And the cursor does not continue the range's list
    status, problem = call("GET", PATH, {**day, "cursor": first["next_cursor"]})
    assert status == 422 and problem["errors"][0]["field"] == "cursor"


def test_from_after_to_is_a_422_naming_from(answered_twice):
    status, problem = call("GET", PATH, {"from": SECOND.isoformat(), "to": FIRST.isoformat()})
    assert status == 422 and problem["errors"][0]["field"] == "from"


def test_another_organisation_is_refused_as_for_an_unknown_episode(answered_twice):
    related = call("GET", PATH, who=nurse(OTHER))
    unknown = call("GET", "/v1/episodes/epi_" + "0" * 24 + "/answers", who=nurse(OTHER))
    assert related == unknown and related[0] == 403
    assert call("GET", PATH, who=nurse(MONITORING))[0] == 200


def test_no_answer_is_returned_when_the_read_cannot_be_logged(answered_twice, monkeypatch):
    # Given an access log that cannot be written
    def refuse(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                          "PutItem")

    monkeypatch.setattr(aws.client("dynamodb"), "put_item", refuse)
    # When the monitoring nurse reads the answers, Then it fails closed: a retry-later and no answer
    status, reply = call("GET", PATH)
    assert status == 503 and "answers" not in reply
