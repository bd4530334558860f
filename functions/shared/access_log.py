"""The access log's port: who read or changed a citizen's data, or was refused it, what and when, written
before the reply (the citizen's "who looked at my data"). An entry names the citizen by internal patient id,
the caller by subject, organisation and role, the request by its id and endpoint; no CPR and no health data.
Append-only: an entry, once written, is never changed or deleted (it expires after the stage's retention).
The DynamoDB adapter is functions.shared.access_log_store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from functions.shared.principal import Principal

# The access log keeps every entry at least two years (config: access_log_retention_days).
MINIMUM_RETENTION_DAYS = 731


class Outcome(StrEnum):
    ALLOWED = "allowed"  # the data was read or changed, and returned
    DENIED = "denied"  # a caller without a relation to the (existing) citizen was refused


@dataclass(frozen=True)
class Access:
    """One citizen's data read or changed (or refused): whose, what, and under which episode ("" when the
    refusal concerns the citizen, not an episode)."""

    patient_id: str
    action: str
    episode_id: str
    outcome: Outcome = Outcome.ALLOWED


@dataclass(frozen=True)
class AccessContext:
    """The request an access belongs to: the endpoint as method and route template (``GET
    /v1/episodes/{episode_id}``, no identifier in it) and the request id (API Gateway's, else Lambda's)."""

    endpoint: str
    request_id: str


class AccessLog(Protocol):
    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime, outcome: Outcome = Outcome.ALLOWED) -> None:
        """Append who read what (or was refused it), before the reply; raise ServiceUnavailable if it
        cannot be stored, so that nothing is returned unlogged."""

    def record_many(self, accesses: Sequence[Access], principal: Principal, at: datetime) -> None:
        """Append one entry per access, before the reply (a list of many citizens' rows), all or none;
        raise ServiceUnavailable if they cannot be stored."""
