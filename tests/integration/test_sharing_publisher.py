"""The sharing publisher under moto: the real handler with its own environment, the real citizens and
episodes tables as the other features write them, the sharing topic and one queue per subscriber with the
spec's filter policy on ``recipients`` (String.Array). Routing is moto's SNS filter semantics: a region's
queue receives its citizens' Bundles and another region's nothing; after a handover the old monitoring
organisation's queue gets nothing new; a withdrawn consent reaches no queue; a poison message fails alone.
The requests a batch costs are counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from functions.shared.citizen_records import ConsentStatus, profile_key
from infrastructure.resource_spec import SPEC, ResourceNames, SharingSubscriber
from tests.support.events import load_event
from tests.support.log_scan import function_logs_at_debug
from tests.support.moto_state import moto_account, queued_messages
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.profiles import stored_profile
from tests.support.runtime import STAGE, current, invoke, isolated_functions
from tests.support.sharing import (
    CPR,
    EPISODE,
    OTHER_CPR,
    OTHER_EPISODE,
    OTHER_PATIENT,
    PATIENT,
    SHARED_TYPES,
    StoredSharingState,
    consent,
    evaluated,
    observations,
    pressure,
    reading,
    requests_sent,
    sqs_event,
    validated,
)

SUBSCRIBERS = (TREATING, MONITORING, HOSPITAL, OTHER)


@pytest.fixture
def names() -> Iterator[ResourceNames]:
    """A moto account with the spec's resources and a queue per subscriber, the functions run with the
    COPD programme's agreed types."""
    spec = SPEC.with_sharing_subscribers(tuple(SharingSubscriber(code) for code in SUBSCRIBERS))
    with moto_account(STAGE, spec) as resource_names, isolated_functions(resource_names):
        current().use_platform(shared_measurement_types=tuple(sorted(SHARED_TYPES)))
        yield resource_names


@pytest.fixture
def stored(names: ResourceNames) -> StoredSharingState:
    """The citizen with a granted consent and an episode treated by TREATING and monitored by MONITORING;
    another citizen, consenting, whose episode HOSPITAL monitors."""
    state = StoredSharingState(names)
    state.citizen(PATIENT, CPR, consent())
    state.citizen(OTHER_PATIENT, OTHER_CPR, consent())
    state.episode(EPISODE, PATIENT)
    state.episode(OTHER_EPISODE, OTHER_PATIENT, monitoring=HOSPITAL)
    return state


def inboxes(names: ResourceNames) -> dict[str, list[dict[str, Any]]]:
    """What each subscriber's queue received (each message read once), by organisation."""
    return {organisation: queued_messages(names.queue_urls[f"sharing-{organisation}"])
            for organisation in SUBSCRIBERS}


def patients(messages: list[dict[str, Any]]) -> list[str]:
    """The CPR number of each Bundle received (each validated as FHIR)."""
    return [validated(json.dumps(message["body"]))["entry"][0]["resource"]["identifier"][0]["value"]
            for message in messages]


def publish(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    response: dict[str, Any] = invoke("sharing-publisher", sqs_event(*bodies))
    return response


def test_a_region_receives_its_citizens_bundle_and_another_region_nothing(names, stored):
    # Given an upload of each citizen in one batch
    sent = requests_sent()
    response = publish(evaluated(reading("spo2", 94)),
                       evaluated(reading("spo2", 91), episode_id=OTHER_EPISODE, patient_id=OTHER_PATIENT))
    # Then both are published, with one read of the sharing state (each citizen's CPR number opened once)
    # and one PublishBatch
    assert response == {"batchItemFailures": []}
    assert sent == ["BatchGetItem", "Decrypt", "Decrypt", "PublishBatch"]
    received = inboxes(names)
    # And the treating organisation receives both citizens' Bundles, each monitoring organisation its own
    # citizen's alone, and the organisation with no relation nothing
    assert sorted(patients(received[TREATING])) == sorted([CPR, OTHER_CPR])
    assert patients(received[MONITORING]) == [CPR]
    assert patients(received[HOSPITAL]) == [OTHER_CPR]
    assert received[OTHER] == []
    # And each message carries its attributes
    [message] = received[MONITORING]
    assert message["attributes"]["recipients"] == {"DataType": "String.Array",
                                                   "StringValue": json.dumps(sorted([TREATING, MONITORING]),
                                                                             separators=(",", ":"))}
    assert message["attributes"]["message_type"]["StringValue"] == "telehub.sharing.bundle"
    assert message["attributes"]["bundle_id"]["StringValue"] == message["body"]["id"]
    assert message["attributes"]["event_id"]["StringValue"] == message["body"]["identifier"]["value"]


def test_after_a_handover_the_old_monitoring_organisations_queue_gets_nothing_new(names, stored):
    upload = 0

    def share() -> dict[str, list[str]]:
        nonlocal upload
        upload += 1
        body = evaluated(reading("spo2", 94), upload_id=f"u{upload}")
        assert publish(body) == {"batchItemFailures": []}
        return {organisation: patients(messages) for organisation, messages in inboxes(names).items()}

    # Given an upload while MONITORING monitors the episode: MONITORING receives it
    assert share() == {TREATING: [CPR], MONITORING: [CPR], HOSPITAL: [], OTHER: []}
    # When the monitoring is offered to HOSPITAL: MONITORING still receives, HOSPITAL not yet
    stored.offer_handover(EPISODE, HOSPITAL)
    assert share() == {TREATING: [CPR], MONITORING: [CPR], HOSPITAL: [], OTHER: []}
    # When HOSPITAL accepts: HOSPITAL receives from then on, MONITORING nothing new
    stored.accept_handover(EPISODE, HOSPITAL)
    assert share() == {TREATING: [CPR], MONITORING: [], HOSPITAL: [CPR], OTHER: []}


def test_after_the_consent_is_withdrawn_no_queue_gets_anything(names, stored):
    # Given the citizen's withdrawal recorded after their upload was evaluated
    body = evaluated(reading("spo2", 94))
    stored.consent(PATIENT, consent(ConsentStatus.WITHDRAWN, "2024-05-01T09:00:00.000Z"))
    # When the upload is published
    sent = requests_sent()
    response = publish(body)
    # Then the message is done with, and no queue receives anything
    assert response == {"batchItemFailures": []}
    assert inboxes(names) == {organisation: [] for organisation in SUBSCRIBERS}
    # And the citizen's CPR number was not even opened
    assert sent == ["BatchGetItem"]


def test_a_poison_message_fails_alone_and_the_rest_of_the_batch_is_published(names, stored):
    # Given a batch of an upload, a body that is not JSON, an accepted upload (not an evaluated one) and
    # an evaluated event missing its measurements
    wrong_type = load_event("alarm_evaluation/measurements_sqs.json")["Records"][0]["body"]
    broken = {name: value for name, value in evaluated(reading("spo2", 93), upload_id="u2").items()
              if name != "measurements"}
    response = publish(evaluated(reading("spo2", 94)), "not json", wrong_type, broken)
    # Then exactly the three unreadable messages are reported, and the upload reaches its organisations
    assert response == {"batchItemFailures": [{"itemIdentifier": f"message-{n}"} for n in (1, 2, 3)]}
    assert patients(inboxes(names)[MONITORING]) == [CPR]


def test_a_citizen_whose_cpr_does_not_open_fails_alone_and_no_cpr_is_logged(names, stored):
    # Given the other citizen's sealed CPR number copied onto the citizen's profile (it opens only there)
    copied = stored_profile(names, OTHER_PATIENT)["sealed_cpr"]
    boto3.Session().client("dynamodb").update_item(
        TableName=names.tables["citizens"], Key=profile_key(PATIENT),
        UpdateExpression="SET sealed_cpr = :cpr", ExpressionAttributeValues={":cpr": copied})
    # When an upload of each citizen is published in one batch, the function's logs captured at DEBUG
    with function_logs_at_debug() as logs:
        response = publish(evaluated(reading("spo2", 94)),
                           evaluated(reading("spo2", 91), episode_id=OTHER_EPISODE, patient_id=OTHER_PATIENT))
    # Then the citizen's message fails alone (for SQS to retry, then the DLQ), under neither CPR number,
    # and the other citizen's Bundle is published
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    received = inboxes(names)
    assert received[MONITORING] == []
    assert patients(received[HOSPITAL]) == [OTHER_CPR]
    # And what the function logged names neither CPR number
    assert "a profile part could not be opened" in logs.text
    assert CPR not in logs.text and OTHER_CPR not in logs.text


def test_the_sample_event_reaches_its_organisations(names, stored):
    # Given the sample message (docs/messages.md's evaluated event of the stored citizen's episode)
    response = invoke("sharing-publisher", load_event("cross_sector_sharing/evaluated_uploads_sqs.json"))
    # Then both its saturations reach the treating and the monitoring organisation
    assert response == {"batchItemFailures": []}
    received = inboxes(names)
    assert [len(observations(m["body"])) for m in received[MONITORING]] == [2]
    assert len(received[TREATING]) == 1
    assert received[HOSPITAL] == received[OTHER] == []


def test_an_upload_of_200_blood_pressures_arrives_in_parts_none_lost(names, stored):
    # Given an upload of 200 blood pressures, over SNS's 256 KiB as one Bundle
    sent = requests_sent()
    response = publish(evaluated(*(pressure(position=n) for n in range(200))))
    # Then every part reaches the monitoring organisation, each a valid Bundle, all 400 Observations in all
    assert response == {"batchItemFailures": []}
    parts = sorted(inboxes(names)[MONITORING],
                   key=lambda message: int(message["attributes"]["bundle_part"]["StringValue"]))
    assert len(parts) > 1
    assert {m["attributes"]["bundle_parts"]["StringValue"] for m in parts} == {str(len(parts))}
    assert sum(len(observations(validated(json.dumps(m["body"])))) for m in parts) == 400
    # And each part took a PublishBatch of its own (a part is near the 256 KiB a request may carry)
    assert sent == ["BatchGetItem", "Decrypt", *["PublishBatch"] * len(parts)]


def test_a_full_batch_of_ordinary_uploads_costs_two_requests(names, stored):
    # Given ten uploads of five measurements each (a full SQS batch)
    bodies = [evaluated(*(reading("spo2", 90 + n, position=n, upload_id=f"u{upload}") for n in range(5)),
                        upload_id=f"u{upload}") for upload in range(10)]
    sent = requests_sent()
    # When published
    assert publish(*bodies) == {"batchItemFailures": []}
    # Then one BatchGetItem read the state, one Decrypt opened the citizen's CPR number and one PublishBatch
    # took all ten Bundles: 0.06 requests per measurement on the sharing path
    assert sent == ["BatchGetItem", "Decrypt", "PublishBatch"]
    assert len(inboxes(names)[MONITORING]) == 10
