"""Episodes of care end to end, over real HTTP: referral, the logistics orders, devices, handover, ending."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from embedded.api_client import ApiReply, call
from embedded.local import LocalSystem
from embedded.simulator import COPD_KIT_TYPES, HomeTablet

pytestmark = pytest.mark.e2e

TEST_CPR = "2512489996"
GP, MUNICIPALITY, HOSPITAL, CENTRE = "123456", "380431000016007", "615171000016009", "265161000016009"
OTHER_HOSPITAL = "567890123456789"


def token(system: LocalSystem, organisation: str, role: str = "clinician") -> str:
    assert system.issuer is not None
    return system.issuer.mint(role, organisation=organisation)


def as_org(system: LocalSystem, method: str, path: str, organisation: str, body: Any = None,
           role: str = "clinician") -> ApiReply:
    return call(method, f"{system.gateway_url}{path}", token(system, organisation, role), body)


def refer(system: LocalSystem, disease_area: str = "copd") -> dict[str, Any]:
    referral = {
        "referral_id": f"e2e-{uuid.uuid4().hex[:12]}",
        "citizen": {"cpr": TEST_CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"},
        "disease_area": disease_area,
        "treating_organisation": GP,
        "monitoring_organisation": MUNICIPALITY,
        "logistics_centre": CENTRE,
    }
    reply = as_org(system, "POST", "/v1/referrals", GP, referral)
    assert reply.status == 201, reply.body
    return reply.body


def order_contact(system: LocalSystem, order: dict[str, Any]) -> dict[str, Any]:
    """The contact details the order's logistics centre reads for it."""
    path = f"/v1/episodes/{order['episode_id']}/orders/{order['order_id']}/contact"
    reply = as_org(system, "GET", path, order["logistics_centre"], role="logistics")
    assert reply.status == 200, reply.body
    assert reply.body["order_id"] == order["order_id"] and reply.body["kind"] == order["kind"]
    contact: dict[str, Any] = reply.body
    return contact


def take_order(sqs, system: LocalSystem, episode_id: str, kind: str, timeout: float = 10) -> list[dict]:
    """Consume the logistics-orders queue's messages for the episode and kind; wait for one, then settle."""
    assert system.names is not None
    queue_url = system.names.queue_urls["logistics-orders"]
    taken: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    while time.monotonic() < (settle_until or deadline):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            if (body.get("episode_id"), body.get("kind")) == (episode_id, kind):
                taken.append(body)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:  # another order: leave it
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        if taken and settle_until is None:
            settle_until = time.monotonic() + 0.6  # two stream polls: a duplicate would show
        time.sleep(0.05)
    return taken


def upload(tablet: HomeTablet) -> int:
    return tablet.send(tablet.new_upload(tablet.morning_readings(datetime.now(UTC)))).status


def test_a_non_treating_clinician_is_refused_and_nothing_changes(local_system):
    # Given an open heart-failure episode the GP referred
    episode_id = refer(local_system, "heart_failure")["episode_id"]
    path = f"/v1/episodes/{episode_id}"
    try:
        change = {"thresholds": {"relative": {"weight": {"window_days": 3, "red_change": 3.0}}}}
        # When the monitoring municipality or an unrelated hospital changes its thresholds, or ends it
        refused = [
            as_org(local_system, "PUT", f"{path}/thresholds", MUNICIPALITY, change).status,
            as_org(local_system, "PUT", f"{path}/thresholds", OTHER_HOSPITAL, change).status,
            as_org(local_system, "POST", f"{path}/end", MUNICIPALITY, {}).status,
            # or a hospital not offered the episode takes over monitoring, or reads it
            as_org(local_system, "POST", f"{path}/handover/accept", HOSPITAL).status,
            as_org(local_system, "GET", path, OTHER_HOSPITAL).status,
        ]
        # Then each is a 403, and the episode is as it was
        assert refused == [403] * 5
        # And the unrelated hospital's refusal is the same as for an episode that does not exist
        theirs = as_org(local_system, "GET", path, OTHER_HOSPITAL)
        unknown = as_org(local_system, "GET", f"/v1/episodes/epi_{'0' * 24}", OTHER_HOSPITAL)
        assert (theirs.status, theirs.body) == (unknown.status, unknown.body)
        episode = as_org(local_system, "GET", path, GP).body
        assert (episode["status"], episode["monitoring_organisation"]) == ("planned", MUNICIPALITY)
        assert [v["version"] for v in episode["threshold_history"]] == [1]
    finally:  # leave no open episode for the next test's citizen
        assert as_org(local_system, "POST", f"{path}/end", GP, {}).status == 204


def test_referral_to_end_with_a_handover_between_and_one_device_credential_throughout(local_system, sqs):
    # Given the GP refers the test citizen to COPD monitoring
    referred = refer(local_system)
    episode_id = referred["episode_id"]
    assert referred["status"] == "planned"
    # Then the monitoring package is ordered from the citizen's logistics centre, once
    (delivery,) = take_order(sqs, local_system, episode_id, "deliver")
    assert delivery["logistics_centre"] == CENTRE and delivery["patient_id"] == referred["patient_id"]
    # And the order names the citizen by patient id only: the centre reads whom to deliver to from the API
    assert TEST_CPR not in json.dumps(delivery) and "Karen" not in json.dumps(delivery)
    assert order_contact(local_system, delivery)["cpr"] == TEST_CPR
    assert {item["device"] for item in delivery["package"]} >= {"pulse oximeter", "scale"}

    # When the logistics centre registers the tablet
    registration = {"cpr": TEST_CPR, "vendor": "Telehub Test", "model": "Tablet",
                    "serial": uuid.uuid4().hex[:12], "measurement_types": list(COPD_KIT_TYPES)}
    registered = as_org(local_system, "POST", "/v1/devices", CENTRE, registration, role="logistics")
    assert registered.status == 201, registered.body
    device_id = registered.body["device_id"]
    tablet = HomeTablet(local_system.gateway_url, registered.body["credential"])
    # Then the episode is active with the device, and the tablet's upload is accepted
    episode = as_org(local_system, "GET", f"/v1/episodes/{episode_id}", GP).body
    assert episode["status"] == "active" and episode["device_ids"] == [device_id]
    assert upload(tablet) == 202

    # When the municipality offers monitoring to the hospital and the hospital accepts
    path = f"/v1/episodes/{episode_id}/handover"
    assert as_org(local_system, "POST", path, MUNICIPALITY, {"to_organisation": HOSPITAL}).status == 200
    accepted = as_org(local_system, "POST", f"{path}/accept", HOSPITAL)
    assert accepted.status == 200 and accepted.body["monitoring_organisation"] == HOSPITAL
    # Then the SAME device credential still uploads
    assert upload(tablet) == 202

    # When the GP ends the episode
    assert as_org(local_system, "POST", f"/v1/episodes/{episode_id}/end", GP, {}).status == 204
    # Then the logistics centre is asked, once, to collect the device, and the tablet is locked out
    (collect,) = take_order(sqs, local_system, episode_id, "collect")
    assert collect["device_ids"] == [device_id] and collect["logistics_centre"] == CENTRE
    assert order_contact(local_system, collect)["phone"] == "+45 20 30 40 50"
    assert upload(tablet) == 401
