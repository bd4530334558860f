"""The schedule's and the pauses' DynamoDB side: active episodes from the episodes table's index by
status; heads, BLUE alarms, their events and pauses in the evaluations table (keys:
functions.shared.evaluation_records).

The head carries three attributes of the schedule's own beside the worklist row: ``schedule_since``
(when the schedule first saw the episode active), ``missed_through`` (the latest due time a miss was
raised for) and ``pauses`` (M: pause id -> {starts_at, ends_at}), so that a run reads each episode's
head and nothing else of it, in batches of 100.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from functions.missed_measurements.models import (
    BLUE,
    MISSED_MEASUREMENT,
    MonitoredEpisode,
    Pause,
    PauseWindow,
    ScheduleChange,
    ScheduleHead,
)
from functions.shared import aws
from functions.shared.clock import iso_utc
from functions.shared.dynamo import batch_get, get_item, transact, unavailable_when_throttled
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.evaluation_records import (
    PAUSE_PREFIX,
    HeadOwner,
    OpenAlarm,
    alarm_sort_key,
    episode_partition,
    event_item,
    green_uploads_of,
    head_key,
    head_update,
    open_alarms_of,
    version_of,
)

STATUS_INDEX = "by-status"  # the episodes table's META items by status (resource spec)
# Events are kept for the outbox's recovery, which re-reads a failed stream batch of the last 24 hours.


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoMonitoringSchedule:
    def __init__(self, episodes_table: str, evaluations_table: str) -> None:
        self._episodes = episodes_table
        self._table = evaluations_table

    def active_episodes(self) -> Iterator[list[MonitoredEpisode]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._active_page(start)
            yield [monitored_episode(item) for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    @unavailable_when_throttled
    def _active_page(self, start: dict[str, Any] | None) -> dict[str, Any]:
        query: dict[str, Any] = {
            "TableName": self._episodes, "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#status = :active",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":active": _s(EpisodeStatus.ACTIVE)},
        }
        if start:
            query["ExclusiveStartKey"] = start
        page: dict[str, Any] = aws.client("dynamodb").query(**query)
        return page

    @unavailable_when_throttled
    def heads(self, episode_ids: Sequence[str]) -> dict[str, ScheduleHead]:
        items = batch_get(self._table, [head_key(episode_id) for episode_id in episode_ids])
        return {item["episode_id"]["S"]: head_from_item(item) for item in items}

    @unavailable_when_throttled
    def head(self, episode_id: str) -> ScheduleHead:
        item = get_item(self._table, head_key(episode_id))
        return head_from_item(item) if item else ScheduleHead()

    @unavailable_when_throttled
    def record(self, episode: MonitoredEpisode, head: ScheduleHead, change: ScheduleChange) -> bool:
        """One transaction: the head (version, open alarms, the schedule's own), each miss's alarm and the
        misses' event. An alarm or event that exists cancels it: the head's version moved on with them."""
        open_alarms = {**head.open_alarms, **{
            miss.alarm_id: OpenAlarm(BLUE, iso_utc(miss.due_at), False) for miss in change.misses}}
        schedule: dict[str, Any] = {"schedule_since": _s(iso_utc(change.schedule_since))}
        if change.missed_through is not None:
            schedule["missed_through"] = _s(iso_utc(change.missed_through))
        owner = HeadOwner(episode.episode_id, episode.patient_id, episode.disease_area,
                          episode.monitoring_organisation)
        items = [head_update(self._table, owner, head.version, open_alarms, head.green_uploads, schedule)]
        items += [self._put_new(missed_alarm_item(episode, miss.alarm_id, miss.due_at))
                  for miss in change.misses]
        if change.event_id is not None and change.event is not None:
            items.append(self._put_new(event_item(episode.episode_id, change.event_id, change.evaluated_at,
                                                  change.event)))
        return transact(items)

    @unavailable_when_throttled
    def add_pause(self, relations: EpisodeRelations, head: ScheduleHead, pause: Pause) -> bool:
        windows = {**head.pauses, pause.pause_id: pause.window}
        # Made on the monitoring organisation's behalf: refused if a handover moved the row meanwhile (a
        # head without an organisation was never handed over; its version guards it).
        acting = pause.created_by_organisation if head.worklist_organisation is not None else None
        return transact([
            head_update(self._table, HeadOwner(relations.episode_id, relations.patient_id,
                                               relations.disease_area, relations.monitoring_organisation),
                        head.version, head.open_alarms, head.green_uploads,
                        {"pauses": pauses_attribute(windows)}, acting_organisation=acting),
            self._put_new(pause_item(pause)),
        ])

    @unavailable_when_throttled
    def pauses(self, episode_id: str) -> list[Pause]:
        pages = aws.client("dynamodb").get_paginator("query").paginate(
            TableName=self._table, ConsistentRead=True,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": episode_partition(episode_id), ":prefix": _s(PAUSE_PREFIX)},
        )
        return [pause_from_item(item) for page in pages for item in page["Items"]]

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}


# --- items -----------------------------------------------------------------------------------------


def monitored_episode(item: dict[str, Any]) -> MonitoredEpisode:
    """An episode's META item (as the index by status holds it) as the schedule needs it."""
    return MonitoredEpisode(
        episode_id=item["episode_id"]["S"],
        patient_id=item["patient_id"]["S"],
        disease_area=item["disease_area"]["S"],
        treating_organisation=item["treating_organisation"]["S"],
        monitoring_organisation=item["monitoring_organisation"]["S"],
        missed_after=timedelta(hours=int(item["schedule"]["M"]["missed_after_hours"]["N"])),
    )


def _instant(item: dict[str, Any], name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None


def head_from_item(item: dict[str, Any]) -> ScheduleHead:
    pauses = {
        pause_id: PauseWindow(datetime.fromisoformat(window["M"]["starts_at"]["S"]),
                              datetime.fromisoformat(window["M"]["ends_at"]["S"]))
        for pause_id, window in item.get("pauses", {}).get("M", {}).items()
    }
    return ScheduleHead(
        version=version_of(item),
        open_alarms=open_alarms_of(item),
        green_uploads=green_uploads_of(item),
        last_measured_at=_instant(item, "last_measured_at"),
        schedule_since=_instant(item, "schedule_since"),
        missed_through=_instant(item, "missed_through"),
        pauses=pauses,
        worklist_organisation=item.get("worklist_organisation", {}).get("S"),
    )


def pauses_attribute(windows: dict[str, PauseWindow]) -> dict[str, Any]:
    return {"M": {pause_id: {"M": {"starts_at": _s(iso_utc(window.starts_at)),
                                   "ends_at": _s(iso_utc(window.ends_at))}}
                  for pause_id, window in windows.items()}}


def missed_alarm_item(episode: MonitoredEpisode, alarm_id: str, due_at: datetime) -> dict[str, Any]:
    """A BLUE alarm, raised at the miss's due time."""
    due = _s(iso_utc(due_at))
    return {
        "pk": episode_partition(episode.episode_id),
        "sk": _s(alarm_sort_key(iso_utc(due_at), alarm_id)),
        "alarm_id": _s(alarm_id),
        "episode_id": _s(episode.episode_id),
        "patient_id": _s(episode.patient_id),
        "kind": _s(MISSED_MEASUREMENT),
        "colour": _s(BLUE),
        "raised_colour": _s(BLUE),
        "status": _s("open"),
        "raised_at": due,
        "due_at": due,
        "late": {"BOOL": False},
        "changes": {"L": []},
    }


def pause_item(pause: Pause) -> dict[str, Any]:
    return {
        "pk": episode_partition(pause.episode_id),
        "sk": _s(f"{PAUSE_PREFIX}{iso_utc(pause.starts_at)}#{pause.pause_id}"),
        "pause_id": _s(pause.pause_id),
        "episode_id": _s(pause.episode_id),
        "starts_at": _s(iso_utc(pause.starts_at)),
        "ends_at": _s(iso_utc(pause.ends_at)),
        "reason": _s(pause.reason),
        "created_by": {"M": {"subject": _s(pause.created_by),
                             "organisation": _s(pause.created_by_organisation)}},
        "created_at": _s(iso_utc(pause.created_at)),
    }


def pause_from_item(item: dict[str, Any]) -> Pause:
    creator = item["created_by"]["M"]
    return Pause(
        pause_id=item["pause_id"]["S"],
        episode_id=item["episode_id"]["S"],
        starts_at=datetime.fromisoformat(item["starts_at"]["S"]),
        ends_at=datetime.fromisoformat(item["ends_at"]["S"]),
        reason=item["reason"]["S"],
        created_by=creator["subject"]["S"],
        created_by_organisation=creator["organisation"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
    )
