"""The evaluation outbox's relay (alarm_evaluation/outbox.py): each EVENT item becomes one message on the
evaluated-uploads queue, its body exactly as stored, sent ten per request; with in-memory fakes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from functions.alarm_evaluation.outbox import EvaluationRelay, evaluated_upload_message
from tests.support.evaluation_events import event_item, upload_event
from tests.support.fakes import FakePublisher, RecordedMetrics

EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b"


@pytest.fixture
def metrics() -> RecordedMetrics:
    return RecordedMetrics()


def _inserted(count: int) -> list[tuple[str, dict]]:
    return [(str(100 + n), event_item(upload_event(EPISODE, f"upload-{n:04d}", ["RED"])))
            for n in range(count)]


def test_the_message_is_the_stored_body_with_its_type_version_and_event_id_as_dedupe_key():
    # Given a stored event
    item = event_item(upload_event(EPISODE, "upload-0001", ["RED", "GREEN"]))
    # When it becomes a message
    message = evaluated_upload_message(item)
    # Then its body is the stored text, unchanged, and the event id is its dedupe key
    assert message.body == item["event"]
    assert message.event_id == item["event_id"] == json.loads(message.body)["event_id"]
    assert message.schema_version == 1


def test_events_are_relayed_ten_per_request(metrics):
    # Given 23 stored events
    queue = FakePublisher()
    # When relayed
    not_relayed = EvaluationRelay(queue, metrics).relay(_inserted(23))
    # Then three requests carried them, each event once, and every record is relayed
    assert [len(batch) for batch in queue.batches] == [10, 10, 3]
    assert len({m.event_id for m in queue.sent}) == 23
    assert not_relayed == set()
    assert metrics.values == {"EvaluationEventsRelayed": 23, "EvaluationEventsNotRelayed": 0}


def test_a_refused_request_stops_the_run_and_everything_unsent_fails(metrics):
    # Given 12 events and a queue that refuses the fourth message of the first request
    queue = FakePublisher(refuse=[3], on_call=1)
    # When relayed
    not_relayed = EvaluationRelay(queue, metrics).relay(_inserted(12))
    # Then that record and the two of the request never made fail; its sent neighbours do not
    assert not_relayed == {"103", "110", "111"}
    assert queue.calls == 1 and len(queue.sent) == 9
    assert metrics.values == {"EvaluationEventsRelayed": 9, "EvaluationEventsNotRelayed": 3}


def _no_body(item: dict) -> None:
    del item["event"]


def _not_json(item: dict) -> None:
    item["event"] = item["event"][:-1]


def _a_number(item: dict) -> None:
    item["event"] = Decimal(1)


def _another_events_body(item: dict) -> None:
    item["event_id"] = "evt_000000000000000000000000"


def _another_message_type(item: dict) -> None:
    item["event"] = item["event"].replace("telehub.upload.evaluated", "telehub.upload.accepted")


def _version_as_text(item: dict) -> None:
    item["event"] = item["event"].replace('"schema_version":1', '"schema_version":"1"')


def _a_list(item: dict) -> None:
    item["event"] = "[]"


@pytest.mark.parametrize("damage", [_no_body, _not_json, _a_number, _another_events_body,
                                    _another_message_type, _version_as_text, _a_list])
def test_an_item_that_is_no_evaluated_upload_event_fails_alone(damage, metrics):
    # Given three stored events, the second damaged
    inserted = _inserted(3)
    damage(inserted[1][1])
    queue = FakePublisher()
    # When relayed
    not_relayed = EvaluationRelay(queue, metrics).relay(inserted)
    # Then the others are sent and only the damaged one is reported
    assert not_relayed == {"101"}
    assert [m.event_id for m in queue.sent] == [inserted[0][1]["event_id"], inserted[2][1]["event_id"]]
