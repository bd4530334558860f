"""The evaluations table's outboxes under moto: the table's real stream records of EVENT items relayed to
the evaluated-uploads queue (evaluation-outbox) and their raised alarms to the clinical-alarms topic
(alarm-outbox), where a monitoring organisation's queue receives what its filter policy lets through; and
the evaluator's own event, from a measurements-queue message to both."""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from functions.device_uploads.models import MAX_MEASUREMENTS
from functions.shared import aws
from functions.shared.sqs import SEND_MESSAGE_BATCH_BYTES
from tests.support.episodes import CREATED, new_episode
from tests.support.evaluation_events import (
    PATIENT,
    event_item,
    other_items,
    outbox_stream_event,
    serialised,
    upload_event,
)
from tests.support.evaluator_inputs import measured, message, store_episode, upload, version
from tests.support.events import load_event
from tests.support.moto_state import SentBatches, Throttle, queued_messages, subscribed_queue
from tests.support.organisations import HOSPITAL, MONITORING
from tests.support.runtime import invoke
from tests.support.uploads_api import retry_from

EPISODE, OTHER_EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b", "epi_7d1e3a5c9b2f4e6a8c0d2b4f"


def _store(resources, *bodies: dict[str, Any]) -> list[dict[str, Any]]:
    """Each event written as the evaluator writes it: the episode's head and reading, then the event."""
    dynamodb, items = boto3.Session().client("dynamodb"), []
    for body in bodies:
        items.append(event_item(body))
        for item in [*other_items(body["episode_id"]), items[-1]]:
            dynamodb.put_item(TableName=resources.tables["evaluations"], Item=serialised(item))
    return items


def _batch(resources) -> dict[str, Any]:
    return outbox_stream_event(resources.tables["evaluations"])


def _evaluated(resources) -> list[dict[str, Any]]:
    return queued_messages(resources.queue_urls["evaluated-uploads"])


def _inbox(resources, name: str = "monitoring-inbox", **filter_policy: list[str]) -> str:
    """A monitoring organisation's queue subscribed to the clinical-alarms topic."""
    return subscribed_queue(resources.topic_arns["clinical-alarms"], name, filter_policy or None)


# --- evaluation-outbox: the evaluated-uploads queue ------------------------------------------------------


def test_the_sample_stream_event_becomes_one_message_with_the_stored_body(resources):
    # Given the sample stream record of a stored event
    event = load_event("alarm_evaluation/evaluation_event_stream.json")
    stored = event["Records"][0]["dynamodb"]["NewImage"]
    # When the evaluation outbox handles it
    response = invoke("evaluation-outbox", event)
    # Then nothing failed and the queue holds the event, its body as stored, deduplicated by event id
    assert response == {"batchItemFailures": []}
    [message] = _evaluated(resources)
    assert message["body"] == json.loads(stored["event"]["S"])
    assert message["attributes"] == {
        "message_type": {"StringValue": "telehub.upload.evaluated", "DataType": "String"},
        "schema_version": {"StringValue": "1", "DataType": "Number"},
        "dedupe_key": {"StringValue": stored["event_id"]["S"], "DataType": "String"},
    }


def test_of_the_evaluators_writes_only_the_events_reach_the_queue_each_once(resources):
    # Given two evaluated uploads, each written with its episode's head and reading
    items = _store(resources, upload_event(EPISODE, "upload-0001", ["RED"]),
                   upload_event(OTHER_EPISODE, "upload-0002", ["GREEN"], organisation=HOSPITAL))
    event = _batch(resources)
    # Then the mapping's filter passes on the two EVENT inserts alone
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"]] == [item["sk"] for item in items]
    # When the evaluation outbox handles them
    assert invoke("evaluation-outbox", event) == {"batchItemFailures": []}
    # Then each event is on the queue once, as stored
    bodies = [json.dumps(m["body"], separators=(",", ":")) for m in _evaluated(resources)]
    assert sorted(bodies) == sorted(item["event"] for item in items)


def test_a_throttled_send_is_reported_and_the_retry_completes_the_hand_off(resources, monkeypatch):
    # Given 12 events (two SendMessageBatch requests' worth), and SQS throttling the second request
    _store(resources, *[upload_event(EPISODE, f"upload-{n:04d}", ["YELLOW"]) for n in range(12)])
    event = _batch(resources)
    throttle = Throttle(monkeypatch, failing_calls={2})
    # When the outbox handles the batch, Then exactly the two unsent records are reported
    response = invoke("evaluation-outbox", event)
    numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    assert throttle.calls == [10, 2]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == numbers[10:]
    # When Lambda redelivers from the first failed record, Then every event is on the queue once
    assert invoke("evaluation-outbox", retry_from(event, response)) == {"batchItemFailures": []}
    keys = Counter(m["attributes"]["dedupe_key"]["StringValue"] for m in _evaluated(resources))
    assert len(keys) == 12 and set(keys.values()) == {1}


def _pressures_event(number: int) -> dict[str, Any]:
    """The stream record of an event of 200 RED blood pressures, each raising its alarm (about 114 KB):
    built on the sample record, not read from moto's stream, which takes seconds to serve items this
    large."""
    body = upload_event(EPISODE, f"upload-{number:04d}", ["RED"] * MAX_MEASUREMENTS)
    for pressure in body["measurements"]:
        del pressure["value"], pressure["unit"]
        pressure.update(type="blood_pressure", components=[
            {"type": "systolic", "value": 182, "unit": "mmHg"},
            {"type": "diastolic", "value": 104, "unit": "mmHg"},
            {"type": "pulse", "value": 121, "unit": "/min"}])
    record = copy.deepcopy(load_event("alarm_evaluation/evaluation_event_stream.json")["Records"][0])
    record["dynamodb"]["NewImage"] = serialised(event_item(body))
    record["dynamodb"]["SequenceNumber"] = str(int(record["dynamodb"]["SequenceNumber"]) + number)
    return record


def test_ten_events_over_sqss_request_limit_go_in_two_requests_each_once(resources, monkeypatch):
    # Given a stream batch of ten events of 200 RED blood pressures: over 1 MiB together
    event = {"Records": [_pressures_event(number) for number in range(10)]}
    sent = SentBatches(monkeypatch)
    # When the evaluation outbox handles it
    assert invoke("evaluation-outbox", event) == {"batchItemFailures": []}
    # Then it took two requests, none refused: as many as fit in SQS's 1 MiB, then the rest
    assert sum(map(sum, sent.requests)) > SEND_MESSAGE_BATCH_BYTES
    assert [len(request) for request in sent.requests] == [9, 1]
    assert all(sum(request) <= SEND_MESSAGE_BATCH_BYTES for request in sent.requests)
    # And each event is on the queue once
    keys = Counter(m["attributes"]["dedupe_key"]["StringValue"] for m in _evaluated(resources))
    assert len(keys) == 10 and set(keys.values()) == {1}


def test_a_damaged_event_fails_alone(resources):
    # Given three stored events, the second's body cut short
    bodies = [upload_event(EPISODE, f"upload-{n:04d}", ["RED"]) for n in range(3)]
    items = _store(resources, *bodies)
    event = _batch(resources)
    event["Records"][1]["dynamodb"]["NewImage"]["event"]["S"] = items[1]["event"][:50]
    # When relayed, Then only its record fails, and the other two are on the queue
    damaged = event["Records"][1]["dynamodb"]["SequenceNumber"]
    assert invoke("evaluation-outbox", event) == {"batchItemFailures": [{"itemIdentifier": damaged}]}
    assert sorted(m["body"]["event_id"] for m in _evaluated(resources)) == sorted(
        [items[0]["event_id"], items[2]["event_id"]])


# --- alarm-outbox: the clinical-alarms topic -----------------------------------------------------------


def test_the_sample_events_red_alarm_is_published_with_its_organisation_and_severity(resources):
    # Given the monitoring organisation's queue subscribed to the topic, and the sample event's RED alarm
    inbox = _inbox(resources)
    event = load_event("alarm_evaluation/evaluation_event_stream.json")
    stored = json.loads(event["Records"][0]["dynamodb"]["NewImage"]["event"]["S"])
    # When the alarm outbox handles the event
    assert invoke("alarm-outbox", event) == {"batchItemFailures": []}
    # Then the queue received the alarm once, with the attributes a filter policy can use
    [message] = queued_messages(inbox)
    assert message["attributes"] == {
        "message_type": {"StringValue": "telehub.alarm.raised", "DataType": "String"},
        "organisation": {"StringValue": MONITORING, "DataType": "String"},
        "severity": {"StringValue": "RED", "DataType": "String"},
    }
    [alarm] = stored["alarms"]
    assert message["body"]["alarm_id"] == alarm["alarm_id"] and message["body"]["colour"] == "RED"
    assert message["body"]["episode_id"] == stored["episode_id"]


def test_a_subscription_receives_only_its_organisations_alarms_and_only_the_severities_it_asks_for(resources):
    # Given three organisations' queues: one taking every alarm of the monitoring organisation, one only
    # its RED alarms, and one the hospital's
    every_colour = _inbox(resources, "monitoring-all", organisation=[MONITORING])
    red_only = _inbox(resources, "monitoring-red", organisation=[MONITORING], severity=["RED"])
    hospital = _inbox(resources, "hospital-all", organisation=[HOSPITAL])
    # And evaluated uploads: the monitoring organisation's RED and YELLOW, its GREEN, the hospital's RED
    _store(resources, upload_event(EPISODE, "upload-0001", ["RED", "YELLOW", "GREEN"]),
           upload_event(EPISODE, "upload-0002", ["GREEN"]),
           upload_event(OTHER_EPISODE, "upload-0003", ["RED"], organisation=HOSPITAL))
    # When the alarm outbox handles the stream batch
    assert invoke("alarm-outbox", _batch(resources)) == {"batchItemFailures": []}

    # Then each queue holds what its filter policy lets through, and nothing of another organisation
    def received(queue_url: str) -> list[tuple[str, str]]:
        messages = queued_messages(queue_url)
        return sorted((m["body"]["monitoring_organisation"], m["body"]["colour"]) for m in messages)

    assert received(every_colour) == [(MONITORING, "RED"), (MONITORING, "YELLOW")]
    assert received(red_only) == [(MONITORING, "RED")]
    assert received(hospital) == [(HOSPITAL, "RED")]


def test_an_event_that_raised_no_alarm_publishes_nothing(resources, monkeypatch):
    # Given an all-GREEN upload's event
    inbox = _inbox(resources)
    _store(resources, upload_event(EPISODE, "upload-0001", ["GREEN", "GREEN"]))
    sns = aws.client("sns")
    calls: list[int] = []
    publish = sns.publish_batch
    monkeypatch.setattr(sns, "publish_batch", lambda **request: calls.append(1) or publish(**request))
    # When the alarm outbox handles it, Then it succeeds without a request, and nothing is received
    assert invoke("alarm-outbox", _batch(resources)) == {"batchItemFailures": []}
    assert calls == [] and queued_messages(inbox) == []


def test_a_throttled_publish_is_reported_and_the_retry_publishes_every_alarm_once(resources, monkeypatch):
    # Given 12 RED alarms in 12 events, and SNS throttling the first PublishBatch
    inbox = _inbox(resources)
    _store(resources, *[upload_event(EPISODE, f"upload-{n:04d}", ["RED"]) for n in range(12)])
    event = _batch(resources)
    sns = aws.client("sns")
    publish, calls = sns.publish_batch, []

    def throttled_once(**request: Any) -> Any:
        calls.append(len(request["PublishBatchRequestEntries"]))
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "PublishBatch")
        return publish(**request)

    monkeypatch.setattr(sns, "publish_batch", throttled_once)
    # When the outbox handles the batch, Then every record is reported (the run stops at the refusal)
    response = invoke("alarm-outbox", event)
    assert len(response["batchItemFailures"]) == 12 and calls == [10]
    assert queued_messages(inbox) == []
    # When Lambda redelivers the batch, Then every alarm is published, once
    assert invoke("alarm-outbox", retry_from(event, response)) == {"batchItemFailures": []}
    alarms = Counter(m["body"]["alarm_id"] for m in queued_messages(inbox))
    assert len(alarms) == 12 and set(alarms.values()) == {1}


# --- the evaluator's event -------------------------------------------------------------------------------


def test_the_evaluators_event_of_a_red_upload_reaches_the_queue_and_its_alarm_the_topic(resources):
    # Given a COPD episode monitored by the monitoring organisation, whose queue is subscribed to its alarms
    store_episode(resources.tables["episodes"],
                  replace(new_episode(EPISODE, PATIENT), thresholds=version(1, CREATED)))
    inbox = _inbox(resources, organisation=[MONITORING])
    # And the evaluator judged a RED SpO2 from the measurements queue
    measured_at = CREATED + timedelta(days=1)
    red = upload("red-spo2", measured_at + timedelta(minutes=5), measured("spo2", 85, measured_at),
                 patient_id=PATIENT)
    record = copy.deepcopy(load_event("alarm_evaluation/measurements_sqs.json")["Records"][0])
    assert invoke("alarm-evaluation", {"Records": [{**record, "body": json.dumps(message(red))}]}) == {
        "batchItemFailures": []}
    # When both outboxes handle the evaluations stream
    batch = _batch(resources)
    assert invoke("evaluation-outbox", batch) == invoke("alarm-outbox", batch) == {"batchItemFailures": []}
    # Then the queue holds the upload's one event, RED, and the organisation's queue its one RED alarm
    [event] = _evaluated(resources)
    assert (event["body"]["trigger"], event["body"]["colour"], event["body"]["upload"]["upload_id"]) == (
        "upload", "RED", "red-spo2")
    [alarm] = queued_messages(inbox)
    assert alarm["body"]["alarm_id"] == event["body"]["alarms"][0]["alarm_id"]
    assert (alarm["body"]["colour"], alarm["attributes"]["severity"]["StringValue"]) == ("RED", "RED")
