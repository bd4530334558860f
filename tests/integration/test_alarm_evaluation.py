"""The alarm evaluator and the invalidation under moto, invoked with their own environments from the
spec: the sample SQS event evaluated into readings, an alarm, the head and one event; a redelivery writes
nothing; a poison message fails alone and, polled as Lambda would, ends in the DLQ; the invalidation API."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from embedded.pollers import SqsPoller
from functions.shared.evaluation_records import measurement_alarm_id, measurement_id
from tests.support.episodes import CREATED, new_episode
from tests.support.evaluator_inputs import answered, measured, message, store_episode, upload, version
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import MONITORING, OTHER
from tests.support.runtime import current, invoke
from tests.support.worklist_api import acknowledge

EPISODE = "epi_0a1b2c3d4e5f60718293a4b5"  # the sample invalidation request's
PATIENT = "pat_9a3e7c1d5b2f8e4a6c0d1b37"  # the sample message's


@pytest.fixture
def names(resources):
    """A COPD episode of the sample message's citizen, with the template's thresholds from its start."""
    new = replace(new_episode(EPISODE, PATIENT), thresholds=version(1, CREATED))
    store_episode(resources.tables["episodes"], new)
    return resources


def _event(*bodies: Any) -> dict[str, Any]:
    """The sample SQS event with one record per body (a dict is sent as JSON, text as it is)."""
    sample = load_event("alarm_evaluation/measurements_sqs.json")["Records"][0]
    return {"Records": [{**sample, "messageId": f"m-{number}",
                         "body": body if isinstance(body, str) else json.dumps(body)}
                        for number, body in enumerate(bodies)]}


def _items(names, prefix: str) -> list[dict[str, Any]]:
    return [item for item in table_items(names, "evaluations") if item["sk"]["S"].startswith(prefix)]


RED_SPO2 = upload("red-spo2", CREATED + timedelta(days=1, minutes=5),
                  measured("spo2", 85, CREATED + timedelta(days=1)), patient_id=PATIENT)


def test_the_sample_event_is_evaluated_under_the_citizens_episode(names):
    # Given the sample message (SpO2 94, a blood pressure, a weight and a late CAT score) measured after
    # the episode started
    event = load_event("alarm_evaluation/measurements_sqs.json")
    body = json.loads(event["Records"][0]["body"])
    body["received_at"] = "2026-11-27T08:05:00.000Z"
    for measurement in body["measurements"]:  # the same times of day, in the episode's first days
        measurement["measured_at"] = measurement["measured_at"].replace("2024-05-01", "2026-11-27").replace(
            "2024-04-29", "2026-11-25")
    event["Records"][0]["body"] = json.dumps(body)
    # When the evaluator handles it
    assert invoke("alarm-evaluation", event) == {"batchItemFailures": []}
    # Then four readings are stored, GREEN, with version 1; no alarm; the head has the GREEN upload; one event
    readings = _items(names, "EVAL#READING#")
    assert sorted(r["type"]["S"] for r in readings) == ["blood_pressure", "cat_score", "spo2", "weight"]
    assert {r["colour"]["S"] for r in readings} == {"GREEN"}
    assert _items(names, "ALARM#") == []
    [head] = [item for item in table_items(names, "evaluations") if item["sk"]["S"] == "EVAL"]
    assert head["worklist_organisation"]["S"] == MONITORING
    assert set(head["green_uploads"]["M"]) == {body["dedupe_key"]}
    [event_item] = _items(names, "EVENT#")
    assert json.loads(event_item["event"]["S"])["colour"] == "GREEN"


def test_a_red_spo2_raises_one_alarm_and_a_redelivery_writes_nothing(names):
    # Given a RED SpO2 evaluated
    assert invoke("alarm-evaluation", _event(message(RED_SPO2))) == {"batchItemFailures": []}
    reading = measurement_id(RED_SPO2.dedupe_key, 0)
    [alarm] = _items(names, "ALARM#")
    assert (alarm["alarm_id"]["S"], alarm["status"]["S"], alarm["colour"]["S"]) == (
        measurement_alarm_id(EPISODE, reading), "open", "RED")
    before = sorted(map(json.dumps, table_items(names, "evaluations")))
    # When the message is delivered again, twice in one batch
    twice = _event(message(RED_SPO2), message(RED_SPO2))
    assert invoke("alarm-evaluation", twice) == {"batchItemFailures": []}
    # Then the table is exactly as it was
    assert sorted(map(json.dumps, table_items(names, "evaluations"))) == before


def test_an_upload_of_answers_alone_raises_an_answer_alarm_once(names):
    # Given an upload of one RED questionnaire answer and one GREEN, no measurement
    answers = upload("answers", CREATED + timedelta(days=1, minutes=5), patient_id=PATIENT, answers=(
        answered("coloured_sputum", "yes", CREATED + timedelta(days=1)),
        answered("more_cough_than_usual", "no", CREATED + timedelta(days=1))))
    # When the evaluator handles it, twice (a redelivery)
    for _ in range(2):
        assert invoke("alarm-evaluation", _event(message(answers))) == {"batchItemFailures": []}
    # Then one RED alarm of kind answer waits on the monitoring organisation's worklist, and one event
    # carries both answers with their colours
    [alarm] = _items(names, "ALARM#")
    assert (alarm["kind"]["S"], alarm["colour"]["S"], alarm["question_id"]["S"], alarm["answer"]["S"]) == (
        "answer", "RED", "coloured_sputum", "yes")
    [head] = [item for item in table_items(names, "evaluations") if item["sk"]["S"] == "EVAL"]
    assert list(head["open_alarms"]["M"]) == [alarm["alarm_id"]["S"]]
    assert head["worklist_rank"]["S"].startswith("0#")
    [event_item] = _items(names, "EVENT#")
    body = json.loads(event_item["event"]["S"])
    assert [(a["question_id"], a["colour"]) for a in body["answers"]] == [
        ("coloured_sputum", "RED"), ("more_cough_than_usual", "GREEN")]
    assert body["colour"] == "RED" and body["measurements"] == []
    assert _items(names, "EVAL#READING#") == []


@pytest.mark.parametrize("poison", [
    "not json",
    {"message_type": "telehub.upload.accepted", "schema_version": 1},
    {**message(RED_SPO2), "measurements": [], "answers": []},  # neither a measurement nor an answer
    {**message(RED_SPO2), "measurements": [{"type": "spo2", "measured_at": "2026-11-26T09:30:00Z",
                                            "method": "automatic", "late": False}]},
])
def test_a_poison_message_fails_alone(names, poison):
    # When a batch holds a message that is no valid upload beside a good one
    response = invoke("alarm-evaluation", _event(poison, message(RED_SPO2)))
    # Then only it is reported failed, and the good one is evaluated
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert len(_items(names, "ALARM#")) == 1


def test_a_poison_message_ends_in_the_dlq_after_its_receives(names):
    # Given a poison message on the measurements queue, consumed as Lambda's event source mapping does
    sqs = boto3.Session().client("sqs")
    queue, dlq = names.queue_urls["measurements"], names.queue_urls["measurements-dlq"]
    sqs.send_message(QueueUrl=queue, MessageBody="{\"message_type\": \"something else\"}")
    poller = SqsPoller(sqs, queue, current().runtime.invoker("alarm-evaluation"), wait_seconds=0,
                       retry_visibility_seconds=0)
    # When it is polled until the queue gives it up
    for _ in range(10):
        poller.poll_once()
    # Then it is in the DLQ, and the queue is empty
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["{\"message_type\": \"something else\"}"]
    assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []


def _invalidate(measurement: str, organisation: str = MONITORING,
                reason: str = "probe slipped") -> tuple[int, Any]:
    event = load_event("alarm_evaluation/invalidate_measurement.json")
    event["path"] = f"/v1/episodes/{EPISODE}/measurements/{measurement}/invalidate"
    event["pathParameters"] = {"episode_id": EPISODE, "measurement_id": measurement}
    event["requestContext"]["authorizer"] = {"principalId": "nurse-1", "role": "clinician",
                                             "subject": "nurse-1", "organisation": organisation}
    event["body"] = json.dumps({"reason": reason})
    reply = invoke("measurement-invalidation", event)
    return reply["statusCode"], json.loads(reply["body"])


def test_an_invalidation_takes_the_alarm_off_the_worklist_and_is_logged(names):
    # Given a RED SpO2 on the monitoring organisation's worklist
    invoke("alarm-evaluation", _event(message(RED_SPO2)))
    reading = measurement_id(RED_SPO2.dedupe_key, 0)
    # When another organisation tries, then the monitoring nurse invalidates it
    assert _invalidate(reading, OTHER)[0] == 403
    status, reply = _invalidate(reading)
    # Then the reading is kept and marked, its alarm invalidated, the head has nothing open, an event tells
    assert status == 200
    assert reply["invalidated"]["by"] == "nurse-1"
    assert reply["alarm_id"] == measurement_alarm_id(EPISODE, reading)
    [stored] = _items(names, "EVAL#READING#")
    assert stored["invalidated"]["M"]["reason"]["S"] == "probe slipped"
    [alarm] = _items(names, "ALARM#")
    assert alarm["status"]["S"] == "invalidated"
    assert [c["M"]["reason"]["S"] for c in alarm["changes"]["L"]] == ["invalidated"]
    [head] = [item for item in table_items(names, "evaluations") if item["sk"]["S"] == "EVAL"]
    assert head["open_alarms"]["M"] == {} and "worklist_rank" not in head
    assert sorted(json.loads(e["event"]["S"])["trigger"] for e in _items(names, "EVENT#")) == [
        "invalidation", "upload"]
    assert sorted((e["action"]["S"], e["outcome"]["S"]) for e in table_items(names, "access-log")) == [
        ("invalidate_measurement", "allowed"), ("invalidate_measurement", "denied")]
    # And a second invalidation is a 409 naming who did it
    status, problem = _invalidate(reading)
    assert status == 409 and "nurse-1" in problem["detail"]


def test_an_unknown_measurement_is_a_404_and_an_unknown_episode_the_403_of_another_organisations(names):
    # Given an episode the monitoring organisation holds: a measurement it does not have is not found
    assert _invalidate("msr_" + "0" * 24)[0] == 404
    # And an episode that does not exist is refused as one of another organisation is
    event = load_event("alarm_evaluation/invalidate_measurement.json")
    event["pathParameters"]["episode_id"] = "epi_" + "1" * 24
    event["path"] = event["path"].replace(EPISODE, "epi_" + "1" * 24)
    assert invoke("measurement-invalidation", event)["statusCode"] == 403


def test_a_reason_must_be_given(names):
    status, problem = _invalidate("msr_" + "0" * 24, reason="")
    assert status == 422 and problem["errors"][0]["field"] == "reason"


def test_an_alarm_raised_again_after_its_acknowledgement_waits_for_and_takes_a_new_one(names):
    # Given CAT scores 14 then 19 (+5 from the episode's first: YELLOW), and the nurse acknowledged it
    first = upload("cat-1", CREATED + timedelta(days=2, minutes=5),
                   measured("cat_score", 14, CREATED + timedelta(days=2)), patient_id=PATIENT)
    worse = upload("cat-2", CREATED + timedelta(days=9, minutes=5),
                   measured("cat_score", 19, CREATED + timedelta(days=9)), patient_id=PATIENT)
    assert invoke("alarm-evaluation", _event(message(first), message(worse))) == {"batchItemFailures": []}
    alarm_id = measurement_alarm_id(EPISODE, measurement_id(worse.dedupe_key, 0))
    assert acknowledge(alarm_id, "Seen: a cold.")[0] == 200
    # When a late first score of 10 arrives, making the second +9: RED
    late = upload("cat-0", CREATED + timedelta(days=10),
                  measured("cat_score", 10, CREATED + timedelta(days=1), late=True), patient_id=PATIENT)
    assert invoke("alarm-evaluation", _event(message(late))) == {"batchItemFailures": []}
    # Then the alarm is open again, RED, without the old acknowledgement (kept in its changes)
    [alarm] = [a for a in _items(names, "ALARM#") if a["alarm_id"]["S"] == alarm_id]
    assert (alarm["status"]["S"], alarm["colour"]["S"]) == ("open", "RED") and "acknowledged" not in alarm
    assert [c["M"]["reason"]["S"] for c in alarm["changes"]["L"]] == ["acknowledged", "re-evaluated"]
    # And the nurse acknowledges it again
    status, acknowledged = acknowledge(alarm_id, "Called again: seen by the GP today.")
    assert status == 200 and acknowledged["acknowledged"]["note"] == "Called again: seen by the GP today."
