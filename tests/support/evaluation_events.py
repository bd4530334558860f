"""The evaluations table's EVENT items ("upload evaluated" events) as the evaluator writes them, for the
outboxes' tests in every tier: the body's shape (docs/messages.md), the item around it, and the
table's other items, which share its stream but are not relayed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from functions.shared.clock import hour_of, iso_utc
from functions.shared.evaluation_records import (
    EVENT_RETENTION,
    HEAD,
    event_sort_key,
    measurement_alarm_id,
    measurement_id,
    missed_alarm_id,
    reading_sort_key,
    upload_event_id,
)
from functions.shared.hour_shards import sharded_hour
from infrastructure.resource_spec import SPEC
from tests.support.moto_state import table_stream
from tests.support.organisations import MONITORING, TREATING

PATIENT = "pat_9a3e7c1d5b2f8e4a6c0d1b37"
DEVICE = "dev_5f0c2a9e41b7d3c8a6e1f042"
EVALUATED_AT = datetime(2024, 5, 1, 8, 5, 2, 250_000, tzinfo=UTC)


# Threshold version 1 of the events' episodes, and a saturation of each colour under it.
THRESHOLDS = {"absolute": {"spo2": {"red_low": 88, "yellow_low": 92}}, "relative": {}}
SPO2_OF = {"RED": 86, "YELLOW": 90, "GREEN": 95}


def measurement(dedupe_key: str, position: int, colour: str, **changes: Any) -> dict[str, Any]:
    """A measurement of an event: a saturation of that colour, judged under threshold version 1,
    taken ``position`` minutes after eight."""
    measured_at = datetime(2024, 5, 1, 8, tzinfo=UTC) + timedelta(minutes=position)
    return {
        "measurement_id": measurement_id(dedupe_key, position), "type": "spo2", "value": SPO2_OF[colour],
        "unit": "%", "measured_at": iso_utc(measured_at), "method": "automatic", "late": False,
        "colour": colour, "threshold_version": 1, "invalidated": None, **changes,
    }


def alarm(episode_id: str, measured: dict[str, Any], colour: str, change: str = "raised",
          raised_at: str = "2024-05-01T08:05:02.250Z") -> dict[str, Any]:
    """An alarm of a measurement of the event."""
    return {
        "alarm_id": measurement_alarm_id(episode_id, measured["measurement_id"]), "colour": colour,
        "change": change, "kind": "measurement", "measurement_id": measured["measurement_id"], "due_at": None,
        "raised_at": raised_at, "late": measured["late"],
    }


def missed_alarm(episode_id: str, due_at: str) -> dict[str, Any]:
    return {
        "alarm_id": missed_alarm_id(episode_id, due_at), "colour": "BLUE", "change": "raised",
        "kind": "missed_measurement", "measurement_id": None, "due_at": due_at,
        "raised_at": iso_utc(EVALUATED_AT), "late": False,
    }


def upload_event(episode_id: str, upload_id: str, colours: list[str], *, organisation: str = MONITORING,
                 evaluated_at: datetime = EVALUATED_AT) -> dict[str, Any]:
    """The event of an upload of one saturation per colour, each but GREEN raising its alarm."""
    dedupe_key = f"{DEVICE}/{upload_id}"
    measurements = [measurement(dedupe_key, position, colour) for position, colour in enumerate(colours)]
    severity = ("RED", "YELLOW", "GREEN")
    return {
        "message_type": "telehub.upload.evaluated",
        "schema_version": 1,
        "event_id": upload_event_id(episode_id, dedupe_key),
        "trigger": "upload",
        "episode_id": episode_id,
        "patient_id": PATIENT,
        "disease_area": "copd",
        "treating_organisation": TREATING,
        "monitoring_organisation": organisation,
        "evaluated_at": iso_utc(evaluated_at),
        "upload": {"device_id": DEVICE, "upload_id": upload_id, "dedupe_key": dedupe_key,
                   "received_at": "2024-05-01T08:05:00.000Z"},
        "colour": min(colours, key=severity.index) if colours else None,
        "measurements": measurements,
        "re_evaluated": [],
        "threshold_versions": [{"version": 1, "valid_from": "2024-04-01T00:00:00.000Z",
                                "thresholds": THRESHOLDS}],
        "alarms": [alarm(episode_id, m, m["colour"]) for m in measurements if m["colour"] != "GREEN"],
    }


def event_item(body: dict[str, Any]) -> dict[str, Any]:
    """The EVENT item of a body, as the stream's NEW_IMAGE gives it (deserialised)."""
    evaluated_at = datetime.fromisoformat(body["evaluated_at"])
    return {
        "pk": f"EPISODE#{body['episode_id']}",
        "sk": event_sort_key(body["event_id"]),
        "event_id": body["event_id"],
        "evaluated_at": body["evaluated_at"],
        "evaluated_hour": sharded_hour(hour_of(evaluated_at), body["event_id"]),
        "expires_at": int((evaluated_at + EVENT_RETENTION).timestamp()),
        "event": json.dumps(body, separators=(",", ":")),
    }


def other_items(episode_id: str) -> list[dict[str, Any]]:
    """A head and a reading of the episode: written in the same transaction as an event, never relayed."""
    return [
        {"pk": f"EPISODE#{episode_id}", "sk": HEAD, "version": 1, "episode_id": episode_id},
        {"pk": f"EPISODE#{episode_id}",
         "sk": reading_sort_key("spo2", "2024-05-01T08:00:00.000Z", "msr_0"), "colour": "RED"},
    ]


def serialised(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB JSON (numbers as text), for PutItem and for a stream record's image."""
    serialise = TypeSerializer().serialize
    return {name: serialise(value) for name, value in item.items()}


def outbox_stream_event(table_name: str) -> dict[str, Any]:
    """The evaluations stream's records so far as the outboxes' mappings deliver them (both filter
    alike): the INSERTs of EVENT items only, in DynamoDB JSON, read from moto's real stream."""
    source = SPEC.function("evaluation-outbox").stream_source
    assert source and source.key_prefix
    attribute, prefix = source.key_prefix
    stream = table_stream(table_name)
    records = []
    for record in stream.records:
        key = record["dynamodb"]["Keys"][attribute]["S"]
        if record["eventName"] in source.event_names and key.startswith(prefix):
            created = record["dynamodb"]["ApproximateCreationDateTime"]
            record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
            records.append({**record, "eventSourceARN": stream.arn, "awsRegion": "eu-west-1"})
    return {"Records": records}
