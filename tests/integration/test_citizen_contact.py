"""The clinicians' read of whom an episode is for, through the referral-intake function under moto: the
episode's organisations get the citizen's CPR number, name and phone, opened with the citizen-profile key,
access-logged before the reply and not to be cached; every refusal is byte for byte the reply to an episode
that does not exist, logged as denied for a known citizen; an entry that cannot be written, or a profile KMS
will not open, is a 503 with nothing of the citizen."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support.docs import json_block_after
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.referrals_api import call, clinician, refer
from tests.support.runtime import invoke

CPR, NAME, PHONE = "2512489996", "Karen Jensen", "+45 20 30 40 50"  # the sample referral's citizen
UNKNOWN_EPISODE = "epi_" + "0" * 24
ROUTE = "/v1/episodes/{episode_id}/citizen"
SAMPLE = "referral_intake/get_citizen.json"
REQUEST_ID = load_event(SAMPLE)["requestContext"]["requestId"]
REFUSAL = json_block_after("docs/api.md", "### No relation: one 403 that tells nothing")


def citizen(episode_id: str, organisation: str = MONITORING, role: str = "clinician") -> dict[str, Any]:
    """The function's whole reply (status, headers, body) to GET .../citizen by a clinician of the
    organisation."""
    event = load_event(SAMPLE)
    event["path"] = ROUTE.format(episode_id=episode_id)
    event["pathParameters"] = {"episode_id": episode_id}
    event["requestContext"]["authorizer"] = clinician(organisation, role)
    reply: dict[str, Any] = invoke("referral-intake", event)
    return reply


def _referred() -> dict[str, Any]:
    status, episode = refer()
    assert status == 201, episode
    return episode


def _citizen_reads(resources) -> list[tuple[str, ...]]:
    """The access log's citizen reads: outcome, organisation, citizen, episode, endpoint, request."""
    entries = [{name: next(iter(value.values())) for name, value in item.items()}
               for item in table_items(resources, "access-log")]
    return [(e["outcome"], e["organisation"], e["patient_id"], e["episode_id"], e["endpoint"],
             e["request_id"])
            for e in sorted(entries, key=lambda e: e["access_id"]) if e["action"] == "read_citizen"]


def _personal(text: str) -> list[str]:
    return [value for value in (CPR, CPR[:6] + "-" + CPR[6:], NAME, PHONE) if value in text]


def _offered_to_hospital(episode_id: str) -> None:
    offer = {"to_organisation": HOSPITAL}
    assert call("POST", f"/v1/episodes/{episode_id}/handover", offer, clinician(MONITORING))[0] == 200


@pytest.mark.parametrize("organisation", [MONITORING, TREATING, HOSPITAL])
def test_the_episodes_organisations_read_whom_it_is_for_logged_first_and_not_cached(resources,
                                                                                    organisation):
    # Given a referral, whose monitoring is offered to the hospital
    episode = _referred()
    _offered_to_hospital(episode["episode_id"])
    # When a clinician of the monitoring, the treating or the offered organisation reads whom it is for
    reply = citizen(episode["episode_id"], organisation)
    # Then it gets the CPR number, name and phone, opened from the sealed profile, in a reply no cache keeps
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"]) == {"cpr": CPR, "name": NAME, "phone": PHONE}
    assert reply["multiValueHeaders"]["Cache-Control"] == ["no-store"]
    # And the read is one allowed entry of the citizen, naming the endpoint's template and the request
    assert _citizen_reads(resources) == [("allowed", organisation, episode["patient_id"],
                                          episode["episode_id"], f"GET {ROUTE}", REQUEST_ID)]


@pytest.mark.parametrize("refused", ["no part in it", "the logistics centre's organisation",
                                     "handed it over"])
def test_every_refusal_is_the_reply_to_an_episode_that_does_not_exist_and_is_logged_as_denied(resources,
                                                                                              refused):
    # Given a referred citizen, and the reply a clinician gets for an episode that does not exist
    episode = _referred()
    unknown = citizen(UNKNOWN_EPISODE, OTHER)
    assert json.loads(unknown["body"]) == REFUSAL and _citizen_reads(resources) == []
    organisation = {"no part in it": OTHER, "the logistics centre's organisation": CENTRE}.get(refused,
                                                                                             MONITORING)
    if refused == "handed it over":
        _offered_to_hospital(episode["episode_id"])
        accept = f"/v1/episodes/{episode['episode_id']}/handover/accept"
        assert call("POST", accept, {}, clinician(HOSPITAL))[0] == 200
    # When a clinician of the organisation asks whom the episode is for
    reply = citizen(episode["episode_id"], organisation)
    # Then the reply is the unknown one, byte for byte, and the refusal one entry of the citizen, denied
    assert reply == unknown and reply["statusCode"] == 403
    assert _personal(json.dumps(reply)) == []
    assert _citizen_reads(resources) == [("denied", organisation, episode["patient_id"],
                                          episode["episode_id"], f"GET {ROUTE}", REQUEST_ID)]


def test_a_logistics_centre_may_not_read_whom_an_episode_is_for(resources):
    # Given a referral; When its logistics centre's system asks whom the episode is for
    episode = _referred()
    reply = citizen(episode["episode_id"], CENTRE, role="logistics")
    # Then the route refuses the role (API Gateway's policy refuses it first), and nothing is read or logged
    assert reply["statusCode"] == 403 and _personal(json.dumps(reply)) == []
    assert _citizen_reads(resources) == []


def test_a_malformed_episode_id_is_a_422_naming_it(resources):
    reply = citizen("epi_1")
    assert reply["statusCode"] == 422 and json.loads(reply["body"])["errors"][0]["field"] == "episode_id"


def test_nothing_of_the_citizen_is_returned_when_the_read_cannot_be_logged(resources, monkeypatch):
    # Given a referral, and an access log that cannot be written
    episode = _referred()
    client = aws.client("dynamodb")
    put_item = client.put_item

    def put(**request: Any) -> Any:
        if request["TableName"] == resources.tables["access-log"]:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}
            raise ClientError(error, "PutItem")
        return put_item(**request)

    monkeypatch.setattr(client, "put_item", put)
    # When the monitoring nurse reads whom the episode is for
    reply = citizen(episode["episode_id"])
    # Then the request fails closed: a retry-later with nothing of the citizen, and no entry
    assert reply["statusCode"] == 503 and _personal(json.dumps(reply)) == []
    assert _citizen_reads(resources) == []


def test_nothing_of_the_citizen_is_returned_when_kms_will_not_open_the_profile(resources, monkeypatch):
    # Given a referral, and the citizen-profile key disabled
    episode = _referred()

    def disabled(**request: Any) -> Any:
        raise ClientError({"Error": {"Code": "DisabledException", "Message": "disabled"}}, "Decrypt")

    monkeypatch.setattr(aws.client("kms"), "decrypt", disabled)
    # When the monitoring nurse reads whom the episode is for
    reply = citizen(episode["episode_id"])
    # Then it is a retry-later with nothing of the citizen (the allowed read was logged before the opening)
    assert reply["statusCode"] == 503 and _personal(json.dumps(reply)) == []
    assert [read[0] for read in _citizen_reads(resources)] == ["allowed"]
