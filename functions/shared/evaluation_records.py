"""The evaluations table's keys, ids and the worklist row's rules: the one place the evaluator, the
clinicians' API, the missed-measurement schedule and a handover learn them from. Items and keys only,
no boto3: each feature's repository sends them.

Evaluations table (pk, sk), one partition per episode, no CPR in any key:
- ``EPISODE#<id>`` / ``EVAL``: the episode's **head**: its worklist row and its version. Every change to
  the episode's readings or alarms is one transaction that moves ``version`` from the value read to the
  next and fails if another change came first (optimistic locking: the changes of one episode happen
  one after another, whichever Lambda makes them). A head without ``version`` is at version 0 (a
  handover can create the head before any measurement).
- ``EPISODE#<id>`` / ``EVAL#READING#<type>#<measured_at>#<measurement_id>``: one reading (a measurement
  as judged under this episode: its colour, the threshold version used, late, invalidation). A blood
  pressure is one reading of type ``blood_pressure`` with its components.
- ``EPISODE#<id>`` / ``ALARM#<raised_at>#<alarm_id>``: an alarm (YELLOW, RED, BLUE), never deleted.
- ``EPISODE#<id>`` / ``EVENT#<event_id>``: an "upload evaluated" event; the table's stream is its outbox.
- ``EPISODE#<id>`` / ``PAUSE#<starts_at>#<pause_id>``: a pause of the missed-measurement schedule.

The head is read with GetItem before the episode's readings are queried: a query is not a snapshot
of a partition, but once the head's version is read, any change committed afterwards fails the
reader's own commit, so what the reader saw after the head is what it commits against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from functions.shared.clock import hour_of, iso_utc
from functions.shared.hour_shards import sharded_hour

HEAD = "EVAL"
READING_PREFIX = "EVAL#READING#"
ALARM_PREFIX = "ALARM#"
EVENT_PREFIX = "EVENT#"
PAUSE_PREFIX = "PAUSE#"

# Indexes of the table (resource spec): each is sparse, holding only the items that carry its keys.
WORKLIST_INDEX = "worklist"  # heads with something to acknowledge: worklist_organisation, worklist_rank
ALARM_ID_INDEX = "by-alarm-id"  # alarms by alarm_id (keys only)
READINGS_BY_TIME_INDEX = "readings-by-time"  # readings by reading_episode, measured_key (measured_at#id)
EVALUATED_HOUR_INDEX = "by-evaluated-hour"  # events by evaluated_hour (sharded), evaluated_at (keys only)

# The worklist's order of severity: a missed measurement (BLUE) comes after a YELLOW value and before
# uploads that need no more than a look (GREEN).
SEVERITY_ORDER = ("RED", "YELLOW", "BLUE", "GREEN")


def _id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("#".join(parts).encode()).hexdigest()
    return f"{prefix}_{digest[:24]}"


def measurement_id(dedupe_key: str, position: int) -> str:
    """The same measurement has the same id under every episode and on every delivery of its upload."""
    return _id("msr", dedupe_key, str(position))


def measurement_alarm_id(episode_id: str, measurement_id: str) -> str:
    return _id("alm", episode_id, measurement_id)


def answer_id(dedupe_key: str, position: int) -> str:
    """A questionnaire answer's id: ``position`` is its place among its upload's answers."""
    return _id("ans", dedupe_key, "answer", str(position))


def answer_alarm_id(episode_id: str, answer_id: str) -> str:
    return _id("alm", episode_id, answer_id)


def missed_alarm_id(episode_id: str, due_at: str) -> str:
    """One alarm per miss: ``due_at`` (iso_utc) is when the missing measurement was due at the latest."""
    return _id("alm", episode_id, "missed", due_at)


def missed_event_id(episode_id: str, first_due_at: str) -> str:
    """The event of the misses one write raises, named by the first of them (never raised again)."""
    return _id("evt", episode_id, "missed", first_due_at)


def upload_event_id(episode_id: str, dedupe_key: str) -> str:
    return _id("evt", episode_id, dedupe_key)


def invalidation_event_id(episode_id: str, measurement_id: str) -> str:
    """A reading is invalidated once, so its invalidation is one event."""
    return _id("evt", episode_id, "invalidated", measurement_id)


def episode_partition(episode_id: str) -> dict[str, Any]:
    return {"S": f"EPISODE#{episode_id}"}


def head_key(episode_id: str) -> dict[str, Any]:
    return {"pk": episode_partition(episode_id), "sk": {"S": HEAD}}


def reading_sort_key(reading_type: str, measured_at: str, measurement_id: str) -> str:
    return f"{READING_PREFIX}{reading_type}#{measured_at}#{measurement_id}"


def readings_by_time_position(episode_id: str, sort_key: str) -> dict[str, Any]:
    """The readings-by-time index's position (an ExclusiveStartKey) of the reading whose table sort key is
    ``sort_key`` (``EVAL#READING#<type>#<measured_at>#<id>``)."""
    _, measured_at, measurement_id = sort_key.removeprefix(READING_PREFIX).split("#")
    return {"reading_episode": {"S": episode_id}, "measured_key": {"S": f"{measured_at}#{measurement_id}"},
            "pk": episode_partition(episode_id), "sk": {"S": sort_key}}


def alarm_sort_key(raised_at: str, alarm_id: str) -> str:
    return f"{ALARM_PREFIX}{raised_at}#{alarm_id}"


def event_sort_key(event_id: str) -> str:
    return f"{EVENT_PREFIX}{event_id}"


# --- the "upload evaluated" event: written by the evaluator and the schedule, relayed by the outboxes ---

EVALUATED_MESSAGE_TYPE = "telehub.upload.evaluated"
EVALUATED_SCHEMA_VERSION = 1
# The events leave the table through its stream within minutes; they are kept a while longer for the
# outboxes' recoveries, which read them back by the hour they were written (the table's TTL removes them).
EVENT_RETENTION = timedelta(days=35)


def event_item(episode_id: str, event_id: str, evaluated_at: datetime, body: str) -> dict[str, Any]:
    """An event's item: ``body`` is the message exactly as the evaluated-uploads queue gets it (compact
    JSON, docs/messages.md), indexed by the hour it was written (sharded by event id) and expiring after
    EVENT_RETENTION."""
    return {
        "pk": episode_partition(episode_id),
        "sk": {"S": event_sort_key(event_id)},
        "event_id": {"S": event_id},
        "evaluated_at": {"S": iso_utc(evaluated_at)},
        "evaluated_hour": {"S": sharded_hour(hour_of(evaluated_at), event_id)},
        "expires_at": {"N": str(int((evaluated_at + EVENT_RETENTION).timestamp()))},
        "event": {"S": body},
    }


# --- the worklist row ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAlarm:
    """An alarm nobody has acknowledged yet, as the head keeps it (``open_alarms``, by alarm id)."""

    colour: str  # RED, YELLOW or BLUE
    raised_at: str  # iso_utc
    late: bool  # raised by a measurement that arrived late


def worklist_rank(episode_id: str, open_alarms: Mapping[str, OpenAlarm],
                  green_uploads: Mapping[str, str]) -> str | None:
    """The row's place on its organisation's worklist (the index's sort key), None when nothing waits.

    Most severe first, then the longest waiting: ``<severity>#<oldest raised_at of that colour>#<episode>``.
    ``green_uploads`` maps each unacknowledged GREEN upload to when it was received.
    """
    waiting: dict[str, list[str]] = {colour: [] for colour in SEVERITY_ORDER}
    for alarm in open_alarms.values():
        waiting[alarm.colour].append(alarm.raised_at)
    waiting["GREEN"].extend(green_uploads.values())
    for severity, colour in enumerate(SEVERITY_ORDER):
        if waiting[colour]:
            return f"{severity}#{min(waiting[colour])}#{episode_id}"
    return None


def open_alarms_attribute(open_alarms: Mapping[str, OpenAlarm]) -> dict[str, Any]:
    return {"M": {
        alarm_id: {"M": {"colour": {"S": alarm.colour}, "raised_at": {"S": alarm.raised_at},
                         "late": {"BOOL": alarm.late}}}
        for alarm_id, alarm in open_alarms.items()
    }}


def open_alarms_of(head: Mapping[str, Any]) -> dict[str, OpenAlarm]:
    """The head's open alarms (serialised form; none for a head that has none or does not exist)."""
    return {
        alarm_id: OpenAlarm(fields["colour"]["S"], fields["raised_at"]["S"], fields["late"]["BOOL"])
        for alarm_id, value in head.get("open_alarms", {}).get("M", {}).items()
        for fields in (value["M"],)
    }


def green_uploads_of(head: Mapping[str, Any]) -> dict[str, str]:
    return {upload: value["S"] for upload, value in head.get("green_uploads", {}).get("M", {}).items()}


def version_of(head: Mapping[str, Any] | None) -> int:
    return int(head["version"]["N"]) if head and "version" in head else 0


@dataclass(frozen=True)
class HeadOwner:
    """Whose row a head is: every write of a head names its episode, citizen and disease area (a row on a
    worklist shows them), and the organisation monitoring the episode, which only a head's first write
    puts on it."""

    episode_id: str
    patient_id: str
    disease_area: str
    monitoring_organisation: str


def head_update(table: str, owner: HeadOwner, read_version: int, open_alarms: Mapping[str, OpenAlarm],
                green_uploads: Mapping[str, str], extra_set: Mapping[str, Any] | None = None,
                acting_organisation: str | None = None) -> dict[str, Any]:
    """The transaction item that writes the head's alarms and rank and moves its version on from
    ``read_version``: the transaction is cancelled if another change came first.

    ``extra_set`` sets further attributes (name -> serialised value), such as last_measured_at. The
    worklist organisation is set only where the head has none yet: after that only a handover moves it
    (``worklist_organisation_item``), and a change that read the episode before the handover must not
    move it back. A change made on an organisation's behalf (an acknowledgement) names it as
    ``acting_organisation``: the transaction is cancelled if the row is no longer on its worklist.
    """
    rank = worklist_rank(owner.episode_id, open_alarms, green_uploads)
    values: dict[str, Any] = {
        ":read": {"N": str(read_version)},
        ":zero": {"N": "0"},
        ":next": {"N": str(read_version + 1)},
        ":alarms": open_alarms_attribute(open_alarms),
        ":greens": {"M": {upload: {"S": at} for upload, at in green_uploads.items()}},
        ":episode": {"S": owner.episode_id},
        ":patient": {"S": owner.patient_id},
        ":area": {"S": owner.disease_area},
        ":organisation": {"S": owner.monitoring_organisation},
    }
    assignments = ["version = :next", "open_alarms = :alarms", "green_uploads = :greens",
                   "episode_id = :episode", "patient_id = :patient", "disease_area = :area",
                   "worklist_organisation = if_not_exists(worklist_organisation, :organisation)"]
    names: dict[str, str] = {}
    for position, name in enumerate(sorted(extra_set or {})):
        names[f"#extra{position}"] = name
        values[f":extra{position}"] = (extra_set or {})[name]
        assignments.append(f"#extra{position} = :extra{position}")
    if rank is not None:
        values[":rank"] = {"S": rank}
        assignments.append("worklist_rank = :rank")
    condition = "((attribute_not_exists(version) AND :read = :zero) OR version = :read)"
    if acting_organisation is not None:
        condition += " AND worklist_organisation = :acting"
        values[":acting"] = {"S": acting_organisation}
    update: dict[str, Any] = {
        "TableName": table,
        "Key": head_key(owner.episode_id),
        "UpdateExpression": "SET " + ", ".join(assignments) + ("" if rank else " REMOVE worklist_rank"),
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return {"Update": update}


def worklist_organisation_item(table: str, episode_id: str, organisation: str) -> dict[str, Any]:
    """The transaction item that puts the episode's row on ``organisation``'s worklist (a handover
    accepted), with its unacknowledged alarms: creates the head if the episode has none yet. It moves the
    version on, so that a change read before the handover (an acknowledgement by the organisation that
    no longer monitors the episode) is cancelled and read again."""
    return {"Update": {
        "TableName": table,
        "Key": head_key(episode_id),
        "UpdateExpression": "SET worklist_organisation = :organisation, episode_id = :episode "
                            "ADD version :one",
        "ExpressionAttributeValues": {":organisation": {"S": organisation}, ":episode": {"S": episode_id},
                                      ":one": {"N": "1"}},
    }}
