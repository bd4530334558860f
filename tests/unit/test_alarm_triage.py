"""Triage rules (docs/alarms.md): absolute limits at their boundaries for every limit of the templates,
blood pressure, relative limits of both baselines, the worse-of rule and an upload's worst colour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import permutations

import pytest

from functions.alarm_evaluation.triage import (
    Colour,
    Reading,
    absolute_colour,
    baseline,
    measurement_colour,
    reading_colour,
    worst,
)
from functions.shared.disease_areas import disease_area, disease_areas
from functions.shared.thresholds import AbsoluteLimits, Thresholds, ThresholdVersion, thresholds_at

GREEN, YELLOW, RED = Colour.GREEN, Colour.YELLOW, Colour.RED
EPISODE_START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
COPD = disease_area("copd").thresholds
HEART_FAILURE = disease_area("heart_failure").thresholds
# The smallest step a device reports for each type with absolute limits, in its catalogue unit.
STEP = {"spo2": Decimal(1), "pulse": Decimal(1), "systolic": Decimal(1), "diastolic": Decimal(1),
        "temperature": Decimal("0.1"), "respiration_rate": Decimal(1)}

# Every absolute limit of the templates, with the colours one step below it, at it and one step above it.
ABSOLUTE_BOUNDARIES = [
    ("copd", "spo2", "red_low", 88, (RED, YELLOW, YELLOW)),
    ("copd", "spo2", "yellow_low", 92, (YELLOW, GREEN, GREEN)),
    ("copd", "pulse", "red_low", 40, (RED, YELLOW, YELLOW)),
    ("copd", "pulse", "yellow_low", 50, (YELLOW, GREEN, GREEN)),
    ("copd", "pulse", "yellow_high", 100, (GREEN, GREEN, YELLOW)),
    ("copd", "pulse", "red_high", 120, (YELLOW, YELLOW, RED)),
    ("copd", "systolic", "red_low", 90, (RED, YELLOW, YELLOW)),
    ("copd", "systolic", "yellow_low", 100, (YELLOW, GREEN, GREEN)),
    ("copd", "systolic", "yellow_high", 160, (GREEN, GREEN, YELLOW)),
    ("copd", "systolic", "red_high", 180, (YELLOW, YELLOW, RED)),
    ("copd", "diastolic", "red_low", 50, (RED, YELLOW, YELLOW)),
    ("copd", "diastolic", "yellow_low", 60, (YELLOW, GREEN, GREEN)),
    ("copd", "diastolic", "yellow_high", 95, (GREEN, GREEN, YELLOW)),
    ("copd", "diastolic", "red_high", 110, (YELLOW, YELLOW, RED)),
    ("copd", "temperature", "yellow_high", 38.0, (GREEN, GREEN, YELLOW)),
    ("copd", "temperature", "red_high", 39.0, (YELLOW, YELLOW, RED)),
    ("copd", "respiration_rate", "yellow_low", 10, (YELLOW, GREEN, GREEN)),  # no red_low: never RED low
    ("copd", "respiration_rate", "yellow_high", 24, (GREEN, GREEN, YELLOW)),
    ("copd", "respiration_rate", "red_high", 30, (YELLOW, YELLOW, RED)),
    ("heart_failure", "systolic", "red_low", 85, (RED, YELLOW, YELLOW)),
    ("heart_failure", "systolic", "yellow_low", 95, (YELLOW, GREEN, GREEN)),
    ("heart_failure", "systolic", "yellow_high", 160, (GREEN, GREEN, YELLOW)),
    ("heart_failure", "systolic", "red_high", 180, (YELLOW, YELLOW, RED)),
    ("heart_failure", "diastolic", "red_low", 45, (RED, YELLOW, YELLOW)),
    ("heart_failure", "diastolic", "yellow_low", 55, (YELLOW, GREEN, GREEN)),
    ("heart_failure", "diastolic", "yellow_high", 95, (GREEN, GREEN, YELLOW)),
    ("heart_failure", "diastolic", "red_high", 110, (YELLOW, YELLOW, RED)),
    ("heart_failure", "pulse", "red_low", 40, (RED, YELLOW, YELLOW)),
    ("heart_failure", "pulse", "yellow_low", 50, (YELLOW, GREEN, GREEN)),
    ("heart_failure", "pulse", "yellow_high", 100, (GREEN, GREEN, YELLOW)),
    ("heart_failure", "pulse", "red_high", 120, (YELLOW, YELLOW, RED)),
    ("heart_failure", "spo2", "red_low", 88, (RED, YELLOW, YELLOW)),
    ("heart_failure", "spo2", "yellow_low", 92, (YELLOW, GREEN, GREEN)),
]


def reading(measurement_type: str, value: str | int, measured_at: datetime = NOW) -> Reading:
    return Reading(measurement_type, Decimal(value), measured_at)


def days_before(days: float, when: datetime = NOW) -> datetime:
    return when - timedelta(days=days)


def colour_of(measured: Reading, thresholds: Thresholds, history: list[Reading] | None = None) -> Colour:
    return reading_colour(measured, thresholds, history or [], EPISODE_START)


def test_the_boundary_table_covers_every_absolute_limit_of_the_templates():
    # Given the templates' absolute limits, When listed, Then each has its row in the table
    in_templates = {(code, kind, name, value) for code, area in disease_areas().items()
                    for kind, limits in area.thresholds.absolute.items() for name, value in limits.given()}
    assert {row[:4] for row in ABSOLUTE_BOUNDARIES} == in_templates


@pytest.mark.parametrize(("area", "measurement_type", "limit_name", "limit", "colours"), ABSOLUTE_BOUNDARIES)
def test_absolute_limit_boundaries(area, measurement_type, limit_name, limit, colours):
    # Given the template's thresholds and a value one step below, at and one step above the limit
    thresholds = disease_area(area).thresholds
    at = Decimal(repr(limit))
    step = STEP[measurement_type]
    # When each is triaged with no history
    values = (at - step, at, at + step)
    found = tuple(colour_of(reading(measurement_type, str(value)), thresholds) for value in values)
    # Then the limit itself does not alarm and one step beyond it does
    assert found == colours


def test_a_value_equal_to_a_decimal_limit_does_not_alarm():
    # Given a limit no binary float holds exactly (38.1 is 38.10000000000000142... as a float)
    limits = AbsoluteLimits(yellow_high=38.1)
    # When the value is exactly the limit, or 0.001 above it
    # Then the first is GREEN and the second YELLOW
    assert absolute_colour(Decimal("38.1"), limits) == GREEN
    assert absolute_colour(Decimal("38.101"), limits) == YELLOW


@pytest.mark.parametrize(
    ("limits", "value", "colour"),
    [
        (None, "250", GREEN),  # no limits for the type
        (AbsoluteLimits(red_high=39.0), "30", GREEN),  # only a high limit: a low value never alarms
        (AbsoluteLimits(red_high=39.0), "39.1", RED),  # and no yellow_high: straight to RED
        (AbsoluteLimits(yellow_low=92), "50", YELLOW),  # no red_low: never RED however low
    ],
)
def test_limits_left_out_are_ignored(limits, value, colour):
    # Given limits some of which are absent, When triaged, Then only the limits given alarm
    assert absolute_colour(Decimal(value), limits) == colour


def test_a_type_without_limits_is_green():
    # Given COPD's thresholds, which have no limit for fev1, When an fev1 is triaged, Then GREEN
    assert colour_of(reading("fev1", "0.4"), COPD) == GREEN


@pytest.mark.parametrize(
    ("systolic", "diastolic", "pulse", "colour"),
    [
        (132, 84, 71, GREEN),
        (185, 84, 71, RED),  # systolic alone above red_high
        (132, 45, 71, RED),  # diastolic alone below red_low
        (165, 84, 71, YELLOW),
        (132, 98, 71, YELLOW),
        (165, 115, 71, RED),  # YELLOW systolic, RED diastolic: the worse
        (132, 84, 125, RED),  # the cuff's pulse by the pulse limits
        (132, 84, None, GREEN),  # a cuff that did not measure pulse
    ],
)
def test_blood_pressure_is_as_bad_as_its_worse_component(systolic, diastolic, pulse, colour):
    # Given a blood-pressure measurement as its component readings
    readings = [reading("systolic", systolic), reading("diastolic", diastolic)]
    if pulse is not None:
        readings.append(reading("pulse", pulse))
    # When triaged under COPD's thresholds, Then it takes the worst component's colour
    assert measurement_colour(readings, COPD, [], EPISODE_START) == colour


# --- relative limits: window (COPD weight -2/-4 kg in 30 days; heart failure +2/+3 kg in 3 days) --------


@pytest.mark.parametrize(
    ("now", "colour"),
    [
        ("68.0", GREEN),  # -2.0: at the yellow limit
        ("67.9", YELLOW),  # -2.1
        ("66.0", YELLOW),  # -4.0: at the red limit
        ("65.9", RED),  # -4.1
        ("75.0", GREEN),  # a gain never alarms on a loss limit
    ],
)
def test_copd_weight_loss_over_thirty_days(now, colour):
    # Given a weight of 70.0 kg 20 days ago
    history = [reading("weight", "70.0", days_before(20))]
    # When today's weight is triaged, Then the change from 70.0 alarms only strictly beyond the limits
    assert colour_of(reading("weight", now), COPD, history) == colour


@pytest.mark.parametrize(
    ("now", "colour"),
    [
        ("72.0", GREEN),  # +2.0: at the yellow limit
        ("72.1", YELLOW),
        ("73.0", YELLOW),  # +3.0: at the red limit
        ("73.1", RED),
        ("65.0", GREEN),  # a loss never alarms on a gain limit
    ],
)
def test_heart_failure_weight_gain_over_three_days(now, colour):
    # Given a weight of 70.0 kg two days ago
    history = [reading("weight", "70.0", days_before(2))]
    # When today's weight is triaged under heart failure's thresholds
    # Then the change from 70.0 alarms only strictly beyond +2 and +3
    assert colour_of(reading("weight", now), HEART_FAILURE, history) == colour


def test_the_window_baseline_is_its_first_value_not_the_latest():
    # Given 70.0 kg 20 days ago and 68.5 kg yesterday
    history = [reading("weight", "70.0", days_before(20)), reading("weight", "68.5", days_before(1))]
    # When 67.9 kg is triaged, Then the change is -2.1 from 70.0 (from yesterday it would be -0.6)
    found = baseline(reading("weight", "67.9"), COPD.relative["weight"], history, EPISODE_START)
    assert found == Decimal("70.0")
    assert colour_of(reading("weight", "67.9"), COPD, history) == YELLOW


@pytest.mark.parametrize(
    ("earlier_at", "colour"),
    [
        (days_before(30), RED),  # exactly 30 days before: inside the window
        (days_before(30) - timedelta(milliseconds=1), GREEN),  # just outside: no baseline
    ],
)
def test_the_window_includes_its_start(earlier_at, colour):
    # Given one earlier weight of 70.0 kg, When 65.0 kg is triaged, Then only a value in the window counts
    assert colour_of(reading("weight", "65.0"), COPD, [reading("weight", "70.0", earlier_at)]) == colour


@pytest.mark.parametrize(
    "history",
    [
        [],  # the first weight ever
        [reading("weight", "80.0", NOW + timedelta(hours=1))],  # only later ones (arrived first)
        [reading("weight", "80.0", NOW)],  # one taken at the same instant is not earlier
        [reading("weight", "80.0", EPISODE_START - timedelta(hours=1))],  # from before the episode
        [reading("cat_score", "30", days_before(2))],  # another type
    ],
)
def test_no_earlier_value_in_the_window_means_no_relative_alarm(history):
    # Given no earlier weight of the episode within 30 days
    # When a weight 15 kg below every other is triaged, Then it is GREEN: there is no change to measure
    assert colour_of(reading("weight", "65.0"), COPD, history) == GREEN


# --- relative limits: episode start (COPD cat_score +4/+8 from the episode's first) ----------------------


@pytest.mark.parametrize(
    ("now", "colour"),
    [
        (14, GREEN),  # +4: at the yellow limit
        (15, YELLOW),
        (18, YELLOW),  # +8: at the red limit
        (19, RED),
        (2, GREEN),  # an improvement
    ],
)
def test_copd_cat_score_rise_from_the_episodes_first(now, colour):
    # Given the episode's first CAT score 10 (50 days ago, beyond any window) and a later 17
    history = [reading("cat_score", 10, days_before(50)), reading("cat_score", 17, days_before(3))]
    # When today's score is triaged, Then it is compared with the first, 10
    assert colour_of(reading("cat_score", now), COPD, history) == colour


@pytest.mark.parametrize(
    "history",
    [
        [],
        [reading("cat_score", 10, days_before(-1))],  # the only other score was measured after this one
        [reading("cat_score", 10, EPISODE_START - timedelta(seconds=1))],  # before the episode started
    ],
)
def test_the_episodes_first_value_has_no_relative_alarm(history):
    # Given no score of the episode measured before this one
    # When a score of 30 is triaged, Then it is GREEN: it is the baseline of those after it
    assert colour_of(reading("cat_score", 30), COPD, history) == GREEN


def test_a_reading_at_the_episodes_start_counts_as_its_first():
    # Given a score of 10 taken at the instant the episode started
    history = [reading("cat_score", 10, EPISODE_START)]
    # When 19 is triaged, Then the change is +9: RED
    assert colour_of(reading("cat_score", 19), COPD, history) == RED


def test_a_late_reading_measured_earlier_becomes_the_baseline():
    # Given the episode's scores as they arrived: 15 (5 days ago), then late, 10 measured 40 days ago
    arrived_first = [reading("cat_score", 15, days_before(5))]
    arrived_late = [reading("cat_score", 10, days_before(40))]
    # When today's 19 is triaged with the history known before and after the late one arrived
    # Then the history as measured decides: +4 from 15 is GREEN, +9 from 10 is RED (the consumer re-evaluates)
    assert colour_of(reading("cat_score", 19), COPD, arrived_first) == GREEN
    assert colour_of(reading("cat_score", 19), COPD, arrived_first + arrived_late) == RED


def test_a_late_reading_is_judged_by_the_thresholds_valid_when_it_was_measured():
    # Given the COPD defaults from the episode's start, and from 10 days ago a yellow_low for SpO2 of 90
    lowered = Thresholds.model_validate({**COPD.model_dump(), "absolute": {
        **COPD.model_dump()["absolute"], "spo2": {"red_low": 86, "yellow_low": 90}}})
    versions = [ThresholdVersion(1, EPISODE_START, COPD, "123456789012345", EPISODE_START),
                ThresholdVersion(2, days_before(10), lowered, "123456789012345", days_before(10))]
    # When an SpO2 of 91 measured 12 days ago arrives today and one of 91 measured today
    late, current = reading("spo2", 91, days_before(12)), reading("spo2", 91)
    colours = [colour_of(measured, thresholds_at(versions, measured.measured_at).thresholds)
               for measured in (late, current)]
    # Then the late one is YELLOW under version 1 and today's GREEN under version 2
    assert colours == [YELLOW, GREEN]


def test_the_history_order_does_not_matter():
    # Given a history with two readings at the same instant, one in the window's past and one later
    history = [reading("weight", "70.0", days_before(10)), reading("weight", "71.0", days_before(10)),
               reading("weight", "69.0", days_before(25)), reading("weight", "60.0", days_before(1)),
               reading("weight", "90.0", NOW + timedelta(days=1))]
    # When 66.9 kg is triaged with the history in every order
    colours = {colour_of(reading("weight", "66.9"), COPD, list(order)) for order in permutations(history)}
    # Then every order gives one colour: -2.1 from the window's first, 69.0
    assert colours == {YELLOW}


def test_ties_on_measured_at_go_to_the_smaller_value():
    # Given two weights taken at the same instant, the window's earliest
    history = [reading("weight", "71.0", days_before(10)), reading("weight", "70.0", days_before(10))]
    # When the baseline is found, Then it is the smaller of them, in either order
    limit = COPD.relative["weight"]
    now = reading("weight", "68.0")
    assert baseline(now, limit, history, EPISODE_START) == baseline(now, limit, history[::-1], EPISODE_START)
    assert baseline(now, limit, history, EPISODE_START) == Decimal("70.0")


# --- the worse of absolute and relative; an upload's worst ----------------------------------------------

BOTH = Thresholds.model_validate({
    "absolute": {"weight": {"yellow_low": 50, "red_high": 150}},
    "relative": {"weight": {"baseline": "window", "window_days": 30,
                            "yellow_change": -2.0, "red_change": -4.0}},
})


@pytest.mark.parametrize(
    ("now", "colour"),
    [
        ("69.0", GREEN),  # neither
        ("65.0", RED),  # absolute GREEN, relative RED
        ("49.0", RED),  # absolute YELLOW, relative RED (-21)
        ("155.0", RED),  # absolute RED, relative GREEN (a gain)
    ],
)
def test_a_reading_takes_the_worse_of_its_absolute_and_relative_colours(now, colour):
    # Given absolute and relative limits for weight and 70.0 kg ten days ago
    history = [reading("weight", "70.0", days_before(10))]
    # When triaged, Then the worse colour wins
    assert colour_of(reading("weight", now), BOTH, history) == colour


def test_absolute_yellow_stays_when_the_relative_rule_is_green():
    # Given an absolute yellow_low of 50 and an earlier 49.5 kg, When 49.0 kg is triaged (-0.5)
    # Then it is YELLOW by the absolute limit
    assert colour_of(reading("weight", "49.0"), BOTH, [reading("weight", "49.5", days_before(1))]) == YELLOW


@pytest.mark.parametrize(
    ("colours", "upload"),
    [
        ([], GREEN),
        ([GREEN, GREEN], GREEN),
        ([GREEN, YELLOW, GREEN], YELLOW),
        ([YELLOW, RED, GREEN], RED),
        ([RED, YELLOW], RED),
    ],
)
def test_an_upload_takes_its_worst_colour(colours, upload):
    # Given its measurements' colours, When combined, Then the most severe
    assert worst(colours) == upload


def test_colours_order_green_yellow_red_and_blue_is_outside_that_order():
    # Given the colours, When compared, Then GREEN < YELLOW < RED, and a miss compares with none of them
    assert GREEN < YELLOW < RED
    with pytest.raises(TypeError):
        worst([RED, Colour.BLUE])
