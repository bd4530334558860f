"""Disease areas as data: one template per area in data/disease_areas/<code>.json.

A template names the area's condition code, XDS event code, measurement types, the package the
logistics centre delivers, the schedule, the questionnaire's severities and the default thresholds.
Adding an area is adding a file: nothing here knows any area by name.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from functions.shared.thresholds import MeasurementType, Thresholds, problems

_TEMPLATES = Path(__file__).parent / "data" / "disease_areas"
AreaCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,40}$")]
Severity = Literal["RED", "YELLOW", "GREEN"]


class InvalidTemplate(ValueError):
    pass


class ConditionCode(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    code: str
    danish_sks: str


class PackageItem(BaseModel):
    """One thing the logistics centre delivers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    measurement_types: list[MeasurementType]
    quantity: Annotated[int, Field(ge=1)] = 1


class Schedule(BaseModel):
    """How often the citizen measures, and after how long without a measurement it is missed."""

    model_config = ConfigDict(extra="forbid")

    per_week: Annotated[int, Field(ge=1, le=70)]
    missed_after_hours: Annotated[int, Field(ge=1, le=24 * 31)]


class DiseaseArea(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: AreaCode
    display: str
    condition_code: ConditionCode
    xds_event_code: str
    source_note: str
    measurement_types: Annotated[list[MeasurementType], Field(min_length=1)]
    package: Annotated[list[PackageItem], Field(min_length=1)]
    schedule: Schedule
    questionnaire: dict[str, dict[str, Severity]]
    thresholds: Thresholds

    @model_validator(mode="after")
    def _consistent(self) -> DiseaseArea:
        measured = set(self.measurement_types)
        limited = set(self.thresholds.absolute) | set(self.thresholds.relative)
        packaged = {kind for item in self.package for kind in item.measurement_types}
        if limited - measured:
            raise ValueError(f"thresholds for types the area does not measure: {sorted(limited - measured)}")
        if packaged - measured:
            raise ValueError(f"package measures types the area does not: {sorted(packaged - measured)}")
        broken = problems(self.thresholds)
        if broken:
            raise ValueError("; ".join(f"{p.field}: {p.message}" for p in broken))
        return self


@cache
def disease_areas() -> dict[str, DiseaseArea]:
    """Every template, by code (read once). A file whose name is not its code is refused."""
    areas = {}
    for path in sorted(_TEMPLATES.glob("*.json")):
        area = DiseaseArea.model_validate_json(path.read_text(encoding="utf-8"))
        if area.code != path.stem:
            raise InvalidTemplate(f"{path.name} holds disease area {area.code!r}")
        areas[area.code] = area
    return areas


def disease_area(code: str) -> DiseaseArea:
    """The template of ``code``; a KeyError for a code no template has (the models allow only theirs)."""
    return disease_areas()[code]
