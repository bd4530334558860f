"""Order independence (issue 7, item 4): whatever order an episode's uploads arrive in, and however often
each is delivered again, the stored colours, the open alarms, the GREEN uploads and so the worklist rank are
those of the delivery in order.
Generated uploads of one citizen: weights (a 30-day window), CAT scores (the episode's start) and SpO2
(absolute), some measured before the episode, some late, across a threshold change."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.alarm_evaluation import triage
from functions.alarm_evaluation.logic import AlarmEvaluator, judge, reading_of
from functions.shared.evaluation_records import measurement_id, worklist_rank
from functions.shared.thresholds import thresholds_at
from tests.support.evaluator_inputs import COPD_EPISODE, STARTED, episode, measured, upload, version
from tests.support.fakes import FakeEpisodeSource, FakeEvaluationStore, RecordedMetrics

CHANGED = STARTED + timedelta(days=20)
# Version 2 makes the weight window's limits and SpO2's stricter from day 20: readings measured before keep
# version 1's colours, whenever they arrive.
EPISODE = episode("copd", COPD_EPISODE, version(1, STARTED), version(2, CHANGED, overrides={
    "absolute": {"spo2": {"red_low": 90, "yellow_low": 94}},
    "relative": {"weight": {"baseline": "window", "window_days": 30,
                            "yellow_change": -1.0, "red_change": -2.5}},
}))

_VALUES = {
    "weight": st.integers(600, 800).map(lambda tenths: str(tenths / 10)),
    "cat_score": st.integers(0, 40),
    "spo2": st.integers(82, 99),
}
_measurement = st.tuples(
    st.sampled_from(sorted(_VALUES)),
    st.integers(-2 * 24, 40 * 24),  # hours after the episode started (before it: not judged)
).flatmap(lambda kind_hour: st.tuples(st.just(kind_hour[0]), _VALUES[kind_hour[0]], st.just(kind_hour[1])))
_uploads = st.lists(st.lists(_measurement, min_size=1, max_size=3), min_size=2, max_size=6)


def _built(batches):
    built = []
    for number, batch in enumerate(batches):
        hours = [hour for _, _, hour in batch]
        received = STARTED + timedelta(hours=max(hours) + 1)
        built.append(upload(f"u{number}", received, *(
            measured(kind, value, STARTED + timedelta(hours=hour), late=max(hours) - hour > 24)
            for kind, value, hour in batch)))
    return built


def _stored(deliveries):
    store = FakeEvaluationStore()
    evaluator = AlarmEvaluator(FakeEpisodeSource(EPISODE), store, RecordedMetrics(), lambda: CHANGED, 5)
    for delivered in deliveries:
        evaluator.evaluate(delivered)
    readings = store.readings.get(COPD_EPISODE, {})
    head = store.heads.get(COPD_EPISODE)
    open_alarms = {alarm_id: alarm.colour for alarm_id, alarm in (head.open_alarms if head else {}).items()}
    statuses = {alarm_id: state.colour for alarm_id, state in store.alarm_states.get(COPD_EPISODE, {}).items()
                if state.status == "open"}
    greens = dict(head.green_uploads) if head else {}
    rank = worklist_rank(COPD_EPISODE, head.open_alarms, head.green_uploads) if head else None
    return ({m: (r.colour, r.threshold_version) for m, r in readings.items()}, open_alarms, statuses, greens,
            rank)


def _judged_green(uploads, colours):
    """The uploads (dedupe_key -> received_at) with a judged reading and every judged reading GREEN."""
    greens = {}
    for sent in uploads:
        judged = {colours[measurement_id(sent.dedupe_key, m.position)][0] for m in sent.measurements} - {None}
        if judged == {triage.Colour.GREEN}:
            greens[sent.dedupe_key] = sent.received_at
    return greens


@settings(max_examples=150, deadline=None, derandomize=True)
@given(batches=_uploads, data=st.data())
def test_colours_alarms_and_the_worklist_row_do_not_depend_on_arrival_order_or_redelivery(batches, data):
    # Given generated uploads, delivered once each in the order they were received
    uploads = _built(batches)
    in_order = _stored(uploads)
    # When they are delivered shuffled, some of them again (a redelivery, a DLQ replay)
    shuffled = data.draw(st.permutations(uploads))
    again = data.draw(st.lists(st.sampled_from(uploads), max_size=3))
    positions = data.draw(st.lists(st.integers(0, len(shuffled)), min_size=len(again), max_size=len(again)))
    deliveries = list(shuffled)
    for delivered, position in zip(again, positions, strict=True):
        deliveries.insert(position, delivered)
    # Then every reading has the same colour and version, and the same alarms are open with the same colours
    colours, open_alarms, statuses, greens, rank = _stored(deliveries)
    assert colours == in_order[0]
    assert open_alarms == in_order[1] == statuses == in_order[2]
    # And the same uploads wait as GREEN, those whose judged readings are all GREEN: the row ranks alike
    assert greens == in_order[3] == _judged_green(uploads, colours)
    assert rank == in_order[4]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(batches=_uploads)
def test_the_bisected_baseline_gives_the_colour_triage_gives_with_the_whole_history(batches):
    # Given every reading of generated uploads
    readings = [reading_of(sent, m) for sent in _built(batches) for m in sent.measurements]
    # When the evaluator judges them all
    judged = judge(readings, frozenset(_VALUES), EPISODE)
    # Then each colour is the one triage gives with the whole history passed
    history = [triage.Reading(c.type, c.value, r.measured) for r in readings for c in r.components]
    for reading in readings:
        valid = thresholds_at(EPISODE.versions, reading.measured)
        expected = None if valid is None else triage.measurement_colour(
            [triage.Reading(c.type, c.value, reading.measured) for c in reading.components],
            valid.thresholds, history, EPISODE.created_at)
        assert judged[reading.measurement_id].colour == expected
