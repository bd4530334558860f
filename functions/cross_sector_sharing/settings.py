"""The configuration of cross-sector sharing's two functions, each read once at first use: the publisher's
(by the cached service factory in handler.py) and the sharing API's (by both its routes)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from functions.shared.catalogue import BLOOD_PRESSURE, QUESTIONNAIRE, shareable_types
from functions.shared.settings import EnvironmentSettings


def _comma_separated(text: object) -> object:
    """SHARED_MEASUREMENT_TYPES as the spec writes it ("spo2,weight", empty for none) -> its items."""
    if not isinstance(text, str):
        return text
    return frozenset(item.strip() for item in text.split(",") if item.strip())


def _shareable(types: frozenset[str]) -> frozenset[str]:
    unknown = types - shareable_types()
    if unknown:
        raise ValueError(f"not a catalogue type, {BLOOD_PRESSURE} or {QUESTIONNAIRE}: {sorted(unknown)}")
    return types


# The nationally agreed types (SHARED_MEASUREMENT_TYPES, from PlatformSettings.shared_measurement_types):
# comma-separated catalogue types, ``blood_pressure``, and ``questionnaire`` for the answers. An empty list
# shares nothing; a name that is none of these is a configuration error, not a type silently never shared.
SharedTypes = Annotated[frozenset[str], BeforeValidator(_comma_separated), AfterValidator(_shareable)]


class PublisherSettings(EnvironmentSettings):
    """The tables it decides from, the key that opens the citizens' CPR numbers, the topic it publishes to,
    and the agreed types."""

    citizens_table_name: str
    episodes_table_name: str
    citizen_profile_key_id: str
    sharing_topic_arn: str
    shared_measurement_types: SharedTypes


class SharingApiSettings(EnvironmentSettings):
    """The consents' and the FHIR search's tables, the key that turns a CPR number into a pseudonym, and the
    agreed types (the search returns no other)."""

    citizens_table_name: str
    episodes_table_name: str
    evaluations_table_name: str
    access_log_table_name: str
    access_log_retention_days: int
    citizen_pseudonym_key_id: str
    shared_measurement_types: SharedTypes


@cache
def sharing_api_settings() -> SharingApiSettings:
    return SharingApiSettings.from_environment()
