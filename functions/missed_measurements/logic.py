"""Missed measurements (BLUE alarms) and pauses of the schedule: the due rule, a run of the schedule, who
may pause an episode's monitoring.

The rule (docs/alarms.md, "Missed measurements"): an episode's reference is the latest of its last
measurement (measured_at), the moment the schedule first saw it active and the end of its latest pause
that has ended. A miss is due ``missed_after_hours`` after the reference and again every
``missed_after_hours`` while nothing is measured; a due time inside a pause raises nothing. Each miss
is one BLUE alarm, raised at its due time; the head remembers the latest due time raised, so a second
run, a retry or a late delivery of the schedule's event raises none again.

No event shapes and no boto3 here: the stores, the episode directory, the access log and the clock are
injected. Every write is one transaction against the head's version; a lost race is read again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from functions.missed_measurements.models import (
    BLUE,
    MAX_PAUSE,
    MAX_PAUSE_START_AGE,
    Miss,
    MonitoredEpisode,
    Pause,
    PauseRequest,
    ScheduleChange,
    ScheduleHead,
    missed_measurement_event,
)
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, nothing_found
from functions.shared.citizens import ATTEMPTS
from functions.shared.clock import Clock, iso_utc
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import Conflict, InvalidInput, ServiceUnavailable
from functions.shared.evaluation_records import OpenAlarm, missed_alarm_id, missed_event_id
from functions.shared.principal import Principal, organisation_of

# A transaction holds at most 100 items: the head, the event and the alarms of up to this many misses
# (more, after a long outage of the schedule, take several writes).
MISSES_PER_WRITE = 25

# The routes of the pauses: their rules in functions.shared.access_rules decide who may call them.
PAUSE = "POST /v1/episodes/{episode_id}/pauses"
READ_PAUSES = "GET /v1/episodes/{episode_id}/pauses"


class EpisodeDirectory(Protocol):
    def relations(self, episode_id: str) -> EpisodeRelations | None:
        """The episode's relations as they are now, None if there is no such episode."""


class HeadStore(Protocol):
    def head(self, episode_id: str) -> ScheduleHead:
        """The episode's head, strongly consistent (an empty head at version 0 if it has none)."""


class ScheduleStore(HeadStore, Protocol):
    def active_episodes(self) -> Iterator[list[MonitoredEpisode]]:
        """The active episodes, a page at a time (an index: an episode ended a moment ago may be in it)."""

    def heads(self, episode_ids: Sequence[str]) -> dict[str, ScheduleHead]:
        """The heads of the episodes that have one, read in batches; a head may be a moment stale, which
        only makes its write fail on the version."""

    def record(self, episode: MonitoredEpisode, head: ScheduleHead, change: ScheduleChange) -> bool:
        """Write the change (the schedule's start, or misses: their alarms and event) if the head is still
        at ``head.version``; False (nothing written) if another change came first."""


class PauseStore(HeadStore, Protocol):
    def add_pause(self, relations: EpisodeRelations, head: ScheduleHead, pause: Pause) -> bool:
        """Store the pause, and its window in the head, if the head is still at ``head.version``."""

    def pauses(self, episode_id: str) -> list[Pause]:
        """Every pause of the episode, oldest start first."""


# --- the rule ------------------------------------------------------------------------------------


def reference(head: ScheduleHead, now: datetime) -> datetime | None:
    """Where the count towards the next miss starts: the latest of the last measurement, the schedule's
    start and the end of the latest pause ended by ``now``; None before the schedule saw the episode."""
    if head.schedule_since is None:
        return None
    ended = [pause.ends_at for pause in head.pauses.values() if pause.ends_at <= now]
    measured = [head.last_measured_at] if head.last_measured_at else []
    return max([head.schedule_since, *measured, *ended])


def due_misses(head: ScheduleHead, missed_after: timedelta, now: datetime) -> list[datetime]:
    """The due times, up to ``now`` and oldest first, of the misses not raised yet and not inside a pause."""
    start = reference(head, now)
    if start is None:
        return []
    periods = 1
    if head.missed_through is not None and head.missed_through >= start + missed_after:
        periods = (head.missed_through - start) // missed_after + 1  # the first period after those raised
    due_times = []
    due = start + periods * missed_after
    while due <= now:
        if not any(pause.covers(due) for pause in head.pauses.values()):
            due_times.append(due)
        due += missed_after
    return due_times


def next_change(episode: MonitoredEpisode, head: ScheduleHead, now: datetime) -> ScheduleChange | None:
    """What a run writes next to the episode: the schedule's start when it first sees the episode, then
    the misses due (up to MISSES_PER_WRITE, the oldest first) with their event; None when up to date."""
    if head.schedule_since is None:
        return ScheduleChange(evaluated_at=now, schedule_since=now, missed_through=None)
    due_times = due_misses(head, episode.missed_after, now)[:MISSES_PER_WRITE]
    if not due_times:
        return None
    misses = tuple(Miss(missed_alarm_id(episode.episode_id, iso_utc(due)), due) for due in due_times)
    event_id = missed_event_id(episode.episode_id, iso_utc(due_times[0]))
    return ScheduleChange(
        evaluated_at=now, schedule_since=head.schedule_since, missed_through=due_times[-1], misses=misses,
        event_id=event_id, event=missed_measurement_event(event_id, episode, misses, now),
    )


def head_after(head: ScheduleHead, change: ScheduleChange) -> ScheduleHead:
    """The head as the change leaves it."""
    raised = {miss.alarm_id: OpenAlarm(BLUE, iso_utc(miss.due_at), False) for miss in change.misses}
    return replace(head, version=head.version + 1, open_alarms={**head.open_alarms, **raised},
                   schedule_since=change.schedule_since,
                   missed_through=change.missed_through or head.missed_through)


# --- a run of the schedule --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    episodes: int  # active episodes checked
    started: int  # episodes the schedule saw for the first time
    misses: int  # BLUE alarms raised
    failed: tuple[str, ...]  # episodes left for the next run (the store was busy or always raced)


class MissedMeasurementSchedule:
    def __init__(self, store: ScheduleStore, directory: EpisodeDirectory) -> None:
        self._store = store
        self._directory = directory

    def run(self, now: datetime) -> RunSummary:
        """Bring every active episode up to date as of ``now``. An episode whose writes keep failing is
        left for the next run, after the others."""
        episodes = started = misses = 0
        failed: list[str] = []
        for page in self._store.active_episodes():
            heads = self._store.heads([episode.episode_id for episode in page])
            for episode in page:
                episodes += 1
                try:
                    first_sight, raised = self._bring_up_to_date(
                        episode, heads.get(episode.episode_id, ScheduleHead()), now)
                except ServiceUnavailable:
                    failed.append(episode.episode_id)
                    continue
                started += first_sight
                misses += raised
        return RunSummary(episodes, started, misses, tuple(failed))

    def _bring_up_to_date(self, episode: MonitoredEpisode, head: ScheduleHead,
                          now: datetime) -> tuple[bool, int]:
        """Write the episode's changes one after another; returns whether the schedule started it, and
        how many misses it raised."""
        change = next_change(episode, head, now)
        if change is None:
            return False, 0
        current = self._still_active(episode)
        if current is None:
            return False, 0
        first_sight, raised, lost_races = False, 0, 0
        while True:
            # The organisations as they are now: a handover since the relations were read moved the head's
            # worklist organisation and its version together, so the alarm goes to whoever holds the row.
            if head.worklist_organisation is not None:
                current = replace(current, monitoring_organisation=head.worklist_organisation)
            change = next_change(current, head, now)
            if change is None:
                break
            if self._store.record(current, head, change):
                first_sight |= head.schedule_since is None
                raised += len(change.misses)
                head = head_after(head, change)
            else:
                lost_races += 1
                if lost_races == ATTEMPTS:
                    raise ServiceUnavailable(f"episode {episode.episode_id} changed on every attempt")
                head = self._store.head(episode.episode_id)
        return first_sight, raised

    def _still_active(self, episode: MonitoredEpisode) -> MonitoredEpisode | None:
        """The episode with its organisations as they are now; None if it ended (or was never active)
        since the index was read."""
        relations = self._directory.relations(episode.episode_id)
        if relations is None or relations.status != EpisodeStatus.ACTIVE:
            return None
        return replace(episode, treating_organisation=relations.treating_organisation,
                       monitoring_organisation=relations.monitoring_organisation)


# --- pauses ----------------------------------------------------------------------------------------


class PauseService:
    def __init__(self, store: PauseStore, directory: EpisodeDirectory, access_log: AccessLog,
                 clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    def pause(self, episode_id: str, request: PauseRequest, principal: Principal) -> tuple[Pause, bool]:
        """Pause the episode's schedule, by a clinician of its monitoring organisation. The same request
        again (same organisation, same body as sent) is the same pause: returned as stored, with False."""
        relations = self._related(PAUSE, episode_id, principal, "pause_monitoring")
        organisation = organisation_of(principal)
        if not relations.is_open:
            raise Conflict(f"episode {episode_id} has ended")
        pause_id = pause_id_of(episode_id, organisation, request)
        # Logged once, before the change (an entry that cannot be written changes nothing); a retry's
        # reply, the pause stored before, is a read of it.
        self._log(relations, principal, "pause_monitoring")
        for _ in range(ATTEMPTS):
            head = self._store.head(episode_id)
            if head.worklist_organisation not in (None, organisation):
                # Handed over since the check above: the caller holds the monitoring no more.
                self._guard.check(PAUSE, relations.held_by(organisation) - {Relation.MONITORING}, principal,
                                  Access(relations.patient_id, "pause_monitoring", episode_id))
            if pause_id in head.pauses:
                stored = next(p for p in self._store.pauses(episode_id) if p.pause_id == pause_id)
                return stored, False
            now = _as_stored(self._clock())
            starts_at, ends_at = _as_stored(request.starts_at or now), _as_stored(request.ends_at)
            _check_period(starts_at, ends_at, now)
            pause = Pause(pause_id, episode_id, starts_at, ends_at, request.reason, principal.subject,
                          organisation, now)
            if self._store.add_pause(relations, head, pause):
                return pause, True
        raise ServiceUnavailable("the pause could not be stored now; retry the same request")

    def pauses(self, episode_id: str, principal: Principal) -> list[Pause]:
        """The episode's pauses, for its treating or monitoring organisation; the read is logged first."""
        relations = self._related(READ_PAUSES, episode_id, principal, "read_pauses")
        pauses = self._store.pauses(episode_id)
        self._log(relations, principal, "read_pauses")
        return pauses

    def _related(self, route: str, episode_id: str, principal: Principal, action: str) -> EpisodeRelations:
        """The episode's relations, if the caller's open ``route``; else its 403 (``action`` logged as denied
        first; an episode that does not exist gets the same 403, unlogged)."""
        organisation = organisation_of(principal)
        relations = self._directory.relations(episode_id)
        if relations is None:
            raise nothing_found(route)
        self._guard.check(route, relations.held_by(organisation), principal,
                          Access(relations.patient_id, action, episode_id))
        return relations

    def _log(self, relations: EpisodeRelations, principal: Principal, action: str) -> None:
        self._access_log.record(relations.patient_id, principal, action, relations.episode_id, self._clock())


def _as_stored(moment: datetime) -> datetime:
    """The instant as the store keeps it (UTC, milliseconds), so a new pause reads as a retry's will."""
    return datetime.fromisoformat(iso_utc(moment))


def _check_period(starts_at: datetime, ends_at: datetime, now: datetime) -> None:
    if starts_at < now - MAX_PAUSE_START_AGE:
        raise InvalidInput.for_field("starts_at",
                                     f"must be at most {MAX_PAUSE_START_AGE.days} days in the past")
    if ends_at <= starts_at:
        raise InvalidInput.for_field("ends_at", "must be after starts_at")
    if ends_at <= now:
        raise InvalidInput.for_field("ends_at", "must be in the future: a pause ends by itself")
    if ends_at - starts_at > MAX_PAUSE:
        raise InvalidInput.for_field("ends_at", f"must be at most {MAX_PAUSE.days} days after starts_at")


def pause_id_of(episode_id: str, organisation: str, request: PauseRequest) -> str:
    """The same for a retry of the request: the episode, the organisation and the body as sent (a start
    left out stays out, so a retry a minute later is still the same pause)."""
    body = json.dumps(request.model_dump(mode="json", exclude_unset=True), sort_keys=True,
                      separators=(",", ":"))
    digest = hashlib.sha256("#".join((episode_id, organisation, body)).encode()).hexdigest()
    return f"pau_{digest[:24]}"
