"""Unit conversions to the catalogue unit: explicit, exact where the definition is exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from functions.shared.catalogue import UnknownUnit, accepted_units, catalogue, to_catalogue_unit


def test_pounds_become_kilograms_by_the_exact_definition():
    # Given scale readings in pounds (1 lb = 0.45359237 kg by definition)
    # When they are converted to the catalogue unit
    # Then 100 lb is exactly 45.359237 kg, and a reading with decimals keeps 6 decimals
    assert to_catalogue_unit("weight", 100, "lb") == Decimal("45.359237")
    assert to_catalogue_unit("weight", 154.3, "[lb_av]") == Decimal("69.989303")  # 69.989302691


def test_an_spo2_fraction_becomes_a_percentage_without_binary_rounding_noise():
    # Given SpO2 as the fraction NPU03011 defines (0.57 * 100 is 56.99999999999999 in floats)
    # When converted
    # Then the percentage is exact
    assert to_catalogue_unit("spo2", 0.57, "1") == Decimal("57")
    assert to_catalogue_unit("spo2", 0.965, "1") == Decimal("96.5")


def test_a_value_already_in_the_catalogue_unit_is_kept_as_sent():
    # Given a value in the catalogue unit, as JSON sent it
    # When "converted"
    # Then it is the decimal the client wrote, without float artefacts or trailing zeros
    assert to_catalogue_unit("temperature", 37.2, "Cel") == Decimal("37.2")
    assert str(to_catalogue_unit("spo2", 94.0, "%")) == "94"


@pytest.mark.parametrize(
    ("measurement_type", "value", "unit", "expected"),
    [
        ("temperature", 98.6, "[degF]", Decimal("37")),
        ("blood_glucose", 100, "mg/dL", Decimal("5.550622")),  # 100 / 18.016, non-terminating
        ("fev1", 2450, "mL", Decimal("2.45")),
        ("fev1_fev6_ratio", 72, "%", Decimal("0.72")),
        ("systolic", 16, "kPa", Decimal("120.009872")),
    ],
)
def test_every_other_accepted_unit_converts_to_the_catalogue_unit(measurement_type, value, unit, expected):
    assert to_catalogue_unit(measurement_type, value, unit) == expected


def test_an_unknown_unit_is_refused_and_the_accepted_units_are_named():
    # Given a weight in stone, which Telehub does not guess at
    # When converted
    # Then UnknownUnit names what is accepted
    with pytest.raises(UnknownUnit, match="kg, lb"):
        to_catalogue_unit("weight", 11, "st")
    assert "st" not in accepted_units("weight")


def test_scores_are_integer_types_and_spo2_is_not():
    assert catalogue()["cat_score"].integer and catalogue()["mrc_score"].integer
    assert not catalogue()["spo2"].integer
