"""In-memory fakes of the citizen's view (functions.citizen_view) and the authorizer's citizen directory."""

from __future__ import annotations

from collections import defaultdict

from functions.citizen_view.models import AccessPage, ReadingsPage, StoredAccess, StoredReading
from functions.shared.cursors import Position


class FakeCitizenDirectory:
    """The authorizer's citizens: a patient id per CPR number; which CPR numbers were looked up."""

    def __init__(self, patients: dict[str, str] | None = None) -> None:
        self.patients = dict(patients or {})
        self.lookups: list[str] = []

    def patient_id(self, cpr: str) -> str | None:
        self.lookups.append(cpr)
        return self.patients.get(cpr)


class FakeAccessEntries:
    """The access log as read: each citizen's stored entries (a test arranges them)."""

    def __init__(self) -> None:
        self.stored: dict[str, list[StoredAccess]] = defaultdict(list)

    def entries(self, patient_id: str, episode_id: str | None, limit: int,
                after: Position | None) -> AccessPage:
        matching = sorted((entry for entry in self.stored[patient_id]
                           if episode_id is None or entry.episode_id == episode_id),
                          key=lambda entry: entry.access_id, reverse=True)
        if after is not None:
            matching = [entry for entry in matching if entry.access_id < after["access_id"]]
        page = matching[:limit]
        return AccessPage(page, {"access_id": page[-1].access_id} if len(matching) > limit else None)


class FakeReadingStore:
    """The readings of each episode (a test arranges them), and which episodes were read from where."""

    def __init__(self) -> None:
        self.stored: dict[str, list[StoredReading]] = defaultdict(list)
        self.reads: list[tuple[str, str | None]] = []

    def readings(self, episode_id: str, limit: int, after: str | None) -> ReadingsPage:
        self.reads.append((episode_id, after))
        ordered = sorted(self.stored[episode_id], key=lambda reading: reading.measured_key, reverse=True)
        if after is not None:
            [start] = [position for position, reading in enumerate(ordered) if reading.sort_key == after]
            ordered = ordered[start + 1:]
        return ReadingsPage(ordered[:limit], len(ordered) > limit)
