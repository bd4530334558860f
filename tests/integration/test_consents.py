"""The citizen's consent to sharing under moto, each function with its own environment: given with the
referral (referral-intake) and withdrawn or renewed by POST /v1/consents (sharing-api)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from tests.support.consents_api import post_consent, record_consent
from tests.support.moto_state import table_items
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.referrals_api import SAMPLE, call, clinician, refer

CPR = "2512489996"
UNKNOWN_CPR = "0101709995"


def referral_with(**changes: Any) -> dict[str, Any]:
    return copy.deepcopy(SAMPLE) | changes


def consent_items(resources) -> dict[str, list[dict[str, Any]]]:
    """The citizens table's consent items: the one that holds, and the history."""
    items = table_items(resources, "citizens")
    return {"holding": [i for i in items if i["sk"]["S"] == "SHARING_CONSENT"],
            "history": [i for i in items if i["sk"]["S"].startswith("CONSENT#")]}


def consent_log(resources) -> list[tuple[str, str, str]]:
    """The consent requests allowed and logged (a refusal of an existing citizen is logged as denied)."""
    return [(e["patient_id"]["S"], e["organisation"]["S"], e["episode_id"]["S"])
            for e in table_items(resources, "access-log")
            if e["action"]["S"] == "record_consent" and e["outcome"]["S"] == "allowed"]


@pytest.fixture
def referred(resources) -> dict[str, Any]:
    """The sample referral, granting consent to sharing."""
    status, reply = refer(referral_with(sharing_consent="granted"))
    assert status == 201
    return reply


# --- with the referral -----------------------------------------------------------------------------


def test_the_referral_records_its_consent_with_the_episode_and_a_retry_records_nothing_new(resources):
    # When the sample referral is sent granting consent, and then sent again
    status, reply = refer(referral_with(sharing_consent="granted"))
    again = refer(referral_with(sharing_consent="granted"))
    # Then the reply says so, and the retry gets the same reply
    assert status == 201 and reply["sharing_consent"] == "granted"
    assert again == (201, reply)
    # And one consent is kept and holds: granted by the treating organisation, with the referral
    consents = consent_items(resources)
    assert len(consents["history"]) == 1
    (holding,) = consents["holding"]
    assert (holding["consent_status"]["S"], holding["organisation"]["S"], holding["source"]["S"],
            holding["patient_id"]["S"]) == ("granted", TREATING, "referral", reply["patient_id"])
    assert holding["consent_id"] == consents["history"][0]["consent_id"]


def test_a_referral_saying_nothing_records_no_consent(resources):
    status, reply = refer()
    assert status == 201 and reply["sharing_consent"] is None
    assert consent_items(resources) == {"holding": [], "history": []}


def test_a_referral_refused_records_no_consent(resources):
    # Given an open episode, When a second COPD referral for the citizen grants consent
    refer()
    status, _ = refer(referral_with(referral_id="ref-2025-000999", sharing_consent="granted"))
    # Then it is refused, and no consent was written with it
    assert status == 409
    assert consent_items(resources) == {"holding": [], "history": []}


# --- POST /v1/consents -----------------------------------------------------------------------------


def test_the_monitoring_organisation_withdraws_and_a_repeat_changes_nothing(resources, referred):
    # When the monitoring organisation records the citizen's withdrawal (the CPR number with a dash)
    status, consent = record_consent("251248-9996", "withdrawn", MONITORING)
    # Then it is recorded as the monitoring organisation's and holds, the referral's kept before it
    assert status == 201
    assert (consent["status"], consent["organisation"], consent["source"]) == (
        "withdrawn", MONITORING, "consent_request")
    assert set(consent) == {"consent_id", "status", "recorded_at", "organisation", "source"}
    consents = consent_items(resources)
    assert consents["holding"][0]["consent_id"]["S"] == consent["consent_id"]
    assert consents["holding"][0]["consent_status"]["S"] == "withdrawn"
    assert len(consents["history"]) == 2
    # And the request was access-logged under the episode
    assert consent_log(resources) == [(referred["patient_id"], MONITORING, referred["episode_id"])]
    # When the treating organisation records the same again
    repeat_status, repeat = record_consent(CPR, "withdrawn", TREATING)
    # Then nothing changes: the withdrawal holds, and the repeat was logged too
    assert (repeat_status, repeat) == (200, consent)
    assert len(consent_items(resources)["history"]) == 2
    assert len(consent_log(resources)) == 2
    # And a renewal holds from then on
    renewed_status, renewed = record_consent(CPR, "granted", TREATING)
    assert (renewed_status, renewed["status"]) == (201, "granted")
    assert renewed["recorded_at"] >= consent["recorded_at"]


def test_a_consent_first_recorded_by_the_request_when_the_referral_said_nothing(resources):
    # Given a referral that said nothing about sharing
    refer()
    # When the treating organisation records the citizen's consent
    status, consent = record_consent(CPR, "granted", TREATING)
    # Then it is the first consent, and holds
    assert (status, consent["status"]) == (201, "granted")
    assert len(consent_items(resources)["history"]) == 1


@pytest.mark.parametrize("organisation", [OTHER, HOSPITAL])
def test_a_403_is_the_same_whether_the_citizen_exists_or_not(resources, referred, organisation):
    # Given a handover offered to the hospital (an offer is no relation), and an organisation with no part
    offered, _ = call("POST", f"/v1/episodes/{referred['episode_id']}/handover",
                      {"to_organisation": HOSPITAL}, who=clinician(MONITORING))
    assert offered == 200
    # When the organisation withdraws the consent of the referred citizen, and of a citizen never referred
    known = post_consent({"cpr": CPR, "status": "withdrawn"}, organisation)
    unknown = post_consent({"cpr": UNKNOWN_CPR, "status": "withdrawn"}, organisation)
    # Then both are 403s, byte for byte the same
    assert known["statusCode"] == 403
    assert known == unknown
    # And nothing was logged or changed
    assert consent_log(resources) == []
    assert consent_items(resources)["holding"][0]["consent_status"]["S"] == "granted"


@pytest.mark.parametrize("body, field", [
    ({"cpr": "25124899", "status": "granted"}, "cpr"),
    ({"cpr": "3102489996", "status": "granted"}, "cpr"),  # 31 February
    ({"status": "granted"}, "cpr"),
    ({"cpr": CPR, "status": "maybe"}, "status"),
    ({"cpr": CPR}, "status"),
    ({"cpr": CPR, "status": "granted", "patient_id": "pat_1"}, "patient_id"),
])
def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(resources, referred, body, field):
    reply = post_consent(body)
    problem = json.loads(reply["body"])
    assert (reply["statusCode"], [error["field"] for error in problem["errors"]]) == (422, [field])
    assert CPR not in reply["body"]
    assert len(consent_items(resources)["history"]) == 1
    assert consent_log(resources) == []


@pytest.mark.parametrize("body, status", [("not json", 422), ('["cpr"]', 422)])
def test_a_body_that_is_no_json_object_is_refused(resources, body, status):
    assert post_consent(body)["statusCode"] == status


def test_a_referral_with_an_unknown_consent_is_a_422_naming_it(resources):
    status, problem = refer(referral_with(sharing_consent="yes"))
    assert (status, [error["field"] for error in problem["errors"]]) == (422, ["sharing_consent"])
    assert table_items(resources, "episodes") == []


def test_without_the_access_log_nothing_is_recorded_or_returned(resources, referred, monkeypatch):
    # Given an access log DynamoDB keeps refusing
    def throttled(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                          "TransactWriteItems")

    monkeypatch.setattr(aws.client("dynamodb"), "transact_write_items", throttled)
    # When the consent is withdrawn
    reply = post_consent({"cpr": CPR, "status": "withdrawn"})
    # Then the request fails with a retry-later and no consent, and the granted consent holds
    assert reply["statusCode"] == 503 and "consent_id" not in reply["body"]
    assert consent_items(resources)["holding"][0]["consent_status"]["S"] == "granted"
    assert len(consent_items(resources)["history"]) == 1
