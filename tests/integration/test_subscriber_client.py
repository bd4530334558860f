"""The subscriber client a region starts from (embedded/subscriber.py, `telehub subscriber --org`): it prints
what arrived on the organisation's sharing queue with the citizen masked, drops a Bundle delivered twice,
deletes what it printed, and leaves a message that is no Bundle for the dead-letter queue."""

from __future__ import annotations

import json
from copy import deepcopy

import boto3
import pytest

from embedded.subscriber import drain, summaries
from functions.cross_sector_sharing.fhir import bundle_json, bundle_of
from infrastructure.resource_spec import SPEC, SharingSubscriber
from tests.support.evaluation_events import upload_event
from tests.support.moto_state import moto_account
from tests.support.sharing import evaluated, pressure

REGION = "615171000016009"
CPR = "2512489996"


@pytest.fixture
def region_queue():
    with moto_account("test", SPEC.with_sharing_subscribers((SharingSubscriber(REGION),))) as names:
        yield boto3.Session().client("sqs"), names.queue_urls[f"sharing-{REGION}"]


def bundle(upload_id: str = "u1", colours: tuple[str, ...] = ("RED", "GREEN")) -> dict:
    event = upload_event("epi_1", upload_id, list(colours))
    return bundle_of(event, cpr=CPR, device_id=event["upload"]["device_id"])


def test_each_observation_is_one_line_with_the_citizen_masked_its_colour_and_limits():
    lines = summaries(bundle())
    assert len(lines) == 2
    assert all(line.startswith("251248-****  ") and CPR not in line for line in lines)
    red, green = lines
    assert "RED" in red and "(limits: red below 88, yellow below 92)" in red
    assert "GREEN" in green and "Oxygen saturation" in green


def test_a_blood_pressure_shows_both_components_and_its_cuff_pulse_is_judged_with_it():
    event = evaluated(pressure(colour="YELLOW"))
    panel, cuff_pulse = summaries(bundle_of(event, cpr=CPR, device_id=event["upload"]["device_id"]))
    assert "132 mmHg / 84 mmHg  YELLOW" in panel
    assert "Pulse rate  71 /min  judged with the blood pressure" in cuff_pulse


def test_an_invalidated_observation_is_shown_as_invalidated():
    invalidated = deepcopy(bundle(colours=("RED",)))
    invalidated["entry"][-1]["resource"]["status"] = "entered-in-error"
    assert "INVALIDATED" in summaries(invalidated)[0]


def test_the_queue_is_drained_once_duplicates_dropped_and_a_non_bundle_left_for_the_dlq(region_queue):
    # Given two Bundles, one of them delivered twice, and a message that is no FHIR Bundle
    sqs, queue_url = region_queue
    for body in (bundle_json(bundle("u1")), bundle_json(bundle("u2")), bundle_json(bundle("u1")),
                 json.dumps({"resourceType": "Patient"})):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    printed: list[str] = []
    # When the subscriber drains its queue
    count = drain(sqs, queue_url, printed.append)
    # Then each Bundle is printed once, the duplicate is not, and nothing shows the CPR number
    assert count == 2
    assert len([line for line in printed if line.startswith("Bundle ")]) == 2
    assert not any(CPR in line for line in printed)
    assert any("is not a FHIR Bundle" in line for line in printed)
    # And only the non-Bundle is left on the queue (in flight now; it reaches the DLQ after its last receive)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    visible, in_flight = (attributes[name] for name in ("ApproximateNumberOfMessages",
                                                         "ApproximateNumberOfMessagesNotVisible"))
    assert (visible, in_flight) == ("0", "1")
