"""In-memory fakes of Telehub's ports, one per port, for the unit tier.

Each fake keeps the promises of its real adapter, and no more: tests/contract runs one suite per
port against the fake and against the adapter under moto. The ``before_*`` hooks let a unit test play
a concurrent request that wins the race between a read and a conditional write.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import jwt
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from functions.alarm_evaluation.models import (
    AlarmState,
    Commit,
    EpisodeState,
    EpisodeToJudge,
    EvaluationEvent,
    Head,
    Reading,
)
from functions.device_uploads.models import StoredUpload
from functions.devices.models import Device
from functions.missed_measurements.models import MonitoredEpisode, Pause, ScheduleChange, ScheduleHead
from functions.referral_intake.models import Episode, Handover, NewEpisode, Order, StoredReferral
from functions.shared.access_log import Access, Outcome
from functions.shared.batch_requests import BATCH_ENTRIES
from functions.shared.citizen_records import SharingConsent
from functions.shared.clock import iso_utc
from functions.shared.device_records import DeviceCredentials, DeviceStanding, DeviceStatus
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.evaluation_records import (
    HEAD,
    OpenAlarm,
    alarm_sort_key,
    open_alarms_attribute,
    version_of,
    worklist_rank,
)
from functions.shared.principal import Principal
from functions.shared.thresholds import ThresholdVersion, thresholds_at
from functions.worklist.models import (
    Acknowledgement,
    Alarm,
    AlarmChange,
    AlarmKey,
    AlarmStatus,
    Measurement,
    Page,
    Position,
    QuestionnaireAnswer,
    invalid_cursor,
)
from functions.worklist.models import Head as WorklistHead
from functions.worklist.repository import (
    ALARMS_POSITION,
    READINGS_POSITION,
    WORKLIST_POSITION,
    alarm_from_item,
    answers_from_event_item,
    head_from_item,
    measurement_from_item,
)


def _nothing() -> None:
    pass


class RecordedMetrics:
    """The metrics recorder: each metric's sum."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value


class FakePseudonyms:
    """The citizen pseudonyms (a keyed MAC in KMS): a keyed hash, stable per CPR number."""

    def pseudonym(self, cpr: str) -> str:
        return hashlib.sha256(b"secret" + cpr.encode()).hexdigest()


class FakeCitizenStore:
    """The citizen store: a patient per pseudonym, and each patient's profile (cpr, name, phone)."""

    def __init__(self) -> None:
        self.patients: dict[str, str] = {}
        self.profiles: dict[str, dict[str, str]] = {}
        self.before_add_patient = _nothing
        self.refuse_writes = False

    def find_patient(self, pseudonym: str) -> str | None:
        return self.patients.get(pseudonym)

    def add_patient(self, pseudonym: str, patient_id: str, cpr: str) -> bool:
        self.before_add_patient()
        if self.refuse_writes or pseudonym in self.patients or patient_id in self.profiles:
            return False
        self.patients[pseudonym] = patient_id
        self.profiles[patient_id] = {"cpr": cpr}
        return True

    def profile(self, patient_id: str) -> dict[str, str] | None:
        profile = self.profiles.get(patient_id)
        return dict(profile) if profile is not None else None


class FakeDeviceRegistry(FakeCitizenStore):
    """The devices' registry: devices, their serial claims, and the citizens' open episodes
    (``episodes``: patient id -> [(episode id, logistics centre)], which a test arranges)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: dict[tuple[str, str], str] = {}
        self.devices: dict[str, Device] = {}
        self.episodes: dict[str, list[tuple[str, str]]] = {}
        self.before_add_device = _nothing
        self.before_link_device = _nothing
        self.before_rotate_credential = _nothing

    def open_episodes(self, patient_id: str) -> list[tuple[str, str]]:
        return list(self.episodes.get(patient_id, []))

    def device_with_serial(self, vendor: str, serial: str) -> Device | None:
        device_id = self.claims.get(_claim(vendor, serial))
        return self.devices.get(device_id) if device_id else None

    def add_device(self, device: Device) -> bool:
        self.before_add_device()
        claim = _claim(device.vendor, device.serial)
        if (self.refuse_writes or claim in self.claims or device.device_id in self.devices
                or not set(device.episode_ids) <= self._open_episode_ids()):
            return False
        self.claims[claim] = device.device_id
        self.devices[device.device_id] = device
        return True

    def find_device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    def link_device(self, device: Device, episode_ids: tuple[str, ...]) -> bool:
        self.before_link_device()
        current = self.devices.get(device.device_id)
        if (self.refuse_writes or current is None or current.status != DeviceStatus.ACTIVE
                or not set(episode_ids) <= self._open_episode_ids()):
            return False
        self.devices[device.device_id] = replace(
            current, episode_ids=tuple(sorted({*current.episode_ids, *episode_ids})))
        return True

    def _open_episode_ids(self) -> set[str]:
        return {episode_id for episodes in self.episodes.values() for episode_id, _ in episodes}

    def revoke_device(self, device: Device, revoked_at: datetime) -> bool:
        current = self.devices.get(device.device_id)
        claim = _claim(device.vendor, device.serial)
        # Only this device's claim is released; a lost claim does not block the revocation.
        if (self.refuse_writes or current is None or current.status != DeviceStatus.ACTIVE
                or self.claims.get(claim, device.device_id) != device.device_id):
            return False
        self.devices[device.device_id] = replace(current, status=DeviceStatus.REVOKED, revoked_at=revoked_at)
        self.claims.pop(claim, None)
        return True

    def rotate_credential(self, device: Device, credentials: DeviceCredentials) -> bool:
        self.before_rotate_credential()
        current = self.devices.get(device.device_id)
        if (self.refuse_writes or current is None or current.status != DeviceStatus.ACTIVE
                or current.credentials.current != device.credentials.current):
            return False
        self.devices[device.device_id] = replace(current, credentials=credentials)
        return True


def _claim(vendor: str, serial: str) -> tuple[str, str]:
    return vendor.casefold(), serial.casefold()


class FakeDeviceDirectory:
    """The authorizer's device directory: each device's standing, and which devices were read."""

    def __init__(self, devices: dict[str, DeviceStanding]) -> None:
        self.devices = devices
        self.reads: list[str] = []

    def standing(self, device_id: str) -> DeviceStanding | None:
        self.reads.append(device_id)
        return self.devices.get(device_id)


class FakeIdentityProviderKeys:
    """The identity provider's published keys (its JWKS), by key id."""

    def __init__(self, published: dict[str, Any]) -> None:
        self.published = published

    def signing_key(self, token: str) -> Any | None:
        return self.published.get(jwt.get_unverified_header(token).get("kid"))


class FakeDeviceKey:
    """The public half of the device credentials' KMS key."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def public_key(self) -> Any:
        return self.key


class FakeSigner:
    """The credential signer (a KMS RSA key): RSASSA-PKCS1-v1_5 SHA-256 with a local key."""

    key_id = "kms-key-1"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())


class FakeEpisodeStore:
    """The episode store. ``devices`` (device id -> (status, linked episode ids)) stands for the devices
    table the real store reads and writes; ``link`` arranges a device registered for open episodes.
    Contact details go to ``citizens``, as the real store writes them on the citizen's profile."""

    def __init__(self, citizens: FakeCitizenStore) -> None:
        self.citizens = citizens
        self.referrals: dict[tuple[str, str], StoredReferral] = {}
        self.guards: dict[tuple[str, str], str] = {}
        self.centres: dict[str, tuple[str, set[str]]] = {}  # patient id -> (centre, open episode ids)
        self.episodes: dict[str, Episode] = {}
        self.versions: dict[str, list[ThresholdVersion]] = {}
        self.orders: list[Order] = []
        self.devices: dict[str, tuple[str, set[str]]] = {}
        self.worklist_organisations: dict[str, str] = {}  # the episodes' worklist rows an accept moved
        self.worklist_writes_first = 0  # accepts cancelled, as an evaluation writing the row first does
        self.before_write = _nothing
        self.consents: dict[str, SharingConsent] = {}  # patient id -> the current consent to sharing

    def find_referral(self, organisation: str, referral_id: str) -> StoredReferral | None:
        return self.referrals.get((organisation, referral_id))

    def open_episode_id(self, patient_id: str, disease_area: str) -> str | None:
        return self.guards.get((patient_id, disease_area))

    def logistics_centre(self, patient_id: str) -> str | None:
        centre, open_ids = self.centres.get(patient_id, (None, set()))
        return centre if open_ids else None

    def create(self, new: NewEpisode) -> bool:
        episode = new.episode
        key = (episode.patient_id, episode.disease_area)
        referral_key = (episode.treating_organisation, new.referral.referral_id)
        centre, open_ids = self.centres.get(episode.patient_id, (episode.logistics_centre, set()))
        current = self.consents.get(episode.patient_id)
        if (key in self.guards or referral_key in self.referrals or episode.episode_id in self.episodes
                or (open_ids and centre != episode.logistics_centre)
                or episode.patient_id not in self.citizens.profiles
                or (new.consent and current and current.recorded_at > new.consent.recorded_at)):
            return False
        if new.consent:
            self.consents[episode.patient_id] = new.consent
        self.guards[key] = episode.episode_id
        self.centres[episode.patient_id] = (episode.logistics_centre, {*open_ids, episode.episode_id})
        self.referrals[referral_key] = new.referral
        self.episodes[episode.episode_id] = episode
        self.versions[episode.episode_id] = [new.thresholds]
        self.orders.append(new.order)
        self.citizens.profiles[episode.patient_id].update(name=new.citizen_name, phone=new.citizen_phone)
        return True

    def episode(self, episode_id: str) -> Episode | None:
        return self.episodes.get(episode_id)

    def order(self, episode_id: str, order_id: str) -> Order | None:
        return next((order for order in self.orders
                     if (order.episode_id, order.order_id) == (episode_id, order_id)), None)

    def threshold_versions(self, episode_id: str, after: int,
                           limit: int) -> tuple[list[ThresholdVersion], bool]:
        following = [v for v in self.versions.get(episode_id, []) if v.version > after]
        return following[:limit], len(following) > limit

    def latest_threshold_version(self, episode_id: str) -> ThresholdVersion:
        return self.versions[episode_id][-1]

    def threshold_version_at(self, episode_id: str, instant: datetime) -> ThresholdVersion:
        versions = self.versions[episode_id]
        return thresholds_at(versions, instant) or versions[0]

    def add_threshold_version(self, episode: Episode, version: ThresholdVersion) -> bool:
        self.before_write()
        current = self.episodes[episode.episode_id]
        if current.threshold_version != episode.threshold_version or not current.is_open:
            return False
        self.versions[episode.episode_id].append(version)
        self.episodes[episode.episode_id] = replace(current, threshold_version=version.version)
        return True

    def offer_handover(self, episode: Episode, handover: Handover) -> bool:
        return self._change(episode.episode_id,
                            lambda e: e.monitoring_organisation == handover.offered_by and e.handover is None
                            and e.is_open, handover=handover)

    def accept_handover(self, episode: Episode, organisation: str) -> bool:
        if self.worklist_writes_first:
            self.worklist_writes_first -= 1
            return False
        accepted = self._change(
            episode.episode_id,
            lambda e: e.handover is not None and e.handover.to_organisation == organisation and e.is_open,
            monitoring_organisation=organisation, handover=None)
        if accepted:
            self.worklist_organisations[episode.episode_id] = organisation
        return accepted

    def withdraw_handover(self, episode: Episode, handover: Handover) -> bool:
        return self._change(episode.episode_id,
                            lambda e: e.handover is not None and _same_offer(e.handover, handover),
                            handover=None)

    def decline_handover(self, episode: Episode, organisation: str, declined_at: datetime) -> bool:
        return self._change(episode.episode_id,
                            lambda e: e.handover is not None and e.handover.to_organisation == organisation,
                            handover=None, declined_by=organisation, declined_at=declined_at)

    def link(self, device_id: str, *episode_ids: str) -> None:
        """A device registered while these episodes were open."""
        self.devices[device_id] = (DeviceStatus.ACTIVE, set(episode_ids))
        for episode_id in episode_ids:
            current = self.episodes[episode_id]
            self.episodes[episode_id] = replace(current, status=EpisodeStatus.ACTIVE,
                                                device_ids=(*current.device_ids, device_id))

    def revoke(self, device_id: str) -> None:
        """The device revoked by its logistics centre."""
        self.devices[device_id] = (DeviceStatus.REVOKED, self.devices[device_id][1])

    def device_links(self, device_id: str) -> tuple[str, ...] | None:
        status, links = self.devices.get(device_id, (DeviceStatus.REVOKED, set()))
        return tuple(sorted(links)) if status == DeviceStatus.ACTIVE else None

    def end(self, episode: Episode, ended_at: datetime, order: Order, revoked: Sequence[str],
            kept: Mapping[str, Sequence[str]]) -> bool:
        self.before_write()
        current = self.episodes[episode.episode_id]
        # The devices are pinned as read: one linked since would stay active on an ended episode.
        if not current.is_open or current.device_ids != episode.device_ids:
            return False
        # A kept device is unlinked only while it is active and the episodes keeping it are open.
        if (any(self.device_links(device_id) is None for device_id in kept)
                or any(not self.episodes[other].is_open for others in kept.values() for other in others)):
            return False
        self.episodes[episode.episode_id] = replace(current, status=EpisodeStatus.ENDED, ended_at=ended_at,
                                                    handover=None)
        for device_id in revoked:
            if self.device_links(device_id) is not None:  # else unknown or revoked meanwhile: nothing to do
                self.revoke(device_id)
        for device_id in kept:
            self.devices[device_id][1].discard(episode.episode_id)
        del self.guards[(episode.patient_id, episode.disease_area)]
        self.centres[episode.patient_id][1].discard(episode.episode_id)
        self.orders.append(order)
        return True

    def _change(self, episode_id: str, condition: Any, **changes: Any) -> bool:
        self.before_write()
        current = self.episodes[episode_id]
        if not condition(current):
            return False
        self.episodes[episode_id] = replace(current, **changes)
        return True


def _same_offer(pending: Handover, named: Handover) -> bool:
    return (pending.to_organisation, pending.offered_by) == (named.to_organisation, named.offered_by)


class FakeAccessLog:
    """The access log, append-only: one entry per access, (patient, organisation, action, episode), in
    ``entries`` if it was allowed and in ``denials`` if the caller was refused."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str | None, str, str]] = []
        self.denials: list[tuple[str, str | None, str, str]] = []

    def record(self, patient_id: str, principal: Principal, action: str, episode_id: str,
               at: datetime, outcome: Outcome = Outcome.ALLOWED) -> None:
        entries = self.entries if outcome is Outcome.ALLOWED else self.denials
        entries.append((patient_id, principal.organisation, action, episode_id))

    def record_many(self, accesses: Sequence[Access], principal: Principal, at: datetime) -> None:
        for access in accesses:
            self.record(access.patient_id, principal, access.action, access.episode_id, at, access.outcome)


class FakeEpisodeDirectory:
    """The episodes' relations (who an episode concerns, who treats and monitors it), by episode id."""

    def __init__(self, relations: Iterable[EpisodeRelations] = ()) -> None:
        self.episodes = {relation.episode_id: relation for relation in relations}
        self.reads = 0

    def relations(self, episode_id: str) -> EpisodeRelations | None:
        self.reads += 1
        return self.episodes.get(episode_id)

    def open_relations(self, patient_id: str) -> list[EpisodeRelations]:
        self.reads += 1
        return sorted((relation for relation in self.episodes.values()
                       if relation.patient_id == patient_id and relation.is_open), key=lambda r: r.episode_id)


class FakeMonitoringSchedule:
    """The schedule's and the pauses' store: the active episodes (pages of ``page_size``), each episode's
    head, its BLUE alarms, events and pauses. A write is all or nothing, refused when the head moved on
    since the version read or an alarm, event or pause it creates exists, as the transaction is.
    ``before_write`` plays a concurrent change winning the race."""

    def __init__(self, page_size: int = 100) -> None:
        self.active: list[MonitoredEpisode] = []
        self.stored_heads: dict[str, ScheduleHead] = {}
        self.alarms: dict[str, tuple[str, datetime]] = {}  # alarm id -> (episode, due at)
        self.events: dict[str, str] = {}  # event id -> body
        self.stored_pauses: dict[str, list[Pause]] = {}
        self.page_size = page_size
        self.batches: list[int] = []  # the size of each batch of heads read
        self.consistent_reads = 0
        self.before_write = _nothing

    def active_episodes(self) -> Iterator[list[MonitoredEpisode]]:
        for start in range(0, len(self.active), self.page_size):
            yield self.active[start:start + self.page_size]

    def heads(self, episode_ids: Sequence[str]) -> dict[str, ScheduleHead]:
        self.batches.append(len(episode_ids))
        return {episode_id: self.stored_heads[episode_id] for episode_id in episode_ids
                if episode_id in self.stored_heads}

    def head(self, episode_id: str) -> ScheduleHead:
        self.consistent_reads += 1
        return self.stored_heads.get(episode_id, ScheduleHead())

    def record(self, episode: MonitoredEpisode, head: ScheduleHead, change: ScheduleChange) -> bool:
        self.before_write()
        stored = self.stored_heads.get(episode.episode_id, ScheduleHead())
        if (stored.version != head.version or any(miss.alarm_id in self.alarms for miss in change.misses)
                or change.event_id in self.events):
            return False
        raised = {miss.alarm_id: OpenAlarm("BLUE", iso_utc(miss.due_at), False) for miss in change.misses}
        self.stored_heads[episode.episode_id] = replace(
            stored, version=stored.version + 1, open_alarms={**head.open_alarms, **raised},
            green_uploads=head.green_uploads, schedule_since=change.schedule_since,
            missed_through=change.missed_through or stored.missed_through,
            worklist_organisation=stored.worklist_organisation or episode.monitoring_organisation)
        self.alarms.update({miss.alarm_id: (episode.episode_id, miss.due_at) for miss in change.misses})
        if change.event_id is not None and change.event is not None:
            self.events[change.event_id] = change.event
        return True

    def add_pause(self, relations: EpisodeRelations, head: ScheduleHead, pause: Pause) -> bool:
        self.before_write()
        stored = self.stored_heads.get(pause.episode_id, ScheduleHead())
        pauses = self.stored_pauses.setdefault(pause.episode_id, [])
        if (stored.version != head.version or any(p.pause_id == pause.pause_id for p in pauses)
                or stored.worklist_organisation not in (None, pause.created_by_organisation)):
            return False
        self.stored_heads[pause.episode_id] = replace(
            stored, version=stored.version + 1, open_alarms=head.open_alarms,
            green_uploads=head.green_uploads, pauses={**head.pauses, pause.pause_id: pause.window},
            worklist_organisation=stored.worklist_organisation or relations.monitoring_organisation)
        pauses.append(pause)
        return True

    def hand_over(self, episode_id: str, organisation: str) -> None:
        """A handover accepted (referral intake's write): the row moves, and the version with it."""
        head = self.stored_heads.get(episode_id, ScheduleHead())
        self.stored_heads[episode_id] = replace(head, version=head.version + 1,
                                                worklist_organisation=organisation)

    def pauses(self, episode_id: str) -> list[Pause]:
        return sorted(self.stored_pauses.get(episode_id, []),
                      key=lambda pause: (iso_utc(pause.starts_at), pause.pause_id))


class FakeUploadRepository:
    """The upload repository: one upload per (device, upload id), written once."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], StoredUpload] = {}
        self.writes = 0

    def put_new(self, upload: StoredUpload) -> StoredUpload | None:
        key = (upload.device_id, upload.upload_id)
        if key in self.items:
            return self.items[key]
        self.items[key] = upload
        self.writes += 1
        return None

    def get(self, device_id: str, upload_id: str) -> StoredUpload | None:
        return self.items.get((device_id, upload_id))


class FakeOpenDiseaseAreas:
    """The citizens' open disease areas (the episodes table's open guards): ``open`` and ``end`` play the
    referral intake's writes; ``asked`` counts the reads."""

    def __init__(self) -> None:
        self.areas: dict[str, set[str]] = {}
        self.asked = 0

    def open(self, patient_id: str, disease_area: str) -> None:
        self.areas.setdefault(patient_id, set()).add(disease_area)

    def end(self, patient_id: str, disease_area: str) -> None:
        self.areas.get(patient_id, set()).discard(disease_area)

    def open_disease_areas(self, patient_id: str) -> frozenset[str]:
        self.asked += 1
        return frozenset(self.areas.get(patient_id, ()))


class FakePublisher:
    """An outbox's publisher (SQS's SendMessageBatch, SNS's PublishBatch): up to ten messages a call, and
    up to ``request_bytes`` of them by ``sizes`` (a message's size: one byte unless told).
    On the call numbered ``on_call`` (every call if None) the positions in ``refuse`` are not sent."""

    def __init__(self, refuse: Iterable[int] = (), on_call: int | None = None, request_bytes: int = 1_048_576,
                 sizes: Callable[[Any], int] = lambda _: 1) -> None:
        self.refuse, self.on_call = set(refuse), on_call
        self.request_bytes, self._sizes = request_bytes, sizes
        self.sent: list[Any] = []
        self.batches: list[list[Any]] = []
        self.calls = 0

    def size_of(self, message: Any) -> int:
        return self._sizes(message)

    def publish(self, messages: Sequence[Any]) -> set[int]:
        self.calls += 1
        self.batches.append(list(messages))
        if len(messages) > BATCH_ENTRIES or sum(map(self.size_of, messages)) > self.request_bytes:
            return set(range(len(messages)))  # the service refuses the whole request
        refusing = self.on_call is None or self.calls == self.on_call
        failed = {position for position in self.refuse if position < len(messages)} if refusing else set()
        self.sent += [message for position, message in enumerate(messages) if position not in failed]
        return failed


def _hour_of(partition: str | None) -> str | None:
    """The hour of an index-by-hour partition key value (``<hour>#<shard>``, functions.shared.hour_shards)."""
    return partition.split("#", 1)[0] if partition else None


class FakeArrivals:
    """The uploads table's index by arrival: items by the hour of their received_hour (every shard of it,
    as the repository reads an hour), filtered by received_at."""

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = list(items)
        self.asked: list[tuple[str, str, str]] = []

    def received_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        self.asked.append((hour, since, until))
        return [i for i in self.items
                if _hour_of(i["received_hour"]) == hour and since <= i["received_at"] <= until]


class FakeOrdersByHour:
    """The episodes table's index by ordered hour: ORDER items by the hour of ordered_hour, filtered by
    ordered_at; the table's other items have no ordered_hour, so the (sparse) index does not hold them."""

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = list(items)
        self.asked: list[tuple[str, str, str]] = []

    def ordered_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        self.asked.append((hour, since, until))
        return [i for i in self.items
                if _hour_of(i.get("ordered_hour")) == hour and since <= i["ordered_at"] <= until]


class FakeEventsByHour:
    """The evaluations table's index by evaluated hour: EVENT items by the hour of evaluated_hour, filtered
    by evaluated_at; the table's other items have no evaluated_hour, so the (sparse) index does not hold
    them."""

    def __init__(self, items: Sequence[dict[str, Any]]) -> None:
        self.items = list(items)
        self.asked: list[tuple[str, str, str]] = []

    def evaluated_in_hour(self, hour: str, since: str, until: str) -> list[dict[str, Any]]:
        self.asked.append((hour, since, until))
        return [i for i in self.items
                if _hour_of(i.get("evaluated_hour")) == hour and since <= i["evaluated_at"] <= until]


class FakeEpisodeSource:
    """The evaluator's episodes: each episode with its threshold versions, and the citizens' open ones."""

    def __init__(self, *episodes: EpisodeToJudge) -> None:
        self.episodes = {episode.episode_id: episode for episode in episodes}
        self.reads = 0

    def open_episode_ids(self, patient_id: str) -> list[str]:
        return sorted(episode.episode_id for episode in self.episodes.values()
                      if episode.patient_id == patient_id and episode.is_open)

    def episode(self, episode_id: str) -> EpisodeToJudge | None:
        self.reads += 1
        return self.episodes.get(episode_id)


class FakeEvaluationStore:
    """The evaluations table: per episode its head, readings, alarms (with their visible history) and
    events. A commit is all or nothing, refused when the head moved on since ``read_version`` or an item it
    creates exists, as the transaction is. ``before_commit`` plays a concurrent change winning the race;
    ``crash_on_commit`` (1-based) raises instead of writing, as a Lambda that dies mid-way."""

    def __init__(self) -> None:
        self.heads: dict[str, Head] = {}
        self.readings: dict[str, dict[str, Reading]] = {}
        self.alarm_states: dict[str, dict[str, AlarmState]] = {}
        self.alarm_changes: dict[str, list[dict[str, str]]] = {}
        self.events: dict[str, dict[str, EvaluationEvent]] = {}
        self.commits: list[Commit] = []
        self.refused = 0
        self.before_commit = _nothing
        self.crash_on_commit: int | None = None
        self._attempts = 0

    def load(self, episode_id: str) -> EpisodeState:
        readings = self.readings.get(episode_id, {}).values()
        return EpisodeState(self.heads.get(episode_id, Head()),
                            tuple(sorted(readings, key=lambda r: (r.type, r.measured_at, r.measurement_id))))

    def alarms(self, episode_id: str, keys: Sequence[tuple[str, str]]) -> dict[str, AlarmState]:
        stored = self.alarm_states.get(episode_id, {})
        return {alarm_id: stored[alarm_id] for _, alarm_id in keys if alarm_id in stored}

    def has_event(self, episode_id: str, event_id: str) -> bool:
        return event_id in self.events.get(episode_id, {})

    def commit(self, commit: Commit) -> bool:
        self.before_commit()
        self._attempts += 1
        if self._attempts == self.crash_on_commit:
            raise RuntimeError("the function died before this transaction")
        episode_id = commit.episode.episode_id
        readings = self.readings.setdefault(episode_id, {})
        alarms = self.alarm_states.setdefault(episode_id, {})
        events = self.events.setdefault(episode_id, {})
        if (self.heads.get(episode_id, Head()).version != commit.read_version
                or any(w.new and w.reading.measurement_id in readings for w in commit.writes)
                or any(w.new_alarm and w.new_alarm.alarm_id in alarms for w in commit.writes)
                or any(alarm.alarm_id in alarms for alarm in commit.answer_alarms)
                or (commit.event is not None and commit.event.event_id in events)):
            self.refused += 1
            return False
        for write in commit.writes:
            readings[write.reading.measurement_id] = write.reading
            new = write.new_alarm
            if new is not None:
                alarms[new.alarm_id] = AlarmState(new.alarm_id, write.reading.received_at, "open", new.colour)
                self.alarm_changes[new.alarm_id] = []
            if write.alarm_update is not None:
                update = write.alarm_update
                alarms[update.alarm_id] = replace(alarms[update.alarm_id], status=update.status,
                                                  colour=update.colour)
                self.alarm_changes[update.alarm_id].append(update.change)
        for raised in commit.answer_alarms:
            alarms[raised.alarm_id] = AlarmState(raised.alarm_id, raised.received_at, "open", raised.colour)
            self.alarm_changes[raised.alarm_id] = []
        if commit.event is not None:
            events[commit.event.event_id] = commit.event
        head = commit.head
        organisation = (self.heads.get(episode_id, Head()).worklist_organisation
                        or commit.episode.monitoring_organisation)  # set only where none is
        self.heads[episode_id] = Head(commit.read_version + 1, dict(head.open_alarms),
                                      dict(head.green_uploads), head.last_measured_at, head.last_received_at,
                                      organisation)
        self.commits.append(commit)
        return True

    def hand_over(self, episode_id: str, organisation: str) -> None:
        """A handover accepted (referral intake's write): the row moves, and the version with it."""
        head = self.heads.get(episode_id, Head())
        self.heads[episode_id] = replace(head, version=head.version + 1, worklist_organisation=organisation)

    def acknowledge(self, episode_id: str, alarm_id: str) -> None:
        """A nurse acknowledges the alarm (the worklist's write): off the head, status acknowledged."""
        head = self.heads[episode_id]
        self.alarm_states[episode_id][alarm_id] = replace(self.alarm_states[episode_id][alarm_id],
                                                          status="acknowledged")
        still_open = {other: alarm for other, alarm in head.open_alarms.items() if other != alarm_id}
        self.heads[episode_id] = replace(head, version=head.version + 1, open_alarms=still_open)

    def acknowledge_green(self, episode_id: str) -> None:
        """A nurse has looked at the episode's GREEN uploads (the worklist's write): none waits any more."""
        head = self.heads[episode_id]
        self.heads[episode_id] = replace(head, version=head.version + 1, green_uploads={})


class FakeWorklistStore:
    """The worklist's store: the evaluations table's items by (pk, sk), arranged as the evaluator writes
    them (tests/support/worklist_items.py) and read with the real store's item readers. Lists page as
    DynamoDB's queries do; ``before_write`` plays a concurrent change of the episode before a write."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            self.put(item)
        self.before_write = _nothing

    def put(self, item: dict[str, Any]) -> None:
        self.items[item["pk"]["S"], item["sk"]["S"]] = copy.deepcopy(item)

    def worklist(self, organisation: str, limit: int, after: Position | None) -> Page[WorklistHead]:
        rows = [item for item in self.items.values()
                if _string(item, "worklist_organisation") == organisation and "worklist_rank" in item]
        return _fake_page(rows, "worklist_rank", False, limit, after, WORKLIST_POSITION,
                          ("worklist_organisation", organisation), head_from_item)

    def head(self, episode_id: str) -> WorklistHead:
        item = self.items.get((f"EPISODE#{episode_id}", HEAD))
        return head_from_item(item) if item else WorklistHead(episode_id)

    def find_alarm(self, alarm_id: str) -> AlarmKey | None:
        for (pk, _), item in self.items.items():
            if _string(item, "alarm_id") == alarm_id:
                return AlarmKey(pk.removeprefix("EPISODE#"), item["raised_at"]["S"], alarm_id)
        return None

    def alarm(self, key: AlarmKey) -> Alarm | None:
        item = self.items.get(self._alarm_key(key))
        return alarm_from_item(item) if item else None

    def acknowledge(self, key: AlarmKey, acknowledgement: Acknowledgement, change: AlarmChange,
                    head: WorklistHead, organisation: str) -> bool:
        self.before_write()
        alarm = self.items.get(self._alarm_key(key))
        if (alarm is None or _string(alarm, "status") != AlarmStatus.OPEN
                or not self._writable(head, organisation)):
            return False
        self._write_head(head)
        alarm["status"] = {"S": AlarmStatus.ACKNOWLEDGED}
        alarm["acknowledged"] = {"M": {name: {"S": value} for name, value in (
            ("by", acknowledgement.by), ("organisation", acknowledgement.organisation),
            ("at", iso_utc(acknowledgement.at)), ("note", acknowledgement.note))}}
        alarm.setdefault("changes", {"L": []})["L"].append({"M": {name: {"S": value} for name, value in (
            ("at", iso_utc(change.at)), ("from", change.from_), ("to", change.to),
            ("reason", change.reason), ("by", acknowledgement.by),
            ("organisation", acknowledgement.organisation), ("note", acknowledgement.note))}})
        return True

    def write_head(self, head: WorklistHead, organisation: str) -> bool:
        self.before_write()
        if not self._writable(head, organisation):
            return False
        self._write_head(head)
        return True

    def measurements(self, episode_id: str, since: datetime | None, until: datetime | None,
                     measurement_type: str | None, limit: int, after: Position | None) -> Page[Measurement]:
        low = iso_utc(since) if since else ""
        high = iso_utc(until) + "#~" if until else "~"
        readings = [item for item in self.items.values()
                    if _string(item, "reading_episode") == episode_id
                    and low <= item["measured_key"]["S"] <= high
                    and measurement_type in (None, item["type"]["S"])]
        return _fake_page(readings, "measured_key", True, limit, after, READINGS_POSITION,
                          ("reading_episode", episode_id), measurement_from_item)

    def alarms(self, episode_id: str, status: AlarmStatus | None, limit: int,
               after: Position | None) -> Page[Alarm]:
        partition = f"EPISODE#{episode_id}"
        alarms = [item for (pk, sk), item in self.items.items()
                  if pk == partition and sk.startswith("ALARM#") and status in (None, item["status"]["S"])]
        return _fake_page(alarms, "sk", True, limit, after, ALARMS_POSITION, ("pk", partition),
                          alarm_from_item)

    def answers(self, episode_id: str) -> list[QuestionnaireAnswer]:
        partition = f"EPISODE#{episode_id}"
        return [answer for (pk, sk), item in self.items.items() if pk == partition and sk.startswith("EVENT#")
                for answer in answers_from_event_item(item)]

    def _writable(self, head: WorklistHead, organisation: str) -> bool:
        """The stored head is still at the version read, and on the acting organisation's worklist."""
        stored = self.items.get((f"EPISODE#{head.episode_id}", HEAD))
        return (version_of(stored) == head.version and stored is not None
                and _string(stored, "worklist_organisation") == organisation)

    def _write_head(self, head: WorklistHead) -> None:
        """What head_update writes on an organisation's behalf: the version moved on, the waiting alarms and
        uploads, the rank (or none)."""
        item = self.items[(f"EPISODE#{head.episode_id}", HEAD)]
        item |= {"version": {"N": str(head.version + 1)}, "episode_id": {"S": head.episode_id},
                 "open_alarms": open_alarms_attribute(head.open_alarms),
                 "green_uploads": {"M": {upload: {"S": at} for upload, at in head.green_uploads.items()}}}
        rank = worklist_rank(head.episode_id, head.open_alarms, head.green_uploads)
        if rank is None:
            item.pop("worklist_rank", None)
        else:
            item["worklist_rank"] = {"S": rank}

    @staticmethod
    def _alarm_key(key: AlarmKey) -> tuple[str, str]:
        return f"EPISODE#{key.episode_id}", alarm_sort_key(key.raised_at, key.alarm_id)


def _string(item: dict[str, Any], name: str) -> str | None:
    return item[name]["S"] if name in item else None


def _fake_page(items: list[dict[str, Any]], order: str, descending: bool, limit: int, after: Position | None,
               names: Sequence[str], partition: tuple[str, str], read: Any) -> Page[Any]:
    """A page as a query gives it: ordered by ``order``, from after the position (which must be one of
    this list's: else the API's 422), and the position after the page's last item if more follow."""
    if after is not None and (sorted(after) != sorted(names) or after[partition[0]] != partition[1]
                              or not after["pk"].startswith("EPISODE#")):
        raise invalid_cursor()
    items = sorted(items, key=lambda item: item[order]["S"], reverse=descending)
    if after is not None:
        items = [item for item in items
                 if (item[order]["S"] < after[order] if descending else item[order]["S"] > after[order])]
    page = items[:limit]
    position = {name: page[-1][name]["S"] for name in names} if len(items) > limit else None
    return Page([read(item) for item in page], position)


class RefusingClient:
    """A boto3 client stand-in that refuses every call with the AWS error ``code``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __getattr__(self, operation: str) -> Any:
        def refuse(**_: Any) -> None:
            raise ClientError({"Error": {"Code": self.code, "Message": "refused"}}, operation)

        return refuse


Instant = TypeVar("Instant")


class MovableClock(Generic[Instant]):
    """A clock a test sets and moves on (``clock.now = ...``); calling it tells the time, a datetime or the
    seconds of a monotonic clock, as the code under test takes it."""

    def __init__(self, now: Instant) -> None:
        self.now = now

    def __call__(self) -> Instant:
        return self.now
