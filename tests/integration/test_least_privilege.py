"""Each function's grants are exactly what its code calls: no wider, no narrower.

How the calls are derived: by recording a run, not by reading the code. A static reading cannot tell which
table a call reaches (the table name is a setting) and over-approximates every shared helper a module
imports. Instead ``tests.support.aws_calls.recording`` puts a botocore ``before-parameter-build`` handler on
the one session every function's clients come from (functions/shared/aws.py) and files each call, as the IAM
permissions it needs (a transaction's items one by one, a Query of an index on that index), under the
function whose own environment is set (tests/support/runtime.py). A call beyond the function's grants fails
there and then with AccessDenied, as in AWS.

Each test below runs one lifecycle through the real handlers under moto, every branch that reaches AWS
once (a referral to the end of its episode, a device registered and revoked, an upload through the outbox,
the evaluator, both evaluation outboxes and the sharing publisher, the clinicians' and the citizen's reads,
the schedule), and then holds the permissions each function's calls needed to the permissions its spec
grants (infrastructure/permissions.py, which the stack turns into the role's policy:
tests/infrastructure/test_functions.py). So a grant the code no longer needs fails here as surely as a call
the spec does not grant. A new call path in a function needs its step here; a step that no longer calls
what it did shows as a grant wider than the run.

Cheap in CI: one moto account, about seventy invocations, a few seconds, no synthesis.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded.dev_issuer import DevIssuer
from functions.shared import aws
from functions.shared.auth import Role
from functions.shared.clock import iso_utc
from infrastructure.permissions import code_permissions
from infrastructure.resource_spec import SPEC, ResourceNames
from tests.support import devices_api
from tests.support.aws_calls import CallLog, recording
from tests.support.citizen_view_api import call as citizen_view
from tests.support.citizen_view_api import citizen
from tests.support.consents_api import record_consent
from tests.support.evaluation_events import outbox_stream_event
from tests.support.events import load_event
from tests.support.moto_state import queued_messages, table_items
from tests.support.observation_search import CPR_IDENTIFIER, search_json
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, TREATING
from tests.support.referrals_api import call as episode_call
from tests.support.referrals_api import clinician
from tests.support.runtime import PLATFORM, current, invoke
from tests.support.streams import failure_event, whole_stream_failure_record
from tests.support.uploads_api import sample_event, stream_event, use_handler_at
from tests.support.worklist_api import call as worklist_call
from tests.support.worklist_api import nurse

CPR = "2512489996"
# Each outbox's recovery function, the events/ folder of its on-failure sample, and the table it relays.
RECOVERIES = (
    ("upload-outbox-recovery", "device_uploads", "uploads"),
    ("episode-outbox-recovery", "referral_intake", "episodes"),
    ("evaluation-outbox-recovery", "alarm_evaluation", "evaluations"),
    ("alarm-outbox-recovery", "alarm_evaluation", "evaluations"),
)


@pytest.fixture
def calls(resources: ResourceNames) -> Iterator[CallLog]:
    with recording(resources) as log:
        yield log


def assert_granted_exactly_what_was_called(log: CallLog, *function_ids: str) -> None:
    """Every permission the spec grants each function was needed by a call, and no call needed another."""
    granted = {function_id: code_permissions(SPEC.function(function_id)) for function_id in function_ids}
    wider = {function_id: sorted(map(str, granted[function_id] - log.of(function_id)))
             for function_id in function_ids}
    narrower = {function_id: sorted(map(str, log.of(function_id) - granted[function_id]))
                for function_id in function_ids}
    assert {f: granted for f, granted in wider.items() if granted} == {}, f"granted, never called: {wider}"
    assert {f: called for f, called in narrower.items() if called} == {}, "called, not granted"


def _upload_event(device: dict[str, Any], upload_id: str, spo2: int, at: datetime) -> dict[str, Any]:
    """POST /v1/measurements by the registered device, as API Gateway passes it on after the authorizer."""
    event = copy.deepcopy(sample_event("post_measurements.json"))
    event["requestContext"]["authorizer"] |= {
        "principalId": device["device_id"], "subject": device["device_id"], "device_id": device["device_id"],
        "patient_id": device["patient_id"],
    }
    measured = {"type": "spo2", "value": spo2, "unit": "%", "measured_at": iso_utc(at), "method": "automatic"}
    answer = {"question_id": "more_cough_than_usual", "answer": "yes", "answered_at": iso_utc(at)}
    event["body"] = json.dumps({"upload_id": upload_id, "measurements": [measured], "answers": [answer]})
    return event


def _sqs_event(*bodies: str) -> dict[str, Any]:
    sample = load_event("alarm_evaluation/measurements_sqs.json")["Records"][0]
    return {"Records": [{**sample, "messageId": f"m-{n}", "body": body} for n, body in enumerate(bodies)]}


def _invalidate(path: str, measurement_id: str) -> tuple[int, Any]:
    event = load_event("alarm_evaluation/invalidate_measurement.json")
    episode_id = path.rsplit("/", 1)[1]
    event["path"] = f"{path}/measurements/{measurement_id}/invalidate"
    event["pathParameters"] = {"episode_id": episode_id, "measurement_id": measurement_id}
    event["requestContext"]["authorizer"] = nurse(MONITORING)
    reply = invoke("measurement-invalidation", event)
    return reply["statusCode"], json.loads(reply["body"])


def _pauses(method: str, path: str, body: dict[str, Any] | None, organisation: str) -> tuple[int, Any]:
    event = copy.deepcopy(load_event("missed_measurements/post_pause.json"))
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = f"{path}/pauses"
    event["pathParameters"] = {"episode_id": path.rsplit("/", 1)[1]}
    event["body"] = json.dumps(body) if body is not None else None
    event["requestContext"]["authorizer"] = clinician(organisation)
    reply = invoke("monitoring-pauses", event)
    return reply["statusCode"], json.loads(reply["body"])


def _trimmed(**request: Any) -> Any:
    """GetShardIterator once the stream's 24 hours are past (moto never trims)."""
    raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                      "GetShardIterator")


def _succeeded(reply: tuple[int, Any]) -> bool:
    status, body = reply
    assert 200 <= status < 300, body
    return True


def _queued_bodies(queue_url: str) -> list[str]:
    return [json.dumps(message["body"]) for message in queued_messages(queue_url)]


def _inserts(resources: ResourceNames, table: str, prefix: str) -> dict[str, Any]:
    """A table's items whose sort key starts with ``prefix``, as their stream's INSERT records."""
    return {"Records": [
        {"eventID": str(n), "eventName": "INSERT", "eventSource": "aws:dynamodb", "eventVersion": "1.1",
         "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item,
                      "SequenceNumber": str(100 + n), "StreamViewType": "NEW_IMAGE"}}
        for n, item in enumerate(table_items(resources, table)) if item["sk"]["S"].startswith(prefix)
    ]}


def _queued_bodies_after(outbox: str, records: dict[str, Any], queue_url: str) -> list[str]:
    assert invoke(outbox, records) == {"batchItemFailures": []}
    return _queued_bodies(queue_url)


def test_a_monitored_episode_from_referral_to_its_end_calls_exactly_what_each_function_is_granted(
        resources, calls, monkeypatch, tmp_path):
    # The measurements are shared (the publisher and the search read and send them only if so)
    current().use_platform(shared_measurement_types=("spo2", "questionnaire"))
    # Given a citizen referred (a new citizen: a profile sealed, pseudonym MACed) and read by its clinicians
    episode = devices_api.refer_citizen(CPR)
    path = f"/v1/episodes/{episode['episode_id']}"
    assert episode_call("GET", path)[0] == 200
    assert episode_call("GET", f"{path}/citizen")[0] == 200  # the profile opened for its clinicians
    # And a second referral of the citizen in another area (the citizen known, its contact details updated)
    other_path = f"/v1/episodes/{devices_api.refer_citizen(CPR, disease_area='heart_failure')['episode_id']}"
    # And the outbox hands the delivery orders on, and the logistics centre reads whom one is for
    orders = [json.loads(body) for body in _queued_bodies_after(
        "episode-outbox", _inserts(resources, "episodes", "ORDER#"), resources.queue_urls["logistics-orders"],
    )]
    contact = f"/v1/episodes/{orders[0]['episode_id']}/orders/{orders[0]['order_id']}/contact"
    assert _succeeded(episode_call("GET", contact, who=clinician(CENTRE, role="logistics")))
    # And devices registered (serial claims, the episode activated) and one revoked (its claim released), the
    # first long enough ago to rotate its credential below
    device = devices_api.registered_long_enough_ago()
    second = devices_api.SAMPLE_BODY | {"serial": "502099999"}
    status, spare = devices_api.register(second)
    assert status == 201, spare
    assert devices_api.revoke(spare["device_id"])[0] == 204
    # And the device rotates its credential, and a registration retry rotates it again
    status, rotated = devices_api.rotate_with(device["credential"])
    assert status == 200, rotated
    status, retried = devices_api.register()
    assert status in (200, 201), retried
    # And the authorizer lets the device in by its credential and the citizen by its token's CPR number
    assert devices_api.authorize(retried["credential"])["principalId"] == device["device_id"]
    issuer = DevIssuer(tmp_path, PLATFORM.token_issuer, PLATFORM.token_audience)
    (tmp_path / "jwks.json").write_text(json.dumps(issuer.jwks()))
    current().use_platform(jwks_uri=(tmp_path / "jwks.json").as_uri())
    citizen_policy = devices_api.authorize(issuer.mint(Role.CITIZEN, cpr=CPR))
    assert citizen_policy["context"]["patient_id"] == episode["patient_id"]
    # And the tablet uploads a RED SpO2 with an answer (fitted to the open episodes' questionnaires), and
    # retries it after its measurement aged past the accepted window (recognised by the stored upload)
    upload = _upload_event(device, str(uuid.uuid4()), 85, datetime.now(UTC))
    assert invoke("device-uploads", upload)["statusCode"] == 202
    use_handler_at(monkeypatch, lambda: datetime.now(UTC) + timedelta(days=30))
    assert invoke("device-uploads", upload)["statusCode"] == 202
    assert invoke("upload-outbox", stream_event(resources.tables["uploads"])) == {"batchItemFailures": []}
    # When the evaluator, both outboxes and the sharing publisher run (consent given first)
    assert _succeeded(record_consent(CPR, "granted"))
    measurements = _queued_bodies(resources.queue_urls["measurements"])
    assert invoke("alarm-evaluation", _sqs_event(*measurements)) == {"batchItemFailures": []}
    events = outbox_stream_event(resources.tables["evaluations"])
    assert invoke("evaluation-outbox", events) == invoke("alarm-outbox", events) == {"batchItemFailures": []}
    evaluated = _queued_bodies(resources.queue_urls["evaluated-uploads"])
    assert invoke("sharing-publisher", _sqs_event(*evaluated)) == {"batchItemFailures": []}
    # And the clinicians read, acknowledge, pause, invalidate and search
    status, rows = worklist_call("GET", "/v1/worklist")
    assert status == 200, rows
    assert worklist_call("GET", f"{path}/measurements")[0] == 200
    assert worklist_call("GET", f"{path}/answers")[0] == 200
    status, alarms = worklist_call("GET", f"{path}/alarms")
    alarm = next(alarm for alarm in alarms["alarms"] if alarm["type"] == "spo2")
    acknowledged = worklist_call("POST", f"/v1/alarms/{alarm['alarm_id']}/acknowledge", body={"note": "Rang"})
    assert _succeeded(acknowledged)
    assert _succeeded(worklist_call("POST", "/v1/worklist/acknowledge-green", body={}))
    assert _succeeded(_invalidate(path, alarm["measurement_id"]))
    # And the monitoring organisation pauses the schedule, the treating one reads the pauses, and the schedule
    # runs days on (a BLUE alarm for the other episode's missed measurements)
    pause = {"starts_at": iso_utc(datetime.now(UTC) + timedelta(days=1)),
             "ends_at": iso_utc(datetime.now(UTC) + timedelta(days=2)), "reason": "Admitted to hospital"}
    assert _succeeded(_pauses("POST", path, pause, MONITORING))
    assert _succeeded(_pauses("GET", path, None, TREATING))
    scheduled = load_event("missed_measurements/scheduled_event.json")
    for days in (6, 12):  # the first run starts each episode's schedule, the next finds what it missed
        invoke("missed-measurements", scheduled | {"time": iso_utc(datetime.now(UTC) + timedelta(days=days))})
    # And the citizen and the monitoring organisation read the access log, the citizen its measurements
    for route, who in (("/v1/me/access-log", citizen(episode["patient_id"])),
                       ("/v1/me/measurements", citizen(episode["patient_id"])),
                       (f"{path}/access-log", nurse(MONITORING))):
        assert citizen_view(route, who)[0] == 200, route
    status, bundle = search_json({"patient.identifier": CPR_IDENTIFIER}, clinician(TREATING))
    assert status == 200 and bundle["entry"], bundle
    # And the thresholds change, the monitoring is handed over, and both episodes end (the devices revoked,
    # their claims released)
    change = {"thresholds": {"absolute": {"spo2": {"red_low": 85}}}}
    assert _succeeded(episode_call("PUT", f"{path}/thresholds", change))
    offer = {"to_organisation": HOSPITAL}
    assert _succeeded(episode_call("POST", f"{path}/handover", offer, clinician(MONITORING)))
    assert _succeeded(episode_call("POST", f"{path}/handover/accept", {}, clinician(HOSPITAL)))
    assert _succeeded(episode_call("POST", f"{path}/end", {}))
    assert _succeeded(episode_call("POST", f"{other_path}/end", {}))
    # And each outbox's recovery hands on a batch its outbox gave up on: from the stream, and from the
    # table's index by hour once the stream no longer holds it
    for recovery, feature, table in RECOVERIES:
        event = failure_event(feature, whole_stream_failure_record(feature, resources.tables[table]))
        assert invoke(recovery, event) == {"batchItemFailures": []}, recovery
    monkeypatch.setattr(aws.client("dynamodbstreams"), "get_shard_iterator", _trimmed)
    for recovery, feature, table in RECOVERIES:
        event = failure_event(feature, whole_stream_failure_record(feature, resources.tables[table]))
        assert invoke(recovery, event) == {"batchItemFailures": []}, recovery
    # Then every function of the spec ran, and each called exactly what the spec grants it
    assert set(calls.calls) == {function.id for function in SPEC.functions}
    assert_granted_exactly_what_was_called(calls, *(function.id for function in SPEC.functions))
