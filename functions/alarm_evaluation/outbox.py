"""The evaluations table's stream side: its EVENT items (each an "upload evaluated" event) leave the
table through two relays of the same stream, and the recovery's view of each for the stream batches
its relay gave up on.

- ``EvaluationRelay`` puts each event, its body exactly as stored, on the evaluated-uploads queue.
- ``AlarmRelay`` publishes each alarm an event raised, raised again or escalated to RED to the
  clinical-alarms topic, with the attributes a monitoring organisation's subscription filters on; an
  event that changed no alarm so publishes nothing.

Two outbox functions rather than one sending to both: each has its own retries and on-failure queue,
so a topic that refuses does not hold back the queue, nor a queue the topic, and a retry sends again
only the messages of the target that failed. Their recoveries are two functions for the same reason:
an on-failure record names a range of the stream, not the target, so one recovery for both would
send every recovered event's alarms again whenever the queue's relay had failed, and the other way
round; each consumer dedupes, but a monitoring organisation's system would see each such alarm twice.

The relays read only what they need of the body (``_EventHeader``, ``_EventAlarms``) and never change
it: the evaluator, which writes the items, owns the event's shape (docs/messages.md). No event shapes
and no boto3 here: publishers, metrics and the events by hour are injected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt

from functions.shared.clock import iso_utc
from functions.shared.evaluation_records import EVALUATED_MESSAGE_TYPE, EVENT_PREFIX
from functions.shared.outbox import StreamRelay
from functions.shared.stream_recovery import OutboxOfTable, hours_between

ALARM_MESSAGE_TYPE = "telehub.alarm.raised"
ALARM_SCHEMA_VERSION = 1
# The alarm changes that call for attention, each published once: the event that made the change is
# the only one that names it.
PUBLISHED_CHANGES = frozenset({"raised", "raised_again", "escalated"})

# What of an EVENT item the relays read: its id and the message body (compact JSON), written together.
EVENT_ID, EVENT_BODY = "event_id", "event"


class _EventPart(BaseModel):
    # The fields a relay reads; the body's other fields pass through untouched.
    model_config = ConfigDict(frozen=True, extra="ignore")


class _EventHeader(_EventPart):
    message_type: str
    schema_version: StrictInt
    event_id: str


class _RaisedAlarm(_EventPart):
    alarm_id: str
    change: Literal["raised", "raised_again", "escalated"]
    colour: Literal["RED", "YELLOW", "BLUE"]
    kind: Literal["measurement", "missed_measurement", "answer"]
    measurement_id: str | None
    due_at: str | None
    question_id: str | None = None
    raised_at: str
    late: StrictBool


class _EventAlarms(_EventPart):
    event_id: str
    episode_id: str
    patient_id: str
    disease_area: str
    monitoring_organisation: str
    # Each alarm's change decides whether the rest of it is read: an alarm that now calls for attention
    # (raised, raised again, escalated to RED) is published; one lowered or invalidated is not.
    alarms: list[dict[str, Any]]

    def raised(self) -> list[_RaisedAlarm]:
        return [_RaisedAlarm.model_validate(alarm) for alarm in self.alarms
                if alarm.get("change") in PUBLISHED_CHANGES]


def _body(item: dict[str, Any]) -> str:
    """The stored message body; TypeError for an item that has none."""
    body = item[EVENT_BODY]
    if not isinstance(body, str):
        raise TypeError(f"the event item's body is a {type(body).__name__}, not JSON text")
    return body


# --- the evaluated-uploads queue --------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluatedUploadMessage:
    event_id: str  # the dedupe key: one per episode and upload (or miss, or invalidation)
    body: str  # the stored body, unchanged
    schema_version: int


def evaluated_upload_message(item: dict[str, Any]) -> EvaluatedUploadMessage:
    """The queue message of an EVENT item; ValueError (pydantic's ValidationError is one) for an item
    whose body is not an "upload evaluated" event, or is another event's than the item's."""
    body = _body(item)
    header = _EventHeader.model_validate_json(body)
    if header.message_type != EVALUATED_MESSAGE_TYPE:
        raise ValueError(f"the event item's body is a {header.message_type} message")
    if header.event_id != item[EVENT_ID]:
        raise ValueError("the event item's body belongs to another event")
    return EvaluatedUploadMessage(event_id=header.event_id, body=body, schema_version=header.schema_version)


class EvaluationRelay(StreamRelay[EvaluatedUploadMessage]):
    """Every EVENT item the stream (or the recovery) brings becomes one message on the evaluated-uploads
    queue; the outbox's event source passes only EVENT items on, so any other item fails."""

    what = "evaluation event"
    relayed_metric = "EvaluationEventsRelayed"
    not_relayed_metric = "EvaluationEventsNotRelayed"

    def message_of(self, item: dict[str, Any]) -> EvaluatedUploadMessage:
        return evaluated_upload_message(item)


# --- the clinical-alarms topic ------------------------------------------------------------------------


@dataclass(frozen=True)
class RaisedAlarmMessage:
    alarm_id: str
    body: str
    organisation: str  # the monitoring organisation's SOR code: what a subscription filters on
    severity: str  # the alarm's colour: RED, YELLOW or BLUE


def raised_alarm_messages(item: dict[str, Any]) -> list[RaisedAlarmMessage]:
    """One topic message per alarm the event raised (none if it raised none); ValueError for an item
    whose body is not an event with alarms."""
    event = _EventAlarms.model_validate_json(_body(item))
    return [_raised_alarm_message(event, alarm) for alarm in event.raised()]


def _raised_alarm_message(event: _EventAlarms, alarm: _RaisedAlarm) -> RaisedAlarmMessage:
    body = {
        "message_type": ALARM_MESSAGE_TYPE,
        "schema_version": ALARM_SCHEMA_VERSION,
        "alarm_id": alarm.alarm_id,
        "event_id": event.event_id,
        "change": alarm.change,
        "episode_id": event.episode_id,
        "patient_id": event.patient_id,
        "colour": alarm.colour,
        "kind": alarm.kind,
        "measurement_id": alarm.measurement_id,
        "due_at": alarm.due_at,
        "question_id": alarm.question_id,
        "raised_at": alarm.raised_at,
        "late": alarm.late,
        "monitoring_organisation": event.monitoring_organisation,
        "disease_area": event.disease_area,
    }
    return RaisedAlarmMessage(
        alarm_id=alarm.alarm_id,
        body=json.dumps(body, separators=(",", ":")),
        organisation=event.monitoring_organisation,
        severity=alarm.colour,
    )


class AlarmRelay(StreamRelay[RaisedAlarmMessage]):
    """Every EVENT item the stream (or the recovery) brings has its alarms that call for attention
    published to the clinical-alarms topic: none, one or several messages. The evaluator names an
    alarm's change in the one event that made it, so each (alarm id, change) is published once, save a
    retry's repeat."""

    what = "alarm event"
    relayed_metric = "AlarmEventsRelayed"
    not_relayed_metric = "AlarmEventsNotRelayed"

    def messages_of(self, item: dict[str, Any]) -> Sequence[RaisedAlarmMessage]:
        return raised_alarm_messages(item)


# --- recovery: the stream batches an outbox gave up on (functions.shared.stream_recovery) --------------


class EventsByHour(Protocol):
    def evaluated_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """EVENT items of ``hour`` (``hour_of`` form) evaluated between two ``iso_utc`` instants."""


def is_event(item: dict[str, Any]) -> bool:
    return str(item.get("sk", "")).startswith(EVENT_PREFIX)


def _event_outbox(relay: StreamRelay[Any], events: EventsByHour, evaluations_table_name: str,
                  metric_prefix: str) -> OutboxOfTable:
    """An outbox of the evaluations table as the shared recovery sees it: of the range's inserts only
    the EVENT items (the stream carries every item of the table), through the outbox's own relay;
    once the stream is trimmed, the table's index by evaluated hour gives them, named by event id."""

    def evaluated_between(since: datetime, until: datetime) -> list[tuple[str, dict[str, Any]]]:
        return [
            (item[EVENT_ID], item)
            for hour in hours_between(since, until)
            for item in events.evaluated_in_hour(hour, iso_utc(since), iso_utc(until))
        ]

    return OutboxOfTable(
        table_name=evaluations_table_name,
        relay=relay.relay,
        written_between=evaluated_between,
        metric_prefix=metric_prefix,
        relays_item=is_event,
    )


def evaluation_outbox(relay: EvaluationRelay, events: EventsByHour, evaluations_table_name: str
                      ) -> OutboxOfTable:
    return _event_outbox(relay, events, evaluations_table_name, "EvaluationOutbox")


def alarm_outbox(relay: AlarmRelay, events: EventsByHour, evaluations_table_name: str) -> OutboxOfTable:
    return _event_outbox(relay, events, evaluations_table_name, "AlarmOutbox")
