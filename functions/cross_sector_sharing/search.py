"""The treating doctor's pull: a FHIR searchset Bundle of a citizen's Observations (POST
/fhir/Observation/_search; parameters in functions.cross_sector_sharing.search_models).

No event shapes and no boto3: the readings store, the citizen's relations (relations.py), the access log
and the clock are injected.

Who may search: a clinician of the treating or the current monitoring organisation of an open episode of
the citizen, and only that organisation's episodes are searched (an organisation offered the monitoring
has none until it accepts). Any other caller gets one 403, the same whether the citizen is known or not.
Only the nationally agreed types are returned (the sharing path's list), as in the shared Bundles. Every
page is written to the access log, under each episode it searches, before anything is read.

Paging: the matches are newest measured first across the searched episodes. Each page reads every episode
still to be read once (one query of its readings-by-time index) and merges them; the cursor holds, per
episode, the sort key of the last reading taken from it (``FROM_START`` if none yet; an episode read to
its end is left out). A measurement judged under two episodes is one match (its Observation id is the
measurement's), taken as the episode first by id judged it. Threshold versions are read once per episode
per page, only for the episodes the page returns readings of.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from functions.cross_sector_sharing.fhir import device_resource, observations_of, patient_resource, reference
from functions.cross_sector_sharing.relations import CitizenRelations
from functions.cross_sector_sharing.search_models import (
    CURSOR_PARAMETER,
    FHIR_SEARCH,
    ObservationQuery,
    ReadingsPage,
    StoredReading,
    Window,
)
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, nothing_found
from functions.shared.clock import Clock, iso_utc
from functions.shared.cursors import Position, decode_cursor, encode_cursor, invalid_cursor
from functions.shared.evaluation_records import READING_PREFIX
from functions.shared.principal import Principal, organisation_of

# The route of the search: its rule in functions.shared.access_rules decides who may search.
SEARCH_ROUTE = "POST /fhir/Observation/_search"
FROM_START = "start"  # a cursor's position of an episode none of whose readings was returned yet


class ReadingStore(Protocol):
    def readings(self, episode_id: str, window: Window, types: frozenset[str] | None, limit: int,
                 after: str | None) -> ReadingsPage:
        """The episode's readings measured in ``window`` of ``types`` (None: any), newest measured first,
        after the reading whose sort key is ``after`` (None: from the newest); at most ``limit``."""

    def threshold_versions(self, episode_id: str) -> dict[int, dict[str, Any]]:
        """The episode's threshold versions: version -> its thresholds (``absolute``, ``relative``)."""


@dataclass(frozen=True)
class SearchResult:
    bundle: dict[str, Any]  # the searchset Bundle
    matches: int
    episodes: int  # the episodes the page searched


class ObservationSearch:
    def __init__(self, store: ReadingStore, relations: CitizenRelations, access_log: AccessLog, clock: Clock,
                 shared_types: frozenset[str]) -> None:
        self._store = store
        self._relations = relations
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)
        self._shared_types = shared_types

    def search(self, query: ObservationQuery, principal: Principal, cursor: str | None,
               url: str) -> SearchResult:
        """One page of the search; ``url`` is the search's own URL (no parameters), which the Bundle's
        links extend with the cursor alone: the client repeats its body to the next link."""
        organisation = organisation_of(principal)
        # One refusal for an unknown citizen and a citizen the caller has no relation to: it tells nothing.
        citizen = self._relations.related(query.cpr, organisation, SEARCH_ROUTE)
        if citizen is None:
            raise nothing_found(SEARCH_ROUTE)
        self._guard.check(SEARCH_ROUTE, citizen.held, principal, Access(citizen.patient_id, FHIR_SEARCH, ""))
        patient_id, related = citizen.patient_id, citizen.episode_ids
        types = self._shared_types if query.types is None else query.types & self._shared_types
        scope = _scope(organisation, patient_id, types, query.window)
        positions = _positions(decode_cursor(cursor, scope, CURSOR_PARAMETER), related, types, query.window)
        now = self._clock()
        accesses = [Access(patient_id, FHIR_SEARCH, episode_id) for episode_id in positions]
        self._access_log.record_many(accesses, principal, now)
        if types and not query.window.empty:
            pages = {episode_id: self._store.readings(episode_id, query.window, types, query.count,
                                                      None if after == FROM_START else after)
                     for episode_id, after in positions.items()}
        else:
            pages = {}
        matches, positions_after = _merge(pages, positions, query.count)
        following = encode_cursor(scope, positions_after or None)
        links = {"self": _link(url, cursor), **({"next": _link(url, following)} if following else {})}
        bundle = self._bundle(patient_id, query.cpr, matches, now, links)
        return SearchResult(bundle, len(matches), len(positions))

    def _bundle(self, patient_id: str, cpr: str, matches: list[StoredReading], now: datetime,
                links: Mapping[str, str]) -> dict[str, Any]:
        """The searchset: each reading's Observation as a match (a cuff's pulse included with its panel),
        then the Patient and the Devices they refer to, included."""
        patient = patient_resource(patient_id, cpr)
        versions = {episode_id: self._store.threshold_versions(episode_id)
                    for episode_id in dict.fromkeys(reading.episode_id for reading in matches)}
        entries: list[dict[str, Any]] = []
        devices: dict[str, dict[str, Any]] = {}
        for reading in matches:
            device = devices.setdefault(reading.device_id, device_resource(reading.device_id))
            version = reading.measurement["threshold_version"]
            thresholds = versions[reading.episode_id][version] if version is not None else {}
            observations = observations_of(reading.measurement, thresholds, patient=patient, device=device,
                                           issued=None)
            entries += [_entry(observation, "match" if position == 0 else "include")
                        for position, observation in enumerate(observations)]
        if matches:
            entries += [_entry(resource, "include") for resource in (patient, *devices.values())]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": iso_utc(now),
            "link": [{"relation": relation, "url": url} for relation, url in links.items()],
            "entry": entries,
        }


def _entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {"fullUrl": reference(resource), "resource": resource, "search": {"mode": mode}}


def _link(url: str, cursor: str | None) -> str:
    return url if cursor is None else f"{url}?{CURSOR_PARAMETER}={cursor}"


def _scope(organisation: str, patient_id: str, types: frozenset[str], window: Window) -> str:
    """The list a cursor belongs to: the caller's organisation's search of this citizen with these filters,
    as a digest (the cursor travels in a URL and names neither the citizen nor the filters)."""
    bounds = [iso_utc(moment) if moment else "" for moment in (window.since, window.until)]
    text = json.dumps(["fhir_search", organisation, patient_id, sorted(types), bounds])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _positions(decoded: Position | None, related: list[str], types: frozenset[str],
               window: Window) -> dict[str, str]:
    """The episodes this page reads, each from where its last page left it: every related episode on the
    first page; after that those the cursor names still (an episode read to its end is left out, and one
    the caller is no longer related to is not read)."""
    if decoded is None:
        return dict.fromkeys(related, FROM_START)
    positions = {episode_id: decoded[episode_id] for episode_id in related if episode_id in decoded}
    for position in positions.values():
        if position != FROM_START and not _reading_of_the_list(position, types, window):
            raise invalid_cursor(CURSOR_PARAMETER)
    return positions


def _reading_of_the_list(sort_key: str, types: frozenset[str], window: Window) -> bool:
    """The sort key is a reading's the list can hold: a forged one outside its window would be refused by
    DynamoDB as a starting key (a 500 if it got there)."""
    parts = sort_key.removeprefix(READING_PREFIX).split("#")
    if not sort_key.startswith(READING_PREFIX) or len(parts) != 3 or not all(parts):
        return False
    reading_type, measured_at, _ = parts
    try:
        moment = datetime.fromisoformat(measured_at)
    except ValueError:
        return False
    return reading_type in types and moment.tzinfo is not None and window.holds(moment)


def _measured_key(reading: StoredReading) -> str:
    return f"{reading.measurement['measured_at']}#{reading.measurement['measurement_id']}"


def _merge(pages: Mapping[str, ReadingsPage], positions: Mapping[str, str],
           count: int) -> tuple[list[StoredReading], Position]:
    """The page's matches, newest measured first across the episodes' pages, and where each episode goes on
    from (episodes read to their end left out). A measurement under several episodes is taken once; its
    copies are passed over with it."""
    ordered = sorted((reading for page in pages.values() for reading in page.readings),
                     key=lambda reading: reading.episode_id)
    ordered.sort(key=_measured_key, reverse=True)
    matches: list[StoredReading] = []
    taken: set[str] = set()
    last_taken: dict[str, str] = {}
    for reading in ordered:
        key = _measured_key(reading)
        if key not in taken:
            if len(matches) == count:
                break
            taken.add(key)
            matches.append(reading)
        last_taken[reading.episode_id] = reading.sort_key
    after: Position = {}
    for episode_id, page in pages.items():
        last = last_taken.get(episode_id)
        read_to_its_end = not page.more and (not page.readings or last == page.readings[-1].sort_key)
        if not read_to_its_end:
            after[episode_id] = last or positions[episode_id]
    return matches, after
