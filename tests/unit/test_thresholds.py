"""Threshold sets: the order of absolute limits, relative limits with a sign, merging, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from functions.shared.thresholds import (
    ThresholdOverrides,
    Thresholds,
    ThresholdVersion,
    merge,
    problems,
    thresholds_at,
)

DEFAULTS = Thresholds.model_validate({
    "absolute": {
        "spo2": {"red_low": 88, "yellow_low": 92},
        "systolic": {"red_low": 90, "yellow_low": 100, "yellow_high": 160, "red_high": 180},
        "diastolic": {"red_low": 50, "yellow_low": 60, "yellow_high": 95, "red_high": 110},
    },
    "relative": {"weight": {"window_days": 30, "yellow_change": -2.0, "red_change": -4.0}},
})


def fields(thresholds: dict) -> list[str]:
    return [p.field for p in problems(Thresholds.model_validate(thresholds))]


def test_limits_in_order_have_no_problem():
    # Given the defaults, When checked, Then nothing is wrong
    assert problems(DEFAULTS) == []


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"red_low": 92, "yellow_low": 88}, "yellow_low"),
        ({"red_low": 90, "yellow_low": 90}, "yellow_low"),  # equal is not below
        ({"yellow_low": 92, "yellow_high": 91}, "yellow_high"),
        ({"yellow_high": 100, "red_high": 99}, "red_high"),
        ({"red_low": 95, "red_high": 90}, "red_high"),  # limits left out are skipped, not assumed
    ],
)
def test_limits_out_of_order_name_the_field(limits, field):
    # Given pulse limits out of order, When checked, Then the later limit is named by its full path
    assert fields({"absolute": {"pulse": limits}}) == [f"thresholds.absolute.pulse.{field}"]


def test_blood_pressure_is_two_separate_sets_each_checked():
    # Given a diastolic set out of order beside a valid systolic set
    thresholds = {"absolute": {
        "systolic": {"yellow_high": 160, "red_high": 180},
        "diastolic": {"yellow_high": 95, "red_high": 90},
    }}
    # When checked, Then only the diastolic limit is named
    assert fields(thresholds) == ["thresholds.absolute.diastolic.red_high"]


@pytest.mark.parametrize(
    ("measurement_type", "limits", "field"),
    [
        ("spo2", {"red_low": 0.86, "yellow_low": 92}, "red_low"),  # a fraction where percent is meant
        ("temperature", {"yellow_high": 100.4}, "yellow_high"),  # Fahrenheit where Celsius is meant
        ("pulse", {"red_high": 400}, "red_high"),
    ],
)
def test_a_limit_outside_the_plausible_range_is_named(measurement_type, limits, field):
    # Given a limit no measurement of the type can reach (it would never alarm)
    # When checked, Then that limit is named
    assert fields({"absolute": {measurement_type: limits}}) == [
        f"thresholds.absolute.{measurement_type}.{field}"
    ]


def test_an_empty_limit_set_is_named():
    assert fields({"absolute": {"spo2": {}}}) == ["thresholds.absolute.spo2"]


def test_an_unknown_measurement_type_or_limit_is_refused_by_the_model():
    # Given a type outside the catalogue or a limit name that does not exist, Then the model refuses it
    with pytest.raises(ValidationError):
        Thresholds.model_validate({"absolute": {"glucose_level": {"red_low": 1}}})
    with pytest.raises(ValidationError):
        Thresholds.model_validate({"absolute": {"spo2": {"orange_low": 1}}})


@pytest.mark.parametrize(
    ("relative", "field"),
    [
        ({"yellow_change": -2, "red_change": -4}, "window_days"),
        ({"baseline": "episode_start", "window_days": 3, "yellow_change": 4}, "window_days"),
        ({"window_days": 3, "yellow_change": 2, "red_change": -3}, "red_change"),
        ({"window_days": 3, "yellow_change": 2, "red_change": 1}, "red_change"),
        ({"window_days": 3, "yellow_change": 0}, "yellow_change"),
    ],
)
def test_a_relative_limit_needs_a_window_one_sign_and_a_larger_red_change(relative, field):
    assert fields({"relative": {"weight": relative}}) == [f"thresholds.relative.weight.{field}"]


def test_a_relative_limit_without_any_change_is_named():
    assert fields({"relative": {"weight": {"window_days": 3}}}) == ["thresholds.relative.weight"]


def test_a_gain_and_a_loss_are_both_valid_relative_limits():
    # Given heart failure's gain and COPD's loss, Then both are valid: the sign says the direction
    assert fields({"relative": {"weight": {"window_days": 3, "yellow_change": 2, "red_change": 3}}}) == []
    assert fields({"relative": {"weight": {"window_days": 30, "yellow_change": -2, "red_change": -4}}}) == []


def test_overrides_replace_set_fields_keep_others_and_null_removes():
    # Given overrides: a new spo2 red_low, diastolic yellow_high removed, a new pulse set
    overrides = ThresholdOverrides.model_validate({"absolute": {
        "spo2": {"red_low": 85},
        "diastolic": {"yellow_high": None},
        "pulse": {"yellow_high": 110},
    }})
    # When merged with the defaults
    merged = merge(DEFAULTS, overrides)
    # Then each override applies field by field and everything else is the template's
    assert merged.absolute["spo2"].red_low == 85
    assert merged.absolute["spo2"].yellow_low == 92
    assert merged.absolute["diastolic"].yellow_high is None
    assert merged.absolute["diastolic"].red_high == 110
    assert merged.absolute["pulse"].given() == [("yellow_high", 110)]
    assert merged.relative == DEFAULTS.relative
    # And the defaults are untouched
    assert DEFAULTS.absolute["spo2"].red_low == 88


def test_an_override_that_breaks_the_order_of_the_merged_set_is_named():
    # Given a red_low above the template's yellow_low
    merged = merge(DEFAULTS, ThresholdOverrides.model_validate({"absolute": {"spo2": {"red_low": 93}}}))
    # Then the merged set names the template's yellow_low as no longer above it
    assert [p.field for p in problems(merged)] == ["thresholds.absolute.spo2.yellow_low"]


def test_no_overrides_is_the_defaults():
    assert merge(DEFAULTS, None) == DEFAULTS


T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def version(number: int, valid_from: datetime) -> ThresholdVersion:
    return ThresholdVersion(number, valid_from, DEFAULTS, "123456789012345", valid_from)


def test_thresholds_at_picks_the_version_valid_when_measured():
    # Given version 1 from T0 and version 2 from T0 + 2 days (listed in any order)
    versions = [version(2, T0 + timedelta(days=2)), version(1, T0)]
    # Then a measurement before T0 has none, one in between has 1, one at or after the switch has 2
    assert thresholds_at(versions, T0 - timedelta(seconds=1)) is None
    assert thresholds_at(versions, T0).version == 1
    assert thresholds_at(versions, T0 + timedelta(days=1)).version == 1
    assert thresholds_at(versions, T0 + timedelta(days=2)).version == 2
    assert thresholds_at(versions, T0 + timedelta(days=30)).version == 2


def test_thresholds_at_prefers_the_later_version_on_the_same_valid_from():
    versions = [version(1, T0), version(2, T0)]
    assert thresholds_at(versions, T0).version == 2


def test_thresholds_at_of_no_versions_is_none():
    assert thresholds_at([], T0) is None
