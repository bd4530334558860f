"""The access log through the handlers under moto: each entry names the request (its id and endpoint) and
expires after the retention; a caller refused an existing citizen is logged as denied with the same reply as
for one that does not exist; and when no entry can be written the request fails closed (503, no data)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support.consents_api import record_consent
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import MONITORING, OTHER
from tests.support.referrals_api import call, clinician, refer
from tests.support.runtime import PLATFORM
from tests.support.worklist_api import call as worklist_call
from tests.support.worklist_api import nurse

CPR = "2512489996"  # the sample referral's citizen
UNKNOWN_CPR = "0101010000"
UNKNOWN_EPISODE = "epi_000000000000000000000000"
REQUEST_ID = load_event("referral_intake/get_episode.json")["requestContext"]["requestId"]


def _entries(resources) -> list[dict[str, str]]:
    return [{name: next(iter(value.values())) for name, value in item.items()}
            for item in table_items(resources, "access-log")]


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
    assert table_items(resources, "access-log") == []


@pytest.mark.parametrize(("path", "action"), [("/v1/episodes/{}/measurements", "read_measurements"),
                                              ("/v1/episodes/{}/alarms", "read_alarms")])
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
