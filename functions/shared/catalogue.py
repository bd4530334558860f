"""The measurement catalogue: codes, units, plausible ranges and explicit unit conversions.

Loaded once from data/measurements.csv (copied from the product's reference catalogue).
The plausible ranges are input validation, not clinical thresholds.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

_DATA = Path(__file__).parent / "data" / "measurements.csv"
_INTEGER_TYPES = frozenset({"cat_score", "mrc_score", "sit_to_stand"})

# Conversions run in Decimal: in binary floating point 0.57 * 100 is 56.99999999999999, and a
# stored clinical value should read as what was measured. Results of a conversion keep at most
# CONVERTED_DECIMALS decimals (far below any device's resolution) so that non-terminating ones
# (mg/dL, degrees Fahrenheit) are stored finitely.
LB_IN_KG = Decimal("0.45359237")
MG_PER_DL_PER_MMOL_PER_L = Decimal("18.016")  # glucose, molar mass 180.16 g/mol
MMHG_PER_KPA = Decimal("7.500617")
CONVERTED_DECIMALS = 6
# A blood-pressure monitor measures systolic, diastolic and pulse in one reading, so a device declares
# them, and a tablet uploads them, together as ``blood_pressure``; the catalogue keeps one entry (codes,
# range) per component, the vocabulary every other part of Telehub uses.
BLOOD_PRESSURE = "blood_pressure"
BLOOD_PRESSURE_TYPES = ("systolic", "diastolic", "pulse")
# A stage's list of types shared across sectors names the questionnaire answers so (docs/sharing.md).
QUESTIONNAIRE = "questionnaire"


@dataclass(frozen=True)
class MeasurementType:
    type: str
    display: str
    code_system: str
    code: str
    ieee_code: str | None
    ieee_name: str | None
    loinc_code: str | None
    unit: str
    ucum_unit: str
    plausible_min: float
    plausible_max: float
    integer: bool


class UnknownUnit(ValueError):
    pass


def _identity(value: Decimal) -> Decimal:
    return value


# Units a device may send per type, each with the conversion to the catalogue unit. Anything
# not listed is rejected rather than guessed: a silently wrong unit is a wrong clinical value.
_CONVERSIONS: dict[str, dict[str, Callable[[Decimal], Decimal]]] = {
    "spo2": {"%": _identity, "1": lambda fraction: fraction * 100},
    "pulse": {"/min": _identity},
    "systolic": {"mmHg": _identity, "mm[Hg]": _identity, "kPa": lambda kpa: kpa * MMHG_PER_KPA},
    "diastolic": {"mmHg": _identity, "mm[Hg]": _identity, "kPa": lambda kpa: kpa * MMHG_PER_KPA},
    "weight": {"kg": _identity, "lb": lambda lb: lb * LB_IN_KG, "[lb_av]": lambda lb: lb * LB_IN_KG},
    "temperature": {"Cel": _identity, "°C": _identity, "[degF]": lambda f: (f - 32) * 5 / 9},
    "respiration_rate": {"/min": _identity},
    "fev1": {"L": _identity, "mL": lambda ml: ml / 1000},
    "fev6": {"L": _identity, "mL": lambda ml: ml / 1000},
    "fev1_fev6_ratio": {"ratio": _identity, "1": _identity, "%": lambda percent: percent / 100},
    "cat_score": {"score": _identity, "{score}": _identity},
    "mrc_score": {"score": _identity, "{score}": _identity},
    "sit_to_stand": {"count": _identity, "{count}": _identity},
    "blood_glucose": {"mmol/L": _identity, "mg/dL": lambda mg: mg / MG_PER_DL_PER_MMOL_PER_L},
}


@cache
def catalogue() -> dict[str, MeasurementType]:
    with _DATA.open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    return {
        row["type"]: MeasurementType(
            type=row["type"],
            display=row["display"],
            code_system=row["npu_or_medcom_system"],
            code=row["npu_or_medcom_code"],
            ieee_code=row["ieee_11073_code"] or None,
            ieee_name=row["ieee_11073_name"] or None,
            loinc_code=row["loinc_code"] or None,
            unit=row["api_unit"],
            ucum_unit=row["ucum_unit"],
            plausible_min=float(row["plausible_min"]),
            plausible_max=float(row["plausible_max"]),
            integer=row["type"] in _INTEGER_TYPES,
        )
        for row in rows
    }


def accepted_units(measurement_type: str) -> tuple[str, ...]:
    return tuple(_CONVERSIONS[measurement_type])


def to_catalogue_unit(measurement_type: str, value: Decimal | float | int, unit: str) -> Decimal:
    """Convert ``value`` in ``unit`` to the catalogue unit of the type, or raise UnknownUnit.

    A float is taken as the decimal it prints as (96.5 -> Decimal("96.5")), as JSON sent it.
    """
    conversion = _CONVERSIONS[measurement_type].get(unit)
    if conversion is None:
        accepted = ", ".join(accepted_units(measurement_type))
        raise UnknownUnit(f"unit is not accepted for {measurement_type}; use one of: {accepted}")
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    converted = exact if conversion is _identity else round(conversion(exact), CONVERTED_DECIMALS)
    return _without_trailing_zeros(converted)


def _without_trailing_zeros(value: Decimal) -> Decimal:
    """96.000000 -> 96 and 45.359237 stays, without normalize()'s exponent form (1E+2)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def shareable_types() -> frozenset[str]:
    """What a stage may share across sectors: every catalogue type, blood_pressure and the questionnaire."""
    return frozenset({*catalogue(), BLOOD_PRESSURE, QUESTIONNAIRE})
