"""The alarm outbox's relay (alarm_evaluation/outbox.py): each alarm an EVENT item raised becomes one
message on the clinical-alarms topic, none for an event that raised none, published ten per request;
a record counts as relayed once all its alarms are published. With in-memory fakes."""

from __future__ import annotations

import json

import pytest

from functions.alarm_evaluation.outbox import AlarmRelay, raised_alarm_messages
from tests.support.evaluation_events import alarm, event_item, missed_alarm, upload_event
from tests.support.fakes import FakePublisher, RecordedMetrics
from tests.support.organisations import HOSPITAL, MONITORING

EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b"


@pytest.fixture
def metrics() -> RecordedMetrics:
    return RecordedMetrics()


def _event(upload_id: str, colours: list[str], **changes) -> dict:
    return upload_event(EPISODE, upload_id, colours, **changes)


def test_each_raised_alarm_becomes_a_message_with_its_organisation_and_severity():
    # Given an event of a RED and a YELLOW weight (each raising its alarm) and a GREEN one
    event = _event("upload-0001", ["RED", "GREEN", "YELLOW"])
    # When its alarms become messages
    messages = raised_alarm_messages(event_item(event))
    # Then there is one per raised alarm, attributed to the monitoring organisation and the colour
    assert [(m.organisation, m.severity) for m in messages] == [(MONITORING, "RED"), (MONITORING, "YELLOW")]
    red = json.loads(messages[0].body)
    assert red == {
        "message_type": "telehub.alarm.raised", "schema_version": 1,
        "alarm_id": event["alarms"][0]["alarm_id"], "event_id": event["event_id"], "change": "raised",
        "episode_id": EPISODE,
        "patient_id": event["patient_id"], "colour": "RED", "kind": "measurement",
        "measurement_id": event["measurements"][0]["measurement_id"],
        "due_at": None, "question_id": None, "raised_at": "2024-05-01T08:05:02.250Z", "late": False,
        "monitoring_organisation": MONITORING, "disease_area": "copd",
    }
    assert messages[0].alarm_id == red["alarm_id"]


def test_a_missed_measurement_alarm_names_when_the_measurement_was_due():
    # Given the schedule's event of a miss (no upload, no measurement)
    event = {**_event("unused", []), "trigger": "missed_measurement", "upload": None,
             "alarms": [missed_alarm(EPISODE, "2024-05-01T10:00:00.000Z")]}
    # When its alarm becomes a message
    [message] = raised_alarm_messages(event_item(event))
    # Then it is BLUE, of kind missed_measurement, with its due time and no measurement
    body = json.loads(message.body)
    assert (message.severity, body["kind"], body["due_at"], body["measurement_id"]) == (
        "BLUE", "missed_measurement", "2024-05-01T10:00:00.000Z", None)


@pytest.mark.parametrize("change", ["lowered", "invalidated"])
def test_alarms_that_no_longer_call_for_attention_are_not_published(change):
    # Given an event whose one alarm was lowered or invalidated (a nurse may have seen it when it was raised)
    event = _event("upload-0001", ["RED"])
    event["alarms"] = [alarm(EPISODE, event["measurements"][0], "YELLOW", change=change)]
    # When its alarms become messages, Then there are none
    assert raised_alarm_messages(event_item(event)) == []


@pytest.mark.parametrize("change", ["raised", "raised_again", "escalated"])
def test_alarms_raised_raised_again_or_escalated_are_published_with_their_change(change):
    # Given an event whose one alarm calls for attention anew
    event = _event("upload-0001", ["RED"])
    event["alarms"] = [alarm(EPISODE, event["measurements"][0], "RED", change=change)]
    # When its alarms become messages
    [message] = raised_alarm_messages(event_item(event))
    # Then the message names the change, so that a subscriber tells a RED escalation from the first raise
    assert (json.loads(message.body)["change"], message.severity) == (change, "RED")


def test_an_event_that_raised_no_alarm_publishes_nothing_and_is_relayed(metrics):
    # Given an all-GREEN upload's event
    topic = FakePublisher()
    # When relayed
    not_relayed = AlarmRelay(topic, metrics).relay([("100", event_item(_event("upload-0001", ["GREEN"])))])
    # Then no request is made and the record is relayed
    assert not_relayed == set() and topic.calls == 0
    assert metrics.values == {"AlarmEventsRelayed": 1, "AlarmEventsNotRelayed": 0}


def test_the_alarms_of_many_events_are_published_ten_per_request(metrics):
    # Given 12 events raising one alarm each, one raising three, and one raising none
    inserted = [(str(100 + n), event_item(_event(f"upload-{n:04d}", ["RED"]))) for n in range(12)]
    inserted.insert(5, ("200", event_item(_event("upload-three", ["RED", "YELLOW", "YELLOW"]))))
    inserted.insert(7, ("300", event_item(_event("upload-green", ["GREEN"]))))
    topic = FakePublisher()
    # When relayed
    not_relayed = AlarmRelay(topic, metrics).relay(inserted)
    # Then 15 alarms went in two requests, each once, and every record is relayed
    assert [len(batch) for batch in topic.batches] == [10, 5]
    assert len({m.alarm_id for m in topic.sent}) == 15
    assert not_relayed == set()
    assert metrics.values == {"AlarmEventsRelayed": 14, "AlarmEventsNotRelayed": 0}


def test_a_record_whose_alarms_are_not_all_published_fails_with_everything_after_it(metrics):
    # Given 8 events of one alarm, then one of three (the 9th to 11th alarm), then two of one
    inserted = [(str(100 + n), event_item(_event(f"upload-{n:04d}", ["RED"]))) for n in range(8)]
    inserted.append(("200", event_item(_event("upload-three", ["RED", "YELLOW", "RED"]))))
    inserted += [(str(300 + n), event_item(_event(f"upload-late-{n}", ["YELLOW"]))) for n in range(2)]
    # And a topic that refuses the whole second request (the three's last alarm and the two after it)
    topic = FakePublisher(refuse=range(10), on_call=2)
    # When relayed
    not_relayed = AlarmRelay(topic, metrics).relay(inserted)
    # Then the three's record fails although two of its alarms went (its retry sends them again, which
    # subscribers skip by alarm id), and so do the records after it; the first eight do not
    assert not_relayed == {"200", "300", "301"}
    assert len(topic.sent) == 10
    assert metrics.values == {"AlarmEventsRelayed": 8, "AlarmEventsNotRelayed": 3}


def _raised_alarm_without_colour(event: dict) -> None:
    del event["alarms"][0]["colour"]


def _raised_green(event: dict) -> None:
    event["alarms"][0]["colour"] = "GREEN"


def _no_organisation(event: dict) -> None:
    del event["monitoring_organisation"]


def _alarms_not_a_list(event: dict) -> None:
    event["alarms"] = {"alarm_id": "alm_1"}


@pytest.mark.parametrize("damage", [_raised_alarm_without_colour, _raised_green, _no_organisation,
                                    _alarms_not_a_list])
def test_an_event_whose_raised_alarms_cannot_be_read_fails_alone(damage, metrics):
    # Given three events raising an alarm each, the second damaged
    events = [_event(f"upload-{n:04d}", ["RED"], organisation=HOSPITAL) for n in range(3)]
    damage(events[1])
    topic = FakePublisher()
    # When relayed
    not_relayed = AlarmRelay(topic, metrics).relay([(str(n), event_item(e)) for n, e in enumerate(events)])
    # Then only the damaged one is reported, and the others' alarms are published
    assert not_relayed == {"1"}
    assert [m.alarm_id for m in topic.sent] == [e["alarms"][0]["alarm_id"] for e in (events[0], events[2])]


def test_an_item_whose_body_is_not_json_fails_alone(metrics):
    # Given two stored events, the first cut short
    inserted = [(str(n), event_item(_event(f"upload-{n:04d}", ["RED"]))) for n in range(2)]
    inserted[0][1]["event"] = inserted[0][1]["event"][:40]
    topic = FakePublisher()
    # When relayed, Then only it fails
    assert AlarmRelay(topic, metrics).relay(inserted) == {"0"} and len(topic.sent) == 1


def test_an_answers_alarm_is_published_with_its_question():
    # Given an event whose RED alarm was raised by a questionnaire answer
    event = _event("upload-0001", ["GREEN"])
    event["alarms"] = [{"alarm_id": "alm_answer", "colour": "RED", "change": "raised", "kind": "answer",
                        "measurement_id": None, "due_at": None, "answer_id": "ans_1",
                        "question_id": "coloured_sputum", "raised_at": "2024-05-01T08:05:00.000Z",
                        "late": False}]
    # When its alarms become messages
    [message] = raised_alarm_messages(event_item(event))
    # Then the message names the question (not the answer: the kind and colour say enough)
    body = json.loads(message.body)
    assert (body["kind"], body["question_id"], body["measurement_id"], message.severity) == (
        "answer", "coloured_sputum", None, "RED")
