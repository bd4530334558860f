"""Evaluating an upload under each open episode of its citizen, and invalidating a wrong reading.

Colours are a pure function of an episode's valid readings and its threshold versions: every evaluation
recomputes every reading of the types it touches (triage.py decides each colour), and writes only what
changed. So the final colours, and which alarms are open, do not depend on the order uploads arrive in,
and a redelivery finds nothing to change. Each change of an episode is committed against the head's
version (functions.shared.evaluation_records): read the head, then the readings, decide, commit; if
another change came first, read again and decide again.

No event shapes and no boto3 here: the episodes, the evaluation store, the clock and the metrics are
injected, so the rules are tested with in-memory fakes (docs/alarms.md has the whole story).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from functions.alarm_evaluation import triage
from functions.alarm_evaluation.models import (
    AlarmChangeKind,
    AlarmState,
    AlarmStatus,
    AlarmUpdate,
    Answer,
    AnswerAlarm,
    Commit,
    EpisodeState,
    EpisodeToJudge,
    EvaluationEvent,
    Head,
    HeadState,
    InvalidatedMeasurement,
    Invalidation,
    InvalidationView,
    Measurement,
    NewAlarm,
    Reading,
    ReadingWrite,
    Trigger,
    Upload,
)
from functions.alarm_evaluation.questionnaire import answer_colour
from functions.alarm_evaluation.triage import Colour
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, episode_relations, nothing_found
from functions.shared.clock import Clock, iso_utc
from functions.shared.disease_areas import DiseaseArea, disease_area
from functions.shared.errors import Conflict, NotFound, ServiceUnavailable
from functions.shared.evaluation_records import (
    EVALUATED_MESSAGE_TYPE,
    EVALUATED_SCHEMA_VERSION,
    OpenAlarm,
    answer_alarm_id,
    answer_id,
    invalidation_event_id,
    measurement_alarm_id,
    measurement_id,
    upload_event_id,
)
from functions.shared.observability import COUNT, MetricsRecorder, logger
from functions.shared.principal import Principal, organisation_of
from functions.shared.thresholds import Thresholds, ThresholdVersion, thresholds_at

# Reads and commits of one episode before the message (or request) is failed, to be retried later:
# each lost race means another change of the same episode was committed meanwhile.
ATTEMPTS = 5
# DynamoDB's limit of items in one TransactWriteItems.
TRANSACTION_LIMIT = 100
ALARMING = frozenset({Colour.YELLOW, Colour.RED})


class EpisodeSource(Protocol):
    def open_episode_ids(self, patient_id: str) -> list[str]:
        """The ids of the citizen's open episodes (one per disease area at most)."""

    def episode(self, episode_id: str) -> EpisodeToJudge | None:
        """The episode and every threshold version of it, read together; None if there is none."""


class EvaluationStore(Protocol):
    def load(self, episode_id: str) -> EpisodeState:
        """The head (strongly consistent), then every reading of the episode."""

    def alarms(self, episode_id: str, keys: Sequence[tuple[str, str]]) -> dict[str, AlarmState]:
        """The stored alarms of (raised_at, alarm_id) keys, by id (strongly consistent)."""

    def has_event(self, episode_id: str, event_id: str) -> bool: ...

    def commit(self, commit: Commit) -> bool:
        """Write the commit in one transaction; False (nothing written) if the head's version is no
        longer ``read_version`` or an item it creates exists."""


# --- judging ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    colour: Colour | None  # None: not judged (measured before the episode's first threshold version)
    threshold_version: int | None


class _Histories:
    """Every valid reading's values by catalogue type, sorted by (measured_at, value): the baseline
    triage chooses is the first of them at or after the window's start, found by bisection."""

    def __init__(self, readings: Iterable[Reading]) -> None:
        by_type: dict[str, list[tuple[datetime, Decimal]]] = {}
        for reading in readings:
            for component in reading.components:
                by_type.setdefault(component.type, []).append((reading.measured, component.value))
        self._values = {kind: sorted(values) for kind, values in by_type.items()}
        self._times = {kind: [measured for measured, _ in values] for kind, values in self._values.items()}

    def baseline_candidate(self, reading: triage.Reading, thresholds: Thresholds,
                           started: datetime) -> triage.Reading | None:
        """The one reading triage.baseline can choose for ``reading``, or None. Passing triage only this
        reading keeps a year of readings at a bisection per reading; triage still decides."""
        limit = thresholds.relative.get(reading.type)
        if limit is None or reading.type not in self._times:
            return None
        start = started
        if limit.baseline == "window" and limit.window_days is not None:
            start = max(start, reading.measured_at - timedelta(days=limit.window_days))
        position = bisect.bisect_left(self._times[reading.type], start)
        if position == len(self._times[reading.type]):
            return None
        measured, value = self._values[reading.type][position]
        return triage.Reading(reading.type, value, measured) if measured < reading.measured_at else None


def judge(readings: Sequence[Reading], types: frozenset[str],
          episode: EpisodeToJudge) -> dict[str, Judgement]:
    """The colour and threshold version of every valid reading that has one of the catalogue ``types``
    (a blood pressure has three), against the episode's other valid readings."""
    valid = [reading for reading in readings if reading.valid]
    histories = _Histories(valid)
    judged = {}
    for reading in valid:
        if reading.triage_types & types:
            judged[reading.measurement_id] = _judgement(reading, episode, histories)
    return judged


def _judgement(reading: Reading, episode: EpisodeToJudge, histories: _Histories) -> Judgement:
    version = thresholds_at(episode.versions, reading.measured)
    if version is None:
        return Judgement(None, None)
    values = [triage.Reading(c.type, c.value, reading.measured) for c in reading.components]
    history = [candidate for value in values
               if (candidate := histories.baseline_candidate(value, version.thresholds, episode.created_at))]
    colour = triage.measurement_colour(values, version.thresholds, history, episode.created_at)
    return Judgement(colour, version.version)


# --- alarms ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmStep:
    """What a reading's new state does to its alarm: a new alarm or an update, and the change the event
    names (None for a colour that follows within YELLOW and RED, which the alarm's history records)."""

    new_alarm: NewAlarm | None = None
    update: AlarmUpdate | None = None
    change: AlarmChangeKind | None = None


def alarm_step(episode_id: str, reading: Reading, alarm: AlarmState | None, at: str) -> AlarmStep:
    """The measurement alarm's next state for ``reading`` as now judged (or invalidated).

    Raised when the colour first reaches YELLOW or RED; while open it follows the colour (escalated when
    it rises to RED), and it is lowered (visibly, never deleted) when the colour falls to GREEN; a lowered
    alarm opens again when the colour rises again, an acknowledged one when it rises above the colour
    acknowledged; an invalidated reading's alarm is invalidated.
    """
    colour = reading.colour
    if alarm is None:
        if colour in ALARMING and colour is not None:
            alarm_id = measurement_alarm_id(episode_id, reading.measurement_id)
            return AlarmStep(new_alarm=NewAlarm(alarm_id, reading, colour.value), change="raised")
        return AlarmStep()
    if alarm.status == "invalidated":
        return AlarmStep()
    if not reading.valid:
        return AlarmStep(update=_update(alarm, "invalidated", alarm.colour, at, "invalidated"),
                         change="invalidated")
    if colour not in ALARMING or colour is None:
        if alarm.status == "open":
            return AlarmStep(update=_update(alarm, "lowered", Colour.GREEN.value, at, "re-evaluated"),
                             change="lowered")
        return AlarmStep()
    if alarm.status == "open":
        if colour.value != alarm.colour:
            # An open YELLOW turning RED is news to whoever filters on RED; a RED turning YELLOW is not.
            rose = colour > Colour(alarm.colour)
            return AlarmStep(update=_update(alarm, "open", colour.value, at, "re-evaluated"),
                             change="escalated" if rose else None)
        return AlarmStep()
    if alarm.status == "lowered" or colour > Colour(alarm.colour):
        return AlarmStep(update=_update(alarm, "open", colour.value, at, "re-evaluated"),
                         change="raised_again")
    return AlarmStep()


def _update(alarm: AlarmState, status: AlarmStatus, colour: str, at: str, reason: str) -> AlarmUpdate:
    return AlarmUpdate(alarm.alarm_id, alarm.raised_at, status, colour,
                       {"at": at, "from": alarm.colour, "to": colour, "reason": reason})


# --- planning a change of an episode -------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything one change of an episode writes, before it is cut into transactions."""

    writes: tuple[ReadingWrite, ...]
    readings: dict[str, Reading]  # every reading of the episode as the change leaves it
    previous: dict[str, Reading]  # the stored readings it changes, as they were
    alarms: tuple[dict[str, Any], ...]  # the event's alarm changes
    # The uploads whose readings it touches, by dedupe_key: the GREEN upload's received_at to put on the
    # worklist, or None to take the upload off it (green_uploads_changed).
    green_uploads: dict[str, str | None]


AlarmsOf = Callable[[Sequence[tuple[str, str]]], Mapping[str, AlarmState]]


def plan_change(episode: EpisodeToJudge, state: EpisodeState, changed: Iterable[Reading],
                types: frozenset[str], alarms_of: AlarmsOf, at: str) -> Plan:
    """The writes that bring the episode from ``state`` to its readings with ``changed`` (new readings, or a
    stored one invalidated) and the colours of ``types`` recomputed; ``alarms_of`` reads the stored alarms
    of the readings whose colour changed (the store's ``alarms``)."""
    stored = {reading.measurement_id: reading for reading in state.readings}
    readings = {**stored, **{reading.measurement_id: reading for reading in changed}}
    for measurement, judgement in judge(list(readings.values()), types, episode).items():
        readings[measurement] = replace(readings[measurement], colour=judgement.colour,
                                        threshold_version=judgement.threshold_version)
    touched = [reading for measurement, reading in readings.items() if stored.get(measurement) != reading]
    needed = [(reading.received_at, reading.raised_alarm) for reading in touched if reading.raised_alarm]
    known = alarms_of(needed) if needed else {}
    writes, changes = [], []
    for reading in touched:
        step = alarm_step(episode.episode_id, reading, known.get(reading.raised_alarm or ""), at)
        if step.new_alarm is not None:
            reading = replace(reading, raised_alarm=step.new_alarm.alarm_id)
            readings[reading.measurement_id] = reading
        new = reading.measurement_id not in stored
        writes.append(ReadingWrite(reading, new, step.new_alarm, step.update))
        if step.change is not None:
            changes.append(_alarm_change(reading, step))
    return Plan(tuple(writes), readings, {m: stored[m] for m in readings if m in stored}, tuple(changes),
                green_uploads_changed(stored.values(), readings.values(), {r.dedupe_key for r in touched}))


def green_uploads_changed(before: Iterable[Reading], after: Iterable[Reading],
                          uploads: set[str]) -> dict[str, str | None]:
    """Whether each of ``uploads`` (dedupe keys) waits among the GREEN uploads after a change: off the
    worklist (None) unless its valid judged readings are all GREEN, put on it (its received_at) when it has
    just become GREEN. One that was GREEN and stays so is left as it is: a nurse may have looked at it.
    Only readings count: the answers of an upload evaluated earlier are not stored (docs/alarms.md)."""
    was: dict[str, list[Reading]] = {upload: [] for upload in uploads}
    now: dict[str, list[Reading]] = {upload: [] for upload in uploads}
    for readings, of_upload in ((before, was), (after, now)):
        for reading in readings:
            if reading.dedupe_key in of_upload:
                of_upload[reading.dedupe_key].append(reading)
    changed: dict[str, str | None] = {}
    for upload in uploads:
        if upload_colour(now[upload]) != Colour.GREEN:
            changed[upload] = None
        elif upload_colour(was[upload]) != Colour.GREEN:
            changed[upload] = now[upload][0].received_at
    return changed


def _alarm_change(reading: Reading, step: AlarmStep) -> dict[str, Any]:
    alarm_id = step.new_alarm.alarm_id if step.new_alarm else (step.update.alarm_id if step.update else "")
    colour = step.new_alarm.colour if step.new_alarm else (step.update.colour if step.update else "")
    return {"alarm_id": alarm_id, "colour": colour, "change": step.change, "kind": "measurement",
            "measurement_id": reading.measurement_id, "due_at": None, "raised_at": reading.received_at,
            "late": reading.late}


def commits_of(episode: EpisodeToJudge, head: Head, writes: Sequence[ReadingWrite], event: EvaluationEvent,
               green_uploads: Mapping[str, str | None], last_received_at: str | None,
               limit: int = TRANSACTION_LIMIT, answer_alarms: Sequence[AnswerAlarm] = ()) -> list[Commit]:
    """The plan cut into transactions of at most ``limit`` items (the head's update in each, the event and
    the answers' alarms in the last), each moving the head's version on by one. A reading and its alarm
    are written together, and the readings with alarm changes go last, with the event: a crash between
    transactions leaves a consistent episode, which the redelivery completes (only the event's list of
    re-evaluated readings can then miss those already written). ``green_uploads`` (Plan.green_uploads)
    changes the head's GREEN uploads in every transaction: the redelivery does not touch the readings an
    earlier one wrote, so their uploads' places cannot wait for the last."""
    ordered = sorted(writes, key=lambda write: write.new_alarm is not None or write.alarm_update is not None)
    room = limit - 2 - len(answer_alarms)  # the head's update, the event and the answers' alarms
    chunks: list[list[ReadingWrite]] = [[]]
    used = 0
    for write in ordered:
        size = 1 + (write.new_alarm is not None or write.alarm_update is not None)
        if used + size > room:
            chunks.append([])
            used = 0
        chunks[-1].append(write)
        used += size
    open_alarms = dict(head.open_alarms)
    greens = dict(head.green_uploads)
    for upload, received_at in green_uploads.items():
        if received_at is None:
            greens.pop(upload, None)
        else:
            greens[upload] = received_at
    last_measured_at = head.last_measured_at
    commits = []
    for position, chunk in enumerate(chunks):
        for write in chunk:
            _apply_to_open_alarms(open_alarms, write)
            if write.new:
                last_measured_at = max(filter(None, (last_measured_at, write.reading.measured_at)))
        last = position == len(chunks) - 1
        if last:
            for alarm in answer_alarms:
                open_alarms[alarm.alarm_id] = OpenAlarm(alarm.colour, alarm.received_at, alarm.answer.late)
        received = max(filter(None, (head.last_received_at, last_received_at)), default=None)
        commits.append(Commit(episode, head.version + position,
                              HeadState(dict(open_alarms), dict(greens), last_measured_at, received),
                              tuple(chunk), event if last else None,
                              tuple(answer_alarms) if last else ()))
    return commits


def _apply_to_open_alarms(open_alarms: dict[str, OpenAlarm], write: ReadingWrite) -> None:
    reading = write.reading
    if write.new_alarm is not None:
        open_alarms[write.new_alarm.alarm_id] = OpenAlarm(write.new_alarm.colour, reading.received_at,
                                                          reading.late)
    update = write.alarm_update
    if update is not None:
        if update.status == "open":
            open_alarms[update.alarm_id] = OpenAlarm(update.colour, update.raised_at, reading.late)
        else:
            open_alarms.pop(update.alarm_id, None)


# --- the event -------------------------------------------------------------------------------------


def upload_colour(readings: Iterable[Reading]) -> Colour | None:
    """The worst colour of the upload's valid judged readings; None if none was judged."""
    judged = [reading.colour for reading in readings if reading.valid and reading.colour is not None]
    return triage.worst(judged) if judged else None


def evaluation_event(event_id: str, trigger: Trigger, episode: EpisodeToJudge, at: str,
                     upload: dict[str, str] | None, colour: Colour | None, measurements: Sequence[Reading],
                     plan: Plan, answers: Sequence[JudgedAnswer] = ()) -> EvaluationEvent:
    """The "upload evaluated" event of a plan (its shape: docs/messages.md): ``measurements`` and
    ``answers`` are the event's own, the other readings whose judgement the plan changed are
    ``re_evaluated``."""
    own = {reading.measurement_id for reading in measurements}
    re_evaluated = []
    for write in plan.writes:
        after = write.reading
        before = plan.previous.get(after.measurement_id)
        if (after.measurement_id not in own and before is not None and after.valid
                and (before.colour, before.threshold_version) != (after.colour, after.threshold_version)):
            re_evaluated.append((before, after))
    used = {reading.threshold_version for reading in measurements}
    used |= {after.threshold_version for _, after in re_evaluated}
    body = {
        "message_type": EVALUATED_MESSAGE_TYPE,
        "schema_version": EVALUATED_SCHEMA_VERSION,
        "event_id": event_id,
        "trigger": trigger,
        "episode_id": episode.episode_id,
        "patient_id": episode.patient_id,
        "disease_area": episode.disease_area,
        "treating_organisation": episode.treating_organisation,
        "monitoring_organisation": episode.monitoring_organisation,
        "evaluated_at": at,
        "upload": upload,
        "colour": colour.value if colour else None,
        "measurements": [_measurement_entry(reading) for reading in measurements],
        "re_evaluated": [
            {"measurement_id": after.measurement_id, "type": after.type, "measured_at": after.measured_at,
             "colour": _name(after.colour), "previous_colour": _name(before.colour),
             "threshold_version": after.threshold_version}
            for before, after in re_evaluated
        ],
        "threshold_versions": [_version_entry(v) for v in episode.versions if v.version in used],
        "answers": [
            {"answer_id": judged.answer_id, "question_id": judged.answer.question_id,
             "answer": judged.answer.answer, "answered_at": judged.answer.answered_at,
             "late": judged.answer.late, "colour": judged.colour.value}
            for judged in answers
        ],
        "alarms": [*plan.alarms,
                   *(_answer_alarm_change(judged, alarm) for judged in answers if (alarm := judged.alarm))],
    }
    return EvaluationEvent(event_id, at, body)


def _answer_alarm_change(judged: JudgedAnswer, alarm: AnswerAlarm) -> dict[str, Any]:
    return {"alarm_id": alarm.alarm_id, "colour": alarm.colour, "change": "raised", "kind": "answer",
            "measurement_id": None, "due_at": None, "answer_id": judged.answer_id,
            "question_id": judged.answer.question_id, "raised_at": alarm.received_at,
            "late": judged.answer.late}


def _measurement_entry(reading: Reading) -> dict[str, Any]:
    return {"measurement_id": reading.measurement_id, "type": reading.type, **reading.values(),
            "measured_at": reading.measured_at, "method": reading.method, "late": reading.late,
            "colour": _name(reading.colour), "threshold_version": reading.threshold_version,
            "invalidated": reading.invalidated.as_dict() if reading.invalidated else None}


def _version_entry(version: ThresholdVersion) -> dict[str, Any]:
    return {"version": version.version, "valid_from": iso_utc(version.valid_from),
            "thresholds": version.thresholds.model_dump(mode="json", exclude_none=True)}


def _name(colour: Colour | None) -> str | None:
    return colour.value if colour is not None else None


def reading_of(upload: Upload, measurement: Measurement) -> Reading:
    """A measurement of the upload as a new reading, not yet judged."""
    return Reading(
        measurement_id=measurement_id(upload.dedupe_key, measurement.position), type=measurement.type,
        components=measurement.components, measured_at=measurement.measured_at,
        received_at=upload.received_at, device_id=upload.device_id, upload_id=upload.upload_id,
        dedupe_key=upload.dedupe_key, position=measurement.position, method=measurement.method,
        late=measurement.late,
    )


@dataclass(frozen=True)
class JudgedAnswer:
    """A questionnaire answer as its episode's template rates it, and the alarm a YELLOW or RED one raises."""

    answer_id: str
    answer: Answer
    colour: Colour
    alarm: AnswerAlarm | None


def judge_answers(episode_id: str, area: DiseaseArea, upload: Upload,
                  answers: Sequence[Answer]) -> list[JudgedAnswer]:
    """The answers the area's questionnaire rates (an answer it does not list says nothing under it)."""
    judged = []
    for answer in answers:
        colour = answer_colour(area, answer.question_id, answer.answer)
        if colour is None:
            continue
        identity = answer_id(upload.dedupe_key, answer.position)
        alarm = None
        if colour in ALARMING:
            alarm = AnswerAlarm(answer_alarm_id(episode_id, identity), identity, answer, colour.value,
                                upload.received_at)
        judged.append(JudgedAnswer(identity, answer, colour, alarm))
    return judged


# --- the services ------------------------------------------------------------------------------------


class AlarmEvaluator:
    """Evaluates each upload under every open episode of its citizen whose disease area measures one of
    its types (a scale shared by COPD and heart failure is judged under both)."""

    def __init__(self, episodes: EpisodeSource, store: EvaluationStore, metrics: MetricsRecorder,
                 clock: Clock, transaction_limit: int = TRANSACTION_LIMIT) -> None:
        self._episodes = episodes
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._limit = transaction_limit

    def evaluate(self, upload: Upload) -> int:
        """Evaluate the upload; return under how many episodes. Raises ServiceUnavailable when an episode
        kept changing under it (the message is then retried)."""
        evaluated = 0
        for episode_id in self._episodes.open_episode_ids(upload.patient_id):
            episode = self._episodes.episode(episode_id)
            if episode is None or not episode.is_open:
                continue  # ended since its guard was read
            area = disease_area(episode.disease_area)
            measured = set(area.measurement_types)
            measurements = [m for m in upload.measurements if m.triage_types & measured]
            answers = judge_answers(episode.episode_id, area, upload, upload.answers)
            if measurements or answers:
                self._evaluate_under(episode, upload, measurements, answers)
                evaluated += 1
        return evaluated

    def _evaluate_under(self, episode: EpisodeToJudge, upload: Upload, measurements: list[Measurement],
                        answers: list[JudgedAnswer]) -> None:
        episode_id = episode.episode_id
        event_id = upload_event_id(episode_id, upload.dedupe_key)
        types = frozenset().union(*(measurement.triage_types for measurement in measurements))
        ids = {measurement_id(upload.dedupe_key, m.position) for m in measurements}
        for _ in range(ATTEMPTS):
            state = self._store.load(episode.episode_id)
            # Alarms go to the organisation monitoring the episode as of the head read (a handover since
            # the episode was read moved the head's organisation and version together).
            episode = episode.as_of(state.head)
            stored = {reading.measurement_id for reading in state.readings}
            fresh = [reading_of(upload, m) for m in measurements
                     if measurement_id(upload.dedupe_key, m.position) not in stored]
            # The event is written last, so it can exist only once every reading does.
            if not fresh and self._store.has_event(episode.episode_id, event_id):
                self._metrics.add_metric("EvaluationsRepeated", COUNT, 1)
                logger.info("upload already evaluated", extra=_ids(episode, upload))
                return
            at = iso_utc(self._clock())
            plan = plan_change(episode, state, fresh, types,
                               lambda keys: self._store.alarms(episode_id, keys), at)
            own = sorted((plan.readings[m] for m in ids), key=lambda reading: reading.position)
            colour = _worst_of(upload_colour(own), *(judged.colour for judged in answers))
            event = evaluation_event(event_id, "upload", episode, at, upload.reference(), colour, own, plan,
                                     answers)
            # A GREEN upload waits on the worklist for a look. Only a first evaluation gets here (the event
            # does not exist yet), so the upload's place follows its colour with its answers, whatever part of
            # its readings a crashed attempt stored; the other uploads' places follow their readings.
            own_place = upload.received_at if colour == Colour.GREEN else None
            greens = {**plan.green_uploads, upload.dedupe_key: own_place}
            commits = commits_of(episode, state.head, plan.writes, event, greens, upload.received_at,
                                 self._limit, [judged.alarm for judged in answers if judged.alarm])
            if self._commit_all(commits):
                self._count(plan, colour)
                logger.info("upload evaluated", extra={**_ids(episode, upload), "writes": len(plan.writes),
                                                       "transactions": len(commits)})
                return
            self._metrics.add_metric("EvaluationConflicts", COUNT, 1)
        raise ServiceUnavailable(f"episode {episode.episode_id} kept changing; the upload is evaluated later")

    def _commit_all(self, commits: Sequence[Commit]) -> bool:
        return all(self._store.commit(commit) for commit in commits)

    def _count(self, plan: Plan, colour: Colour | None) -> None:
        self._metrics.add_metric("UploadsEvaluated", COUNT, 1)
        for change in ("raised", "raised_again", "escalated", "lowered"):
            self._metrics.add_metric(f"Alarms{change.title().replace('_', '')}", COUNT,
                                     sum(1 for alarm in plan.alarms if alarm["change"] == change))
        if colour is not None:
            self._metrics.add_metric(f"Uploads{colour.value.title()}", COUNT, 1)


def _worst_of(*colours: Colour | None) -> Colour | None:
    judged = [colour for colour in colours if colour is not None]
    return triage.worst(judged) if judged else None


def _ids(episode: EpisodeToJudge, upload: Upload) -> dict[str, str]:
    return {"episode_id": episode.episode_id, "upload_id": upload.upload_id, "device_id": upload.device_id}


# The route of an invalidation: its rule in functions.shared.access_rules decides who may call it.
INVALIDATE_MEASUREMENT = "POST /v1/episodes/{episode_id}/measurements/{measurement_id}/invalidate"


class MeasurementInvalidation:
    """A wrong reading invalidated by the treating or monitoring organisation: kept, marked with who, when
    and why, its alarm invalidated (off the worklist), the type's other readings re-evaluated without it
    (an upload whose only alarming reading it was waits among the GREEN ones)."""

    def __init__(self, episodes: EpisodeSource, store: EvaluationStore, access_log: AccessLog,
                 metrics: MetricsRecorder, clock: Clock, transaction_limit: int = TRANSACTION_LIMIT) -> None:
        self._episodes = episodes
        self._store = store
        self._access_log = access_log
        self._metrics = metrics
        self._clock = clock
        self._limit = transaction_limit
        self._guard = AccessGuard(access_log, clock)

    def invalidate(self, episode_id: str, measurement: str, reason: str,
                   principal: Principal) -> InvalidatedMeasurement:
        # Without a relation to the episode, the same refusal as for an episode that does not exist; the
        # measurement is looked for only in an episode the caller treats or monitors.
        episode = self._episodes.episode(episode_id)
        organisation = organisation_of(principal)
        if episode is None:
            raise nothing_found(INVALIDATE_MEASUREMENT)
        about = Access(episode.patient_id, "invalidate_measurement", episode_id)
        self._guard.check(INVALIDATE_MEASUREMENT, _relations(episode, organisation), principal, about)
        # Logged once, before the change (an entry that cannot be written changes nothing); a 409 naming
        # who invalidated the measurement already is a read of it.
        self._access_log.record(about.patient_id, principal, about.action, about.episode_id, self._clock())
        for _ in range(ATTEMPTS):
            state = self._store.load(episode_id)
            episode = episode.as_of(state.head)  # handed over since the check above: decided again
            self._guard.check(INVALIDATE_MEASUREMENT, _relations(episode, organisation), principal, about)
            reading = next((r for r in state.readings if r.measurement_id == measurement), None)
            if reading is None:
                raise NotFound(f"episode {episode_id} has no measurement {measurement}")
            now = self._clock()
            at = iso_utc(now)
            if reading.invalidated is not None:
                done = reading.invalidated
                raise Conflict(f"measurement {measurement} was invalidated by {done.by} of "
                               f"{done.organisation} at {done.at}")
            invalidation = Invalidation(principal.subject, organisation, at, reason)
            plan = plan_change(episode, state, [replace(reading, invalidated=invalidation)],
                               reading.triage_types, lambda keys: self._store.alarms(episode_id, keys), at)
            upload = {"device_id": reading.device_id, "upload_id": reading.upload_id,
                      "dedupe_key": reading.dedupe_key, "received_at": reading.received_at}
            colour = upload_colour(r for r in plan.readings.values() if r.dedupe_key == reading.dedupe_key)
            event = evaluation_event(invalidation_event_id(episode_id, measurement), "invalidation", episode,
                                     at, upload, colour, [plan.readings[measurement]], plan)
            commits = commits_of(episode, state.head, plan.writes, event, plan.green_uploads, None,
                                 self._limit)
            if all(self._store.commit(commit) for commit in commits):
                self._metrics.add_metric("MeasurementsInvalidated", COUNT, 1)
                logger.info("measurement invalidated", extra={"episode_id": episode_id,
                                                              "measurement_id": measurement})
                return InvalidatedMeasurement(
                    episode_id=episode_id, measurement_id=measurement, type=reading.type,
                    measured_at=reading.measured_at, invalidated=InvalidationView(**invalidation.as_dict()),
                    alarm_id=reading.raised_alarm, re_evaluated=len(event.body["re_evaluated"]),
                )
            self._metrics.add_metric("EvaluationConflicts", COUNT, 1)
        raise ServiceUnavailable("the episode kept changing; retry the request")


def _relations(episode: EpisodeToJudge, organisation: str) -> frozenset[Relation]:
    return episode_relations(organisation, treating=episode.treating_organisation,
                             monitoring=episode.monitoring_organisation)
