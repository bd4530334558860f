"""The devices API under moto: real KMS MAC and signing, DynamoDB, the real authorizer handler, and
referrals that name the logistics centre (its reason to register a citizen's devices)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt
import pytest

from functions.authorizer import handler as authorizer
from functions.devices.logic import CREDENTIAL_GRACE, MINIMUM_ROTATION_INTERVAL, SERIAL_TAKEN
from functions.devices.models import DeviceRegistration
from functions.shared.device_records import DEVICE_CREDENTIAL_TYPE
from functions.shared.errors import NO_RELATION
from tests.support.devices_api import (
    CPR,
    SAMPLE_BODY,
    authorize,
    devices_clock_at,
    principal_context,
    refer_citizen,
    register,
    register_reply,
    registered_long_enough_ago,
    revoke,
    rotate_credential,
    rotate_with,
)
from tests.support.events import load_event
from tests.support.moto_state import table_items
from tests.support.organisations import CENTRE, OTHER
from tests.support.referrals_api import call
from tests.support.runtime import PLATFORM, invoke

OTHER_CPR = "0101011235"


@pytest.fixture
def referred(resources) -> dict[str, Any]:
    """The sample citizen referred with a COPD episode whose logistics centre is CENTRE; the episode."""
    return refer_citizen()


def body_with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_BODY)
    for name, value in changes.items():
        if value is ...:
            body.pop(name)
        else:
            body[name] = value
    return body


# --- register, authorize, revoke -----------------------------------------------------------------


def test_a_registered_device_is_let_in_by_the_authorizer_until_it_is_revoked(referred):
    # Given the logistics centre of the citizen's episode registers a device (the canonical sample event)
    status, reply = register()
    assert status == 201
    assert reply["status"] == "active" and reply["patient_id"] == referred["patient_id"]
    assert reply["measurement_types"] == ["pulse", "spo2"]
    # When the tablet presents the credential, Then the real authorizer lets it in as that device and
    # patient, with the types it was registered for (read with the device's standing)
    policy = authorize(reply["credential"])
    assert policy["principalId"] == reply["device_id"]
    device_id = reply["device_id"]
    assert policy["context"] == {
        "role": "device", "subject": device_id, "device_id": device_id, "patient_id": reply["patient_id"],
        "measurement_types": "pulse spo2", "credential_id": jwt.decode(
            reply["credential"], options={"verify_signature": False})["jti"],
    }
    # When the centre revokes the device
    status, _ = revoke(reply["device_id"])
    assert status == 204
    # Then the same credential is refused at once
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(reply["credential"])


def test_the_stored_items_follow_the_contract_and_no_key_holds_the_cpr(resources, referred):
    # Given a registered device
    _, reply = register()
    # Then the device item has the contract's fields
    [device] = table_items(resources, "devices")
    assert device["device_id"]["S"] == reply["device_id"]
    assert device["patient_id"]["S"] == reply["patient_id"]
    assert device["status"]["S"] == "active"
    assert device["registered_by"]["S"] == CENTRE
    assert device["medcom_instrument_code"]["S"] == SAMPLE_BODY["medcom_instrument_code"]
    assert [kind["S"] for kind in device["measurement_types"]["L"]] == ["pulse", "spo2"]
    assert device["episode_ids"]["SS"] == [referred["episode_id"]]
    # And the citizen is found by the KMS MAC of the CPR, never by the CPR itself
    mac = boto3.Session().client("kms").generate_mac(
        KeyId=resources.key_ids["citizen-pseudonym"], MacAlgorithm="HMAC_SHA_256", Message=CPR.encode()
    )["Mac"].hex()
    citizens = {(item["pk"]["S"], item["sk"]["S"]): item for item in table_items(resources, "citizens")}
    assert citizens[(f"CITIZEN#{mac}", "IDENTITY")]["patient_id"]["S"] == reply["patient_id"]
    assert CPR.encode() not in citizens[(f"PATIENT#{reply['patient_id']}", "PROFILE")]["sealed_cpr"]["B"]
    assert all(CPR not in pk and CPR not in sk for pk, sk in citizens)


def test_the_credential_has_the_contracts_claims_and_key_id(resources, referred):
    _, reply = register()
    header = jwt.get_unverified_header(reply["credential"])
    claims = jwt.decode(reply["credential"], options={"verify_signature": False})
    assert header == {"alg": "RS256", "typ": DEVICE_CREDENTIAL_TYPE,
                      "kid": resources.key_ids["device-credentials"]}
    assert claims["iss"] == PLATFORM.device_credential_issuer and claims["aud"] == PLATFORM.token_audience
    assert claims["telehub_role"] == "device"
    assert claims["telehub_device"] == claims["sub"] == reply["device_id"]
    assert claims["exp"] - claims["iat"] == PLATFORM.device_credential_ttl_days * 86400
    # And its id is the one the device item records as current, with no previous one
    [device] = table_items(resources, "devices")
    assert device["credential_id"]["S"] == claims["jti"] and "previous_credential_id" not in device


def test_a_retried_registration_returns_the_same_device_with_a_working_credential(resources, referred):
    # Given a registered device
    _, first = register()
    # When the identical request is sent again
    status, retry = register()
    # Then the reply is 200 with the same device, and no second device exists
    assert status == 200
    assert (retry["device_id"], retry["patient_id"]) == (first["device_id"], first["patient_id"])
    assert len(table_items(resources, "devices")) == 1
    # And the fresh credential works, and the first one still does, for the grace
    assert authorize(retry["credential"])["context"]["device_id"] == first["device_id"]
    assert authorize(first["credential"])["context"]["device_id"] == first["device_id"]
    # And a second retry retires the first credential: never more than two work
    assert register()[0] == 200
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(first["credential"])


def test_a_second_device_of_the_citizen_shares_the_patient_id(resources, referred):
    _, first = register()
    status, second = register(body_with(serial="SCALE-1", measurement_types=["weight"], cpr="251248-9996"))
    assert status == 201
    assert second["device_id"] != first["device_id"] and second["patient_id"] == first["patient_id"]
    assert len([item for item in table_items(resources, "citizens") if item["sk"]["S"] == "IDENTITY"]) == 1


def test_the_same_serial_for_another_citizen_is_a_conflict_that_names_no_one_and_writes_nothing(
        resources, referred):
    # Given the serial is active for one citizen, and another citizen referred to the same centre
    register()
    refer_citizen(OTHER_CPR)
    citizens, devices_before = table_items(resources, "citizens"), table_items(resources, "devices")
    # When it is registered for the other citizen
    status, reply = register(body_with(cpr=OTHER_CPR))
    # Then 409 saying only that the serial is taken, and nothing was written
    assert status == 409
    assert (reply["code"], reply["detail"]) == ("conflict", SERIAL_TAKEN)
    assert table_items(resources, "citizens") == citizens
    assert table_items(resources, "devices") == devices_before


def test_after_revocation_the_serial_can_be_registered_again(resources, referred):
    refer_citizen(OTHER_CPR)
    _, first = register()
    revoke(first["device_id"])
    status, again = register(body_with(cpr=OTHER_CPR))
    assert status == 201 and again["device_id"] != first["device_id"]


# --- no reason to register: one 403 -------------------------------------------------------------


def known_without_an_episode() -> None:
    episode = refer_citizen()
    assert call("POST", f"/v1/episodes/{episode['episode_id']}/end", {})[0] == 204


def known_with_another_centres_episode() -> None:
    refer_citizen(logistics_centre=OTHER)


def test_a_centre_without_an_open_episode_of_the_citizen_gets_one_403_whatever_the_reason(resources):
    # Given three citizens as a centre without a reason sees them: unknown, known without an open
    # episode, and known with another logistics centre's episode
    replies = []
    for arrange in (lambda: None, known_without_an_episode, known_with_another_centres_episode):
        arrange()
        devices_before = table_items(resources, "devices")
        # When the centre registers a device for the citizen
        replies.append(register_reply())
        # Then nothing is written
        assert table_items(resources, "devices") == devices_before
        assert "502012345" not in json.dumps(table_items(resources, "citizens"), default=str)
    # And the three replies are byte-equal 403s that say nothing more
    unknown, ended, another_centres = replies
    assert unknown["statusCode"] == 403 and json.loads(unknown["body"])["detail"] == NO_RELATION
    assert ended == unknown and another_centres == unknown  # status, headers and body as sent


def test_an_unknown_citizen_is_not_created_by_a_refused_registration(resources):
    assert register()[0] == 403
    assert table_items(resources, "citizens") == []


def test_a_retry_after_the_episode_ended_gets_no_fresh_credential(resources, referred):
    # Given a device registered during an episode, which then ended (revoking the device)
    assert register()[0] == 201
    assert call("POST", f"/v1/episodes/{referred['episode_id']}/end", {})[0] == 204
    # When the centre sends the registration again, Then it is the same 403
    status, reply = register()
    assert status == 403 and reply["detail"] == NO_RELATION


# --- a device lives as long as an open episode of its citizen ---------------------------------------


def test_a_device_of_two_episodes_survives_the_first_ending_and_is_revoked_with_the_last(resources, referred):
    # Given a scale registered for the citizen's COPD episode, and registered again (a retry) once a
    # heart-failure episode opened, so that it serves both
    _, device = register()
    heart = refer_citizen(disease_area="heart_failure")
    status, again = register()
    assert status == 200 and again["device_id"] == device["device_id"]
    # When the COPD episode ends, Then the scale still gets in
    assert call("POST", f"/v1/episodes/{referred['episode_id']}/end", {})[0] == 204
    assert authorize(device["credential"])["context"]["device_id"] == device["device_id"]
    # When the heart-failure episode ends too, the citizen has no open episode: the scale is revoked
    assert call("POST", f"/v1/episodes/{heart['episode_id']}/end", {})[0] == 204
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(device["credential"])
    (stored,) = table_items(resources, "devices")
    assert stored["status"]["S"] == "revoked"


# --- refused requests write nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (body_with(cpr="321248-9996"), "cpr"),
        (body_with(cpr="290200-1234"), "cpr"),
        (body_with(measurement_types=["spo2", "heart_sound"]), "measurement_types[1]"),
        (body_with(measurement_types=[]), "measurement_types"),
        (body_with(serial=...), "serial"),
        (body_with(serial=502012345), "serial"),
        (body_with(colour="blue"), "colour"),
        ([SAMPLE_BODY], "body"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(resources, body, field):
    # Given a body with a bad CPR, an unknown measurement type, a missing, mistyped or extra field
    # When it is posted
    status, reply = register(body)
    # Then 422 names the field, never repeats a CPR, and nothing is stored
    assert status == 422
    assert field in [error["field"] for error in reply["errors"]]
    assert "9996" not in json.dumps(reply) and "1234" not in json.dumps(reply)
    assert table_items(resources, "citizens") == [] and table_items(resources, "devices") == []


def test_a_body_that_is_not_json_is_a_422(resources):
    status, reply = register(raw_body='{"cpr": "2512489996", "vendor": ')
    assert status == 422
    assert reply["errors"][0]["field"] == "body"
    assert table_items(resources, "citizens") == []


def test_a_body_that_is_not_sent_as_json_is_a_415(resources):
    status, _ = register(content_type="text/plain")
    assert status == 415
    assert table_items(resources, "citizens") == []


@pytest.mark.parametrize("role", ["clinician", "system", "device"])
def test_a_caller_with_another_role_is_forbidden_and_writes_nothing(resources, role):
    status, reply = register(authorizer_context=principal_context(role=role))
    assert status == 403 and reply["code"] == "forbidden"
    assert table_items(resources, "citizens") == [] and table_items(resources, "devices") == []


def test_a_request_without_a_principal_is_unauthorized(resources):
    status, _ = register(authorizer_context={})
    assert status == 401
    assert table_items(resources, "citizens") == []


# --- revocation rules ---------------------------------------------------------------------------


def test_revoking_twice_is_a_204_both_times_and_records_when(resources, referred):
    _, reply = register()
    assert revoke(reply["device_id"])[0] == 204
    [device] = table_items(resources, "devices")
    assert revoke(reply["device_id"])[0] == 204
    assert table_items(resources, "devices") == [device]
    assert device["status"]["S"] == "revoked" and device["revoked_at"]["S"]


def test_revoking_an_unknown_device_is_the_no_relation_403(resources):
    status, reply = revoke("dev_000000000000000000000000")
    assert status == 403 and reply["detail"] == NO_RELATION


def test_revoking_a_malformed_device_id_is_a_422_naming_it(resources):
    status, reply = revoke("not-a-device")
    assert status == 422 and reply["errors"][0]["field"] == "device_id"


def test_another_organisation_cannot_tell_its_device_from_none_and_the_credential_keeps_working(
        resources, referred):
    # Given a device registered by one centre
    _, reply = register()
    device_id, unknown_id = reply["device_id"], "dev_000000000000000000000000"
    # When another centre revokes it, and a device id that names no device
    status, theirs = revoke(device_id, principal_context(organisation=OTHER))
    unknown_status, unknown = revoke(unknown_id, principal_context(organisation=OTHER))
    # Then both are the same 403, byte for byte, and the device still gets in
    assert status == unknown_status == 403
    assert theirs == unknown
    assert authorize(reply["credential"])["context"]["device_id"] == device_id


def test_a_clinician_may_not_revoke(resources, referred):
    _, reply = register()
    assert revoke(reply["device_id"], principal_context(role="clinician"))[0] == 403


# --- rotating a device's credential ------------------------------------------------------------


def authorizer_clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The authorizer's clock set to ``moment`` (its next invocation builds its service anew with it)."""
    monkeypatch.setattr(authorizer, "utc_now", lambda: moment)
    authorizer._authenticator.cache_clear()


def invoke_rotation(credential: str) -> dict[str, Any]:
    """The devices function's whole reply, headers too, to a rotation sent with this credential."""
    policy = authorize(credential)
    event = load_event("devices/rotate_credential.json")
    event["requestContext"]["authorizer"] = {"principalId": policy["principalId"], **policy["context"]}
    return invoke("devices", event)


def test_a_device_rotates_its_credential_and_the_old_one_stops_after_the_grace(resources, referred,
                                                                               monkeypatch):
    # Given a device registered long enough ago
    device = registered_long_enough_ago()
    # When it rotates its credential, presenting it through the authorizer
    status, rotated = rotate_with(device["credential"])
    # Then it gets a new credential of the same device, with the end of the old one's grace
    assert status == 200, rotated
    assert rotated["device_id"] == device["device_id"]
    grace_end = datetime.fromisoformat(rotated["previous_credential_valid_until"])
    assert timedelta(0) < grace_end - datetime.now(UTC) <= CREDENTIAL_GRACE
    new_id = jwt.decode(rotated["credential"], options={"verify_signature": False})["jti"]
    [stored] = table_items(resources, "devices")
    assert stored["credential_id"]["S"] == new_id
    # And both credentials get in during the grace
    assert authorize(rotated["credential"])["context"]["credential_id"] == new_id
    assert authorize(device["credential"])["context"]["device_id"] == device["device_id"]
    # When the grace has ended, Then the old credential is refused and the new one gets in
    authorizer_clock_at(monkeypatch, grace_end)
    with pytest.raises(Exception, match="^Unauthorized$"):
        authorize(device["credential"])
    assert authorize(rotated["credential"])["context"]["credential_id"] == new_id


def test_a_rotation_too_soon_is_a_429_saying_when_and_a_retry_with_the_old_credential_gets_the_same_one(
        resources, referred):
    # Given a device that rotated its credential
    device = registered_long_enough_ago()
    _, rotated = rotate_with(device["credential"])
    [stored] = table_items(resources, "devices")
    # When it rotates again with the new credential, a minute later by the devices function's clock
    with devices_clock_at(datetime.fromisoformat(stored["credential_issued_at"]["S"]) + timedelta(minutes=1)):
        reply = invoke_rotation(rotated["credential"])
    # Then it is refused with 429 problem+json, Retry-After the seconds left, and nothing is written
    assert reply["statusCode"] == 429
    assert json.loads(reply["body"])["code"] == "too_many_requests"
    headers = {name: values[0] for name, values in reply["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/problem+json"
    assert int(headers["Retry-After"]) == (MINIMUM_ROTATION_INTERVAL - timedelta(minutes=1)).seconds
    assert table_items(resources, "devices") == [stored]
    # When it sends the rotation with its old credential instead (as after a lost reply)
    status, again = rotate_with(device["credential"])
    # Then it gets the credential it already has, the very token, with the old one's grace unchanged
    assert status == 200
    assert again == rotated
    assert table_items(resources, "devices") == [stored]


def test_revoking_a_device_stops_its_current_and_previous_credential_at_once(resources, referred):
    # Given a device that rotated its credential (both work now)
    device = registered_long_enough_ago()
    _, rotated = rotate_with(device["credential"])
    # When the centre revokes the device
    assert revoke(device["device_id"])[0] == 204
    # Then neither credential gets in, and a rotation begun before the revocation is refused
    for credential in (device["credential"], rotated["credential"]):
        with pytest.raises(Exception, match="^Unauthorized$"):
            authorize(credential)
    context = principal_context(role="device", organisation=None) | {
        "device_id": device["device_id"], "patient_id": device["patient_id"],
        "measurement_types": "pulse spo2",
        "credential_id": jwt.decode(rotated["credential"], options={"verify_signature": False})["jti"]}
    status, reply = rotate_credential(context)
    assert status == 401 and reply["code"] == "unauthorized"


def test_a_rotation_by_another_role_is_forbidden_and_changes_nothing(resources, referred):
    _, device = register()
    before = table_items(resources, "devices")
    status, reply = rotate_credential(principal_context())
    assert status == 403 and reply["code"] == "forbidden"
    assert table_items(resources, "devices") == before


# --- the sample event ---------------------------------------------------------------------------


def test_the_sample_registration_event_is_a_valid_registration():
    body = load_event("devices/register_device.json")["body"]
    assert DeviceRegistration.model_validate_json(body).cpr == CPR
