"""The citizen's view of their own data (who looked at it, their measurements) and the monitoring
organisation's view of an episode's access log.

No event shapes and no boto3: the access log (read and written), the readings, the episode directory and the
clock are injected.

Who sees what: a citizen sees the entries and the measurements of their own patient id, which the authorizer
found by their CPR number (a citizen Telehub does not know has none, and empty lists). The organisation that
monitors an episode sees the entries of the episode's citizen made under that episode; any other caller, and
a caller naming an episode that does not exist, gets the one reply that tells nothing (errors.NoRelation; the
route's rule in functions.shared.access_rules), a refusal of an existing episode's caller logged as denied.
Every view is itself written to the access log before the reply (the citizen's as role citizen); it is not
on its own page, and shows on the next read.

The measurements are the readings of the citizen's open episodes, newest measured first across them (an
ended episode's readings are not listed: the episodes table finds a citizen's episodes only while they are
open). Each page reads every episode still to be read once and merges them; the cursor holds, per episode,
the sort key of the last reading taken from it (``FROM_START`` if none yet; an episode read to its end is
left out). A measurement judged under two episodes is listed under each, with that episode's colour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from functions.citizen_view.models import (
    READ_ACCESS_LOG,
    READ_OWN_ACCESS_LOG,
    READ_OWN_MEASUREMENTS,
    AccessLogEntry,
    AccessLogPage,
    AccessPage,
    OwnMeasurement,
    OwnMeasurementsPage,
    ReadingsPage,
    StoredAccess,
    StoredReading,
)
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, nothing_found
from functions.shared.clock import Clock
from functions.shared.cursors import Position, decode_cursor, encode_cursor, invalid_cursor
from functions.shared.episode_records import EpisodeRelations
from functions.shared.evaluation_records import READING_PREFIX
from functions.shared.principal import Principal

FROM_START = "start"  # a cursor's position of an episode none of whose readings was returned yet
NOT_ABOUT_ONE_EPISODE = ""  # the episode of an entry for a read that spans the citizen's episodes
# The route of an episode's access log: its rule in functions.shared.access_rules decides who may read it.
EPISODE_ACCESS_LOG = "GET /v1/episodes/{episode_id}/access-log"


class AccessEntries(Protocol):
    def entries(self, patient_id: str, episode_id: str | None, limit: int,
                after: Position | None) -> AccessPage:
        """The citizen's access-log entries (only those of ``episode_id`` if named), newest first, after the
        position ``after`` (an ``access_id``); at most ``limit``."""


class ReadingStore(Protocol):
    def readings(self, episode_id: str, limit: int, after: str | None) -> ReadingsPage:
        """The episode's readings, newest measured first, after the reading whose sort key is ``after`` (None:
        from the newest); at most ``limit``."""


class EpisodeDirectory(Protocol):
    def relations(self, episode_id: str) -> EpisodeRelations | None: ...

    def open_relations(self, patient_id: str) -> list[EpisodeRelations]: ...


class CitizenView:
    def __init__(self, entries: AccessEntries, readings: ReadingStore, directory: EpisodeDirectory,
                 access_log: AccessLog, clock: Clock) -> None:
        self._entries = entries
        self._readings = readings
        self._directory = directory
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def my_access_log(self, principal: Principal, limit: int, cursor: str | None) -> AccessLogPage:
        """Who read or changed the citizen's data, newest first."""
        scope = _scope("my-access-log", principal)
        after = _access_position(decode_cursor(cursor, scope))
        if principal.patient_id is None:
            return AccessLogPage(entries=[], next_cursor=None)
        page = self._entries.entries(principal.patient_id, None, limit, after)
        self._access_log.record(principal.patient_id, principal, READ_OWN_ACCESS_LOG, NOT_ABOUT_ONE_EPISODE,
                                self._clock())
        return AccessLogPage(entries=[access_log_entry(entry) for entry in page.entries],
                             next_cursor=encode_cursor(scope, page.after))

    def episode_access_log(self, episode_id: str, principal: Principal, limit: int,
                           cursor: str | None) -> AccessLogPage:
        """The entries of the episode's citizen made under the episode, newest first: for the organisation
        that monitors it now."""
        relations = self._directory.relations(episode_id)
        if relations is None:
            raise nothing_found(EPISODE_ACCESS_LOG)
        self._guard.check(EPISODE_ACCESS_LOG, relations.held_by(principal.organisation), principal,
                          Access(relations.patient_id, READ_ACCESS_LOG, episode_id))
        scope = f"episode-access-log#{episode_id}#{principal.organisation}"
        after = _access_position(decode_cursor(cursor, scope))
        page = self._entries.entries(relations.patient_id, episode_id, limit, after)
        self._access_log.record(relations.patient_id, principal, READ_ACCESS_LOG, episode_id, self._clock())
        return AccessLogPage(entries=[access_log_entry(entry) for entry in page.entries],
                             next_cursor=encode_cursor(scope, page.after))

    def my_measurements(self, principal: Principal, limit: int, cursor: str | None) -> OwnMeasurementsPage:
        """The readings of the citizen's open episodes, newest measured first, each with its colour."""
        scope = _scope("my-measurements", principal)
        decoded = decode_cursor(cursor, scope)
        if principal.patient_id is None:
            return OwnMeasurementsPage(measurements=[], next_cursor=None)
        episodes = {relation.episode_id: relation for relation in self._directory.open_relations(
            principal.patient_id)}
        positions = _positions(decoded, episodes)
        self._access_log.record_many([Access(principal.patient_id, READ_OWN_MEASUREMENTS, episode_id)
                                      for episode_id in positions], principal, self._clock())
        pages = {episode_id: self._readings.readings(episode_id, limit, None if at == FROM_START else at)
                 for episode_id, at in positions.items()}
        taken, positions_after = _merge(pages, positions, limit)
        measurements = [OwnMeasurement.model_validate({
            **reading.measurement, "episode_id": reading.episode_id,
            "disease_area": episodes[reading.episode_id].disease_area,
        }) for reading in taken]
        return OwnMeasurementsPage(measurements=measurements,
                                next_cursor=encode_cursor(scope, positions_after or None))


def access_log_entry(entry: StoredAccess) -> AccessLogEntry:
    return AccessLogEntry(accessed_at=entry.accessed_at, organisation=entry.organisation, role=entry.role,
                          subject=entry.subject, action=entry.action, endpoint=entry.endpoint,
                          outcome=entry.outcome, episode_id=entry.episode_id)


def _scope(list_name: str, principal: Principal) -> str:
    """The citizen's list a cursor belongs to, as a digest: the cursor travels in a URL and names nobody."""
    text = json.dumps([list_name, principal.patient_id or "", principal.subject])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _access_position(position: Position | None) -> Position | None:
    if position is not None and set(position) != {"access_id"}:
        raise invalid_cursor()
    return position


def _positions(decoded: Position | None, episodes: Mapping[str, EpisodeRelations]) -> dict[str, str]:
    """The episodes this page reads, each from where its last page left it: every open episode on the first
    page; after that those the cursor still names (an episode ended since is not read)."""
    if decoded is None:
        return dict.fromkeys(sorted(episodes), FROM_START)
    positions = {episode_id: decoded[episode_id] for episode_id in sorted(decoded) if episode_id in episodes}
    if not all(position == FROM_START or _is_reading_key(position) for position in positions.values()):
        raise invalid_cursor()
    return positions


def _is_reading_key(sort_key: str) -> bool:
    """A forged position that is no reading's sort key would be refused by DynamoDB as a starting key."""
    parts = sort_key.removeprefix(READING_PREFIX).split("#")
    if not sort_key.startswith(READING_PREFIX) or len(parts) != 3 or not all(parts):
        return False
    try:
        return datetime.fromisoformat(parts[1]).tzinfo is not None
    except ValueError:
        return False


def _merge(pages: Mapping[str, ReadingsPage], positions: Mapping[str, str],
           limit: int) -> tuple[list[StoredReading], Position]:
    """The page's readings, newest measured first across the episodes' pages (ties by episode id), and where
    each episode goes on from; an episode read to its end is left out."""
    ordered = sorted((reading for page in pages.values() for reading in page.readings),
                     key=lambda reading: reading.episode_id)
    ordered.sort(key=lambda reading: reading.measured_key, reverse=True)
    taken = ordered[:limit]
    last_taken = {reading.episode_id: reading.sort_key for reading in taken}  # each episode's last one
    after: Position = {}
    for episode_id, page in pages.items():
        untaken = sum(reading.episode_id == episode_id for reading in taken) < len(page.readings)
        if page.more or untaken:
            after[episode_id] = last_taken.get(episode_id, positions[episode_id])
    return taken, after
