"""Each function of the feature reads only the resources it is granted (see the resource spec).

Read once, by the cached service factories in handler.py, at first use.
"""

from __future__ import annotations

from functions.shared.settings import EnvironmentSettings


class UploadApiSettings(EnvironmentSettings):
    uploads_table_name: str
    episodes_table_name: str  # the citizen's open disease areas, read for uploads with answers


class OutboxSettings(EnvironmentSettings):
    measurements_queue_url: str


class OutboxRecoverySettings(EnvironmentSettings):
    uploads_table_name: str  # the table whose stream failures it recovers, and its fallback source
