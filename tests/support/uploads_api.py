"""Helpers for the device-upload integration tests: API events from the sample event, invoked with the
upload function's own environment, the device's citizen's episodes as the referral intake writes them,
and the uploads table's real (moto) stream records as a Lambda stream event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from functions.device_uploads import handler
from functions.referral_intake.repository import DynamoEpisodeStore
from infrastructure.resource_spec import ResourceNames
from tests.support.episodes import new_episode
from tests.support.events import load_event
from tests.support.moto_state import table_items, table_stream
from tests.support.organisations import TREATING
from tests.support.profiles import citizen_store
from tests.support.runtime import invoke

# The instant the sample event was received; every test runs the handlers at it.
NOW = datetime(2024, 5, 1, 8, 5, tzinfo=UTC)


def sample_event(name: str) -> dict[str, Any]:
    return load_event(f"device_uploads/{name}")


def sample_body() -> dict[str, Any]:
    return json.loads(sample_event("post_measurements.json")["body"])


def use_handler_at(monkeypatch: pytest.MonkeyPatch, clock: Any = lambda: NOW) -> None:
    """The upload functions on a fixed clock: their services, which take the clock when built, are
    built again (a test may move the clock after they ran)."""
    monkeypatch.setattr(handler, "utc_now", clock)
    handler._upload_service.cache_clear()
    handler._upload_relay.cache_clear()
    handler._outbox_recovery.cache_clear()


def open_episode(names: ResourceNames, disease_area: str) -> str:
    """An open episode of ``disease_area`` for the sample device's citizen, written as a referral writes it;
    its id."""
    patient_id = sample_event("post_measurements.json")["requestContext"]["authorizer"]["patient_id"]
    citizens = citizen_store(names)
    citizens.add_patient(f"pseudonym-{patient_id}", patient_id, "2512489996")
    episode_id = f"epi_{disease_area}"
    assert DynamoEpisodeStore(names.tables["episodes"], names.tables["devices"], citizens,
                              evaluations_table=names.tables["evaluations"]).create(
        new_episode(episode_id, patient_id, disease_area))
    return episode_id


def answers(*question_ids: str, answer: str = "yes", answered_at: str = "2024-05-01T08:04:00Z"
            ) -> list[dict[str, str]]:
    return [{"question_id": question_id, "answer": answer, "answered_at": answered_at}
            for question_id in question_ids]


def post(body: Any, *, role: str = "device", content_type: str = "application/json") -> dict[str, Any]:
    """Call the API function as API Gateway would, after the authorizer allowed the request."""
    event = copy.deepcopy(sample_event("post_measurements.json"))
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    if role != "device":
        event["requestContext"]["authorizer"] = {
            "principalId": "user-7", "role": role, "subject": "user-7", "organisation": TREATING,
        }
    return invoke("device-uploads", event)


def reply(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def refused_fields(response: dict[str, Any]) -> list[str]:
    return [error["field"] for error in reply(response).get("errors", [])]


def stored_uploads(names: ResourceNames) -> list[dict[str, Any]]:
    """The uploads table's items as the functions wrote them, deserialised (numbers as Decimal)."""
    deserialise = TypeDeserializer().deserialize
    return [{name: deserialise(value) for name, value in item.items()}
            for item in table_items(names, "uploads")]


def stream_event(table_name: str) -> dict[str, Any]:
    """The uploads stream's records as Lambda delivers them (Records[].dynamodb in DynamoDB JSON),
    read from moto's real stream."""
    stream = table_stream(table_name)
    for record in stream.records:
        record["eventSourceARN"] = stream.arn
        record["awsRegion"] = "eu-west-1"
        created = record["dynamodb"]["ApproximateCreationDateTime"]
        record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    return {"Records": stream.records}


def retry_from(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The batch Lambda delivers next: from the lowest failed sequence number on (its checkpoint)."""
    failed = {int(failure["itemIdentifier"]) for failure in response["batchItemFailures"]}
    checkpoint = min(failed)
    return {"Records": [r for r in event["Records"] if int(r["dynamodb"]["SequenceNumber"]) >= checkpoint]}
