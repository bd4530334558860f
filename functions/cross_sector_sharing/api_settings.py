"""The sharing API's settings (function sharing-api of the resource spec): read from its environment once,
at first use, by both of its routes (the consents and the FHIR search)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import BeforeValidator

from functions.shared.settings import EnvironmentSettings


def _comma_separated(text: object) -> object:
    """SHARED_MEASUREMENT_TYPES as the spec writes it ("spo2,weight", empty for none) -> its items."""
    return tuple(item.strip() for item in text.split(",") if item.strip()) if isinstance(text, str) else text


class SharingApiSettings(EnvironmentSettings):
    citizens_table_name: str
    episodes_table_name: str
    evaluations_table_name: str
    access_log_table_name: str
    citizen_pseudonym_key_id: str
    # The nationally agreed types (catalogue types, blood_pressure, questionnaire): nothing else is shared.
    shared_measurement_types: Annotated[tuple[str, ...], BeforeValidator(_comma_separated)]


@cache
def sharing_api_settings() -> SharingApiSettings:
    return SharingApiSettings.from_environment()
