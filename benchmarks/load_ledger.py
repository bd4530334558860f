"""What the load benchmark's tablets were told, what Telehub did with it, and the comparison: lost and
duplicated uploads, checked against the tables, their streams and the queues.

The tablets write down every upload they got a 202 for (``Ledger.accepted``). While the system runs, two
taps watch each of the measurements and evaluated-uploads queues (by the dedupe key docs/messages.md gives
its messages: ``<device_id>/<upload_id>`` and the ``event_id``): the messages Telehub's functions put on it
(their SQS client's successful ``SendMessage(Batch)`` entries: the outboxes and their recoveries), and the
deliveries to its consumer (the event source mapping's batches, redeliveries included). A redrive moves a
message from its DLQ without Telehub sending it again, so it is a delivery, not a send.

``verify`` then holds every accepted upload to: stored once (an item in the uploads table, one INSERT on its
stream and no other change), put on the measurements queue once and delivered, evaluated once under its
citizen's episode (one EVENT item, written once, and a reading for each of its measurements; no alarm id
under two keys), and its event put on the evaluated-uploads queue once and delivered to the sharing
publisher. An upload missing from any of them is lost; one found more than once is duplicated.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from embedded.faults import consumer_wrapped
from embedded.lambda_runtime import Invoke
from embedded.local import LocalSystem
from embedded.pollers import SqsPoller
from functions.shared import aws
from functions.shared.evaluation_records import (
    ALARM_PREFIX,
    EVENT_PREFIX,
    READING_PREFIX,
    episode_partition,
    event_sort_key,
    measurement_id,
    upload_event_id,
)

MEASUREMENTS, EVALUATED = "measurements", "evaluated-uploads"  # the queues' ids in the resource spec
CONSUMERS = {MEASUREMENTS: "alarm-evaluation", EVALUATED: "sharing-publisher"}  # their functions' ids


@dataclass(frozen=True)
class Upload:
    """An upload a tablet got a 202 for."""

    device_id: str
    upload_id: str
    episode_id: str
    measurements: int

    @property
    def dedupe_key(self) -> str:
        return f"{self.device_id}/{self.upload_id}"

    @property
    def event_id(self) -> str:
        return upload_event_id(self.episode_id, self.dedupe_key)


@dataclass
class Ledger:
    """The tablets' side, written from their threads."""

    accepted: dict[str, Upload] = field(default_factory=dict)  # by dedupe key
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def accept(self, upload: Upload) -> None:
        with self._lock:
            self.accepted[upload.dedupe_key] = upload

    def uploads(self) -> list[Upload]:
        with self._lock:
            return list(self.accepted.values())


@dataclass
class QueueTap:
    """One queue's messages by dedupe key: put on it by Telehub's functions, and delivered to its consumer."""

    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_sent(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.sent.update(keys)

    def count_delivered(self, keys: Iterable[str]) -> None:
        with self._lock:
            self.delivered.update(keys)


@contextmanager
def tapped(system: LocalSystem) -> Iterator[dict[str, QueueTap]]:
    """The two queues' taps while the block runs (by queue id)."""
    assert system.names is not None, "start() first"
    taps = {queue: QueueTap() for queue in CONSUMERS}
    with ExitStack() as stack:
        stack.enter_context(_sends_counted(aws.client("sqs"), {
            system.names.queue_urls[queue]: tap for queue, tap in taps.items()}))
        for queue, function_id in CONSUMERS.items():
            poller = next(poller for poller in system.pollers
                          if isinstance(poller, SqsPoller) and poller.name == f"{function_id}<-sqs:{queue}")
            stack.enter_context(consumer_wrapped(poller, _delivery_counter(taps[queue])))
        yield taps


def _delivery_counter(tap: QueueTap) -> Any:
    def wrap(invoke: Invoke) -> Invoke:
        def counted(event: dict[str, Any]) -> Any:
            tap.count_delivered(_record_dedupe_key(record) for record in event["Records"])
            return invoke(event)

        return counted

    return wrap


def _record_dedupe_key(record: dict[str, Any]) -> str:
    attribute: str = record["messageAttributes"]["dedupe_key"]["stringValue"]
    return attribute


@contextmanager
def _sends_counted(sqs: Any, taps: dict[str, QueueTap]) -> Iterator[None]:
    """Count the entries the functions' SQS client sent to the tapped queues, once SQS took them."""
    unique_id = f"telehub-load-tap-{id(taps)}"

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if params.get("QueueUrl") in taps:
            context[unique_id] = params

    def count(parsed: dict[str, Any], context: dict[str, Any], model: Any, **_: Any) -> None:
        params = context.get(unique_id)
        if params is None or "Error" in parsed:
            return
        if model.name == "SendMessage":
            taps[params["QueueUrl"]].count_sent([_entry_dedupe_key(params)])
            return
        entries = {entry["Id"]: entry for entry in params["Entries"]}
        taps[params["QueueUrl"]].count_sent(
            _entry_dedupe_key(entries[done["Id"]]) for done in parsed.get("Successful", []))

    events = [(f"{stage}.sqs.{operation}", handler) for operation in ("SendMessage", "SendMessageBatch")
              for stage, handler in (("before-parameter-build", remember), ("after-call", count))]
    for event, handler in events:
        sqs.meta.events.register(event, handler, unique_id=f"{unique_id}-{event}")
    try:
        yield
    finally:
        for event, _ in events:
            sqs.meta.events.unregister(event, unique_id=f"{unique_id}-{event}")


def _entry_dedupe_key(entry: dict[str, Any]) -> str:
    attribute: str = entry["MessageAttributes"]["dedupe_key"]["StringValue"]
    return attribute


# --- the comparison --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    accepted: int
    lost: dict[str, list[str]]  # the check -> the dedupe keys of the uploads it found missing
    duplicated: dict[str, list[str]]  # the check -> the dedupe keys of the uploads it found more than once
    redelivered: dict[str, int]  # queue -> deliveries beyond the messages sent (crashes, retries)
    stored_without_202: int  # stored uploads no tablet got a 202 for (a tablet that gave up retrying)

    @property
    def lost_uploads(self) -> int:
        return len({key for keys in self.lost.values() for key in keys})

    @property
    def duplicated_uploads(self) -> int:
        return len({key for keys in self.duplicated.values() for key in keys})


def verify(system: LocalSystem, ledger: Ledger, taps: dict[str, QueueTap], devices: set[str]) -> Verdict:
    """Every upload of ``ledger`` held to the tables, their streams and the queues' taps (the tablets'
    ``devices`` only: a shared system holds other uploads too)."""
    assert system.names is not None, "start() first"
    uploads = ledger.uploads()
    session = boto3.Session()
    dynamodb, streams = session.client("dynamodb"), session.client("dynamodbstreams")
    uploads_table, evaluations_table = system.names.tables["uploads"], system.names.tables["evaluations"]
    lost: dict[str, list[str]] = defaultdict(list)
    duplicated: dict[str, list[str]] = defaultdict(list)

    stored = {f"{item['device_id']['S']}/{item['upload_id']['S']}"
              for item in _scan(dynamodb, uploads_table) if item["device_id"]["S"] in devices}
    upload_changes = {f"{device}/{upload_id}": changes for (device, upload_id), changes in
                      _changes(dynamodb, streams, uploads_table, ("device_id", "upload_id")).items()
                      if device in devices}
    episodes = {upload.episode_id for upload in uploads}
    items = {episode_id: _partition(dynamodb, evaluations_table, episode_id) for episode_id in episodes}
    evaluation_changes = _changes(dynamodb, streams, evaluations_table, ("pk", "sk"))
    event_changes = {item: changes for item, changes in evaluation_changes.items()
                     if item[1].startswith(EVENT_PREFIX)}
    measurements_tap, evaluated_tap = taps[MEASUREMENTS], taps[EVALUATED]

    for upload in uploads:
        key, event_key = upload.dedupe_key, upload.event_id
        checks = {
            "stored in the uploads table": (key in stored, upload_changes.get(key) == Counter(INSERT=1)),
            "put on the measurements queue": (measurements_tap.sent[key] > 0,
                                              measurements_tap.sent[key] <= 1),
            "delivered to the evaluator": (measurements_tap.delivered[key] > 0, True),
            "evaluated under its episode": _evaluated(upload, items[upload.episode_id], event_changes),
            "put on the evaluated-uploads queue": (evaluated_tap.sent[event_key] > 0,
                                                   evaluated_tap.sent[event_key] <= 1),
            "delivered to the sharing publisher": (evaluated_tap.delivered[event_key] > 0, True),
        }
        for check, (found, once) in checks.items():
            if not found:
                lost[check].append(key)
            elif not once:
                duplicated[check].append(key)
    for episode_id, sort_keys in items.items():
        alarm_ids = Counter(_last_part(key) for key in sort_keys if key.startswith(ALARM_PREFIX))
        if any(count > 1 for count in alarm_ids.values()):
            duplicated["an alarm stored under two keys"].append(episode_id)

    accepted = {upload.dedupe_key for upload in uploads}
    return Verdict(
        accepted=len(uploads),
        lost=dict(lost),
        duplicated=dict(duplicated),
        redelivered={queue: tap.delivered.total() - tap.sent.total() for queue, tap in taps.items()},
        stored_without_202=len(stored - accepted),
    )


def _evaluated(upload: Upload, sort_keys: set[str],
               event_changes: dict[tuple[str, ...], Counter[str]]) -> tuple[bool, bool]:
    """(its event and every reading of it are stored, the event was written once and never changed)."""
    readings = {_last_part(sort_key) for sort_key in sort_keys if sort_key.startswith(READING_PREFIX)}
    complete = event_sort_key(upload.event_id) in sort_keys and all(
        measurement_id(upload.dedupe_key, position) in readings for position in range(upload.measurements))
    changes = event_changes.get((episode_partition(upload.episode_id)["S"], event_sort_key(upload.event_id)))
    return complete, changes == Counter(INSERT=1)


def _last_part(sort_key: str) -> str:
    """The id a reading's or an alarm's sort key ends with (evaluation_records)."""
    return sort_key.rsplit("#", 1)[-1]


def _scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table,
                                                        ProjectionExpression="device_id, upload_id"):
        yield from page["Items"]


def _partition(dynamodb: Any, table: str, episode_id: str) -> set[str]:
    """The sort keys of the episode's items in the evaluations table."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk", ProjectionExpression="sk",
        ExpressionAttributeValues={":pk": episode_partition(episode_id)}, ConsistentRead=True)
    return {item["sk"]["S"] for page in pages for item in page["Items"]}


def _changes(dynamodb: Any, streams: Any, table: str,
             key: tuple[str, ...]) -> dict[tuple[str, ...], Counter[str]]:
    """Every change the table's stream recorded (INSERT, MODIFY, REMOVE), by item: its ``key`` attributes'
    values (strings)."""
    changes: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                keys = record["dynamodb"]["Keys"]
                changes[tuple(keys[name]["S"] for name in key)][record["eventName"]] += 1
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return changes
