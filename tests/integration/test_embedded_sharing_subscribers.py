"""The embedded mode's sharing subscribers (embedded/organisations.py): each gets the queue, dead-letter
queue and filtered subscription the stack makes from a stage's config, from the same spec, so a message on
the sharing topic reaches exactly the queues of the organisations among its recipients."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from embedded.local import EMBEDDED_SPEC
from embedded.organisations import (
    GP_YDERNUMMER,
    HOSPITAL_SOR,
    MUNICIPALITY_SOR,
    OTHER_REGION_SOR,
    SUBSCRIBERS,
)
from infrastructure.resource_spec import SHARING_TOPIC, ResourceNames
from tests.support.moto_state import moto_account, queued_messages


@pytest.fixture
def embedded_resources() -> Iterator[ResourceNames]:
    with moto_account("test", EMBEDDED_SPEC) as names:
        yield names


def test_the_demo_organisations_subscribe_the_unrelated_region_among_them():
    # Given the embedded mode's subscribers, Then the demo's GP, municipality and hospital subscribe, and a
    # hospital of another region with no relation to the demo's citizen
    assert [s.organisation for s in SUBSCRIBERS] == [
        GP_YDERNUMMER, MUNICIPALITY_SOR, HOSPITAL_SOR, OTHER_REGION_SOR,
    ]
    assert all(s.account_id is None for s in SUBSCRIBERS)


def test_each_subscriber_has_a_queue_a_dead_letter_queue_and_a_filtered_subscription(embedded_resources):
    # Given the embedded mode's resources
    sqs, sns = boto3.Session().client("sqs"), boto3.Session().client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=embedded_resources.topic_arns[SHARING_TOPIC])
    by_endpoint = {s["Endpoint"]: s["SubscriptionArn"] for s in subscriptions["Subscriptions"]}
    for subscriber in SUBSCRIBERS:
        queue_url = embedded_resources.queue_urls[subscriber.queue.id]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        # Then its queue redrives to its own DLQ after 5 receives
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f"telehub-test-sharing-{subscriber.organisation}-dlq")
        assert int(redrive["maxReceiveCount"]) == 5
        # And one subscription delivers raw messages naming it among the recipients
        subscription = sns.get_subscription_attributes(SubscriptionArn=by_endpoint[attributes["QueueArn"]])
        assert subscription["Attributes"]["RawMessageDelivery"] == "true"
        filter_policy = json.loads(subscription["Attributes"]["FilterPolicy"])
        assert filter_policy == {"recipients": [subscriber.organisation]}
    assert len(by_endpoint) == len(SUBSCRIBERS)


def test_a_message_reaches_the_queues_of_its_recipients_only(embedded_resources):
    # Given a message for the GP and the hospital (treating and monitoring)
    recipients = [GP_YDERNUMMER, HOSPITAL_SOR]
    boto3.Session().client("sns").publish(
        TopicArn=embedded_resources.topic_arns[SHARING_TOPIC],
        Message=json.dumps({"resourceType": "Bundle", "id": "b1"}),
        MessageAttributes={"recipients": {"DataType": "String.Array", "StringValue": json.dumps(recipients)}},
    )
    # When each subscriber reads its queue
    received = {
        subscriber.organisation: queued_messages(embedded_resources.queue_urls[subscriber.queue.id])
        for subscriber in SUBSCRIBERS
    }
    # Then the two recipients have it once each, as published; the municipality and the other region nothing
    assert [m["body"]["id"] for m in received[GP_YDERNUMMER]] == ["b1"]
    assert [m["body"]["id"] for m in received[HOSPITAL_SOR]] == ["b1"]
    assert received[MUNICIPALITY_SOR] == received[OTHER_REGION_SOR] == []
