"""Recovering the stream batches the evaluations table's outboxes gave up on: the shared recovery
(functions.shared.stream_recovery) with each outbox's parts (outbox.evaluation_outbox and
outbox.alarm_outbox): its own relay, only the EVENT items of the range, and the fallback to the table
by evaluated hour; with fakes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.alarm_evaluation.outbox import (
    AlarmRelay,
    EvaluationRelay,
    alarm_outbox,
    evaluated_upload_message,
    evaluation_outbox,
)
from functions.shared.hour_shards import sharded_hour
from functions.shared.stream_recovery import (
    BatchNotRecovered,
    StreamBatchFailure,
    StreamBatchRecovery,
    StreamRecord,
)
from tests.support.evaluation_events import event_item, other_items, upload_event
from tests.support.fakes import FakeEventsByHour, FakePublisher, RecordedMetrics
from tests.support.streams import FIRST, FakeShards, sample_record

TABLE = "telehub-dev-evaluations"
EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b"


def failure(**batch_changes: Any) -> StreamBatchFailure:
    record = sample_record("alarm_evaluation")
    record["DDBStreamBatchInfo"].update(batch_changes)
    return StreamBatchFailure.model_validate(record)


def event(upload_id: str, evaluated_at: str = "2024-05-01T08:05:02.250Z") -> dict[str, Any]:
    item = event_item(upload_event(EPISODE, upload_id, ["RED"]))
    return {**item, "evaluated_at": evaluated_at,
            "evaluated_hour": sharded_hour(evaluated_at[:13], item["event_id"])}


@dataclass
class Outbox:
    """One of the two outboxes: how its recovery is built, and what names a message it sent."""

    name: str
    recovery: Callable[[FakeShards, FakePublisher, FakeEventsByHour, RecordedMetrics], StreamBatchRecovery]
    event_of: Callable[[Any], str]
    metric_prefix: str


def _evaluation_recovery(shards, publisher, events, metrics) -> StreamBatchRecovery:
    outbox = evaluation_outbox(EvaluationRelay(publisher, metrics), events, TABLE)
    return StreamBatchRecovery(shards, outbox, metrics)


def _alarm_recovery(shards, publisher, events, metrics) -> StreamBatchRecovery:
    outbox = alarm_outbox(AlarmRelay(publisher, metrics), events, TABLE)
    return StreamBatchRecovery(shards, outbox, metrics)


OUTBOXES = [
    Outbox("evaluation", _evaluation_recovery, lambda message: message.event_id, "EvaluationOutbox"),
    Outbox("alarm", _alarm_recovery, lambda message: message.alarm_id, "AlarmOutbox"),
]


@pytest.fixture(params=OUTBOXES, ids=lambda outbox: outbox.name)
def outbox(request) -> Outbox:
    return request.param


def sent_for(outbox: Outbox, items: list[dict[str, Any]]) -> list[str]:
    """What names the outbox's messages for these items, in order: event ids, or the one raised alarm's id."""
    if outbox.name == "evaluation":
        return [evaluated_upload_message(item).event_id for item in items]
    return [json.loads(item["event"])["alarms"][0]["alarm_id"] for item in items]


def test_of_a_range_still_in_the_stream_only_the_event_items_are_relayed(outbox):
    # Given a failed batch holding, per upload, the transaction's head, a reading and the event
    records, events = [], []
    for n in range(2):
        events.append(event(f"upload-{n:04d}"))
        for item in [*other_items(EPISODE), events[-1]]:
            records.append(StreamRecord(str(FIRST + len(records)), "INSERT", item))
    publisher, metrics = FakePublisher(), RecordedMetrics()
    recovery = outbox.recovery(FakeShards(records), publisher, FakeEventsByHour([]), metrics)
    # When the recovery handles the failure record of the range
    recovery.recover(failure(endSequenceNumber=str(FIRST + len(records) - 1), batchSize=len(records)))
    # Then the events went, as the outbox's own relay sends them, and nothing else
    assert [outbox.event_of(message) for message in publisher.sent] == sent_for(outbox, events)
    assert metrics.values[f"{outbox.metric_prefix}BatchesRecovered"] == 1
    assert f"{outbox.metric_prefix}BatchesRecoveredFromTable" not in metrics.values


def test_a_range_the_stream_no_longer_holds_is_read_from_the_table_by_evaluated_hour(outbox):
    # Given the stream trimmed, and the table's events of the batch's window and of hours later
    events = FakeEventsByHour([
        in_batch := event("in-batch", "2024-05-01T08:05:02.250Z"),
        just_before := event("just-before", "2024-05-01T08:04:30.000Z"),
        event("hours-later", "2024-05-01T11:00:00.000Z"),
    ])
    publisher, metrics = FakePublisher(), RecordedMetrics()
    # When the recovery handles the failure record
    outbox.recovery(FakeShards([], gone=True), publisher, events, metrics).recover(failure())
    # Then the window's events are relayed (the one before again: harmless), not the later one
    assert sorted(outbox.event_of(message) for message in publisher.sent) == sorted(
        sent_for(outbox, [in_batch, just_before]))
    assert events.asked == [("2024-05-01T08", "2024-05-01T08:04:01.000Z", "2024-05-01T08:06:03.000Z")]
    assert metrics.values[f"{outbox.metric_prefix}BatchesRecoveredFromTable"] == 1


def test_an_event_that_cannot_be_relayed_fails_the_recovery_and_the_others_are_sent(outbox):
    # Given a batch of three events, the second cut short
    items = [event(f"upload-{n:04d}") for n in range(3)]
    items[1]["event"] = items[1]["event"][:30]
    records = [StreamRecord(str(FIRST + n), "INSERT", item) for n, item in enumerate(items)]
    publisher = FakePublisher()
    recovery = outbox.recovery(FakeShards(records), publisher, FakeEventsByHour([]), RecordedMetrics())
    # When recovered, Then the record fails (for the DLQ and a person) and the other two are sent
    with pytest.raises(BatchNotRecovered, match="1 of 3"):
        recovery.recover(failure())
    assert [outbox.event_of(message) for message in publisher.sent] == sent_for(outbox, [items[0], items[2]])
