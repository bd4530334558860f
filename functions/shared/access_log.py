"""The access log's port: who read or changed a citizen's data, what and when, written before the data
is returned (the citizen's "who looked at my data"). No CPR and no health data in an entry. The
DynamoDB adapter is functions.shared.access_log_store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from functions.shared.principal import Principal


@dataclass(frozen=True)
class Access:
    """One citizen's data read or changed: whose, what, and under which episode."""

    patient_id: str
    action: str
    episode_id: str


class AccessLog(Protocol):
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime) -> None:
        """Store who read what, before the data is returned (raise if it cannot be stored)."""

    def record_many(self, accesses: Sequence[Access], principal: Principal, at: datetime) -> None:
        """Store one entry per access, before the data is returned (a list of many citizens' rows); raise
        if any cannot be stored."""
