"""Alarm thresholds: absolute limits per measurement type, relative limits over a window, versions.

Absolute limits follow DESIGN §5: ``red_low < yellow_low < yellow_high < red_high``, each optional;
blood pressure is two separate sets, ``systolic`` and ``diastolic``. A relative limit is a change
from a baseline (the first value in a window of ``window_days``, or the first of the episode); its
sign says which direction alarms (COPD weight -2 kg is a loss, heart failure +2 kg a gain).

Pydantic checks the shape; ``problems`` checks the rules between fields, so every problem names
its field (``thresholds.absolute.spo2.yellow_low``) as the API reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.shared.catalogue import catalogue
from functions.shared.errors import FieldProblem

# The catalogue's type names. A Literal made from data is beyond a type checker, to which a name is
# the str it is; pydantic validates (and the OpenAPI document lists) the names themselves.
if TYPE_CHECKING:
    MeasurementType = str
else:
    MeasurementType = Literal[tuple(catalogue())]
LIMIT_ORDER = ("red_low", "yellow_low", "yellow_high", "red_high")
Limit = Annotated[float, Field(allow_inf_nan=False)]


# The rules between fields (``problems``) apply to the set in force after a change, so JSON Schema cannot
# state them; the OpenAPI document names them in these descriptions ("Beyond the schema").
_LIMIT_RULE = ("Beyond the schema: within the measurement type's plausible range (its catalogue unit), and "
               "in the order red_low < yellow_low < yellow_high < red_high among the limits in force.")
_CHANGE_RULE = ("Beyond the schema: not 0 (the sign says what alarms); yellow_change and red_change have the "
                "same sign, red_change the larger change.")


class AbsoluteLimits(BaseModel):
    """Limits for one measurement type; a value equal to a limit does not alarm. Beyond the schema: the
    type is one the episode's disease area measures, and at least one limit is in force after a change."""

    model_config = ConfigDict(extra="forbid")

    red_low: Annotated[Limit | None, Field(description=_LIMIT_RULE)] = None
    yellow_low: Annotated[Limit | None, Field(description=_LIMIT_RULE)] = None
    yellow_high: Annotated[Limit | None, Field(description=_LIMIT_RULE)] = None
    red_high: Annotated[Limit | None, Field(description=_LIMIT_RULE)] = None

    def given(self) -> list[tuple[str, float]]:
        return [(name, value) for name in LIMIT_ORDER if (value := getattr(self, name)) is not None]


class RelativeLimit(BaseModel):
    """A change from a baseline: the first value in the last ``window_days`` days (``window``) or the
    first value of the episode (``episode_start``). Negative changes alarm on a fall, positive on a rise.
    Beyond the schema: the type is one the episode's disease area measures, and yellow_change, red_change or
    both are in force after a change."""

    model_config = ConfigDict(extra="forbid")

    baseline: Literal["window", "episode_start"] = "window"
    window_days: Annotated[Annotated[int, Field(ge=1, le=365)] | None, Field(
        description="Beyond the schema: required for baseline window, left out for episode_start.")] = None
    yellow_change: Annotated[Limit | None, Field(description=_CHANGE_RULE)] = None
    red_change: Annotated[Limit | None, Field(description=_CHANGE_RULE)] = None


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    absolute: dict[MeasurementType, AbsoluteLimits] = Field(default_factory=dict)
    relative: dict[MeasurementType, RelativeLimit] = Field(default_factory=dict)


class ThresholdOverrides(BaseModel):
    """The referral's or a clinician's changes to a set: a field given replaces the template's, a field
    given as null removes it, a field left out keeps it."""

    model_config = ConfigDict(extra="forbid")

    absolute: dict[MeasurementType, AbsoluteLimits] = Field(default_factory=dict)
    relative: dict[MeasurementType, RelativeLimit] = Field(default_factory=dict)


def merge(defaults: Thresholds, overrides: ThresholdOverrides | None) -> Thresholds:
    """The defaults with the overrides applied field by field (fields the override sets, even to null)."""
    if overrides is None:
        return defaults.model_copy(deep=True)
    merged = defaults.model_dump()
    for kind in ("absolute", "relative"):
        for measurement_type, override in getattr(overrides, kind).items():
            current = merged[kind].setdefault(measurement_type, {})
            current.update({name: getattr(override, name) for name in override.model_fields_set})
    return Thresholds.model_validate(merged)


def problems(thresholds: Thresholds, prefix: str = "thresholds") -> list[FieldProblem]:
    """Every broken rule between fields, each naming its field under ``prefix``."""
    found: list[FieldProblem] = []
    for measurement_type, limits in thresholds.absolute.items():
        path = f"{prefix}.absolute.{measurement_type}"
        given = limits.given()
        if not given:
            found.append(FieldProblem(path, "give at least one limit"))
        entry = catalogue()[measurement_type]
        for name, value in given:
            # A limit no measurement can reach never alarms: most likely a unit slip (0.88 for 88 %).
            if not entry.plausible_min <= value <= entry.plausible_max:
                found.append(FieldProblem(f"{path}.{name}", f"must be within {entry.plausible_min:g} to "
                                          f"{entry.plausible_max:g} {entry.unit}, the plausible range"))
        for (lower_name, lower), (name, value) in zip(given, given[1:], strict=False):
            if value <= lower:
                found.append(FieldProblem(f"{path}.{name}", f"must be above {lower_name} ({lower:g})"))
    for measurement_type, limit in thresholds.relative.items():
        found += _relative_problems(limit, f"{prefix}.relative.{measurement_type}")
    return found


def _relative_problems(limit: RelativeLimit, path: str) -> list[FieldProblem]:
    found = []
    if limit.baseline == "window" and limit.window_days is None:
        found.append(FieldProblem(f"{path}.window_days", "is required for a change over a window"))
    if limit.baseline == "episode_start" and limit.window_days is not None:
        found.append(FieldProblem(f"{path}.window_days", "must be left out for baseline episode_start"))
    changes = [(name, value) for name in ("yellow_change", "red_change")
               if (value := getattr(limit, name)) is not None]
    if not changes:
        found.append(FieldProblem(path, "give yellow_change, red_change or both"))
    for name, value in changes:
        if value == 0:
            found.append(FieldProblem(f"{path}.{name}", "must not be 0: the sign says what alarms"))
    yellow, red = limit.yellow_change, limit.red_change
    if yellow and red:  # both given, neither 0
        if (yellow > 0) != (red > 0):
            found.append(FieldProblem(f"{path}.red_change", "must have the same sign as yellow_change"))
        elif abs(red) <= abs(yellow):
            found.append(FieldProblem(f"{path}.red_change", "must be a larger change than yellow_change"))
    return found


# --- versions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdVersion:
    version: int
    valid_from: datetime
    thresholds: Thresholds
    set_by: str  # the organisation that set it
    set_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "valid_from": self.valid_from,
            "thresholds": self.thresholds.model_dump(mode="json", exclude_none=True),
            "set_by": self.set_by,
            "set_at": self.set_at,
        }


def thresholds_at(versions: Sequence[ThresholdVersion], measured_at: datetime) -> ThresholdVersion | None:
    """The version valid when a measurement was taken: the latest whose valid_from is at or before
    ``measured_at`` (on a tie of valid_from, the higher version). None before the first version."""
    valid = [version for version in versions if version.valid_from <= measured_at]
    return max(valid, key=lambda v: (v.valid_from, v.version), default=None)
