"""The outbox publishers' contract (functions.shared.outbox.Publisher), for the fake and for the SQS
publishers of uploads, orders and evaluated uploads and the SNS publisher of raised alarms under moto:
one request of up to ten messages and ``request_bytes`` (as ``size_of`` counts them), and the positions
not sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.alarm_evaluation.outbox import EvaluatedUploadMessage, RaisedAlarmMessage
from functions.alarm_evaluation.publisher import SnsAlarmPublisher, SqsEvaluationPublisher
from functions.device_uploads.outbox import OutboundMessage
from functions.device_uploads.publisher import SqsUploadPublisher
from functions.referral_intake.publisher import SqsOrderPublisher
from functions.shared.outbox import Publisher
from tests.support.contract import FAKE, REAL
from tests.support.fakes import FakePublisher
from tests.support.moto_state import queued_messages, subscribed_queue
from tests.support.organisations import CENTRE


def nth_upload_message(n: int, padding: str = "") -> OutboundMessage:
    """The n-th upload's queue message, shaped as device_uploads.outbox.upload_message makes it (and as
    long as ``padding`` makes it, as every factory here)."""
    body = json.dumps({"upload_id": f"upload-{n:04d}", "padding": padding})
    return OutboundMessage(f"dev_1/upload-{n:04d}", body, {"message_type": "telehub.upload.accepted",
                                                          "schema_version": 1})


def nth_order_message(n: int, padding: str = "") -> dict[str, Any]:
    """The n-th order's queue message, shaped as referral_intake.outbox.order_message makes it."""
    return {"order_id": f"ord_{n}", "kind": "deliver", "logistics_centre": CENTRE,
            "message": json.dumps({"order_id": f"ord_{n}", "padding": padding})}


def nth_evaluation_message(n: int, padding: str = "") -> EvaluatedUploadMessage:
    """The n-th upload-evaluated event's queue message, shaped as alarm_evaluation.outbox makes it."""
    return EvaluatedUploadMessage(f"evt_{n}", json.dumps({"event_id": f"evt_{n}", "padding": padding}),
                                  schema_version=1)


def nth_alarm_message(n: int, padding: str = "") -> RaisedAlarmMessage:
    """The n-th raised alarm's topic message, shaped as alarm_evaluation.outbox makes it."""
    return RaisedAlarmMessage(f"alm_{n}", json.dumps({"alarm_id": f"alm_{n}", "padding": padding}), CENTRE,
                              "RED")


MESSAGES = {"uploads": nth_upload_message, "orders": nth_order_message,
            "evaluations": nth_evaluation_message, "alarms": nth_alarm_message}


def body_text(message: Any) -> str:
    text: str = message["message"] if isinstance(message, dict) else message.body
    return text


def body_of(message: Any) -> dict[str, Any]:
    return json.loads(body_text(message))


@dataclass
class Channel:
    """A publisher, a message of its kind, and the bodies that reached the queue."""

    publisher: Publisher[Any]
    message: Callable[..., Any]
    received: Callable[[], list[dict[str, Any]]]


@pytest.fixture(params=[(implementation, kind) for kind in MESSAGES for implementation in (FAKE, REAL)],
                ids=lambda param: "-".join(param))
def channel(request) -> Channel:
    implementation, kind = request.param
    message = MESSAGES[kind]
    if implementation == FAKE:
        fake = FakePublisher(sizes=lambda message: len(body_text(message).encode()))
        return Channel(fake, message, lambda: [body_of(sent) for sent in fake.sent])
    names = request.getfixturevalue("moto_resources")
    if kind == "alarms":
        inbox = subscribed_queue(names.topic_arns["clinical-alarms"], "contract-alarm-inbox")
        return Channel(SnsAlarmPublisher(names.topic_arns["clinical-alarms"]), message,
                       lambda: [m["body"] for m in queued_messages(inbox)])
    queue, publisher = {
        "uploads": ("measurements", SqsUploadPublisher),
        "orders": ("logistics-orders", SqsOrderPublisher),
        "evaluations": ("evaluated-uploads", SqsEvaluationPublisher),
    }[kind]
    queue_url = names.queue_urls[queue]
    return Channel(publisher(queue_url), message, lambda: [m["body"] for m in queued_messages(queue_url)])



def by_text(bodies: list[dict[str, Any]]) -> list[str]:
    """The bodies in a fixed order (a standard queue keeps none)."""
    return sorted(json.dumps(body, sort_keys=True) for body in bodies)


def test_ten_messages_are_sent_in_one_request(channel):
    messages = [channel.message(n) for n in range(10)]
    assert channel.publisher.publish(messages) == set()
    assert by_text(channel.received()) == by_text([body_of(m) for m in messages])


def test_more_than_ten_are_refused_whole(channel):
    assert channel.publisher.publish([channel.message(n) for n in range(11)]) == set(range(11))
    assert channel.received() == []


def test_messages_filling_a_request_to_its_byte_limit_are_taken_in_one_request(channel):
    # Given four messages whose sizes, as the publisher counts them, fill its request_bytes to within 4 bytes
    limit, unpadded = channel.publisher.request_bytes, channel.publisher.size_of(channel.message(0))
    messages = [channel.message(n, padding="x" * (limit // 4 - unpadded)) for n in range(4)]
    sizes = [channel.publisher.size_of(message) for message in messages]
    assert limit - 4 <= sum(sizes) <= limit
    # When they are published in one request
    # Then every one is taken
    assert channel.publisher.publish(messages) == set()
    assert by_text(channel.received()) == by_text([body_of(m) for m in messages])


def test_no_messages_send_nothing_and_fail_nothing(channel):
    assert channel.publisher.publish([]) == set()
    assert channel.received() == []
