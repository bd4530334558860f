"""The access log through the handlers under moto: each entry names the request (its id and endpoint) and
expires after the retention; a caller refused an existing citizen is logged as denied with the same reply as
for one that does not exist; every change (a referral, the handover, an ending, a device registered or
revoked) is logged as what it is; and when no entry can be written the request fails closed (503, no data,
and a change logged first is not made)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support import devices_api
from tests.support.consents_api import record_consent
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.referrals_api import call, clinician, refer
from tests.support.runtime import PLATFORM
from tests.support.worklist_api import call as worklist_call
from tests.support.worklist_api import nurse

CPR = "2512489996"  # the sample referral's citizen
UNKNOWN_CPR = "0101010000"
UNKNOWN_EPISODE = "epi_000000000000000000000000"
REQUEST_ID = load_event("referral_intake/get_episode.json")["requestContext"]["requestId"]
REVOKE_REQUEST_ID = load_event("devices/revoke_device.json")["requestContext"]["requestId"]


def _entries(resources, *, referrals: bool = False) -> list[dict[str, str]]:
    """The access log's entries, oldest first; without the referrals' own (most tests refer a citizen
    first) unless asked for."""
    entries = [{name: next(iter(value.values())) for name, value in item.items()}
               for item in table_items(resources, "access-log")]
    return sorted((entry for entry in entries if referrals or entry["action"] != "create_episode"),
                  key=lambda entry: entry["access_id"])


def _fields(entry: dict[str, str]) -> tuple[str, ...]:
    """What an entry says: action, endpoint, outcome, episode, citizen, role, organisation, request."""
    return tuple(entry[name] for name in ("action", "endpoint", "outcome", "episode_id", "patient_id", "role",
                                          "organisation", "request_id"))


def _referred() -> dict[str, Any]:
    status, episode = refer()
    assert status == 201, episode
    return episode


def test_an_entry_names_the_request_and_expires_after_the_retention(resources):
    # Given a referred episode
    episode = _referred()
    # When its monitoring organisation reads it
    status, _ = call("GET", f"/v1/episodes/{episode['episode_id']}", who=clinician(MONITORING))
    # Then one entry names the endpoint by its route template (no id in it) and API Gateway's request id
    assert status == 200
    (entry,) = _entries(resources)
    assert (entry["endpoint"], entry["request_id"], entry["action"], entry["outcome"]) == (
        "GET /v1/episodes/{episode_id}", REQUEST_ID, "read_episode", "allowed")
    assert (entry["patient_id"], entry["episode_id"], entry["organisation"], entry["role"]) == (
        episode["patient_id"], episode["episode_id"], MONITORING, "clinician")
    # And it expires the stage's retention after the access
    accessed = datetime.fromisoformat(entry["accessed_at"])
    retention = timedelta(days=PLATFORM.access_log_retention_days)
    assert int(entry["expires_at"]) == int((accessed + retention).timestamp())
    # And it holds no CPR number
    assert CPR not in json.dumps(entry)


@pytest.mark.parametrize(("method", "path", "action"), [
    ("GET", "/v1/episodes/{}", "read_episode"),
    ("POST", "/v1/episodes/{}/end", "end_episode"),
])
def test_a_refusal_of_an_existing_episode_is_logged_as_denied_with_the_unknown_episodes_reply(
        resources, method, path, action):
    # Given a referred episode, and the reply another organisation gets for one that does not exist
    episode = _referred()
    unknown = call(method, path.format(UNKNOWN_EPISODE), who=clinician(OTHER))
    assert _entries(resources) == []
    # When that organisation asks for the existing episode
    refused = call(method, path.format(episode["episode_id"]), who=clinician(OTHER))
    # Then the reply is the same, and the refusal is one entry, denied, naming the endpoint's template
    assert refused == unknown and refused[0] == 403
    endpoint = f"{method} " + path.format("{episode_id}")
    assert [(e["patient_id"], e["episode_id"], e["organisation"], e["action"], e["outcome"], e["endpoint"])
            for e in _entries(resources)] == [
        (episode["patient_id"], episode["episode_id"], OTHER, action, "denied", endpoint)]


def test_a_refusal_of_an_existing_citizen_named_by_cpr_is_logged_as_denied(resources):
    # Given a referred citizen, and the reply another organisation gets for a CPR number nobody has
    episode = _referred()
    unknown = record_consent(UNKNOWN_CPR, "withdrawn", OTHER)
    # When that organisation records the referred citizen's consent
    refused = record_consent(CPR, "withdrawn", OTHER)
    # Then the reply is the same, and the refusal is one entry of the citizen, denied, under no episode
    assert refused == unknown and refused[0] == 403
    assert [(e["patient_id"], e["episode_id"], e["organisation"], e["outcome"], e["endpoint"])
            for e in _entries(resources)] == [
        (episode["patient_id"], "", OTHER, "denied", "POST /v1/consents")]


def _throttled(monkeypatch, operation: str) -> None:
    """DynamoDB keeps refusing the given write (all of them: the access log's come first)."""
    def refuse(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                          operation)

    monkeypatch.setattr(aws.client("dynamodb"), operation, refuse)


def test_an_episode_is_not_returned_when_its_read_cannot_be_logged(resources, monkeypatch):
    # Given a referred episode, and an access log that cannot be written
    episode = _referred()
    _throttled(monkeypatch, "put_item")
    # When its monitoring organisation reads it
    status, reply = call("GET", f"/v1/episodes/{episode['episode_id']}", who=clinician(MONITORING))
    # Then the request fails closed: a retry-later with nothing of the episode
    assert status == 503
    assert episode["patient_id"] not in json.dumps(reply) and "thresholds" not in json.dumps(reply)


def test_an_episodes_measurements_are_not_returned_when_the_read_cannot_be_logged(resources, monkeypatch):
    # Given a referred episode, and an access log that cannot be written
    episode = _referred()
    _throttled(monkeypatch, "put_item")
    # When its monitoring organisation reads its measurements
    status, reply = worklist_call("GET", f"/v1/episodes/{episode['episode_id']}/measurements",
                                  who=nurse(MONITORING))
    # Then the request fails closed: a retry-later and no measurement list
    assert status == 503 and "measurements" not in reply
    assert _entries(resources) == []


@pytest.mark.parametrize(("path", "action"), [("/v1/episodes/{}/measurements", "read_measurements"),
                                              ("/v1/episodes/{}/alarms", "read_alarms"),
                                              ("/v1/episodes/{}/answers", "read_answers")])
def test_a_refused_read_of_an_existing_episodes_readings_is_logged_as_denied(resources, path, action):
    # Given a referred episode, and the reply another organisation gets for one that does not exist
    episode = _referred()
    unknown = worklist_call("GET", path.format(UNKNOWN_EPISODE), who=nurse(OTHER))
    # When that organisation reads the existing episode's measurements or alarms
    refused = worklist_call("GET", path.format(episode["episode_id"]), who=nurse(OTHER))
    # Then the reply is the same, and the refusal is one entry, denied
    assert refused == unknown and refused[0] == 403
    assert [(e["patient_id"], e["action"], e["outcome"], e["endpoint"]) for e in _entries(resources)] == [
        (episode["patient_id"], action, "denied", "GET " + path.format("{episode_id}"))]


# --- changes -----------------------------------------------------------------------------------------


def test_a_referral_is_logged_as_the_episodes_creation_and_its_retry_again(resources):
    # When a citizen is referred, and the referral is retried (its reply lost)
    status, episode = refer()
    again = refer()
    # Then both replies name the episode, and each was logged as its creation by the referring clinician
    assert status == 201 and again == (201, episode)
    created = ("create_episode", "POST /v1/referrals", "allowed", episode["episode_id"],
               episode["patient_id"], "clinician", TREATING, REQUEST_ID)
    assert [_fields(entry) for entry in _entries(resources, referrals=True)] == [created] * 2


def test_each_handover_step_and_the_ending_is_logged_as_the_change_it_is(resources):
    # Given a referred episode
    episode = _referred()
    episode_id, patient_id = episode["episode_id"], episode["patient_id"]
    handover = "/v1/episodes/{episode_id}/handover"
    steps = [  # method, path, body, organisation, action, status
        ("POST", handover, {"to_organisation": HOSPITAL}, MONITORING, "offer_handover", 200),
        ("POST", handover + "/decline", {}, HOSPITAL, "decline_handover", 204),
        ("POST", handover, {"to_organisation": OTHER}, MONITORING, "offer_handover", 200),
        ("DELETE", handover, None, MONITORING, "withdraw_handover", 204),
        ("POST", handover, {"to_organisation": HOSPITAL}, MONITORING, "offer_handover", 200),
        ("POST", handover + "/accept", {}, HOSPITAL, "accept_handover", 200),
        ("POST", "/v1/episodes/{episode_id}/end", {}, TREATING, "end_episode", 204),
    ]
    # When each step is taken by the organisation that may
    for method, path, body, organisation, _, expected in steps:
        status, reply = call(method, path.format(episode_id=episode_id), body, who=clinician(organisation))
        assert status == expected, reply
    # Then each is one entry, allowed, naming the change, its route template, the caller and the request (the
    # episode the offer and the acceptance return is no separate read)
    assert [_fields(entry) for entry in _entries(resources)] == [
        (action, f"{method} {path}", "allowed", episode_id, patient_id, "clinician", organisation, REQUEST_ID)
        for method, path, _, organisation, action, _ in steps]


def test_a_device_registration_its_retry_and_its_revocation_are_logged(resources):
    # Given a citizen referred with the centre as logistics centre
    episode = devices_api.refer_citizen()
    # When the centre registers a device, registers it again (a retry) and revokes it
    status, device = devices_api.register()
    retry_status, retry = devices_api.register()
    revoked, _ = devices_api.revoke(device["device_id"])
    assert (status, retry_status, revoked) == (201, 200, 204)
    assert retry["patient_id"] == device["patient_id"] == episode["patient_id"]
    # Then each registration's reply, which names the patient id, was logged first, and the revocation
    # too, under the episode the device serves, with the centre's logistics role
    registered = ("register_device", "POST /v1/devices", "allowed", episode["episode_id"],
                  episode["patient_id"], "logistics", CENTRE, REQUEST_ID)
    revocation = ("revoke_device", "DELETE /v1/devices/{device_id}", "allowed", episode["episode_id"],
                  episode["patient_id"], "logistics", CENTRE, REVOKE_REQUEST_ID)
    assert [_fields(entry) for entry in _entries(resources)] == [registered, registered, revocation]


def test_a_refused_registration_of_a_known_citizen_is_logged_as_denied(resources):
    # Given a referred citizen, and the reply another centre gets for a CPR number nobody has
    episode = _referred()
    other_centre = devices_api.principal_context(organisation=OTHER)
    unknown = devices_api.register(devices_api.SAMPLE_BODY | {"cpr": UNKNOWN_CPR},
                                   authorizer_context=other_centre)
    # When that centre registers a device for the referred citizen
    refused = devices_api.register(authorizer_context=other_centre)
    # Then the reply is the same, and the refusal is one entry of the citizen, denied, under no episode
    assert refused == unknown and refused[0] == 403
    assert [(e["patient_id"], e["episode_id"], e["organisation"], e["action"], e["outcome"])
            for e in _entries(resources)] == [(episode["patient_id"], "", OTHER, "register_device", "denied")]


def _access_log_refused(monkeypatch, resources) -> None:
    """DynamoDB keeps refusing every write to the access log (a PutItem, or a transaction putting an
    entry), and only those: the other tables are written as usual."""
    client = aws.client("dynamodb")
    access_log = resources.tables["access-log"]
    put_item, transact_write_items = client.put_item, client.transact_write_items

    def throttled(operation: str) -> ClientError:
        return ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                           operation)

    def put(**request: Any) -> Any:
        if request["TableName"] == access_log:
            raise throttled("PutItem")
        return put_item(**request)

    def transact(**request: Any) -> Any:
        if any(item.get("Put", {}).get("TableName") == access_log for item in request["TransactItems"]):
            raise throttled("TransactWriteItems")
        return transact_write_items(**request)

    monkeypatch.setattr(client, "put_item", put)
    monkeypatch.setattr(client, "transact_write_items", transact)


def test_no_episode_is_created_when_the_referral_cannot_be_logged(resources, monkeypatch):
    # Given an access log that cannot be written
    _access_log_refused(monkeypatch, resources)
    # When a citizen is referred
    status, reply = refer()
    # Then the request fails closed, and no episode, order or referral record was stored
    assert status == 503 and "patient_id" not in reply
    assert table_items(resources, "episodes") == [] and table_items(resources, "access-log") == []


def test_no_device_is_registered_when_the_registration_cannot_be_logged(resources, monkeypatch):
    # Given a referred citizen, and then an access log that cannot be written
    episode = _referred()
    _access_log_refused(monkeypatch, resources)
    # When the centre registers a device
    status, reply = devices_api.register()
    # Then the request fails closed with no patient id or credential, no device is stored and the episode
    # is still planned
    assert status == 503 and "patient_id" not in reply and "credential" not in reply
    assert table_items(resources, "devices") == []
    monkeypatch.undo()
    assert call("GET", f"/v1/episodes/{episode['episode_id']}", who=clinician(MONITORING))[1]["status"] == (
        "planned")


@pytest.mark.parametrize(("path", "body", "organisation"), [
    ("/v1/episodes/{}/handover", {"to_organisation": HOSPITAL}, MONITORING),
    ("/v1/episodes/{}/end", {}, TREATING),
])
def test_an_episode_is_not_changed_when_the_change_cannot_be_logged(resources, monkeypatch, path, body,
                                                                    organisation):
    # Given a referred episode, and then an access log that cannot be written
    episode = _referred()
    before = table_items(resources, "episodes")
    _access_log_refused(monkeypatch, resources)
    # When a handover is offered, or the episode ended
    status, _ = call("POST", path.format(episode["episode_id"]), body, who=clinician(organisation))
    # Then the request fails closed and the episode's items are as they were (no offer, no collect order)
    assert status == 503
    assert table_items(resources, "episodes") == before
