"""The evaluations table's outboxes' failure path under moto: the events of a stream batch an outbox gave up
on are handed on by its recovery function (evaluation-outbox-recovery to the evaluated-uploads queue,
alarm-outbox-recovery to the clinical-alarms topic), from the evaluations stream or, once trimmed, from
the table by evaluated hour."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.shared import aws
from functions.shared.hour_shards import shard_of
from infrastructure.resource_spec import ResourceNames
from tests.support.evaluation_events import event_item, other_items, serialised, upload_event
from tests.support.moto_state import queued_messages, subscribed_queue
from tests.support.runtime import invoke
from tests.support.streams import failure_event, sample_failure_event, whole_stream_failure_record

FEATURE = "alarm_evaluation"  # its events/ folder
POISON = '{"DDBStreamBatchInfo": "truncated'
EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b"


def _batch_so_far(resources) -> str:
    """The on-failure record of every record of the evaluations stream so far (what the test wrote)."""
    return whole_stream_failure_record(FEATURE, resources.tables["evaluations"])


@dataclass
class Recovery:
    """One outbox's recovery function, and how many times each event's messages reached their target
    (for the alarm outbox: each event's one raised alarm, counted by event)."""

    function: str
    received: Callable[[ResourceNames], Counter[str]]


def _events_on_the_queue(resources: ResourceNames) -> Counter[str]:
    return Counter(m["body"]["event_id"] for m in queued_messages(resources.queue_urls["evaluated-uploads"]))


def _alarm_inbox(resources: ResourceNames) -> Callable[[ResourceNames], Counter[str]]:
    """A queue subscribed to the clinical-alarms topic, counting the events whose alarm it received."""
    inbox = subscribed_queue(resources.topic_arns["clinical-alarms"], "recovered-alarms")
    alarm_events = {
        json.loads(item["event"])["alarms"][0]["alarm_id"]: item["event_id"]
        for item in [event_item(body) for body in _bodies()]
    }
    return lambda _: Counter(alarm_events[m["body"]["alarm_id"]] for m in queued_messages(inbox))


def _bodies() -> list[dict[str, Any]]:
    """Two uploads' events, evaluated now (the on-failure record's arrival window is now too)."""
    now = datetime.now(UTC)
    return [upload_event(EPISODE, f"upload-{n:04d}", ["RED"], evaluated_at=now) for n in range(2)]


@pytest.fixture(params=["evaluation-outbox-recovery", "alarm-outbox-recovery"])
def recovery(request, resources) -> Recovery:
    if request.param == "evaluation-outbox-recovery":
        return Recovery(request.param, _events_on_the_queue)
    return Recovery(request.param, _alarm_inbox(resources))


def _store_events(resources: ResourceNames) -> list[str]:
    """Two evaluated uploads, each written with its episode's head and reading; their event ids."""
    dynamodb, event_ids = boto3.Session().client("dynamodb"), []
    for body in _bodies():
        event_ids.append(body["event_id"])
        for item in [*other_items(EPISODE), event_item(body)]:
            dynamodb.put_item(TableName=resources.tables["evaluations"], Item=serialised(item))
    return event_ids


def test_of_a_range_still_in_the_stream_only_the_events_are_handed_on_once(resources, recovery):
    # Given two stored evaluations (head, reading and event each) and the on-failure record of their batch
    event_ids = _store_events(resources)
    event = failure_event(FEATURE, _batch_so_far(resources))
    # When the recovery function handles it
    response = invoke(recovery.function, event)
    # Then it succeeded, and of the range's inserts only the events were handed on, each once
    assert response == {"batchItemFailures": []}
    assert recovery.received(resources) == Counter(dict.fromkeys(event_ids, 1))


def test_a_range_the_stream_no_longer_holds_is_found_by_the_evaluated_hour_index(resources, recovery,
                                                                                  monkeypatch):
    # Given two stored evaluations, in two shards of their hour's index, their on-failure record, and the
    # stream trimmed (moto never trims)
    event_ids = _store_events(resources)
    assert len({shard_of(event_id) for event_id in event_ids}) == 2
    record = _batch_so_far(resources)

    def trimmed(**request: Any) -> Any:
        raise ClientError({"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                          "GetShardIterator")

    monkeypatch.setattr(aws.client("dynamodbstreams"), "get_shard_iterator", trimmed)
    # When the recovery function handles the record
    response = invoke(recovery.function, failure_event(FEATURE, record))
    # Then the events are read from the table by their evaluated hour and handed on once
    assert response == {"batchItemFailures": []}
    assert recovery.received(resources) == Counter(dict.fromkeys(event_ids, 1))


def test_a_poison_record_fails_alone_and_the_good_one_beside_it_is_recovered(resources, recovery):
    # Given an unreadable message beside a good on-failure record
    event_ids = _store_events(resources)
    event = failure_event(FEATURE, POISON, _batch_so_far(resources))
    # When handled, Then only the poison message fails (for the DLQ and a person), the events go on
    assert invoke(recovery.function, event) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert recovery.received(resources) == Counter(dict.fromkeys(event_ids, 1))


def test_a_record_for_another_tables_stream_fails_and_nothing_is_sent(resources, recovery):
    # Given the sample record, which names the dev stage's evaluations table, not this one
    # When handled, Then it fails, and nothing was handed on
    assert invoke(recovery.function, sample_failure_event(FEATURE)) == {
        "batchItemFailures": [{"itemIdentifier": "3e7a9c1b-5d2f-4a8e-9b6c-0d2f4a6c8e13"}]
    }
    assert recovery.received(resources) == Counter()
