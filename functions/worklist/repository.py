"""The worklist's reads and writes in the evaluations table (keys, indexes and the head's rules:
functions.shared.evaluation_records).

Every change is one transaction that includes the head's update from the version read, so it is
cancelled (False: read again and decide again) when another change of the episode came first.
Lists are read a page at a time; a page's position is the keys of its last item, which DynamoDB
takes back as the next query's ExclusiveStartKey.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.clock import iso_utc
from functions.shared.dynamo import get_item, transact, unavailable_when_throttled
from functions.shared.evaluation_records import (
    ALARM_ID_INDEX,
    ALARM_PREFIX,
    EVENT_PREFIX,
    READINGS_BY_TIME_INDEX,
    WORKLIST_INDEX,
    HeadOwner,
    alarm_sort_key,
    episode_partition,
    green_uploads_of,
    head_key,
    head_update,
    open_alarms_of,
    version_of,
)
from functions.worklist.models import (
    Acknowledgement,
    Alarm,
    AlarmChange,
    AlarmKey,
    AlarmStatus,
    Head,
    Measurement,
    Page,
    Position,
    QuestionnaireAnswer,
    invalid_cursor,
)

T = TypeVar("T")
EPISODE_PREFIX = "EPISODE#"
# The attributes of a page's position in each list: the index's keys and the table's.
WORKLIST_POSITION = ("worklist_organisation", "worklist_rank", "pk", "sk")
READINGS_POSITION = ("reading_episode", "measured_key", "pk", "sk")
ALARMS_POSITION = ("pk", "sk")
# After every measurement id in a measured_key (<measured_at>#<measurement id>): the end of an instant.
_END_OF_INSTANT = "#~"
_NULLABLE_MEASUREMENT = dict.fromkeys(("value", "unit", "components", "colour", "threshold_version",
                                       "invalidated"))
_NULLABLE_ALARM = dict.fromkeys(("measurement_id", "type", "measured_at", "threshold_version", "due_at",
                                 "question_id", "answer", "answered_at", "acknowledged"))
_deserializer = TypeDeserializer()


class DynamoWorklistStore:
    def __init__(self, evaluations_table: str) -> None:
        self._table = evaluations_table

    @unavailable_when_throttled
    def worklist(self, organisation: str, limit: int, after: Position | None) -> Page[Head]:
        request = {"TableName": self._table, "IndexName": WORKLIST_INDEX,
                   "KeyConditionExpression": "worklist_organisation = :organisation",
                   "ExpressionAttributeValues": {":organisation": {"S": organisation}}}
        return _page(request, limit, _start(after, WORKLIST_POSITION, "worklist_organisation", organisation),
                     WORKLIST_POSITION, head_from_item)

    @unavailable_when_throttled
    def head(self, episode_id: str) -> Head:
        item = get_item(self._table, head_key(episode_id))
        return head_from_item(item) if item else Head(episode_id)

    @unavailable_when_throttled
    def find_alarm(self, alarm_id: str) -> AlarmKey | None:
        items = aws.client("dynamodb").query(
            TableName=self._table, IndexName=ALARM_ID_INDEX, KeyConditionExpression="alarm_id = :alarm",
            ExpressionAttributeValues={":alarm": {"S": alarm_id}},
        )["Items"]
        if not items:
            return None
        sort_key: str = items[0]["sk"]["S"]
        raised_at = sort_key.removeprefix(ALARM_PREFIX).removesuffix(f"#{alarm_id}")
        return AlarmKey(items[0]["pk"]["S"].removeprefix(EPISODE_PREFIX), raised_at, alarm_id)

    @unavailable_when_throttled
    def alarm(self, key: AlarmKey) -> Alarm | None:
        item = get_item(self._table, _alarm_key(key))
        return alarm_from_item(item) if item else None

    @unavailable_when_throttled
    def acknowledge(self, key: AlarmKey, acknowledgement: Acknowledgement, change: AlarmChange, head: Head,
                    organisation: str) -> bool:
        """Acknowledge the alarm while it is open, and write ``head`` (what waits on the row without it),
        if the stored head is still at ``head.version`` and on ``organisation``'s worklist."""
        return transact([
            _head_update(self._table, head, organisation),
            {"Update": {
                "TableName": self._table,
                "Key": _alarm_key(key),
                "UpdateExpression": "SET #status = :acknowledged, acknowledged = :acknowledgement, "
                                    "changes = list_append(if_not_exists(changes, :none), :change)",
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":acknowledged": {"S": AlarmStatus.ACKNOWLEDGED}, ":open": {"S": AlarmStatus.OPEN},
                    ":acknowledgement": _map({
                        "by": acknowledgement.by, "organisation": acknowledgement.organisation,
                        "at": iso_utc(acknowledgement.at), "note": acknowledgement.note,
                    }),
                    ":none": {"L": []},
                    ":change": {"L": [_map({"at": iso_utc(change.at), "from": change.from_, "to": change.to,
                                            "reason": change.reason, "by": acknowledgement.by,
                                            "organisation": acknowledgement.organisation,
                                            "note": acknowledgement.note})]},
                },
            }},
        ])

    @unavailable_when_throttled
    def write_head(self, head: Head, organisation: str) -> bool:
        """Write what waits on the row (its rank follows) if the stored head is still at ``head.version`` and
        on ``organisation``'s worklist."""
        return transact([_head_update(self._table, head, organisation)])

    @unavailable_when_throttled
    def measurements(self, episode_id: str, since: datetime | None, until: datetime | None,
                     measurement_type: str | None, limit: int, after: Position | None) -> Page[Measurement]:
        """The episode's readings, newest measured first, from the readings-by-time index (eventually
        consistent: a reading written a moment ago may be missing)."""
        values: dict[str, Any] = {":episode": {"S": episode_id}}
        condition = "reading_episode = :episode"
        if since is not None:
            values[":since"] = {"S": iso_utc(since)}
        if until is not None:
            values[":until"] = {"S": iso_utc(until) + _END_OF_INSTANT}
        if since is not None and until is not None:
            condition += " AND measured_key BETWEEN :since AND :until"
        elif since is not None:
            condition += " AND measured_key >= :since"
        elif until is not None:
            condition += " AND measured_key <= :until"
        request: dict[str, Any] = {"TableName": self._table, "IndexName": READINGS_BY_TIME_INDEX,
                                   "KeyConditionExpression": condition, "ScanIndexForward": False}
        if measurement_type is not None:
            request["FilterExpression"] = "#type = :type"
            request["ExpressionAttributeNames"] = {"#type": "type"}
            values[":type"] = {"S": measurement_type}
        request["ExpressionAttributeValues"] = values
        return _page(request, limit, _start(after, READINGS_POSITION, "reading_episode", episode_id),
                     READINGS_POSITION, measurement_from_item)

    @unavailable_when_throttled
    def alarms(self, episode_id: str, status: AlarmStatus | None, limit: int,
               after: Position | None) -> Page[Alarm]:
        """The episode's alarms, newest raised first (a strongly consistent query of its partition)."""
        partition = episode_partition(episode_id)
        request: dict[str, Any] = {
            "TableName": self._table, "ConsistentRead": True, "ScanIndexForward": False,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :alarms)",
            "ExpressionAttributeValues": {":pk": partition, ":alarms": {"S": ALARM_PREFIX}},
        }
        if status is not None:
            request["FilterExpression"] = "#status = :status"
            request["ExpressionAttributeNames"] = {"#status": "status"}
            request["ExpressionAttributeValues"][":status"] = {"S": status}
        return _page(request, limit, _start(after, ALARMS_POSITION, "pk", partition["S"]), ALARMS_POSITION,
                     alarm_from_item)

    @unavailable_when_throttled
    def answers(self, episode_id: str) -> list[QuestionnaireAnswer]:
        """Every answer in the episode's "upload evaluated" events, in no order (a strongly consistent query
        of its partition's events; their keys are event ids, which follow no time)."""
        request: dict[str, Any] = {
            "TableName": self._table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :events)",
            "ProjectionExpression": "#event", "ExpressionAttributeNames": {"#event": "event"},
            "ExpressionAttributeValues": {":pk": episode_partition(episode_id),
                                          ":events": {"S": EVENT_PREFIX}},
        }
        answers: list[QuestionnaireAnswer] = []
        while True:
            response = aws.client("dynamodb").query(**request)
            for item in response["Items"]:
                answers += answers_from_event_item(item)
            if "LastEvaluatedKey" not in response:
                return answers
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _start(after: Position | None, names: Sequence[str], partition: str, value: str) -> dict[str, Any] | None:
    """The ExclusiveStartKey of a position, which must be one of this list's (else 422: a forged or
    mixed-up cursor never reads another list)."""
    if after is None:
        return None
    if (sorted(after) != sorted(names) or after[partition] != value
            or not after["pk"].startswith(EPISODE_PREFIX)):
        raise invalid_cursor()
    return {name: {"S": after[name]} for name in names}


def _page(request: dict[str, Any], limit: int, start: dict[str, Any] | None, names: Sequence[str],
          read: Callable[[dict[str, Any]], T]) -> Page[T]:
    """Up to ``limit`` items of the query, and the position after the last one if more match. One more
    than ``limit`` is read, so the last page says so."""
    items: list[dict[str, Any]] = []
    first = True
    while True:
        if start is not None:
            request["ExclusiveStartKey"] = start
        try:
            response = aws.client("dynamodb").query(**request, Limit=limit + 1)
        except ClientError as error:
            # A cursor's position outside the query's key condition (a forged one) is refused by DynamoDB:
            # the client's mistake, named as such, not a 500.
            if first and _refused_start(error) and "ExclusiveStartKey" in request:
                raise invalid_cursor() from None
            raise
        first = False
        items += response["Items"]
        start = response.get("LastEvaluatedKey")
        if len(items) > limit or start is None:
            break
    page = items[:limit]
    after = {name: page[-1][name]["S"] for name in names} if len(items) > limit else None
    return Page([read(item) for item in page], after)


def _refused_start(error: ClientError) -> bool:
    return (error.response.get("Error", {}).get("Code") == "ValidationException"
            and "starting key" in str(error.response.get("Error", {}).get("Message", "")).lower())


def _head_update(table: str, head: Head, organisation: str) -> dict[str, Any]:
    """What waits on the row, written on behalf of ``organisation``: cancelled if the head moved on or the
    row is no longer on its worklist (a handover accepted meanwhile)."""
    if head.patient_id is None or head.disease_area is None:
        # Only a handover writes a head without them, and such a head has nothing to acknowledge.
        raise ValueError(f"the head of episode {head.episode_id} names no citizen or disease area")
    owner = HeadOwner(head.episode_id, head.patient_id, head.disease_area, organisation)
    return head_update(table, owner, head.version, head.open_alarms, head.green_uploads,
                       acting_organisation=organisation)


def _alarm_key(key: AlarmKey) -> dict[str, Any]:
    return {"pk": episode_partition(key.episode_id), "sk": {"S": alarm_sort_key(key.raised_at, key.alarm_id)}}


def _map(values: dict[str, str]) -> dict[str, Any]:
    return {"M": {name: {"S": value} for name, value in values.items()}}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


# --- items -----------------------------------------------------------------------------------------


def head_from_item(item: dict[str, Any]) -> Head:
    def optional(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    last_measured_at = optional("last_measured_at")
    return Head(
        episode_id=item["pk"]["S"].removeprefix(EPISODE_PREFIX),
        version=version_of(item),
        patient_id=optional("patient_id"),
        disease_area=optional("disease_area"),
        worklist_organisation=optional("worklist_organisation"),
        open_alarms=open_alarms_of(item),
        green_uploads=green_uploads_of(item),
        last_measured_at=datetime.fromisoformat(last_measured_at) if last_measured_at else None,
    )


def measurement_from_item(item: dict[str, Any]) -> Measurement:
    """A reading as the API shows it; ``raised_alarm`` is the alarm it raised (``alarm_id`` only alarms
    carry)."""
    plain = _plain(item)
    return Measurement.model_validate(_NULLABLE_MEASUREMENT | plain | {"alarm_id": plain.get("raised_alarm")})


def alarm_from_item(item: dict[str, Any]) -> Alarm:
    return Alarm.model_validate({"changes": []} | _NULLABLE_ALARM | _plain(item))


def answers_from_event_item(item: dict[str, Any]) -> list[QuestionnaireAnswer]:
    """The judged answers an event carries (docs/messages.md), each with the alarm the event raised for it."""
    event = json.loads(item["event"]["S"])
    raised = {alarm["answer_id"]: alarm["alarm_id"] for alarm in event.get("alarms", [])
              if alarm.get("kind") == "answer"}
    return [QuestionnaireAnswer(answer_id=answer["answer_id"], question_id=answer["question_id"],
                                answer=answer["answer"], answered_at=answer["answered_at"],
                                colour=answer["colour"], late=answer["late"],
                                alarm_id=raised.get(answer["answer_id"]))
            for answer in event.get("answers", [])]
