"""The sharing API's settings (settings.py), as the resource spec's environment gives them."""

from __future__ import annotations

import pytest

from functions.cross_sector_sharing.settings import SharingApiSettings

ENVIRONMENT = {"CITIZENS_TABLE_NAME": "citizens", "EPISODES_TABLE_NAME": "episodes",
               "EVALUATIONS_TABLE_NAME": "evaluations", "ACCESS_LOG_TABLE_NAME": "access-log",
               "CITIZEN_PSEUDONYM_KEY_ID": "key-1", "ACCESS_LOG_RETENTION_DAYS": "731"}


@pytest.mark.parametrize("listed, types", [
    ("spo2,weight,blood_pressure", {"spo2", "weight", "blood_pressure"}),
    (" spo2 , questionnaire ", {"spo2", "questionnaire"}),
    ("", set()),
])
def test_the_shared_types_are_the_comma_separated_list(monkeypatch, listed, types):
    # Given the function's environment with the stage's shared types
    for name, value in {**ENVIRONMENT, "SHARED_MEASUREMENT_TYPES": listed}.items():
        monkeypatch.setenv(name, value)
    # When the settings are read, Then the types are the list's items, none for an empty list
    settings = SharingApiSettings.from_environment()
    assert settings.shared_measurement_types == types
    assert (settings.citizens_table_name, settings.citizen_pseudonym_key_id) == ("citizens", "key-1")
