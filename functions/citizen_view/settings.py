"""The citizen-view function's configuration, read once at first use (by the cached service factory)."""

from __future__ import annotations

from functions.shared.settings import EnvironmentSettings


class CitizenViewSettings(EnvironmentSettings):
    access_log_table_name: str  # read (the views) and appended to (every view is itself logged)
    access_log_retention_days: int
    episodes_table_name: str  # the citizen's open episodes, and who monitors an episode
    evaluations_table_name: str  # the readings
