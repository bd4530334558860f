"""Referrals and episodes under moto: the API handler, the episode outbox, device linking and revocation."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.referral_intake.repository import DynamoEpisodeStore
from functions.shared import aws
from tests.support import devices_api
from tests.support.devices_api import authorize, principal_context
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.profiles import citizen_store
from tests.support.referrals_api import SAMPLE, call, clinician, refer
from tests.support.runtime import invoke

CPR = "2512489996"


def referral_with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE)
    for name, value in changes.items():
        body[name] = value
    return body


def relay_orders(resources) -> list[dict[str, Any]]:
    """Play the episodes stream's ORDER inserts to the outbox, and read the logistics queue."""
    records = [
        {"eventID": str(n), "eventName": "INSERT", "eventSource": "aws:dynamodb", "eventVersion": "1.1",
         "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item,
                      "SequenceNumber": str(100 + n), "StreamViewType": "NEW_IMAGE"}}
        for n, item in enumerate(table_items(resources, "episodes")) if item["sk"]["S"].startswith("ORDER#")
    ]
    reply = invoke("episode-outbox", {"Records": records})
    assert reply == {"batchItemFailures": []}
    sqs = boto3.Session().client("sqs")
    messages = sqs.receive_message(QueueUrl=resources.queue_urls["logistics-orders"], MaxNumberOfMessages=10,
                                   MessageAttributeNames=["All"])["Messages"]
    return [json.loads(m["Body"]) | {"_attributes": m["MessageAttributes"]} for m in messages]


def register_device(organisation: str = CENTRE, serial: str = "502012345") -> tuple[int, Any]:
    body = devices_api.SAMPLE_BODY | {"cpr": CPR, "serial": serial}
    return devices_api.register(body, authorizer_context=principal_context(organisation=organisation))


# --- referral intake ------------------------------------------------------------------------------


def test_a_referral_creates_a_planned_episode_with_thresholds_and_an_order(resources):
    # Given the sample referral from the treating organisation's clinician
    status, reply = refer()
    # Then an episode is planned with threshold version 1
    assert status == 201
    assert reply["status"] == "planned" and reply["threshold_version"] == 1
    assert reply["episode_id"].startswith("epi_") and reply["patient_id"].startswith("pat_")
    # And no key of any table holds the CPR number, nor does any episode item (its order neither)
    for table in ("episodes", "citizens"):
        for item in table_items(resources, table):
            assert CPR not in json.dumps({k: item[k] for k in ("pk", "sk")})
    assert CPR not in json.dumps(table_items(resources, "episodes"))
    # And the citizen's profile holds the CPR number and contact details sealed, none of them in the clear
    profile = next(i for i in table_items(resources, "citizens") if i["sk"]["S"] == "PROFILE")
    assert set(profile) == {"pk", "sk", "patient_id", "sealed_cpr", "sealed_contact"}
    at_rest = profile["sealed_cpr"]["B"] + profile["sealed_contact"]["B"]
    assert not [secret for secret in (CPR, "Karen Jensen", "+45 20 30 40 50") if secret.encode() in at_rest]
    assert citizen_store(resources).profile(reply["patient_id"]) == {
        "cpr": CPR, "name": "Karen Jensen", "phone": "+45 20 30 40 50"}


def test_the_order_reaches_the_logistics_queue_with_the_package_and_the_citizen_by_reference(resources):
    # Given an accepted referral
    _, reply = refer()
    # When the episodes stream's order is relayed
    (order,) = relay_orders(resources)
    # Then the logistics centre gets a delivery order with the package, naming the citizen by patient id
    # only (the centre reads the contact details through the API)
    assert (order["message_type"], order["schema_version"]) == ("telehub.logistics.order", 2)
    assert (order["kind"], order["order_id"], order["episode_id"]) == ("deliver", reply["order_id"],
                                                                       reply["episode_id"])
    assert order["logistics_centre"] == CENTRE and order["patient_id"] == reply["patient_id"]
    assert "citizen" not in order and CPR not in json.dumps(order)
    oximeter = {"device": "pulse oximeter", "measurement_types": ["spo2", "pulse"], "quantity": 1}
    assert oximeter in order["package"]
    assert order["_attributes"]["logistics_centre"]["StringValue"] == CENTRE


def test_the_outbox_relays_only_order_items(resources):
    # Given a stream batch with an episode's META insert only
    refer()
    meta = next(i for i in table_items(resources, "episodes") if i["sk"]["S"] == "META")
    record = {"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
              "dynamodb": {"Keys": {"pk": meta["pk"], "sk": meta["sk"]}, "NewImage": meta,
                           "SequenceNumber": "1", "StreamViewType": "NEW_IMAGE"}}
    # When the outbox gets it (as if no filter stood before it), Then it is reported as not relayed
    reply = invoke("episode-outbox", {"Records": [record]})
    assert reply == {"batchItemFailures": [{"itemIdentifier": "1"}]}


def test_an_identical_retry_gets_the_same_reply_and_writes_nothing(resources):
    _, first = refer()
    before = table_items(resources, "episodes")
    status, second = refer()
    assert (status, second) == (201, first)
    assert table_items(resources, "episodes") == before


def test_the_same_referral_id_with_another_body_is_a_409(resources):
    refer()
    before = table_items(resources, "episodes")
    status, problem = refer(referral_with(note="another note"))
    assert status == 409 and problem["errors"][0]["field"] == "referral_id"
    assert table_items(resources, "episodes") == before


def test_the_same_referral_id_from_another_organisation_is_another_referral(resources):
    # Given a referral accepted from the treating organisation
    _, first = refer()
    # When another organisation's clinician refers another citizen with the same referral_id
    body = referral_with(treating_organisation=HOSPITAL)
    body["citizen"] = {"cpr": "0101011235", "name": "Other", "phone": "+4511111111"}
    status, second = refer(body, who=clinician(HOSPITAL))
    # Then it is a new episode, not a conflict with the first organisation's referral
    assert status == 201 and second["episode_id"] != first["episode_id"]


def test_a_second_referral_for_an_open_area_is_a_409_naming_the_open_episode(resources):
    _, first = refer()
    before = table_items(resources, "episodes")
    status, problem = refer(referral_with(referral_id="ref-2"))
    assert status == 409 and first["episode_id"] in problem["detail"]
    assert table_items(resources, "episodes") == before


def test_another_area_for_the_same_citizen_shares_the_patient_id_and_the_logistics_centre(resources):
    _, copd = refer()
    status, hf = refer(referral_with(referral_id="ref-hf", disease_area="heart_failure", thresholds=None))
    assert status == 201 and hf["patient_id"] == copd["patient_id"]


def test_another_logistics_centre_while_an_episode_is_open_is_a_409_naming_it(resources):
    refer()
    before = table_items(resources, "episodes")
    status, problem = refer(referral_with(referral_id="ref-hf", disease_area="heart_failure",
                                          thresholds=None, logistics_centre=OTHER))
    assert status == 409 and problem["errors"][0]["field"] == "logistics_centre"
    assert table_items(resources, "episodes") == before


def test_a_clinician_of_another_organisation_may_not_refer(resources):
    status, _ = refer(who=clinician(OTHER))
    assert status == 403
    assert table_items(resources, "episodes") == [] and table_items(resources, "citizens") == []


@pytest.mark.parametrize("role", ["logistics", "device", "system"])
def test_other_roles_may_not_refer(resources, role):
    status, _ = refer(who=clinician(role=role))
    assert status == 403 and table_items(resources, "episodes") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"citizen": {"cpr": "3213489996", "name": "K", "phone": "+4520304050"}}, "citizen.cpr"),
        ({"citizen": {"cpr": CPR, "name": "K", "phone": "call me"}}, "citizen.phone"),
        ({"disease_area": "diabetes_type_9"}, "disease_area"),
        ({"treating_organisation": "12345"}, "treating_organisation"),
        ({"logistics_centre": "ABC"}, "logistics_centre"),
        ({"referral_id": "has space"}, "referral_id"),
        ({"thresholds": {"absolute": {"spo2": {"red_low": 93}}}}, "thresholds.absolute.spo2.yellow_low"),
        ({"thresholds": {"absolute": {"blood_glucose": {"red_high": 20}}}},
         "thresholds.absolute.blood_glucose"),
        ({"thresholds": {"relative": {"weight": {"baseline": "window", "window_days": None}}}},
         "thresholds.relative.weight.window_days"),
        ({"thresholds": {"absolute": {"spo2": {"orange": 1}}}}, "thresholds.absolute.spo2.orange"),
        ({"schedule": {"per_week": 0}}, "schedule.per_week"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(resources, changes, field):
    status, problem = refer(referral_with(**changes))
    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]]
    assert table_items(resources, "episodes") == [] and table_items(resources, "citizens") == []


def test_a_missing_citizen_is_a_422_naming_it(resources):
    body = copy.deepcopy(SAMPLE)
    del body["citizen"]
    status, problem = refer(body)
    assert status == 422 and problem["errors"][0]["field"] == "citizen"


# --- reading, with the access log ----------------------------------------------------------------


def test_the_treating_and_monitoring_organisations_read_the_episode_and_each_read_is_logged(resources):
    _, accepted = refer()
    path = f"/v1/episodes/{accepted['episode_id']}"
    for organisation in (TREATING, MONITORING):
        status, episode = call("GET", path, who=clinician(organisation))
        assert status == 200
        assert episode["thresholds"]["version"] == 1
        assert episode["thresholds"]["thresholds"]["absolute"]["spo2"] == {"red_low": 86, "yellow_low": 90}
        assert episode["schedule"] == {"per_week": 3, "missed_after_hours": 96}
    log = [entry for entry in table_items(resources, "access-log") if entry["action"]["S"] == "read_episode"]
    assert sorted(entry["organisation"]["S"] for entry in log) == [TREATING, MONITORING]
    assert all(entry["patient_id"]["S"] == accepted["patient_id"] for entry in log)
    assert CPR not in json.dumps(log)


def test_another_organisation_may_not_read_and_is_logged_as_denied(resources):
    _, accepted = refer()
    status, _ = call("GET", f"/v1/episodes/{accepted['episode_id']}", who=clinician(OTHER))
    assert status == 403
    assert [(e["organisation"]["S"], e["outcome"]["S"]) for e in table_items(resources, "access-log")
            if e["action"]["S"] != "create_episode"] == [(OTHER, "denied")]


def test_an_unknown_episode_is_a_403_as_another_organisations_is_and_a_malformed_id_a_422(resources):
    assert call("GET", "/v1/episodes/epi_000000000000000000000000")[0] == 403
    status, problem = call("GET", "/v1/episodes/nope")
    assert status == 422 and problem["errors"][0]["field"] == "episode_id"


# --- thresholds ---------------------------------------------------------------------------------


def test_the_treating_organisation_makes_a_new_threshold_version(resources):
    _, accepted = refer()
    path = f"/v1/episodes/{accepted['episode_id']}"
    change = {"thresholds": {"absolute": {"spo2": {"red_low": 85}}}}
    status, version = call("PUT", f"{path}/thresholds", change)
    assert status == 200 and version["version"] == 2
    assert version["thresholds"]["absolute"]["spo2"] == {"red_low": 85, "yellow_low": 90}
    _, episode = call("GET", path)
    assert episode["thresholds"]["version"] == 2
    assert [v["version"] for v in episode["threshold_history"]] == [1, 2]


def test_the_threshold_history_is_read_a_page_at_a_time(resources):
    # Given an episode of three threshold versions
    _, accepted = refer()
    path = f"/v1/episodes/{accepted['episode_id']}"
    for red_low in (85, 84):
        change = {"thresholds": {"absolute": {"spo2": {"red_low": red_low}}}}
        assert call("PUT", f"{path}/thresholds", change)[0] == 200
    # When it is read two versions at a time, following the cursor
    _, first = call("GET", path, query={"history_limit": "2"})
    cursor = first["threshold_history_next_cursor"]
    _, second = call("GET", path, query={"history_limit": "2", "history_cursor": cursor})
    # Then the pages hold the versions oldest first, the last page ending the list
    assert [[v["version"] for v in page["threshold_history"]] for page in (first, second)] == [[1, 2], [3]]
    assert second["threshold_history_next_cursor"] is None
    # And a limit beyond the most a page holds, or a cursor no list gave, is a 422 naming it
    for query, field in (({"history_limit": "101"}, "history_limit"),
                         ({"history_cursor": "x!"}, "history_cursor")):
        status, problem = call("GET", path, query=query)
        assert status == 422 and [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize("organisation", [MONITORING, OTHER])
def test_only_the_treating_organisation_changes_thresholds(resources, organisation):
    _, accepted = refer()
    before = table_items(resources, "episodes")
    status, _ = call("PUT", f"/v1/episodes/{accepted['episode_id']}/thresholds",
                     {"thresholds": {"absolute": {"spo2": {"red_low": 85}}}}, who=clinician(organisation))
    assert status == 403 and table_items(resources, "episodes") == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholds": {"absolute": {"pulse": {"red_high": 90}}}}, "thresholds.absolute.pulse.red_high"),
        ({"thresholds": {}, "valid_from": "2020-01-01T00:00:00Z"}, "valid_from"),
        ({"thresholds": {}, "valid_from": "2030-01-01T00:00:00"}, "valid_from"),
        ({"thresholds": {}, "valid_from": (datetime.now(UTC) + timedelta(days=366)).isoformat()},
         "valid_from"),
        ({}, "thresholds"),
    ],
)
def test_a_bad_threshold_change_is_a_422_naming_the_field_and_writes_nothing(resources, body, field):
    _, accepted = refer()
    before = table_items(resources, "episodes")
    status, problem = call("PUT", f"/v1/episodes/{accepted['episode_id']}/thresholds", body)
    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]]
    assert table_items(resources, "episodes") == before


def test_a_retried_threshold_change_with_valid_from_adds_no_version(resources):
    # Given an episode, and a change scheduled from a month ahead
    _, accepted = refer()
    path = f"/v1/episodes/{accepted['episode_id']}/thresholds"
    month_ahead = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    change = {"thresholds": {"absolute": {"spo2": {"red_low": 85}}}, "valid_from": month_ahead}
    # When it is sent three times (retries)
    versions = [call("PUT", path, change)[1]["version"] for _ in range(3)]
    # Then one version was made and every reply names it
    assert versions == [2, 2, 2]
    _, episode = call("GET", f"/v1/episodes/{accepted['episode_id']}")
    assert [v["version"] for v in episode["threshold_history"]] == [1, 2]


# --- devices join the episode ---------------------------------------------------------------------


def test_registering_a_device_links_it_and_activates_the_episode(resources):
    _, accepted = refer()
    status, device = register_device()
    assert status == 201 and device["patient_id"] == accepted["patient_id"]
    _, episode = call("GET", f"/v1/episodes/{accepted['episode_id']}")
    assert episode["status"] == "active" and episode["device_ids"] == [device["device_id"]]


def test_another_logistics_centre_may_not_register_devices_for_a_referred_citizen(resources):
    refer()
    before = table_items(resources, "devices")
    status, _ = register_device(organisation=OTHER)
    assert status == 403 and table_items(resources, "devices") == before


# --- handover -------------------------------------------------------------------------------------


def handover(episode_id: str, action: str = "", body: Any = None, who: str = MONITORING) -> tuple[int, Any]:
    suffix = f"/{action}" if action else ""
    return call("POST", f"/v1/episodes/{episode_id}/handover{suffix}", body if body is not None else {},
                who=clinician(who))


def test_a_handover_moves_responsibility_only_on_accept_and_the_device_keeps_uploading(resources):
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    _, device = register_device()
    assert authorize(device["credential"])["principalId"] == device["device_id"]
    # When the monitoring organisation offers the episode to the hospital
    status, offered = handover(episode_id, body={"to_organisation": HOSPITAL})
    assert status == 200 and offered["handover"]["to_organisation"] == HOSPITAL
    assert offered["monitoring_organisation"] == MONITORING
    # Then the hospital may read it, and on accepting holds the responsibility
    assert call("GET", f"/v1/episodes/{episode_id}", who=clinician(HOSPITAL))[0] == 200
    status, taken = handover(episode_id, "accept", who=HOSPITAL)
    assert status == 200 and taken["monitoring_organisation"] == HOSPITAL and taken["handover"] is None
    # And the device credential still works, the device still linked
    assert authorize(device["credential"])["principalId"] == device["device_id"]
    assert taken["device_ids"] == [device["device_id"]]
    # And the former monitoring organisation may no longer read it
    assert call("GET", f"/v1/episodes/{episode_id}", who=clinician(MONITORING))[0] == 403


def test_a_declined_handover_leaves_responsibility_where_it_was(resources):
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    handover(episode_id, body={"to_organisation": HOSPITAL})
    assert handover(episode_id, "decline", who=HOSPITAL)[0] == 204
    _, episode = call("GET", f"/v1/episodes/{episode_id}", who=clinician(MONITORING))
    assert episode["monitoring_organisation"] == MONITORING and episode["handover"] is None
    # And after a decline an accept is refused
    assert handover(episode_id, "accept", who=HOSPITAL)[0] == 403


def test_a_retried_decline_is_the_same_204_and_records_who_declined(resources):
    # Given an offer to the hospital, which declines it
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    handover(episode_id, body={"to_organisation": HOSPITAL})
    assert handover(episode_id, "decline", who=HOSPITAL)[0] == 204
    # When the decline is retried (the reply was lost)
    # Then it gets the same 204, and responsibility stays where it was
    assert handover(episode_id, "decline", who=HOSPITAL)[0] == 204
    meta = next(i for i in table_items(resources, "episodes") if i["sk"]["S"] == "META")
    assert meta["declined_by"]["S"] == HOSPITAL and meta["declined_at"]["S"]
    assert meta["monitoring_organisation"]["S"] == MONITORING and "handover_to" not in meta
    # But another organisation's decline is still refused
    assert handover(episode_id, "decline", who=OTHER)[0] == 403


def test_a_handover_is_not_refused_for_a_concurrent_write_to_another_part_of_the_episode(resources,
                                                                                         monkeypatch):
    # Given an episode, and DynamoDB cancelling the first two transactions as if a concurrent request (a
    # threshold change, an evaluation writing the worklist row) were writing the same items at that moment
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    dynamodb = aws.client("dynamodb")
    transact, cancelled = dynamodb.transact_write_items, []

    def conflicting_transaction(**request):
        if len(cancelled) < 2:
            cancelled.append(request)
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                               "CancellationReasons": [{"Code": "TransactionConflict"}]},
                              "TransactWriteItems")
        return transact(**request)

    monkeypatch.setattr(dynamodb, "transact_write_items", conflicting_transaction)
    # When the handover is offered and accepted
    # Then neither is a false 409: the offer is a single conditional update of the episode, and the
    # acceptance (a transaction: the worklist row moves with it) is tried again while the offer stands
    assert handover(episode_id, body={"to_organisation": HOSPITAL})[0] == 200
    assert handover(episode_id, "accept", who=HOSPITAL)[0] == 200
    assert len(cancelled) == 2
    _, episode = call("GET", f"/v1/episodes/{episode_id}", who=clinician(HOSPITAL))
    assert episode["monitoring_organisation"] == HOSPITAL


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_answering_an_offer_after_the_episode_ended_is_refused_as_an_unknown_episode_is(resources, action):
    # Given an offer to the hospital, and then the episode ended (which withdraws the offer)
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    handover(episode_id, body={"to_organisation": HOSPITAL})
    assert call("POST", f"/v1/episodes/{episode_id}/end", {})[0] == 204
    # When the hospital answers the offer
    # Then it has no relation left: the reply is that of an episode that does not exist
    unknown = handover("epi_" + "0" * 24, action, who=HOSPITAL)
    assert handover(episode_id, action, who=HOSPITAL) == unknown and unknown[0] == 403
    # But the treating organisation, which holds the episode, is told why it may not answer the offer
    told = handover(episode_id, action, who=TREATING)
    assert told[0] == 403 and told != unknown


def test_the_offering_organisation_withdraws_its_offer_and_may_offer_another(resources):
    # Given an offer to the hospital
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    path = f"/v1/episodes/{episode_id}/handover"
    handover(episode_id, body={"to_organisation": HOSPITAL})
    # When someone other than the offering organisation tries to withdraw it, it is refused
    assert call("DELETE", path, who=clinician(HOSPITAL))[0] == 403
    # When the offering organisation withdraws it (twice: a retry)
    assert call("DELETE", path, who=clinician(MONITORING))[0] == 204
    assert call("DELETE", path, who=clinician(MONITORING))[0] == 204
    # Then the hospital can no longer accept, and another offer may be made
    assert handover(episode_id, "accept", who=HOSPITAL)[0] == 403
    assert handover(episode_id, body={"to_organisation": OTHER})[0] == 200
    _, episode = call("GET", f"/v1/episodes/{episode_id}", who=clinician(MONITORING))
    assert episode["handover"]["to_organisation"] == OTHER


def test_one_pending_offer_at_a_time(resources):
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    handover(episode_id, body={"to_organisation": HOSPITAL})
    assert handover(episode_id, body={"to_organisation": HOSPITAL})[0] == 200  # the same offer again
    assert handover(episode_id, body={"to_organisation": OTHER})[0] == 409


@pytest.mark.parametrize("who", [TREATING, OTHER, HOSPITAL])
def test_only_the_monitoring_organisation_offers(resources, who):
    _, accepted = refer()
    before = table_items(resources, "episodes")
    assert handover(accepted["episode_id"], body={"to_organisation": HOSPITAL}, who=who)[0] == 403
    assert table_items(resources, "episodes") == before


@pytest.mark.parametrize("action", ["accept", "decline"])
@pytest.mark.parametrize("who", [TREATING, MONITORING, OTHER])
def test_only_the_named_receiver_accepts_or_declines(resources, action, who):
    _, accepted = refer()
    handover(accepted["episode_id"], body={"to_organisation": HOSPITAL})
    before = table_items(resources, "episodes")
    assert handover(accepted["episode_id"], action, who=who)[0] == 403
    assert table_items(resources, "episodes") == before


@pytest.mark.parametrize(("body", "field"), [({"to_organisation": "1"}, "to_organisation"),
                                             ({"to_organisation": MONITORING}, "to_organisation"),
                                             ({}, "to_organisation")])
def test_a_bad_offer_is_a_422_naming_the_field(resources, body, field):
    _, accepted = refer()
    status, problem = handover(accepted["episode_id"], body=body)
    assert status == 422 and problem["errors"][0]["field"] == field


# --- ending ---------------------------------------------------------------------------------------


def test_ending_revokes_the_devices_orders_collection_and_frees_the_area(resources):
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    _, device = register_device()
    relay_orders(resources)  # the delivery order
    # When the treating organisation ends the episode (twice: a retry)
    assert call("POST", f"/v1/episodes/{episode_id}/end", {})[0] == 204
    assert call("POST", f"/v1/episodes/{episode_id}/end", {})[0] == 204
    # Then the device credential is refused
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(device["credential"])
    # And a collect order for the device goes to the logistics centre
    orders = [o for o in relay_orders(resources) if o["kind"] == "collect"]
    assert len(orders) == 1 and orders[0]["device_ids"] == [device["device_id"]]
    assert orders[0]["patient_id"] == accepted["patient_id"] and CPR not in json.dumps(orders[0])
    # And the episode reads as ended, and a new referral for the area is accepted
    _, episode = call("GET", f"/v1/episodes/{episode_id}")
    assert episode["status"] == "ended" and episode["ended_at"]
    status, again = refer(referral_with(referral_id="ref-new"))
    assert status == 201 and again["episode_id"] != episode_id
    # And the serial may be registered again
    assert register_device()[0] == 201


def test_ending_one_episode_keeps_a_device_another_open_episode_uses(resources):
    # Given open COPD and heart-failure episodes, and a device registered for both (a shared scale)
    _, copd = refer()
    _, heart = refer(referral_with(referral_id="ref-hf", disease_area="heart_failure", thresholds=None))
    _, device = register_device()
    relay_orders(resources)  # the delivery orders
    # When the COPD episode ends
    assert call("POST", f"/v1/episodes/{copd['episode_id']}/end", {})[0] == 204
    # Then the device keeps uploading for heart failure, unlinked from COPD
    assert authorize(device["credential"])["principalId"] == device["device_id"]
    (stored,) = table_items(resources, "devices")
    assert stored["status"]["S"] == "active" and stored["episode_ids"]["SS"] == [heart["episode_id"]]
    # And the collect order asks for nothing the citizen still needs
    (collect,) = [o for o in relay_orders(resources) if o["kind"] == "collect"]
    assert collect["episode_id"] == copd["episode_id"] and collect["device_ids"] == []
    # When heart failure ends too, the device is revoked and collected
    assert call("POST", f"/v1/episodes/{heart['episode_id']}/end", {})[0] == 204
    with pytest.raises(Exception, match="Unauthorized"):
        authorize(device["credential"])
    (collect,) = [o for o in relay_orders(resources)
                  if o["kind"] == "collect" and o["episode_id"] == heart["episode_id"]]
    assert collect["device_ids"] == [device["device_id"]]


def test_registering_a_shared_scale_again_links_it_to_an_episode_opened_since(resources):
    # Given a COPD episode with a scale, then a heart-failure referral for the same citizen
    _, copd = refer()
    _, device = register_device()
    _, heart = refer(referral_with(referral_id="ref-hf", disease_area="heart_failure", thresholds=None))
    # When the logistics centre registers the same scale again for heart failure (a retry: 200)
    status, again = register_device()
    assert status == 200 and again["device_id"] == device["device_id"]
    # Then the heart-failure episode is active with the scale
    _, episode = call("GET", f"/v1/episodes/{heart['episode_id']}")
    assert episode["status"] == "active" and episode["device_ids"] == [device["device_id"]]
    # And ending COPD keeps the scale, which heart failure still uses
    assert call("POST", f"/v1/episodes/{copd['episode_id']}/end", {})[0] == 204
    (stored,) = table_items(resources, "devices")
    assert stored["status"]["S"] == "active" and stored["episode_ids"]["SS"] == [heart["episode_id"]]


def test_a_device_registered_while_the_episode_ends_is_revoked_and_collected(resources, monkeypatch):
    # Given a planned episode, and a device registration that lands between the ending's read and its write
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    store_end = DynamoEpisodeStore.end
    registered = []

    def end_after_a_concurrent_registration(self, *args, **kwargs):
        registered.append(register_device()[1]["device_id"])
        return store_end(self, *args, **kwargs)

    monkeypatch.setattr(DynamoEpisodeStore, "end", end_after_a_concurrent_registration)
    # When the episode is ended
    assert call("POST", f"/v1/episodes/{episode_id}/end", {})[0] == 204
    # Then the device that joined meanwhile is revoked and collected, not left active on an ended episode
    (stored,) = table_items(resources, "devices")
    assert stored["status"]["S"] == "revoked"
    (collect,) = [o for o in relay_orders(resources) if o["kind"] == "collect"]
    assert collect["device_ids"] == [registered[0]]


@pytest.mark.parametrize("who", [MONITORING, OTHER])
def test_only_the_treating_organisation_ends_the_episode(resources, who):
    _, accepted = refer()
    before = table_items(resources, "episodes")
    assert call("POST", f"/v1/episodes/{accepted['episode_id']}/end", {}, who=clinician(who))[0] == 403
    assert table_items(resources, "episodes") == before


def test_an_ended_episode_takes_no_threshold_change_or_handover(resources):
    _, accepted = refer()
    episode_id = accepted["episode_id"]
    call("POST", f"/v1/episodes/{episode_id}/end", {})
    assert call("PUT", f"/v1/episodes/{episode_id}/thresholds", {"thresholds": {}})[0] == 409
    assert handover(episode_id, body={"to_organisation": HOSPITAL})[0] == 409
