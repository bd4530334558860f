"""The evaluations outboxes' adapters (alarm_evaluation/publisher.py over functions/shared/sqs.py and
sns.py): one request per call, typed attributes, failures as positions."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.alarm_evaluation.outbox import EvaluatedUploadMessage, RaisedAlarmMessage
from functions.alarm_evaluation.publisher import SnsAlarmPublisher, SqsEvaluationPublisher
from functions.shared import aws
from tests.support.organisations import MONITORING

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/telehub-test-evaluated-uploads"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:telehub-test-clinical-alarms"


class FakeClient:
    """SQS's SendMessageBatch and SNS's PublishBatch: the requests made, and one answer to all."""

    def __init__(self, response: dict[str, Any] | None = None, error: Exception | None = None):
        self.requests: list[dict[str, Any]] = []
        self.response, self.error = response or {"Successful": []}, error

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        if self.error:
            raise self.error
        return self.response

    def send_message_batch(self, **request: Any) -> dict[str, Any]:
        return self._answer(request)

    def publish_batch(self, **request: Any) -> dict[str, Any]:
        return self._answer(request)


@pytest.fixture
def client(monkeypatch):
    def install(fake: FakeClient) -> FakeClient:
        monkeypatch.setattr(aws, "client", lambda service: fake)
        return fake

    return install


def _alarms(count: int) -> list[RaisedAlarmMessage]:
    return [RaisedAlarmMessage(f"alm_{n}", f'{{"n": {n}}}', MONITORING, "RED") for n in range(count)]


def test_an_event_goes_with_its_type_version_and_event_id_as_dedupe_key(client):
    # Given one event
    fake = client(FakeClient())
    # When sent
    failed = SqsEvaluationPublisher(QUEUE_URL).publish([EvaluatedUploadMessage("evt_1", '{"a": 1}', 1)])
    # Then its body is sent as it is, the version as a Number attribute
    assert failed == set()
    [entry] = fake.requests[0]["Entries"]
    assert entry["MessageBody"] == '{"a": 1}'
    assert entry["MessageAttributes"] == {
        "message_type": {"DataType": "String", "StringValue": "telehub.upload.evaluated"},
        "schema_version": {"DataType": "Number", "StringValue": "1"},
        "dedupe_key": {"DataType": "String", "StringValue": "evt_1"},
    }


def test_alarms_go_in_one_request_with_the_attributes_subscriptions_filter_on(client):
    # Given three alarms
    fake = client(FakeClient())
    # When published
    failed = SnsAlarmPublisher(TOPIC_ARN).publish(_alarms(3))
    # Then one request to the topic carries them, each named by its position
    assert failed == set() and len(fake.requests) == 1
    assert fake.requests[0]["TopicArn"] == TOPIC_ARN
    entry = fake.requests[0]["PublishBatchRequestEntries"][2]
    assert entry["Id"] == "2" and entry["Message"] == '{"n": 2}'
    assert entry["MessageAttributes"] == {
        "message_type": {"DataType": "String", "StringValue": "telehub.alarm.raised"},
        "organisation": {"DataType": "String", "StringValue": MONITORING},
        "severity": {"DataType": "String", "StringValue": "RED"},
    }


def test_alarms_sns_did_not_take_are_returned_by_position(client):
    refused = {"Id": "1", "Code": "InternalError", "SenderFault": False}
    client(FakeClient({"Successful": [], "Failed": [refused]}))
    assert SnsAlarmPublisher(TOPIC_ARN).publish(_alarms(3)) == {1}


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "PublishBatch"),
        ClientError({"Error": {"Code": "KMSThrottling", "Message": "the key is busy"}}, "PublishBatch"),
        EndpointConnectionError(endpoint_url=TOPIC_ARN),
    ],
)
def test_a_refused_publish_fails_every_alarm_in_it(client, error):
    client(FakeClient(error=error))
    assert SnsAlarmPublisher(TOPIC_ARN).publish(_alarms(4)) == {0, 1, 2, 3}
