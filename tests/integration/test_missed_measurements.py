"""The missed-measurement schedule and the pauses API under moto, each with its function's own environment:
an episode referred and made active through the real APIs, the schedule invoked with EventBridge's event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.alarm_evaluation.outbox import evaluated_upload_message, raised_alarm_messages
from functions.shared import aws
from functions.shared.clock import iso_utc
from functions.shared.evaluation_records import missed_alarm_id
from tests.support import devices_api
from tests.support.devices_api import principal_context
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, MONITORING, TREATING
from tests.support.referrals_api import call as episode_call
from tests.support.referrals_api import clinician, refer
from tests.support.runtime import invoke
from tests.support.worklist_api import acknowledge, worklist

COPD_MISSED_AFTER = timedelta(hours=96)


def run_schedule(at: datetime) -> dict[str, int]:
    event = load_event("missed_measurements/scheduled_event.json") | {"time": iso_utc(at)}
    reply: dict[str, int] = invoke("missed-measurements", event)
    return reply


def pause(episode_id: str, body: dict[str, Any], organisation: str = MONITORING) -> tuple[int, Any]:
    event = copy.deepcopy(load_event("missed_measurements/post_pause.json"))
    event["path"] = f"/v1/episodes/{episode_id}/pauses"
    event["pathParameters"] = {"episode_id": episode_id}
    event["body"] = json.dumps(body)
    event["requestContext"]["authorizer"] = clinician(organisation)
    reply = invoke("monitoring-pauses", event)
    return reply["statusCode"], json.loads(reply["body"])


def read_pauses(episode_id: str, organisation: str = TREATING) -> tuple[int, Any]:
    event = copy.deepcopy(load_event("missed_measurements/post_pause.json"))
    event["httpMethod"] = event["requestContext"]["httpMethod"] = "GET"
    event["path"] = f"/v1/episodes/{episode_id}/pauses"
    event["pathParameters"] = {"episode_id": episode_id}
    event["body"] = None
    event["requestContext"]["authorizer"] = clinician(organisation)
    reply = invoke("monitoring-pauses", event)
    return reply["statusCode"], json.loads(reply["body"])


def items(resources, prefix: str) -> list[dict[str, Any]]:
    deserialise = TypeDeserializer().deserialize
    return [{name: deserialise(value) for name, value in item.items()}
            for item in table_items(resources, "evaluations") if item["sk"]["S"].startswith(prefix)]


@pytest.fixture
def active_episode(resources) -> str:
    """The sample referral's episode, active since the logistics centre registered its device."""
    status, reply = refer()
    assert status == 201
    body = devices_api.SAMPLE_BODY | {"cpr": "2512489996", "serial": "502012345"}
    registered, _ = devices_api.register(body, authorizer_context=principal_context(organisation=CENTRE))
    assert registered == 201
    episode_id: str = reply["episode_id"]
    return episode_id


def test_a_miss_raises_one_blue_alarm_counted_in_the_head_and_a_second_run_writes_nothing(resources,
                                                                                           active_episode):
    # Given the schedule saw the active episode first at T0, and nothing was measured since
    t0 = datetime.now(UTC).replace(microsecond=0)
    assert run_schedule(t0) == {"episodes": 1, "started": 1, "misses": 0}
    due = t0 + COPD_MISSED_AFTER
    # When it runs after COPD's missed_after_hours, and again a quarter of an hour later
    first = run_schedule(due + timedelta(minutes=5))
    stored = table_items(resources, "evaluations")
    second = run_schedule(due + timedelta(minutes=20))
    # Then the first raised one BLUE alarm, due and raised at T0 + 96 h; the second wrote nothing
    assert (first["misses"], second["misses"]) == (1, 0)
    assert table_items(resources, "evaluations") == stored
    alarm_id = missed_alarm_id(active_episode, iso_utc(due))
    (alarm,) = items(resources, "ALARM#")
    shown = ("alarm_id", "kind", "colour", "status", "raised_at", "due_at")
    assert {name: alarm[name] for name in shown} == {
        "alarm_id": alarm_id, "kind": "missed_measurement", "colour": "BLUE", "status": "open",
        "raised_at": iso_utc(due), "due_at": iso_utc(due)}
    # And the head counts it on the monitoring organisation's worklist
    (head,) = items(resources, "EVAL")
    assert set(head["open_alarms"]) == {alarm_id}
    assert head["worklist_organisation"] == MONITORING
    assert head["worklist_rank"].startswith(f"2#{iso_utc(due)}#")  # BLUE comes after RED and YELLOW
    # And its event is an "upload evaluated" event the outboxes relay, raising the alarm for the organisation
    (event,) = items(resources, "EVENT#")
    assert json.loads(evaluated_upload_message(event).body)["trigger"] == "missed_measurement"
    (published,) = raised_alarm_messages(event)
    assert (published.alarm_id, published.organisation, published.severity) == (alarm_id, MONITORING, "BLUE")


def test_no_blue_alarm_inside_a_pause_and_the_pause_is_listed(resources, active_episode):
    # Given the schedule saw the episode, and the monitoring organisation paused it for a week from now
    now = datetime.now(UTC).replace(microsecond=0)
    run_schedule(now - timedelta(minutes=1))
    ends_at = now + timedelta(days=7)
    status, created = pause(active_episode, {"ends_at": ends_at.isoformat(), "reason": "Admitted"})
    assert status == 201
    # When the schedule runs after missed_after_hours, inside the pause
    assert run_schedule(now + COPD_MISSED_AFTER + timedelta(hours=1))["misses"] == 0
    # Then no alarm exists, the pause is stored and read back, and both requests were access-logged
    assert items(resources, "ALARM#") == []
    status, listed = read_pauses(active_episode)
    assert status == 200
    assert listed["pauses"] == [created]
    assert created["created_by"] == {"subject": "doc-1", "organisation": MONITORING}
    actions = sorted(item["action"]["S"] for item in table_items(resources, "access-log")
                     if "/pauses" in item["endpoint"]["S"])  # not the referral's or the device's
    assert actions == ["pause_monitoring", "read_pauses"]


def test_a_retried_pause_is_the_same_and_a_bad_period_is_422(resources, active_episode):
    body = {"ends_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(), "reason": "Holiday"}
    assert pause(active_episode, body) == pause(active_episode, body)
    status, problem = pause(active_episode, body | {"ends_at": "2020-01-01T00:00:00Z"})
    assert status == 422
    assert [error["field"] for error in problem["errors"]] == ["ends_at"]
    status, _ = pause(active_episode, body, organisation=TREATING)
    assert status == 403
    assert len(items(resources, "PAUSE#")) == 1


def test_an_ended_episode_gets_no_blue_alarm(resources, active_episode):
    # Given the schedule saw the episode, which the treating organisation then ended
    t0 = datetime.now(UTC)
    run_schedule(t0)
    status, _ = episode_call("POST", f"/v1/episodes/{active_episode}/end", {}, clinician(TREATING))
    assert status == 204
    # When the schedule runs long after a miss would have been due
    summary = run_schedule(t0 + 3 * COPD_MISSED_AFTER)
    # Then it did not even read the episode, and raised nothing
    assert summary == {"episodes": 0, "started": 0, "misses": 0}
    assert items(resources, "ALARM#") == []


def test_a_planned_episode_is_not_scheduled(resources):
    status, _ = refer()
    assert status == 201
    assert run_schedule(datetime.now(UTC)) == {"episodes": 0, "started": 0, "misses": 0}
    assert items(resources, "EVAL") == []


def test_a_run_costs_far_fewer_requests_than_episodes(resources):
    # Given 150 active episodes whose schedule started, none due
    dynamodb = boto3.client("dynamodb")
    started = datetime.now(UTC)
    for n in range(150):
        episode_id = f"epi_{n:024x}"
        dynamodb.put_item(TableName=resources.tables["episodes"], Item={
            "pk": {"S": f"EPISODE#{episode_id}"}, "sk": {"S": "META"}, "episode_id": {"S": episode_id},
            "patient_id": {"S": f"pat_{n:024x}"}, "disease_area": {"S": "copd"}, "status": {"S": "active"},
            "treating_organisation": {"S": TREATING}, "monitoring_organisation": {"S": MONITORING},
            "schedule": {"M": {"per_week": {"N": "2"}, "missed_after_hours": {"N": "96"}}}})
        dynamodb.put_item(TableName=resources.tables["evaluations"], Item={
            "pk": {"S": f"EPISODE#{episode_id}"}, "sk": {"S": "EVAL"}, "episode_id": {"S": episode_id},
            "version": {"N": "1"}, "schedule_since": {"S": iso_utc(started)}})
    calls: list[str] = []
    # The function's clients come from functions.shared.aws: count what they send.
    aws.client("dynamodb").meta.events.register("before-call.dynamodb.*",
                                                lambda model, **_: calls.append(model.name))
    # When the schedule runs before anything is due
    summary = run_schedule(started + timedelta(hours=1))
    # Then it checked all 150 with one query and two batch reads
    assert summary["episodes"] == 150
    assert calls == ["Query", "BatchGetItem", "BatchGetItem"]


def test_a_blue_only_row_is_on_the_worklist_with_its_citizen_and_is_acknowledged(resources, active_episode):
    # Given an episode that never measured, and the schedule's BLUE alarm for it
    t0 = datetime.now(UTC).replace(microsecond=0)
    run_schedule(t0)
    run_schedule(t0 + COPD_MISSED_AFTER + timedelta(minutes=5))
    # When the monitoring organisation's nurse reads the worklist
    status, page = worklist()
    # Then the row names the citizen and the disease area, with one BLUE alarm
    assert status == 200, page
    (row,) = page["rows"]
    assert (row["episode_id"], row["disease_area"]) == (active_episode, "copd")
    assert row["alarm"]["colour"] == "BLUE"
    assert row["patient_id"].startswith("pat_") and row["counts"]["BLUE"] == 1
    # And acknowledging it takes the row off the worklist
    assert acknowledge(row["alarm"]["alarm_id"], "Called: the tablet was unplugged.")[0] == 200
    assert worklist()[1]["rows"] == []
