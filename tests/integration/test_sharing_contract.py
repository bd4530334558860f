"""docs/sharing.md is the subscribers' contract: what the sharing publisher puts on a subscriber's queue
(under moto: the real handler, the sharing topic, a subscriber's queue with the spec's filter policy)
carries exactly the message attributes the page lists, with their data types, and for the evaluated event
docs/messages.md shows its body is byte for byte the Bundle the page shows."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from infrastructure.resource_spec import SPEC, ResourceNames, SharingSubscriber
from tests.support.docs import json_block_after, table_after
from tests.support.moto_state import moto_account
from tests.support.organisations import TREATING
from tests.support.runtime import STAGE, current, invoke, isolated_functions
from tests.support.sharing import SHARED_TYPES, StoredSharingState, consent, sqs_event

DOCUMENTED_CPR = "0101701234"  # the made-up CPR number of the page's example


@pytest.fixture
def names() -> Iterator[ResourceNames]:
    spec = SPEC.with_sharing_subscribers((SharingSubscriber(TREATING),))
    with moto_account(STAGE, spec) as resource_names, isolated_functions(resource_names):
        current().use_platform(shared_measurement_types=tuple(sorted(SHARED_TYPES)))
        yield resource_names


def test_a_subscriber_receives_the_documented_message(names):
    # Given the evaluated event docs/messages.md documents (its first measurement, as the page's example),
    # its citizen consenting and its episode treated by the subscriber
    event = json_block_after("docs/messages.md", "## `telehub.upload.evaluated`")
    event["measurements"] = event["measurements"][:1]
    state = StoredSharingState(names)
    state.citizen(event["patient_id"], DOCUMENTED_CPR, consent())
    state.episode(event["episode_id"], event["patient_id"])
    # When the publisher shares it
    assert invoke("sharing-publisher", sqs_event(event)) == {"batchItemFailures": []}
    # Then the subscriber's queue holds one message: the page's example Bundle, as compact JSON
    sqs = boto3.Session().client("sqs")
    (message,) = sqs.receive_message(QueueUrl=names.queue_urls[f"sharing-{TREATING}"],
                                     MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    example = json_block_after("docs/sharing.md", "### Example")
    assert message["Body"] == json.dumps(example, separators=(",", ":"), ensure_ascii=False)
    # And its attributes are the page's, each with the documented data type
    rows = table_after("docs/sharing.md", "## The message on a subscriber")
    documented = {name.strip("` "): data_type for names_cell, data_type, _ in rows
                  for name in names_cell.split(",")}
    received = {name: attribute["DataType"] for name, attribute in message["MessageAttributes"].items()}
    assert received == documented
    assert json.loads(message["MessageAttributes"]["recipients"]["StringValue"]) == sorted(
        {TREATING, state.episodes[event["episode_id"]].monitoring_organisation})
    assert message["MessageAttributes"]["bundle_id"]["StringValue"] == example["id"]
    assert message["MessageAttributes"]["event_id"]["StringValue"] == event["event_id"]
