"""The evaluations table in DynamoDB (keys: functions.shared.evaluation_records)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from functions.alarm_evaluation.models import (
    AlarmState,
    AlarmUpdate,
    AnswerAlarm,
    Commit,
    Component,
    EpisodeState,
    EpisodeToJudge,
    Head,
    Invalidation,
    NewAlarm,
    Reading,
)
from functions.alarm_evaluation.triage import Colour
from functions.shared import aws
from functions.shared.catalogue import BLOOD_PRESSURE
from functions.shared.dynamo import (
    IndexByHour,
    get_item,
    transact,
    unavailable_when_throttled,
    written_in_hour,
)
from functions.shared.episode_records import (
    META,
    OPEN_PREFIX,
    THRESHOLDS_PREFIX,
    patient_partition,
    relations_from_item,
    thresholds_from_item,
)
from functions.shared.episode_records import episode_partition as source_partition
from functions.shared.evaluation_records import (
    EVALUATED_HOUR_INDEX,
    READING_PREFIX,
    HeadOwner,
    alarm_sort_key,
    episode_partition,
    event_item,
    event_sort_key,
    green_uploads_of,
    head_key,
    head_update,
    open_alarms_of,
    reading_sort_key,
    version_of,
)

# The EVENT items by when they were evaluated (resource spec); only EVENT items carry these
# attributes, so the index holds nothing else.
EVENTS_BY_EVALUATED_HOUR = IndexByHour(EVALUATED_HOUR_INDEX, hour_attribute="evaluated_hour",
                                       time_attribute="evaluated_at", table_key=("pk", "sk"))


class DynamoEventsByHour:
    """The evaluations table's EVENT items found by when they were evaluated, for the outboxes' recoveries."""

    def __init__(self, evaluations_table: str) -> None:
        self._table = evaluations_table

    def evaluated_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        """The EVENT items of ``hour`` evaluated between two instants, by the index by evaluated hour."""
        return written_in_hour(self._table, EVENTS_BY_EVALUATED_HOUR, hour, since, until)


# --- the evaluator's reads and writes ------------------------------------------------------------------


class DynamoEpisodeSource:
    """The episodes table as the evaluator reads it: a citizen's open guards, and an episode with its
    threshold versions in one strongly consistent Query of its partition."""

    def __init__(self, episodes_table: str) -> None:
        self._table = episodes_table

    @unavailable_when_throttled
    def open_episode_ids(self, patient_id: str) -> list[str]:
        return [item["episode_id"]["S"] for item in self._query(
            "pk = :pk AND begins_with(sk, :open)",
            {":pk": patient_partition(patient_id), ":open": {"S": OPEN_PREFIX}},
            ProjectionExpression="episode_id")]

    @unavailable_when_throttled
    def episode(self, episode_id: str) -> EpisodeToJudge | None:
        # META sorts before ORDER# and THRESHOLDS#; the orders between them are left out by the filter.
        items = self._query(
            "pk = :pk AND sk BETWEEN :meta AND :last",
            {":pk": source_partition(episode_id), ":meta": {"S": META},
             ":last": {"S": THRESHOLDS_PREFIX + "~"}, ":thresholds": {"S": THRESHOLDS_PREFIX}},
            FilterExpression="sk = :meta OR begins_with(sk, :thresholds)", ConsistentRead=True)
        meta = next((item for item in items if item["sk"]["S"] == META), None)
        if meta is None:
            return None
        relations = relations_from_item(meta)
        versions = tuple(thresholds_from_item(item) for item in items if item["sk"]["S"] != META)
        return EpisodeToJudge(
            episode_id=relations.episode_id, patient_id=relations.patient_id,
            disease_area=relations.disease_area, created_at=relations.created_at,
            treating_organisation=relations.treating_organisation,
            monitoring_organisation=relations.monitoring_organisation, is_open=relations.is_open,
            versions=versions,
        )

    def _query(self, condition: str, values: dict[str, Any], **options: Any) -> list[dict[str, Any]]:
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression=condition, ExpressionAttributeValues=values,
            **options)
        return [item for page in pages for item in page["Items"]]


class DynamoEvaluationStore:
    """An episode's partition of the evaluations table: the head read first, then the readings; each
    change one transaction that moves the head's version on (functions.shared.evaluation_records)."""

    def __init__(self, evaluations_table: str) -> None:
        self._table = evaluations_table

    @unavailable_when_throttled
    def load(self, episode_id: str) -> EpisodeState:
        head = get_item(self._table, head_key(episode_id))
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :readings)",
            ExpressionAttributeValues={":pk": episode_partition(episode_id),
                                       ":readings": {"S": READING_PREFIX}})
        readings = tuple(reading_from_item(item) for page in pages for item in page["Items"])
        return EpisodeState(head_from_item(head), readings)

    @unavailable_when_throttled
    def alarms(self, episode_id: str, keys: Sequence[tuple[str, str]]) -> dict[str, AlarmState]:
        # Only the alarms of readings whose colour changed: few, so one consistent GetItem each.
        found = {}
        for raised_at, alarm_id in keys:
            item = get_item(self._table, _key(episode_id, alarm_sort_key(raised_at, alarm_id)))
            if item is not None:
                found[alarm_id] = AlarmState(alarm_id, item["raised_at"]["S"], item["status"]["S"],
                                             item["colour"]["S"])
        return found

    @unavailable_when_throttled
    def has_event(self, episode_id: str, event_id: str) -> bool:
        return get_item(self._table, _key(episode_id, event_sort_key(event_id)), "pk") is not None

    @unavailable_when_throttled
    def commit(self, commit: Commit) -> bool:
        return transact(transaction_items(self._table, commit))


def _key(episode_id: str, sort_key: str) -> dict[str, Any]:
    return {"pk": episode_partition(episode_id), "sk": {"S": sort_key}}


def _reading_key(episode_id: str, reading: Reading) -> dict[str, Any]:
    return _key(episode_id, reading_sort_key(reading.type, reading.measured_at, reading.measurement_id))


def _text(value: str) -> dict[str, str]:
    return {"S": value}


def _number(value: int | Decimal) -> dict[str, str]:
    return {"N": str(value)}


# --- items -----------------------------------------------------------------------------------------------


def transaction_items(table: str, commit: Commit) -> list[dict[str, Any]]:
    """The transaction of a commit: its readings and alarms, the event, and the head's versioned update."""
    episode = commit.episode
    items: list[dict[str, Any]] = []
    for write in commit.writes:
        if write.new:
            items.append(_put(table, reading_item(episode, write.reading)))
        else:
            items.append(_reading_update(table, episode.episode_id, write.reading))
        if write.new_alarm is not None:
            items.append(_put(table, alarm_item(episode, write.new_alarm)))
        if write.alarm_update is not None:
            items.append(_alarm_update(table, episode.episode_id, write.alarm_update))
    items += [_put(table, answer_alarm_item(episode, alarm)) for alarm in commit.answer_alarms]
    if commit.event is not None:
        event = commit.event
        items.append(_put(table, event_item(episode.episode_id, event.event_id,
                                            datetime.fromisoformat(event.evaluated_at), event.text())))
    head = commit.head
    extra: dict[str, Any] = {}
    if head.last_measured_at is not None:
        extra["last_measured_at"] = _text(head.last_measured_at)
    if head.last_received_at is not None:
        extra["last_received_at"] = _text(head.last_received_at)
    owner = HeadOwner(episode.episode_id, episode.patient_id, episode.disease_area,
                      episode.monitoring_organisation)
    items.append(head_update(table, owner, commit.read_version, head.open_alarms, head.green_uploads, extra))
    return items


def _put(table: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}


def reading_item(episode: EpisodeToJudge, reading: Reading) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_reading_key(episode.episode_id, reading),
        "measurement_id": _text(reading.measurement_id),
        "episode_id": _text(episode.episode_id),
        "patient_id": _text(episode.patient_id),
        # The readings-by-time index: the episode's readings in time order, whatever their type.
        "reading_episode": _text(episode.episode_id),
        "measured_key": _text(f"{reading.measured_at}#{reading.measurement_id}"),
        "device_id": _text(reading.device_id),
        "upload_id": _text(reading.upload_id),
        "dedupe_key": _text(reading.dedupe_key),
        "position": _number(reading.position),
        "type": _text(reading.type),
        "measured_at": _text(reading.measured_at),
        "received_at": _text(reading.received_at),
        "method": _text(reading.method),
        "late": {"BOOL": reading.late},
        **_judged(reading),
    }
    if reading.type == BLOOD_PRESSURE:
        item["components"] = {"L": [
            {"M": {"type": _text(c.type), "value": _number(c.value), "unit": _text(c.unit)}}
            for c in reading.components]}
    else:
        [only] = reading.components
        item["value"], item["unit"] = _number(only.value), _text(only.unit)
    return item


def _judged(reading: Reading) -> dict[str, Any]:
    """What a (re-)evaluation sets: colour and version (absent while not judged), alarm, invalidation."""
    judged: dict[str, Any] = {}
    if reading.colour is not None and reading.threshold_version is not None:
        judged["colour"] = _text(reading.colour.value)
        judged["threshold_version"] = _number(reading.threshold_version)
    if reading.raised_alarm is not None:
        judged["raised_alarm"] = _text(reading.raised_alarm)
    if reading.invalidated is not None:
        invalidation = reading.invalidated.as_dict()
        judged["invalidated"] = {"M": {name: _text(value) for name, value in invalidation.items()}}
    return judged


def _reading_update(table: str, episode_id: str, reading: Reading) -> dict[str, Any]:
    judged = _judged(reading)
    names = {f"#{name}": name for name in judged}
    expression = "SET " + ", ".join(f"#{name} = :{name}" for name in judged)
    if "colour" not in judged:  # unjudged: no colour, no version
        names.update({"#colour": "colour", "#threshold_version": "threshold_version"})
        expression += " REMOVE #colour, #threshold_version"
    return {"Update": {
        "TableName": table,
        "Key": _reading_key(episode_id, reading),
        "UpdateExpression": expression,
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {f":{name}": value for name, value in judged.items()},
    }}


def alarm_item(episode: EpisodeToJudge, alarm: NewAlarm) -> dict[str, Any]:
    reading = alarm.reading
    item = {
        **_key(episode.episode_id, alarm_sort_key(reading.received_at, alarm.alarm_id)),
        "alarm_id": _text(alarm.alarm_id),
        "episode_id": _text(episode.episode_id),
        "patient_id": _text(episode.patient_id),
        "kind": _text("measurement"),
        "colour": _text(alarm.colour),
        "raised_colour": _text(alarm.colour),
        "status": _text("open"),
        # The reading's upload's arrival, whichever evaluation raised it: redeliveries and replays agree.
        "raised_at": _text(reading.received_at),
        "late": {"BOOL": reading.late},
        "measurement_id": _text(reading.measurement_id),
        "type": _text(reading.type),
        "measured_at": _text(reading.measured_at),
        "changes": {"L": []},
    }
    if reading.threshold_version is not None:
        item["threshold_version"] = _number(reading.threshold_version)
    return item


def answer_alarm_item(episode: EpisodeToJudge, alarm: AnswerAlarm) -> dict[str, Any]:
    return {
        **_key(episode.episode_id, alarm_sort_key(alarm.received_at, alarm.alarm_id)),
        "alarm_id": _text(alarm.alarm_id),
        "episode_id": _text(episode.episode_id),
        "patient_id": _text(episode.patient_id),
        "kind": _text("answer"),
        "colour": _text(alarm.colour),
        "raised_colour": _text(alarm.colour),
        "status": _text("open"),
        "raised_at": _text(alarm.received_at),
        "late": {"BOOL": alarm.answer.late},
        "answer_id": _text(alarm.answer_id),
        "question_id": _text(alarm.answer.question_id),
        "answer": _text(alarm.answer.answer),
        "answered_at": _text(alarm.answer.answered_at),
        "changes": {"L": []},
    }


def _alarm_update(table: str, episode_id: str, update: AlarmUpdate) -> dict[str, Any]:
    # An alarm open again waits for a new acknowledgement; the earlier one stays in its changes.
    reopened = " REMOVE acknowledged" if update.status == "open" else ""
    return {"Update": {
        "TableName": table,
        "Key": _key(episode_id, alarm_sort_key(update.raised_at, update.alarm_id)),
        "UpdateExpression": "SET #status = :status, colour = :colour, "
                            "changes = list_append(if_not_exists(changes, :none), :change)" + reopened,
        "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":status": _text(update.status), ":colour": _text(update.colour), ":none": {"L": []},
            ":change": {"L": [{"M": {name: _text(value) for name, value in update.change.items()}}]},
        },
    }}


def head_from_item(item: dict[str, Any] | None) -> Head:
    if item is None:
        return Head()
    return Head(version_of(item), open_alarms_of(item), green_uploads_of(item),
                item.get("last_measured_at", {}).get("S"), item.get("last_received_at", {}).get("S"),
                item.get("worklist_organisation", {}).get("S"))


def reading_from_item(item: dict[str, Any]) -> Reading:
    if "components" in item:
        components = tuple(Component(c["M"]["type"]["S"], Decimal(c["M"]["value"]["N"]), c["M"]["unit"]["S"])
                           for c in item["components"]["L"])
    else:
        components = (Component(item["type"]["S"], Decimal(item["value"]["N"]), item["unit"]["S"]),)
    invalidated = item.get("invalidated", {}).get("M")
    return Reading(
        measurement_id=item["measurement_id"]["S"], type=item["type"]["S"], components=components,
        measured_at=item["measured_at"]["S"], received_at=item["received_at"]["S"],
        device_id=item["device_id"]["S"], upload_id=item["upload_id"]["S"],
        dedupe_key=item["dedupe_key"]["S"],
        position=int(item["position"]["N"]), method=item["method"]["S"], late=item["late"]["BOOL"],
        colour=Colour(item["colour"]["S"]) if "colour" in item else None,
        threshold_version=int(item["threshold_version"]["N"]) if "threshold_version" in item else None,
        raised_alarm=item["raised_alarm"]["S"] if "raised_alarm" in item else None,
        invalidated=Invalidation(**{name: value["S"] for name, value in invalidated.items()})
        if invalidated else None,
    )
