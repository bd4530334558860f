"""The clinicians' worklist: who may see which rows, measurements, answers and alarms, and acknowledging them.

No event shapes and no boto3 here: the evaluations store, the episode directory, the access log and the
clock are injected, so the rules are tested with in-memory fakes. Every change of an episode is one
transaction against the head's version read first; when another change came first it is read and
decided again, a few times, then the request is a 503 to retry.

Who may do what (the routes' rules in functions.shared.access_rules): the worklist is the caller's
organisation's own rows. An episode's measurements, questionnaire answers and alarms are for its treating
and its monitoring organisation. An alarm is acknowledged by its episode's monitoring organisation; the
treating organisation, which may read the alarm, gets a 403 saying so. Any other organisation gets the
refusal of an episode or alarm that does not exist (NoRelation), so that ids tell nobody else which episodes
and alarms exist. Every refusal of an existing episode's or alarm's caller is logged as denied first.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, nothing_found
from functions.shared.clock import Clock, iso_utc
from functions.shared.cursors import Position, decode_cursor, encode_cursor, invalid_cursor
from functions.shared.episode_records import EpisodeRelations
from functions.shared.errors import Conflict, InvalidInput, NoRelation, ServiceUnavailable
from functions.shared.evaluation_records import SEVERITY_ORDER
from functions.shared.principal import Principal, organisation_of
from functions.worklist.models import (
    ANSWER_ID_PATTERN,
    MAX_PAGE_SIZE,
    Acknowledgement,
    Alarm,
    AlarmChange,
    AlarmKey,
    AlarmsPage,
    AlarmStatus,
    AlarmSummary,
    AnswersPage,
    ColourCounts,
    GreenUploadsAcknowledged,
    Head,
    Measurement,
    MeasurementsPage,
    Page,
    QuestionnaireAnswer,
    WorklistPage,
    WorklistRow,
)

# A head changed between the read and the write is read again; more attempts mean the episode is busier
# than a person acknowledging can be, and the client retries later.
ATTEMPTS = 5

# The routes of the use cases below: their rules in functions.shared.access_rules decide who may call them.
READ_MEASUREMENTS = "GET /v1/episodes/{episode_id}/measurements"
READ_ALARMS = "GET /v1/episodes/{episode_id}/alarms"
READ_ANSWERS = "GET /v1/episodes/{episode_id}/answers"
ACKNOWLEDGE_ALARM = "POST /v1/alarms/{alarm_id}/acknowledge"


class WorklistStore(Protocol):
    def worklist(self, organisation: str, limit: int, after: Position | None) -> Page[Head]:
        """The organisation's rows (heads with something waiting), by rank: most severe, longest waiting."""

    def head(self, episode_id: str) -> Head:
        """The episode's head as it is now (a strongly consistent read; version 0 if none is stored)."""

    def find_alarm(self, alarm_id: str) -> AlarmKey | None: ...

    def alarm(self, key: AlarmKey) -> Alarm | None:
        """The alarm as it is now (a strongly consistent read)."""

    def acknowledge(self, key: AlarmKey, acknowledgement: Acknowledgement, change: AlarmChange, head: Head,
                    organisation: str) -> bool:
        """Acknowledge the alarm while it is open and write ``head``, if the stored head is still at
        ``head.version`` and on ``organisation``'s worklist; False (nothing written) otherwise."""

    def write_head(self, head: Head, organisation: str) -> bool:
        """Write what waits on the row, if the stored head is still at ``head.version`` and on
        ``organisation``'s worklist."""

    def measurements(self, episode_id: str, since: datetime | None, until: datetime | None,
                     measurement_type: str | None, limit: int, after: Position | None) -> Page[Measurement]:
        """Newest measured first; ``since`` and ``until`` include their instants."""

    def alarms(self, episode_id: str, status: AlarmStatus | None, limit: int,
               after: Position | None) -> Page[Alarm]:
        """Newest raised first."""

    def answers(self, episode_id: str) -> list[QuestionnaireAnswer]:
        """Every answer of the episode's "upload evaluated" events (kept EVENT_RETENTION), in no order."""


class EpisodeDirectory(Protocol):
    def relations(self, episode_id: str) -> EpisodeRelations | None: ...


class WorklistService:
    def __init__(self, store: WorklistStore, directory: EpisodeDirectory, access_log: AccessLog,
                 clock: Clock) -> None:
        self._store = store
        self._directory = directory
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    # --- reading -----------------------------------------------------------------------------------

    def worklist(self, principal: Principal, limit: int, cursor: str | None) -> WorklistPage:
        """A page of the caller's organisation's rows; each row returned is logged as a read first."""
        organisation = organisation_of(principal)
        scope = f"worklist#{organisation}"
        page = self._store.worklist(organisation, limit, decode_cursor(cursor, scope))
        rows = [worklist_row(head) for head in page.items]
        accesses = [Access(row.patient_id, "read_worklist", row.episode_id) for row in rows]
        self._access_log.record_many(accesses, principal, self._clock())
        return WorklistPage(rows=rows, next_cursor=encode_cursor(scope, page.after))

    def measurements(self, episode_id: str, principal: Principal, since: datetime | None,
                     until: datetime | None, measurement_type: str | None, limit: int,
                     cursor: str | None) -> MeasurementsPage:
        if since is not None and until is not None and since > until:
            raise InvalidInput.for_field("from", "must not be after `to`")
        relations = self._readable(READ_MEASUREMENTS, episode_id, principal, "read_measurements")
        # A cursor continues the same list: with other filters its position may lie outside the query.
        bounds = "#".join(iso_utc(moment) if moment else "" for moment in (since, until))
        scope = f"measurements#{episode_id}#{bounds}#{measurement_type or ''}"
        page = self._store.measurements(episode_id, since, until, measurement_type, limit,
                                        decode_cursor(cursor, scope))
        self._access_log.record(relations.patient_id, principal, "read_measurements", episode_id,
                                self._clock())
        return MeasurementsPage(measurements=page.items, next_cursor=encode_cursor(scope, page.after))

    def alarms(self, episode_id: str, principal: Principal, status: AlarmStatus | None, limit: int,
               cursor: str | None) -> AlarmsPage:
        relations = self._readable(READ_ALARMS, episode_id, principal, "read_alarms")
        scope = f"alarms#{episode_id}#{status or ''}"
        page = self._store.alarms(episode_id, status, limit, decode_cursor(cursor, scope))
        self._access_log.record(relations.patient_id, principal, "read_alarms", episode_id, self._clock())
        return AlarmsPage(alarms=page.items, next_cursor=encode_cursor(scope, page.after))

    def answers(self, episode_id: str, principal: Principal, since: datetime | None, until: datetime | None,
                limit: int, cursor: str | None) -> AnswersPage:
        """The episode's questionnaire answers, newest answered first. Their events' keys follow no time, so
        every event of the episode is read (the events of EVENT_RETENTION: a few hundred) and the sorted
        list is paged by the position of a page's last answer."""
        if since is not None and until is not None and since > until:
            raise InvalidInput.for_field("from", "must not be after `to`")
        relations = self._readable(READ_ANSWERS, episode_id, principal, "read_answers")
        bounds = "#".join(iso_utc(moment) if moment else "" for moment in (since, until))
        scope = f"answers#{episode_id}#{bounds}"
        after = _answer_position(decode_cursor(cursor, scope))
        # One answer per id: an upload evaluated again under the episode rewrites the same event.
        answers = {answer.answer_id: answer for answer in self._store.answers(episode_id)
                   if (since is None or answer.answered_at >= since)
                   and (until is None or answer.answered_at <= until)}
        ordered = sorted(answers.values(), key=_answer_order, reverse=True)
        if after is not None:
            ordered = [answer for answer in ordered if _answer_order(answer) < after]
        page = ordered[:limit]
        position = ({"answered_at": page[-1].answered_at.isoformat(), "answer_id": page[-1].answer_id}
                    if len(ordered) > limit else None)
        self._access_log.record(relations.patient_id, principal, "read_answers", episode_id, self._clock())
        return AnswersPage(answers=page, next_cursor=encode_cursor(scope, position))

    def _readable(self, route: str, episode_id: str, principal: Principal, action: str) -> EpisodeRelations:
        """The episode's relations, if the caller's open ``route``; else its 403 (logged as denied first;
        an unknown episode gets the same 403, unlogged)."""
        organisation = organisation_of(principal)
        relations = self._directory.relations(episode_id)
        if relations is None:
            raise nothing_found(route)
        self._guard.check(route, relations.held_by(organisation), principal,
                          Access(relations.patient_id, action, episode_id))
        return relations

    # --- acknowledging -----------------------------------------------------------------------------

    def acknowledge(self, alarm_id: str, note: str, principal: Principal) -> Alarm:
        """Acknowledge an open alarm with a note: who, when and the note are recorded, and the alarm
        leaves the worklist row (its rank recomputed). The alarm is returned, and logged as read."""
        organisation = organisation_of(principal)
        key = self._store.find_alarm(alarm_id)
        relations = self._directory.relations(key.episode_id) if key else None
        if key is None or relations is None:
            raise nothing_found(ACKNOWLEDGE_ALARM)
        about = Access(relations.patient_id, "acknowledge_alarm", key.episode_id)
        self._guard.check(ACKNOWLEDGE_ALARM, relations.held_by(organisation), principal, about)
        # Logged once, before the change (an entry that cannot be written changes nothing); a 409 for an
        # alarm acknowledged already tells who did it and when: a read of the citizen's alarm.
        self._access_log.record(about.patient_id, principal, about.action, about.episode_id, self._clock())
        for _ in range(ATTEMPTS):
            head = self._store.head(key.episode_id)  # before the alarm: a change after it cancels ours
            if head.worklist_organisation != organisation:
                # Handed over since the check above: the caller holds the monitoring no more.
                self._guard.check(ACKNOWLEDGE_ALARM, relations.held_by(organisation) - {Relation.MONITORING},
                                  principal, about)
            alarm = self._store.alarm(key)
            if alarm is None:
                raise NoRelation()
            now = self._clock()
            _require_open(alarm)
            acknowledgement = Acknowledgement(by=principal.subject, organisation=organisation, at=now,
                                              note=note)
            change = AlarmChange(at=now, from_=alarm.colour, to=alarm.colour, reason="acknowledged",
                                 by=principal.subject, organisation=organisation, note=note)
            waiting = {other: waits for other, waits in head.open_alarms.items() if other != alarm_id}
            if self._store.acknowledge(key, acknowledgement, change, replace(head, open_alarms=waiting),
                                       organisation):
                return alarm.model_copy(update={"status": AlarmStatus.ACKNOWLEDGED,
                                                "acknowledged": acknowledgement,
                                                "changes": [*alarm.changes, change]})
        raise ServiceUnavailable("the alarm could not be acknowledged now; retry the request")

    def acknowledge_green(self, principal: Principal) -> GreenUploadsAcknowledged:
        """Acknowledge every GREEN upload waiting on the caller's organisation's rows: how many uploads,
        of how many episodes. Each episode changed is logged as a change of the citizen's data."""
        organisation = organisation_of(principal)
        rows: list[Head] = []
        after: Position | None = None
        while True:  # every row first: clearing a row's GREEN uploads moves it, or takes it off the list
            page = self._store.worklist(organisation, MAX_PAGE_SIZE, after)
            rows += [head for head in page.items if head.green_uploads]
            if page.after is None:
                break
            after = page.after
        uploads, episodes = 0, 0
        for row in rows:
            # Logged before each episode's change, once whatever its attempts: a call cut short (a timeout)
            # leaves no change unlogged.
            self._access_log.record(_citizen(row), principal, "acknowledge_green", row.episode_id,
                                    self._clock())
            cleared = self._clear_green_uploads(row.episode_id, organisation)
            if cleared:
                uploads += cleared
                episodes += 1
        return GreenUploadsAcknowledged(uploads=uploads, episodes=episodes)

    def _clear_green_uploads(self, episode_id: str, organisation: str) -> int:
        """How many GREEN uploads were cleared: none if the row has moved to another organisation since."""
        for _ in range(ATTEMPTS):
            head = self._store.head(episode_id)
            if head.worklist_organisation != organisation or not head.green_uploads:
                return 0
            if self._store.write_head(replace(head, green_uploads={}), organisation):
                return len(head.green_uploads)
        raise ServiceUnavailable("the GREEN uploads could not all be acknowledged now; retry the request")


def worklist_row(head: Head) -> WorklistRow:
    """The row of a head on the worklist: its most severe alarm (the longest waiting of that colour),
    the counts per colour, and whether a late measurement raised any of its alarms."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    for open_alarm in head.open_alarms.values():
        counts[open_alarm.colour] += 1
    counts["GREEN"] = len(head.green_uploads)
    most_severe = min(head.open_alarms.items(), default=None,
                      key=lambda entry: (SEVERITY_ORDER.index(entry[1].colour), entry[1].raised_at, entry[0]))
    alarm = None
    if most_severe is not None:
        alarm_id, open_alarm = most_severe
        alarm = AlarmSummary.model_validate({"alarm_id": alarm_id, **vars(open_alarm)})
    if head.disease_area is None:
        raise ValueError(f"the head of episode {head.episode_id} names no disease area")
    return WorklistRow(
        episode_id=head.episode_id, patient_id=_citizen(head), disease_area=head.disease_area, alarm=alarm,
        counts=ColourCounts(**counts), last_measured_at=head.last_measured_at,
        late=any(open_alarm.late for open_alarm in head.open_alarms.values()),
    )


def _citizen(head: Head) -> str:
    """The citizen of a row: every head the evaluation writes names it and its disease area (only a
    handover's head, which has nothing waiting and so is on no worklist, may not)."""
    if head.patient_id is None:
        raise ValueError(f"the head of episode {head.episode_id} names no citizen")
    return head.patient_id


def _answer_order(answer: QuestionnaireAnswer) -> tuple[datetime, str]:
    return answer.answered_at, answer.answer_id


def _answer_position(position: Position | None) -> tuple[datetime, str] | None:
    """Where a page of answers ends (answered_at, answer_id); a 422 for a position no page of answers has."""
    if position is None:
        return None
    if sorted(position) != ["answer_id", "answered_at"] or not re.fullmatch(ANSWER_ID_PATTERN,
                                                                              position["answer_id"]):
        raise invalid_cursor()
    try:
        answered_at = datetime.fromisoformat(position["answered_at"])
    except ValueError:
        raise invalid_cursor() from None
    if answered_at.tzinfo is None:
        raise invalid_cursor()
    return answered_at, position["answer_id"]


def _require_open(alarm: Alarm) -> None:
    if alarm.status is AlarmStatus.OPEN:
        return
    acknowledged = alarm.acknowledged
    if alarm.status is AlarmStatus.ACKNOWLEDGED and acknowledged is not None:
        raise Conflict(f"alarm {alarm.alarm_id} was acknowledged by {acknowledged.by} of "
                       f"{acknowledged.organisation} at {acknowledged.at.isoformat()}")
    raise Conflict(f"alarm {alarm.alarm_id} was {alarm.status.value} and waits for nobody")
