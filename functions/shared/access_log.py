"""The access log's port: who read or changed a citizen's data, what and when, written before the data
is returned (the citizen's "who looked at my data"). No CPR and no health data in an entry. The
DynamoDB adapter is functions.shared.access_log_store."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from functions.shared.principal import Principal


class AccessLog(Protocol):
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime) -> None:
        """Store who read what, before the data is returned (raise if it cannot be stored)."""
