"""The worklist store's answer to a position DynamoDB refuses: a 422 naming the cursor, never a 500.

moto accepts any starting key, so DynamoDB's refusal is played with botocore's Stubber on the store's
client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from functions.shared import aws
from functions.shared.errors import InvalidInput
from functions.worklist.repository import DynamoWorklistStore

POSITION = {"reading_episode": "epi_1", "measured_key": "2026-11-20T08:00:00.000Z#msr_1",
            "pk": "EPISODE#epi_1", "sk": "EVAL#READING#spo2#2026-11-20T08:00:00.000Z#msr_1"}


@pytest.fixture
def dynamodb(monkeypatch) -> Iterator[Stubber]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    with Stubber(aws.client("dynamodb")) as stubber:
        yield stubber
    aws.reset()


def test_a_starting_key_dynamodb_refuses_is_a_422_naming_the_cursor(dynamodb):
    # Given DynamoDB refusing the cursor's position (outside the query's key condition)
    dynamodb.add_client_error("query", service_error_code="ValidationException", service_message=(
        "The provided starting key does not match the range key predicate"))
    # When a page is read from that position, Then the caller is told the cursor is wrong
    with pytest.raises(InvalidInput) as refused:
        DynamoWorklistStore("evaluations").measurements("epi_1", None, None, None, 10, POSITION)
    assert refused.value.problems[0].field == "cursor"


def test_other_validation_errors_are_not_blamed_on_the_cursor(dynamodb):
    dynamodb.add_client_error("query", service_error_code="ValidationException",
                              service_message="One or more parameter values were invalid")
    with pytest.raises(ClientError):
        DynamoWorklistStore("evaluations").measurements("epi_1", None, None, None, 10, POSITION)
