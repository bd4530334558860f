"""Alarm evaluation end to end: a device's upload over HTTP reaches the evaluator behind the measurements
queue, which stores the reading as judged and its alarm; the same message delivered again changes nothing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from embedded.api_client import call
from embedded.local import LocalSystem
from functions.device_uploads.models import StoredUpload
from functions.device_uploads.outbox import upload_message
from functions.shared.evaluation_records import measurement_alarm_id, measurement_id
from tests.support.evaluator_inputs import evaluated_items

pytestmark = pytest.mark.e2e

CPR = "2512489994"  # a test citizen of this module only
TREATING, MONITORING, CENTRE = "123456789012345", "234567890123456", "345678901234567"


def _token(system: LocalSystem, role: str, organisation: str) -> str:
    assert system.issuer is not None
    return system.issuer.mint(role, organisation=organisation)


def _copd_episode_with_device(system: LocalSystem) -> tuple[str, dict[str, Any]]:
    url = system.gateway_url
    referral = {"referral_id": f"e2e-{uuid.uuid4().hex[:12]}",
                "citizen": {"cpr": CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
                "disease_area": "copd", "treating_organisation": TREATING,
                "monitoring_organisation": MONITORING, "logistics_centre": CENTRE}
    referred = call("POST", f"{url}/v1/referrals", _token(system, "clinician", TREATING), referral)
    assert referred.status == 201, referred.body
    registration = {"cpr": CPR, "vendor": "Nonin", "model": "3230", "serial": f"e2e-{uuid.uuid4().hex}",
                    "measurement_types": ["spo2", "pulse"]}
    registered = call("POST", f"{url}/v1/devices", _token(system, "logistics", CENTRE), registration)
    assert registered.status == 201, registered.body
    return referred.body["episode_id"], registered.body


def test_a_red_spo2_is_stored_with_an_open_alarm_once(local_system: LocalSystem, sqs: Any):
    # Given a citizen with an open COPD episode and a pulse oximeter
    assert local_system.names is not None
    names = local_system.names
    episode_id, device = _copd_episode_with_device(local_system)
    # When the device uploads an SpO2 of 85 % (below COPD's red_low of 88), measured once the episode was
    # open (a reading measured before its first threshold version is stored unjudged)
    measured_at = datetime.now(UTC).isoformat()
    upload = {"upload_id": f"e2e-{uuid.uuid4().hex}", "measurements": [
        {"type": "spo2", "value": 85, "unit": "%", "measured_at": measured_at, "method": "automatic"}]}
    sent = call("POST", f"{local_system.gateway_url}/v1/measurements", device["credential"], upload)
    assert sent.status == 202, sent.body
    # Then the evaluations table gets the RED reading and its open alarm, on the head's worklist row
    reading_id = measurement_id(f"{device['device_id']}/{upload['upload_id']}", 0)
    alarm_id = measurement_alarm_id(episode_id, reading_id)
    table = names.tables["evaluations"]
    # (all of them: a Query is read-committed item by item, so it may see a transaction's items one by one)
    kinds = ("EVENT#", "EVAL#READING#", "ALARM#")
    items = evaluated_items(table, episode_id, lambda found: {*kinds, "EVAL"} <= {
        next((kind for kind in kinds if i["sk"]["S"].startswith(kind)), i["sk"]["S"]) for i in found})
    [head] = [i for i in items if i["sk"]["S"] == "EVAL"]
    assert head["open_alarms"]["M"][alarm_id]["M"]["colour"]["S"] == "RED"
    assert head["worklist_organisation"]["S"] == MONITORING
    [reading] = [i for i in items if i["sk"]["S"].startswith("EVAL#READING#")]
    assert (reading["measurement_id"]["S"], reading["colour"]["S"]) == (reading_id, "RED")
    [alarm] = [i for i in items if i["sk"]["S"].startswith("ALARM#")]
    assert (alarm["alarm_id"]["S"], alarm["status"]["S"], alarm["colour"]["S"]) == (alarm_id, "open", "RED")
    # And when the same message is delivered again (a redelivery, a DLQ replay), nothing changes
    stored = boto3.Session().client("dynamodb").get_item(
        TableName=names.tables["uploads"],
        Key={"device_id": {"S": device["device_id"]}, "upload_id": {"S": upload["upload_id"]}})["Item"]
    item = {name: TypeDeserializer().deserialize(value) for name, value in stored.items()}
    again = upload_message(StoredUpload.from_item(item))
    sqs.send_message(QueueUrl=names.queue_urls["measurements"], MessageBody=again.body)
    _consumed(sqs, names.queue_urls["measurements"])
    assert _sorted(evaluated_items(table, episode_id, lambda found: False, timeout=1)) == _sorted(items)


def _consumed(sqs: Any, queue_url: str, timeout: float = 30) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if not any(int(count) for count in attributes.values()):
            return
        time.sleep(0.1)
    raise AssertionError("the measurements queue was not consumed")


def _sorted(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)
