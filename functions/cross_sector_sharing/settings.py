"""The sharing publisher's configuration: read once, by the cached service factory in handler.py."""

from __future__ import annotations

from pydantic import field_validator

from functions.shared.catalogue import BLOOD_PRESSURE, QUESTIONNAIRE, shareable_types
from functions.shared.settings import EnvironmentSettings


class PublisherSettings(EnvironmentSettings):
    """The tables it decides from, the topic it publishes to, and the nationally agreed types
    (SHARED_MEASUREMENT_TYPES: comma-separated catalogue types, ``blood_pressure``, and ``questionnaire``
    for the answers; PlatformSettings.shared_measurement_types). An empty list shares nothing; a name that
    is none of these is a configuration error, not a type silently never shared."""

    citizens_table_name: str
    episodes_table_name: str
    sharing_topic_arn: str
    shared_measurement_types: frozenset[str]

    @field_validator("shared_measurement_types", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("shared_measurement_types")
    @classmethod
    def _known(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = value - shareable_types()
        if unknown:
            raise ValueError(f"not a catalogue type, {BLOOD_PRESSURE} or {QUESTIONNAIRE}: {sorted(unknown)}")
        return value
