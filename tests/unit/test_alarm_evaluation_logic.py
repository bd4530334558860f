"""The alarm evaluator's rules (functions/alarm_evaluation/logic.py) against in-memory fakes: colours per
type at every limit, blood pressure, the version rule, both relative baselines with re-evaluation raising
and lowering alarms, unjudged readings, the worklist's head, idempotent redelivery, optimistic locking,
chunked commits with a crash between them, and invalidation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.alarm_evaluation.logic import AlarmEvaluator, MeasurementInvalidation
from functions.alarm_evaluation.triage import Colour
from functions.shared.errors import Conflict, NoRelation, NotFound, ServiceUnavailable
from functions.shared.evaluation_records import (
    answer_alarm_id,
    answer_id,
    measurement_alarm_id,
    measurement_id,
    upload_event_id,
    worklist_rank,
)
from functions.shared.principal import Principal, Role
from tests.support.evaluator_inputs import (
    COPD_EPISODE,
    HEART_EPISODE,
    STARTED,
    answered,
    episode,
    measured,
    pressure,
    upload,
    version,
)
from tests.support.fakes import FakeAccessLog, FakeEpisodeSource, FakeEvaluationStore, RecordedMetrics
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
GREEN, YELLOW, RED = Colour.GREEN, Colour.YELLOW, Colour.RED
NURSE = Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=MONITORING)


class System:
    """The evaluator and the invalidation over one fake store and the given episodes."""

    def __init__(self, *episodes, limit: int = 100) -> None:
        self.episodes = FakeEpisodeSource(*(episodes or (episode(),)))
        self.store = FakeEvaluationStore()
        self.metrics = RecordedMetrics()
        self.access_log = FakeAccessLog()
        self.evaluator = AlarmEvaluator(self.episodes, self.store, self.metrics, lambda: NOW, limit)
        self.invalidation = MeasurementInvalidation(self.episodes, self.store, self.access_log, self.metrics,
                                                    lambda: NOW, limit)

    def colour(self, of, position: int = 0, episode_id: str = COPD_EPISODE) -> Colour | None:
        return self.reading(of, position, episode_id).colour

    def reading(self, of, position: int = 0, episode_id: str = COPD_EPISODE):
        return self.store.readings[episode_id][measurement_id(of.dedupe_key, position)]

    def alarm(self, of, position: int = 0, episode_id: str = COPD_EPISODE):
        alarm_id = measurement_alarm_id(episode_id, measurement_id(of.dedupe_key, position))
        return self.store.alarm_states.get(episode_id, {}).get(alarm_id)

    def open_alarms(self, episode_id: str = COPD_EPISODE) -> dict[str, str]:
        head = self.store.heads[episode_id]
        return {alarm_id: alarm.colour for alarm_id, alarm in head.open_alarms.items()}

    def event(self, of, episode_id: str = COPD_EPISODE) -> dict:
        return self.store.events[episode_id][upload_event_id(episode_id, of.dedupe_key)].body


def at(day: str, time: str = "08:00") -> datetime:
    """2024-<day> <time> UTC, the worked examples' way of naming instants."""
    return datetime.fromisoformat(f"2024-{day}T{time}:00+00:00")


# --- absolute limits, per type, at and either side of each limit (COPD's defaults) -----------------------

ABSOLUTE = [
    ("spo2", 87, RED), ("spo2", 88, YELLOW), ("spo2", 89, YELLOW),
    ("spo2", 91, YELLOW), ("spo2", 92, GREEN), ("spo2", 93, GREEN),
    ("pulse", 39, RED), ("pulse", 40, YELLOW), ("pulse", 41, YELLOW),
    ("pulse", 49, YELLOW), ("pulse", 50, GREEN), ("pulse", 100, GREEN), ("pulse", 101, YELLOW),
    ("pulse", 120, YELLOW), ("pulse", 121, RED),
    ("temperature", "37.9", GREEN), ("temperature", "38.0", GREEN), ("temperature", "38.1", YELLOW),
    ("temperature", "39.0", YELLOW), ("temperature", "39.1", RED),
    ("respiration_rate", 9, YELLOW), ("respiration_rate", 10, GREEN), ("respiration_rate", 24, GREEN),
    ("respiration_rate", 25, YELLOW), ("respiration_rate", 30, YELLOW), ("respiration_rate", 31, RED),
]


@pytest.mark.parametrize(("kind", "value", "expected"), ABSOLUTE)
def test_a_value_is_coloured_by_the_limits_a_limit_itself_not_alarming(kind, value, expected):
    # Given a COPD episode with the template's limits
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured(kind, value, at("04-01")))
    # When an upload of the value is evaluated
    system.evaluator.evaluate(sent)
    # Then the reading is stored with its colour and version 1, and alarms from YELLOW up
    assert system.colour(sent) == expected
    assert system.reading(sent).threshold_version == 1
    assert (system.alarm(sent) is not None) == (expected != GREEN)


@pytest.mark.parametrize(("systolic", "diastolic", "pulse", "expected"), [
    (120, 80, None, GREEN), (160, 95, None, GREEN), (161, 80, None, YELLOW), (120, 96, None, YELLOW),
    (181, 80, None, RED), (120, 111, None, RED), (165, 115, None, RED), (89, 49, None, RED),
    (120, 80, 121, RED), (120, 80, 100, GREEN),
])
def test_blood_pressure_is_as_bad_as_its_worse_component(systolic, diastolic, pulse, expected):
    # Given a COPD episode
    system = System()
    sent = upload("u1", at("04-01", "08:05"), pressure(systolic, diastolic, at("04-01"), pulse))
    # When a blood pressure is evaluated
    system.evaluator.evaluate(sent)
    # Then it is one reading, coloured by the worse of systolic and diastolic (and a measured pulse)
    assert system.colour(sent) == expected
    assert system.reading(sent).type == "blood_pressure"


def test_the_upload_gets_its_worst_colour_and_each_reading_its_own():
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 95, at("04-01")),
                  measured("temperature", "38.5", at("04-01")), measured("pulse", 130, at("04-01")))
    system.evaluator.evaluate(sent)
    event = system.event(sent)
    assert event["colour"] == "RED"
    assert [m["colour"] for m in event["measurements"]] == ["GREEN", "YELLOW", "RED"]
    assert sorted(a["colour"] for a in event["alarms"]) == ["RED", "YELLOW"]
    assert {a["change"] for a in event["alarms"]} == {"raised"}


# --- the worked examples of docs/alarms.md ------------------------------------------------------------


def test_a_late_reading_is_judged_by_the_version_valid_when_measured_and_rebases_a_later_one():
    # Given the COPD weight example: version 2 (stricter: -1.5 / -3.0 kg) valid from 04-20
    stricter = version(2, at("04-20", "00:00"), overrides={"relative": {"weight": {
        "baseline": "window", "window_days": 30, "yellow_change": -1.5, "red_change": -3.0}}})
    system = System(episode("copd", COPD_EPISODE, version(1, STARTED), stricter))
    a = upload("a", at("03-25", "08:05"), measured("weight", "71.0", at("03-25")))
    b = upload("b", at("04-12", "08:05"), measured("weight", "69.5", at("04-12")))
    c = upload("c", at("05-01", "08:05"), measured("weight", "67.9", at("05-01")))
    for sent in (a, b, c):
        system.evaluator.evaluate(sent)
    assert [system.colour(u) for u in (a, b, c)] == [GREEN, GREEN, YELLOW]
    assert system.reading(c).threshold_version == 2
    assert system.open_alarms() == {system.alarm(c).alarm_id: "YELLOW"}
    # When the backlog D (measured 04-03, arriving 05-02) is evaluated
    d = upload("d", at("05-02", "10:00"), measured("weight", "69.2", at("04-03", "07:30"), late=True))
    system.evaluator.evaluate(d)
    # Then D is GREEN by version 1; C, rebased on D, is GREEN and its alarm lowered, visibly
    assert system.colour(d) == GREEN and system.reading(d).threshold_version == 1
    assert system.colour(c) == GREEN
    assert system.alarm(c).status == "lowered" and system.alarm(c).colour == "GREEN"
    assert system.store.alarm_changes[system.alarm(c).alarm_id] == [
        {"at": "2024-05-02T10:00:00.000Z", "from": "YELLOW", "to": "GREEN", "reason": "re-evaluated"}]
    assert system.open_alarms() == {}
    event = system.event(d)
    assert event["re_evaluated"] == [{"measurement_id": system.reading(c).measurement_id, "type": "weight",
                                      "measured_at": "2024-05-01T08:00:00.000Z", "colour": "GREEN",
                                      "previous_colour": "YELLOW", "threshold_version": 2}]
    assert [a["change"] for a in event["alarms"]] == ["lowered"]
    assert [v["version"] for v in event["threshold_versions"]] == [1, 2]


def test_a_gain_over_a_window_alarms_from_the_windows_first_value():
    # Given the heart-failure weight example (+2 / +3 kg in 3 days)
    system = System(episode("heart_failure", HEART_EPISODE))
    days = [("03-04", "80.0"), ("03-06", "81.5"), ("03-07", "82.1"), ("03-08", "83.0")]
    sent = [upload(f"w{i}", at(day, "07:05"), measured("weight", kg, at(day, "07:00")))
            for i, (day, kg) in enumerate(days)]
    for each in sent:
        system.evaluator.evaluate(each)
    # Then only Thursday's +2.1 alarms; Friday's +3.0 from Monday is out of the window
    assert [system.colour(u, episode_id=HEART_EPISODE) for u in sent] == [GREEN, GREEN, YELLOW, GREEN]


def test_a_late_first_score_rebases_the_episode_and_raises_an_alarm():
    # Given the CAT score example (episode start baseline, +4 / +8)
    system = System()
    p = upload("p", at("03-30", "16:05"), measured("cat_score", 14, at("03-30", "16:00")))
    q = upload("q", at("04-20", "16:05"), measured("cat_score", 19, at("04-20", "16:00")))
    for sent in (p, q):
        system.evaluator.evaluate(sent)
    assert [system.colour(p), system.colour(q)] == [GREEN, YELLOW]
    # When a late score R of 10, measured 03-28, arrives
    r = upload("r", at("04-24", "09:00"), measured("cat_score", 10, at("03-28", "16:00"), late=True))
    system.evaluator.evaluate(r)
    # Then R is the first (GREEN), P is +4 (GREEN), Q +9: RED, its open alarm following
    assert [system.colour(r), system.colour(p), system.colour(q)] == [GREEN, GREEN, RED]
    assert system.open_alarms() == {system.alarm(q).alarm_id: "RED"}
    # And R's event names Q's alarm as escalated, which the clinical-alarms topic publishes
    assert [(a["alarm_id"], a["change"], a["colour"]) for a in system.event(r)["alarms"]] == [
        (system.alarm(q).alarm_id, "escalated", "RED")]


def test_a_reading_measured_before_the_first_version_is_stored_unjudged():
    # Given an episode whose first version is valid from its start
    system = System()
    sent = upload("u1", STARTED + timedelta(hours=1), measured("spo2", 80, STARTED - timedelta(hours=1)))
    # When a reading measured before it arrives
    system.evaluator.evaluate(sent)
    # Then it is stored without colour or version, raises nothing, and the upload has no colour
    reading = system.reading(sent)
    assert (reading.colour, reading.threshold_version) == (None, None)
    assert system.alarm(sent) is None
    assert system.event(sent)["colour"] is None
    assert system.store.heads[COPD_EPISODE].green_uploads == {}


# --- alarms over re-evaluation ------------------------------------------------------------------------


def test_a_lowered_alarm_opens_again_when_its_reading_rises_again():
    # Given a weight that fell 2.5 kg in a window (YELLOW), then a late earlier weight lowered it
    system = System()
    first = upload("w1", at("04-01", "08:05"), measured("weight", "72.0", at("04-01")))
    fell = upload("w2", at("04-10", "08:05"), measured("weight", "69.5", at("04-10")))
    system.evaluator.evaluate(first)
    system.evaluator.evaluate(fell)
    assert system.colour(fell) == YELLOW
    earlier = upload("w0", at("04-11", "08:05"), measured("weight", "70.0", at("03-31"), late=True))
    system.evaluator.evaluate(earlier)
    assert system.colour(fell) == GREEN and system.alarm(fell).status == "lowered"
    # When the earlier weight is invalidated
    system.invalidation.invalidate(COPD_EPISODE, system.reading(earlier).measurement_id, "on carpet", NURSE)
    # Then the fall is measured from the first weight again: YELLOW, the same alarm open again
    assert system.colour(fell) == YELLOW
    assert system.alarm(fell).status == "open"
    assert system.open_alarms() == {system.alarm(fell).alarm_id: "YELLOW"}
    invalidation = next(iter(e.body for e in system.store.events[COPD_EPISODE].values()
                             if e.body["trigger"] == "invalidation"))
    assert [a["change"] for a in invalidation["alarms"]] == ["raised_again"]


def test_an_acknowledged_alarm_opens_again_only_when_its_colour_rises_above_the_one_acknowledged():
    # Given a YELLOW CAT score alarm a nurse acknowledged
    system = System()
    p = upload("p", at("03-30", "16:05"), measured("cat_score", 14, at("03-30", "16:00")))
    q = upload("q", at("04-20", "16:05"), measured("cat_score", 19, at("04-20", "16:00")))
    system.evaluator.evaluate(p)
    system.evaluator.evaluate(q)
    system.store.acknowledge(COPD_EPISODE, system.alarm(q).alarm_id)
    # When a late first score makes it RED
    r = upload("r", at("04-24", "09:00"), measured("cat_score", 10, at("03-28", "16:00"), late=True))
    system.evaluator.evaluate(r)
    # Then it is open again, RED
    assert system.alarm(q).status == "open" and system.alarm(q).colour == "RED"
    assert [a["change"] for a in system.event(r)["alarms"]] == ["raised_again"]


def test_an_acknowledged_alarm_stays_acknowledged_when_its_colour_falls():
    system = System()
    q = upload("q", at("04-01", "08:05"), measured("spo2", 87, at("04-01")))
    system.evaluator.evaluate(q)
    system.store.acknowledge(COPD_EPISODE, system.alarm(q).alarm_id)
    system.invalidation.invalidate(COPD_EPISODE, system.reading(q).measurement_id, "probe slipped", NURSE)
    assert system.alarm(q).status == "invalidated"
    assert system.open_alarms() == {}


# --- the head: the worklist row -------------------------------------------------------------------------


def test_a_green_upload_waits_for_a_look_and_a_red_one_as_an_alarm():
    system = System()
    green = upload("g", at("04-01", "08:05"), measured("spo2", 95, at("04-01")))
    red = upload("r", at("04-02", "08:05"), measured("spo2", 85, at("04-02"), late=False))
    system.evaluator.evaluate(green)
    system.evaluator.evaluate(red)
    head = system.store.heads[COPD_EPISODE]
    assert head.green_uploads == {green.dedupe_key: green.received_at}
    assert {alarm_id: (a.colour, a.raised_at) for alarm_id, a in head.open_alarms.items()} == {
        system.alarm(red).alarm_id: ("RED", red.received_at)}
    assert head.last_measured_at == "2024-04-02T08:00:00.000Z"
    assert head.last_received_at == "2024-04-02T08:05:00.000Z"
    assert head.version == 2


def test_a_green_upload_whose_reading_a_late_baseline_turns_yellow_leaves_the_green_uploads():
    # Given a first CAT score of 15, GREEN, waiting for a look
    system = System()
    p = upload("p", at("03-30", "16:05"), measured("cat_score", 15, at("03-30", "16:00")))
    system.evaluator.evaluate(p)
    assert system.store.heads[COPD_EPISODE].green_uploads == {p.dedupe_key: p.received_at}
    # When a late score of 10, measured before it, becomes the episode's baseline (P is now +5)
    r = upload("r", at("04-24", "09:00"), measured("cat_score", 10, at("03-28", "16:00"), late=True))
    system.evaluator.evaluate(r)
    # Then P waits as a YELLOW alarm, no longer as a GREEN upload; the late one waits as GREEN
    head = system.store.heads[COPD_EPISODE]
    assert system.colour(p) == YELLOW
    assert head.green_uploads == {r.dedupe_key: r.received_at}
    assert system.open_alarms() == {system.alarm(p).alarm_id: "YELLOW"}
    assert worklist_rank(COPD_EPISODE, head.open_alarms, head.green_uploads) == (
        f"1#{p.received_at}#{COPD_EPISODE}")


def test_a_yellow_upload_whose_alarm_is_lowered_joins_the_green_uploads():
    # Given a weight 2.5 kg below the first in the window: YELLOW, not among the GREEN uploads
    system = System()
    first = upload("w1", at("04-01", "08:05"), measured("weight", "72.0", at("04-01")))
    fell = upload("w2", at("04-10", "08:05"), measured("weight", "69.5", at("04-10")))
    system.evaluator.evaluate(first)
    system.evaluator.evaluate(fell)
    assert fell.dedupe_key not in system.store.heads[COPD_EPISODE].green_uploads
    # When a late earlier weight rebases it and its alarm is lowered
    earlier = upload("w0", at("04-11", "08:05"), measured("weight", "70.0", at("03-31"), late=True))
    system.evaluator.evaluate(earlier)
    # Then it waits as a GREEN upload, beside the others
    assert system.alarm(fell).status == "lowered"
    assert system.open_alarms() == {}
    assert system.store.heads[COPD_EPISODE].green_uploads == {
        sent.dedupe_key: sent.received_at for sent in (first, fell, earlier)}


def test_invalidating_the_only_alarming_reading_puts_the_upload_among_the_green_ones():
    # Given an upload of a GREEN SpO2 and a RED pulse
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 95, at("04-01")),
                  measured("pulse", 130, at("04-01")))
    system.evaluator.evaluate(sent)
    assert system.store.heads[COPD_EPISODE].green_uploads == {}
    # When the pulse is invalidated
    system.invalidation.invalidate(COPD_EPISODE, system.reading(sent, 1).measurement_id, "cuff off", NURSE)
    # Then the upload waits as GREEN, and the row ranks as a GREEN one
    head = system.store.heads[COPD_EPISODE]
    assert head.open_alarms == {}
    assert head.green_uploads == {sent.dedupe_key: sent.received_at}
    assert worklist_rank(COPD_EPISODE, head.open_alarms, head.green_uploads) == (
        f"3#{sent.received_at}#{COPD_EPISODE}")


def test_a_green_upload_a_nurse_looked_at_waits_again_only_when_its_colour_changes():
    # Given two GREEN uploads a nurse has looked at: an SpO2 and pulse, and a first CAT score of 15
    system = System()
    both = upload("u1", at("03-29", "08:05"), measured("spo2", 95, at("03-29")),
                  measured("pulse", 70, at("03-29")))
    p = upload("p", at("03-30", "16:05"), measured("cat_score", 15, at("03-30", "16:00")))
    system.evaluator.evaluate(both)
    system.evaluator.evaluate(p)
    system.store.acknowledge_green(COPD_EPISODE)
    # When the pulse is invalidated (the upload stays GREEN), and a late first score makes P YELLOW
    system.invalidation.invalidate(COPD_EPISODE, system.reading(both, 1).measurement_id, "wrong", NURSE)
    r = upload("r", at("04-24", "09:00"), measured("cat_score", 10, at("03-28", "16:00"), late=True))
    system.evaluator.evaluate(r)
    # Then the first upload does not wait again; P waits as an alarm
    assert system.store.heads[COPD_EPISODE].green_uploads == {r.dedupe_key: r.received_at}
    # And once the late score is invalidated, P is GREEN again, a change: it waits again
    system.invalidation.invalidate(COPD_EPISODE, system.reading(r).measurement_id, "wrong citizen", NURSE)
    assert system.colour(p) == GREEN and system.alarm(p).status == "lowered"
    assert system.store.heads[COPD_EPISODE].green_uploads == {p.dedupe_key: p.received_at}


# --- which episodes -------------------------------------------------------------------------------------


def test_a_weight_is_judged_under_each_open_episode_that_measures_it_and_a_pressure_too():
    # Given a citizen with COPD and heart failure
    system = System(episode("copd", COPD_EPISODE), episode("heart_failure", HEART_EPISODE))
    sent = upload("u1", at("04-01", "08:05"), measured("weight", "80", at("04-01")),
                  measured("temperature", "39.5", at("04-01")))
    # When an upload of a weight and a temperature is evaluated
    evaluated = system.evaluator.evaluate(sent)
    # Then both episodes store the weight; only COPD, which measures it, the temperature
    assert evaluated == 2
    assert len(system.store.readings[COPD_EPISODE]) == 2
    assert [r.type for r in system.store.readings[HEART_EPISODE].values()] == ["weight"]
    assert system.event(sent, HEART_EPISODE)["colour"] == "GREEN"
    assert system.event(sent, COPD_EPISODE)["colour"] == "RED"
    assert system.episodes.reads == 2  # thresholds read once per episode, not per measurement


def test_an_upload_of_types_no_open_episode_measures_is_evaluated_nowhere():
    system = System(episode("heart_failure", HEART_EPISODE))
    assert system.evaluator.evaluate(upload("u1", at("04-01", "08:05"),
                                            measured("temperature", 39, at("04-01")))) == 0
    assert system.store.commits == []


# --- idempotency, locking, chunks -------------------------------------------------------------------------


def test_a_redelivered_upload_writes_nothing():
    # Given an evaluated upload that raised an alarm
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01")))
    system.evaluator.evaluate(sent)
    commits = len(system.store.commits)
    # When the same message is delivered again (a redelivery, a DLQ replay)
    system.evaluator.evaluate(sent)
    # Then no transaction is even tried
    assert len(system.store.commits) == commits == 1
    assert system.store.refused == 0
    assert system.metrics.values["EvaluationsRepeated"] == 1


def test_a_change_that_came_first_makes_the_evaluation_read_again():
    # Given a nurse's acknowledgement committed between the evaluator's read and its commit
    system = System()
    first = upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01")))
    system.evaluator.evaluate(first)
    alarm_id = system.alarm(first).alarm_id
    raced = []

    def acknowledge_once():
        if not raced:
            raced.append(True)
            system.store.acknowledge(COPD_EPISODE, alarm_id)

    system.store.before_commit = acknowledge_once
    # When the next upload is evaluated
    second = upload("u2", at("04-02", "08:05"), measured("spo2", 86, at("04-02")))
    system.evaluator.evaluate(second)
    # Then its first commit is refused, and the second, against the new head, keeps the acknowledgement
    assert system.store.refused == 1
    assert set(system.open_alarms()) == {system.alarm(second).alarm_id}


def test_an_episode_that_keeps_changing_fails_the_message_for_a_retry():
    # Given an episode another change moves on before every commit of the evaluator
    system = System()

    def another_change() -> None:
        head = system.store.load(COPD_EPISODE).head
        system.store.heads[COPD_EPISODE] = replace(head, version=head.version + 1)

    system.store.before_commit = another_change
    # When an upload is evaluated, then after a few attempts it fails (SQS delivers it again), writing nothing
    with pytest.raises(ServiceUnavailable):
        system.evaluator.evaluate(upload("u1", at("04-01", "08:05"), measured("spo2", 85, at("04-01"))))
    assert system.store.readings.get(COPD_EPISODE, {}) == {}


def _many(name: str, count: int):
    return upload(name, at("04-02", "08:05"),
                  *(measured("spo2", 85 if i % 3 == 0 else 95, at("04-01", f"{8 + i // 60:02d}:{i % 60:02d}"))
                    for i in range(count)))


def test_a_big_change_is_committed_in_several_transactions_the_event_last():
    # Given transactions of at most 8 items
    system = System(limit=8)
    sent = _many("big", 14)
    # When an upload of 14 readings (5 of them RED) is evaluated
    system.evaluator.evaluate(sent)
    # Then each transaction moved the head's version on, the event came in the last, alarms beside it
    commits = system.store.commits
    assert len(commits) > 1
    assert [c.read_version for c in commits] == list(range(len(commits)))
    assert [c.event is not None for c in commits] == [False] * (len(commits) - 1) + [True]
    assert all(1 + len(c.writes) + sum(bool(w.new_alarm) for w in c.writes) + (c.event is not None) <= 8
               for c in commits)
    assert len(system.open_alarms()) == 5


def test_a_crash_between_transactions_is_repaired_by_the_redelivery():
    # Given the same upload evaluated in one go, and in chunks by a function that dies after the first
    whole = System()
    whole.evaluator.evaluate(_many("big", 14))
    crashed = System(limit=8)
    crashed.store.crash_on_commit = 2
    sent = _many("big", 14)
    with pytest.raises(RuntimeError):
        crashed.evaluator.evaluate(sent)
    assert 0 < len(crashed.store.readings[COPD_EPISODE]) < 14
    assert crashed.store.events.get(COPD_EPISODE, {}) == {}
    # When the message is delivered again
    crashed.evaluator.evaluate(sent)
    # Then the episode is as if nothing had happened: every reading, alarm and the event
    assert {m: r.colour for m, r in crashed.store.readings[COPD_EPISODE].items()} == {
        m: r.colour for m, r in whole.store.readings[COPD_EPISODE].items()}
    assert crashed.open_alarms() == whole.open_alarms()
    assert len(crashed.event(sent)["alarms"]) == 5
    # And a further redelivery writes nothing
    commits = len(crashed.store.commits)
    crashed.evaluator.evaluate(sent)
    assert len(crashed.store.commits) == commits


# --- invalidation ---------------------------------------------------------------------------------------


def test_an_invalidated_reading_is_kept_marked_and_its_alarm_leaves_the_worklist():
    # Given a RED SpO2 on the worklist
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 80, at("04-01")))
    system.evaluator.evaluate(sent)
    reading = system.reading(sent)
    # When the monitoring nurse invalidates it
    reply = system.invalidation.invalidate(COPD_EPISODE, reading.measurement_id, "probe slipped", NURSE)
    # Then it stays stored, marked with who, when and why; its alarm is invalidated and off the head
    stored = system.reading(sent)
    assert stored.invalidated is not None
    assert stored.invalidated.as_dict() == {"by": "nurse-1", "organisation": MONITORING,
                                            "at": "2024-05-02T10:00:00.000Z", "reason": "probe slipped"}
    assert system.alarm(sent).status == "invalidated"
    assert system.open_alarms() == {}
    assert reply.alarm_id == system.alarm(sent).alarm_id
    # And one event carries it, and the read was logged
    [event] = [e.body for e in system.store.events[COPD_EPISODE].values()
               if e.body["trigger"] == "invalidation"]
    assert event["measurements"][0]["invalidated"]["reason"] == "probe slipped"
    assert [a["change"] for a in event["alarms"]] == ["invalidated"]
    assert system.access_log.entries == [
        (sent.patient_id, MONITORING, "invalidate_measurement", COPD_EPISODE)]


def test_an_invalidated_reading_no_longer_counts_in_a_baseline():
    system = System()
    first = upload("c1", at("03-10", "16:05"), measured("cat_score", 10, at("03-10", "16:00")))
    later = upload("c2", at("03-20", "16:05"), measured("cat_score", 19, at("03-20", "16:00")))
    system.evaluator.evaluate(first)
    system.evaluator.evaluate(later)
    assert system.colour(later) == RED
    doctor = Principal(role=Role.CLINICIAN, subject="doc-1", organisation=TREATING)
    reply = system.invalidation.invalidate(COPD_EPISODE, system.reading(first).measurement_id, "typo", doctor)
    assert system.colour(later) == GREEN and system.alarm(later).status == "lowered"
    assert reply.re_evaluated == 1


def test_a_second_invalidation_is_a_conflict_naming_who_did_it():
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 80, at("04-01")))
    system.evaluator.evaluate(sent)
    measurement = system.reading(sent).measurement_id
    system.invalidation.invalidate(COPD_EPISODE, measurement, "probe slipped", NURSE)
    with pytest.raises(Conflict, match="nurse-1 of 234567890123456"):
        system.invalidation.invalidate(COPD_EPISODE, measurement, "again", NURSE)


@pytest.mark.parametrize(("episode_id", "organisation"), [(COPD_EPISODE, OTHER),
                                                           ("epi_" + "0" * 24, MONITORING)])
def test_only_the_treating_or_monitoring_organisation_may_invalidate(episode_id, organisation):
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 80, at("04-01")))
    system.evaluator.evaluate(sent)
    caller = Principal(role=Role.CLINICIAN, subject="someone", organisation=organisation)
    # Then another organisation's episode and an unknown one get the same refusal
    with pytest.raises(NoRelation):
        system.invalidation.invalidate(episode_id, system.reading(sent).measurement_id, "wrong", caller)
    assert system.reading(sent).invalidated is None


def test_an_invalidation_that_cannot_be_logged_changes_nothing(monkeypatch):
    # Given a RED reading, and an access log that cannot store entries now
    system = System()
    sent = upload("u1", at("04-01", "08:05"), measured("spo2", 80, at("04-01")))
    system.evaluator.evaluate(sent)

    def unavailable(*_: object) -> None:
        raise ServiceUnavailable("the access log could not store the entry; retry the request")

    monkeypatch.setattr(system.access_log, "record", unavailable)
    # When the nurse invalidates it, Then the request fails and the reading and its alarm are as they were
    with pytest.raises(ServiceUnavailable):
        system.invalidation.invalidate(COPD_EPISODE, system.reading(sent).measurement_id, "wrong", NURSE)
    assert system.reading(sent).invalidated is None and system.alarm(sent).status == "open"


def test_an_unknown_measurement_is_not_found():
    system = System()
    with pytest.raises(NotFound):
        system.invalidation.invalidate(COPD_EPISODE, "msr_" + "0" * 24, "wrong", NURSE)


# --- questionnaire answers ----------------------------------------------------------------------------------


def _answer_alarm(system: System, of, position: int, episode_id: str = COPD_EPISODE):
    alarm_id = answer_alarm_id(episode_id, answer_id(of.dedupe_key, position))
    return alarm_id, system.store.alarm_states.get(episode_id, {}).get(alarm_id)


@pytest.mark.parametrize(("question", "answer", "colour"), [
    ("more_breathless_than_usual", "yes", YELLOW), ("more_breathless_than_usual", "no", GREEN),
    ("more_cough_than_usual", "yes", YELLOW),
    ("coloured_sputum", "yes", RED), ("coloured_sputum", "no", GREEN),
    ("more_breathless_and_more_cough", "yes", RED),
])
def test_an_answer_takes_the_severity_the_template_gives_it(question, answer, colour):
    # Given a COPD episode, When an upload of one answer alone is evaluated
    system = System()
    sent = upload("q1", at("04-01", "08:05"), answers=(answered(question, answer, at("04-01")),))
    system.evaluator.evaluate(sent)
    # Then the event carries the answer's colour, the upload that colour, and a YELLOW or RED one an alarm
    event = system.event(sent)
    assert [(a["question_id"], a["answer"], a["colour"]) for a in event["answers"]] == [
        (question, answer, colour.value)]
    assert event["colour"] == colour.value and event["measurements"] == []
    alarm_id, alarm = _answer_alarm(system, sent, 0)
    if colour is GREEN:
        assert alarm is None and system.open_alarms() == {}
        assert system.store.heads[COPD_EPISODE].green_uploads == {sent.dedupe_key: sent.received_at}
    else:
        assert (alarm.status, alarm.colour) == ("open", colour.value)
        assert system.open_alarms() == {alarm_id: colour.value}
        changes = [(a["alarm_id"], a["kind"], a["change"]) for a in event["alarms"]]
        assert changes == [(alarm_id, "answer", "raised")]


def test_the_upload_is_as_bad_as_its_worst_measurement_or_answer():
    # Given a GREEN SpO2 and a RED answer in one upload
    system = System()
    sent = upload("q1", at("04-01", "08:05"), measured("spo2", 96, at("04-01")),
                  answers=(answered("coloured_sputum", "yes", at("04-01")),))
    system.evaluator.evaluate(sent)
    # Then the upload is RED, not a GREEN upload, and only the answer alarms
    assert system.event(sent)["colour"] == "RED"
    assert system.colour(sent) == GREEN
    assert system.store.heads[COPD_EPISODE].green_uploads == {}
    assert list(system.open_alarms().values()) == ["RED"]


def test_a_shared_question_is_judged_under_each_episode_and_another_areas_question_under_none():
    # Given a citizen with COPD and heart failure
    system = System(episode("copd", COPD_EPISODE), episode("heart_failure", HEART_EPISODE))
    # When one sitting answers a question both ask, and one only heart failure asks
    sent = upload("q1", at("04-01", "08:05"), answers=(
        answered("more_breathless_than_usual", "yes", at("04-01")),
        answered("swollen_ankles_or_legs", "yes", at("04-01"))))
    system.evaluator.evaluate(sent)
    # Then COPD judges the shared question alone, heart failure both
    copd = [a["question_id"] for a in system.event(sent, COPD_EPISODE)["answers"]]
    assert copd == ["more_breathless_than_usual"]
    assert [a["question_id"] for a in system.event(sent, HEART_EPISODE)["answers"]] == [
        "more_breathless_than_usual", "swollen_ankles_or_legs"]
    assert len(system.open_alarms(COPD_EPISODE)) == 1 and len(system.open_alarms(HEART_EPISODE)) == 2


def test_a_redelivered_answer_raises_nothing_twice():
    # Given an upload of a RED answer, evaluated
    system = System()
    sent = upload("q1", at("04-01", "08:05"), answers=(answered("coloured_sputum", "yes", at("04-01")),))
    system.evaluator.evaluate(sent)
    commits = len(system.store.commits)
    # When the message is delivered again
    system.evaluator.evaluate(sent)
    # Then nothing is committed, and one alarm stays open
    assert len(system.store.commits) == commits
    assert len(system.open_alarms()) == 1


# --- a handover during an evaluation -------------------------------------------------------------------


def test_an_alarm_raised_while_a_handover_lands_goes_to_the_new_monitoring_organisation():
    # Given an episode read as monitored by the municipality, and a handover to the hospital landing just
    # before the evaluation's commit
    system = System()
    system.store.before_commit = lambda: (system.store.hand_over(COPD_EPISODE, HOSPITAL),
                                          setattr(system.store, "before_commit", lambda: None))
    # When a RED SpO2 is evaluated
    sent = upload("r", at("04-01", "08:05"), measured("spo2", 80, at("04-01")))
    system.evaluator.evaluate(sent)
    # Then the first commit lost to the handover, and the retry's event (and so the clinical-alarms
    # message) names the hospital, which now holds the row
    assert system.store.refused == 1
    assert system.event(sent)["monitoring_organisation"] == HOSPITAL
    assert system.store.heads[COPD_EPISODE].worklist_organisation == HOSPITAL
