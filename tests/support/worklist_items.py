"""The evaluations table's items as the evaluator writes them (keys and the head's rules from
functions.shared.evaluation_records), for tests of the worklist that arrange heads, readings and alarms
directly: in a fake store, or in moto's table with ``put_items``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import boto3

from functions.shared.evaluation_records import (
    OpenAlarm,
    alarm_sort_key,
    event_item,
    head_key,
    open_alarms_attribute,
    reading_sort_key,
    worklist_rank,
)
from tests.support.organisations import MONITORING

MEASURED = "2026-11-25T08:00:00.000Z"
RECEIVED = "2026-11-25T08:01:00.000Z"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _m(values: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {name: _s(value) for name, value in values.items()}}


def head_item(episode_id: str, patient_id: str, organisation: str = MONITORING,
              open_alarms: Mapping[str, OpenAlarm] | None = None,
              green_uploads: Mapping[str, str] | None = None, version: int = 1, disease_area: str = "copd",
              last_measured_at: str = MEASURED) -> dict[str, Any]:
    """An episode's head on ``organisation``'s worklist (in the index while something waits)."""
    open_alarms, green_uploads = open_alarms or {}, green_uploads or {}
    item: dict[str, Any] = {
        **head_key(episode_id),
        "episode_id": _s(episode_id), "patient_id": _s(patient_id), "disease_area": _s(disease_area),
        "version": {"N": str(version)}, "worklist_organisation": _s(organisation),
        "open_alarms": open_alarms_attribute(open_alarms),
        "green_uploads": _m(green_uploads), "last_measured_at": _s(last_measured_at),
    }
    rank = worklist_rank(episode_id, open_alarms, green_uploads)
    if rank is not None:
        item["worklist_rank"] = _s(rank)
    return item


def reading_item(episode_id: str, patient_id: str, measurement_id: str, measured_at: str = MEASURED, *,
                 reading_type: str = "spo2", value: float = 91, unit: str = "%",
                 colour: str | None = "YELLOW", threshold_version: int | None = 1, late: bool = False,
                 raised_alarm: str | None = None, invalidated: Mapping[str, str] | None = None,
                 components: Iterable[tuple[str, float, str]] | None = None) -> dict[str, Any]:
    """A reading as judged under the episode; ``components`` (type, value, unit) make it a blood pressure."""
    item: dict[str, Any] = {
        "pk": head_key(episode_id)["pk"],
        "sk": _s(reading_sort_key(reading_type, measured_at, measurement_id)),
        "measurement_id": _s(measurement_id), "episode_id": _s(episode_id), "patient_id": _s(patient_id),
        "reading_episode": _s(episode_id), "measured_key": _s(f"{measured_at}#{measurement_id}"),
        "device_id": _s("dev_1"), "upload_id": _s("upload-1"), "dedupe_key": _s("dev_1#upload-1"),
        "position": {"N": "0"}, "type": _s(reading_type), "measured_at": _s(measured_at),
        "received_at": _s(RECEIVED), "method": _s("automatic"), "late": {"BOOL": late},
    }
    if components is None:
        item |= {"value": {"N": str(value)}, "unit": _s(unit)}
    else:
        item["components"] = {"L": [{"M": {"type": _s(kind), "value": {"N": str(amount)}, "unit": _s(of)}}
                                    for kind, amount, of in components]}
    if colour is not None:
        item["colour"] = _s(colour)
    if threshold_version is not None:
        item["threshold_version"] = {"N": str(threshold_version)}
    if raised_alarm is not None:
        item["raised_alarm"] = _s(raised_alarm)
    if invalidated is not None:
        item["invalidated"] = _m(invalidated)
    return item


def alarm_item(episode_id: str, patient_id: str, alarm_id: str, raised_at: str = RECEIVED, *,
               colour: str = "RED", status: str = "open", late: bool = False, measurement_id: str = "msr_1",
               due_at: str | None = None, acknowledged: Mapping[str, str] | None = None,
               changes: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    """An alarm: of a measurement, or of a miss when ``due_at`` is given."""
    item: dict[str, Any] = {
        "pk": head_key(episode_id)["pk"], "sk": _s(alarm_sort_key(raised_at, alarm_id)),
        "alarm_id": _s(alarm_id), "episode_id": _s(episode_id), "patient_id": _s(patient_id),
        "colour": _s(colour), "raised_colour": _s(colour), "status": _s(status), "raised_at": _s(raised_at),
        "late": {"BOOL": late}, "changes": {"L": [_m(change) for change in changes]},
    }
    if due_at is None:
        item |= {"kind": _s("measurement"), "measurement_id": _s(measurement_id), "type": _s("spo2"),
                 "measured_at": _s(MEASURED), "threshold_version": {"N": "1"}}
    else:
        item |= {"kind": _s("missed_measurement"), "due_at": _s(due_at)}
    if acknowledged is not None:
        item["acknowledged"] = _m(acknowledged)
    return item


def answers_event_item(episode_id: str, event_id: str, answers: Sequence[Mapping[str, Any]],
                       alarms: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An "upload evaluated" event with the upload's judged answers (``answer_id``, ``question_id``,
    ``answer``, ``answered_at``, ``late``, ``colour``) and the alarms the event raised, by answer id."""
    raised = [{"alarm_id": alarm_id, "kind": "answer", "change": "raised", "answer_id": answer_id}
              for answer_id, alarm_id in (alarms or {}).items()]
    body = {"message_type": "telehub.upload.evaluated", "event_id": event_id, "episode_id": episode_id,
            "measurements": [], "answers": list(answers), "alarms": raised}
    return event_item(episode_id, event_id, datetime.fromisoformat(RECEIVED), json.dumps(body))


def put_items(table: str, items: Iterable[dict[str, Any]]) -> None:
    """Write the items to the (moto) table, as the evaluator would have."""
    dynamodb = boto3.Session().client("dynamodb")
    for item in items:
        dynamodb.put_item(TableName=table, Item=item)
