"""The SQS adapter (publisher.py over functions/shared/sqs.py): one SendMessageBatch per call,
failures as positions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.device_uploads.outbox import OutboundMessage
from functions.device_uploads.publisher import SqsUploadPublisher
from functions.shared import aws

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/telehub-test-measurements"


class FakeSqs:
    def __init__(self, response=None, error: Exception | None = None):
        self.requests: list[dict] = []
        self.response, self.error = response or {"Successful": []}, error

    def send_message_batch(self, **request):
        self.requests.append(request)
        if self.error:
            raise self.error
        return self.response


def _messages(count: int) -> list[OutboundMessage]:
    return [
        OutboundMessage(f"dev_1/upload-{n}", f'{{"n": {n}}}',
                        {"message_type": "telehub.upload.accepted", "schema_version": 1})
        for n in range(count)
    ]


@pytest.fixture
def sqs(monkeypatch):
    def install(fake: FakeSqs) -> FakeSqs:
        monkeypatch.setattr(aws, "client", lambda service: fake)
        return fake

    return install


def test_messages_go_in_one_request_with_typed_attributes(sqs):
    # Given three messages
    fake = sqs(FakeSqs())
    # When published
    failed = SqsUploadPublisher(QUEUE_URL).publish(_messages(3))
    # Then one request carries them, the version as a Number attribute, and none failed
    assert failed == set() and len(fake.requests) == 1
    entry = fake.requests[0]["Entries"][2]
    assert entry["Id"] == "2" and entry["MessageBody"] == '{"n": 2}'
    assert entry["MessageAttributes"] == {
        "message_type": {"DataType": "String", "StringValue": "telehub.upload.accepted"},
        "schema_version": {"DataType": "Number", "StringValue": "1"},
    }


def test_entries_sqs_did_not_take_are_returned_by_position(sqs):
    sqs(FakeSqs({"Successful": [], "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}]}))
    assert SqsUploadPublisher(QUEUE_URL).publish(_messages(3)) == {1}


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessageBatch"),
        EndpointConnectionError(endpoint_url=QUEUE_URL),
    ],
)
def test_a_refused_request_fails_every_message_in_it(sqs, error):
    sqs(FakeSqs(error=error))
    assert SqsUploadPublisher(QUEUE_URL).publish(_messages(4)) == {0, 1, 2, 3}
