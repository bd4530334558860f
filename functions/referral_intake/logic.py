"""Referral intake and the episode of care: who may do what, thresholds, handover, ending.

No event shapes and no boto3 here: the episode store, the citizens, the pseudonyms, the access log
and the clock are injected, so the rules are tested with in-memory fakes. Every change is one
conditional write (or transaction) in the store; a lost race is settled by reading the winner's.
The orders it stores reach the logistics centre through the outbox (outbox.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from functions.referral_intake.models import (
    COLLECT,
    DELIVER,
    HISTORY_PAGE_SIZE,
    ORDER_MESSAGE_TYPE,
    ORDER_SCHEMA_VERSION,
    Episode,
    EpisodeView,
    Handover,
    NewEpisode,
    Order,
    Referral,
    ReferralAccepted,
    StoredReferral,
    ThresholdChange,
    package_of,
)
from functions.shared.access_log import Access, AccessLog
from functions.shared.access_rules import AccessGuard, Relation, episode_relations, nothing_found
from functions.shared.citizen_records import ConsentSource, SharingConsent
from functions.shared.citizens import ATTEMPTS, CitizenPseudonyms, CitizenStore, get_or_create_patient
from functions.shared.clock import Clock, iso_utc
from functions.shared.cursors import Position, decode_cursor, encode_cursor, invalid_cursor
from functions.shared.disease_areas import DiseaseArea, disease_area
from functions.shared.episode_records import EpisodeStatus
from functions.shared.errors import (
    Conflict,
    FieldProblem,
    InvalidInput,
    NoRelation,
    ServiceUnavailable,
)
from functions.shared.identifiers import new_id
from functions.shared.principal import Principal, organisation_of
from functions.shared.thresholds import (
    Thresholds,
    ThresholdVersion,
    merge,
    problems,
)

# How far in the past a threshold change may say it starts: the clinician's clock may run behind ours.
# More would change which thresholds were valid when measurements already triaged were taken.
VALID_FROM_CLOCK_SKEW = timedelta(minutes=5)
# How far ahead a threshold change may be scheduled. A version takes effect at valid_from and every later
# change must start at or after it, so one set in year 9999 would freeze the thresholds for good.
VALID_FROM_MAX_AHEAD = timedelta(days=365)
# A referral refused for another organisation's open episode in its area: nothing of that episode is named.
AREA_TAKEN_ELSEWHERE = "the citizen has an open episode of another organisation in this disease area"

# The routes of the use cases below: their rules in functions.shared.access_rules decide who may call them.
REFER = "POST /v1/referrals"
READ_EPISODE = "GET /v1/episodes/{episode_id}"
CHANGE_THRESHOLDS = "PUT /v1/episodes/{episode_id}/thresholds"
OFFER_HANDOVER = "POST /v1/episodes/{episode_id}/handover"
WITHDRAW_HANDOVER = "DELETE /v1/episodes/{episode_id}/handover"
ACCEPT_HANDOVER = "POST /v1/episodes/{episode_id}/handover/accept"
DECLINE_HANDOVER = "POST /v1/episodes/{episode_id}/handover/decline"
END_EPISODE = "POST /v1/episodes/{episode_id}/end"


class EpisodeStore(Protocol):
    def find_referral(self, organisation: str, referral_id: str) -> StoredReferral | None:
        """The referral the organisation sent with this id (each referrer names its own referrals)."""

    def open_episode_id(self, patient_id: str, disease_area: str) -> str | None: ...

    def logistics_centre(self, patient_id: str) -> str | None:
        """The citizen's logistics centre while the citizen has an open episode, else None."""

    def create(self, new: NewEpisode) -> bool:
        """Write the episode, its first thresholds, its order, the open guard, the logistics centre,
        the referral record, the contact details and the referral's consent to sharing (if it gives one)
        at once; False (nothing written) if the referral id, the open guard, another logistics centre or
        a consent recorded after this one is in the way."""

    def episode(self, episode_id: str) -> Episode | None: ...

    def threshold_versions(self, episode_id: str, after: int,
                           limit: int) -> tuple[list[ThresholdVersion], bool]:
        """Up to ``limit`` versions numbered above ``after`` (0: from the first), oldest first, and whether
        more follow."""

    def latest_threshold_version(self, episode_id: str) -> ThresholdVersion: ...

    def threshold_version_at(self, episode_id: str, instant: datetime) -> ThresholdVersion:
        """The version valid at ``instant``: the newest not starting after it (the first, if all do)."""

    def add_threshold_version(self, episode: Episode, version: ThresholdVersion) -> bool:
        """Store the version if the episode's current version is still ``episode.threshold_version``."""

    def offer_handover(self, episode: Episode, handover: Handover) -> bool:
        """Record the offer if the offering organisation still holds responsibility and none is pending."""

    def accept_handover(self, episode: Episode, organisation: str) -> bool:
        """Move responsibility, and the episode's worklist row with its unacknowledged alarms, to
        ``organisation`` if its offer is still pending; False (nothing written) if it is not, or if a write
        to the worklist row came first."""

    def withdraw_handover(self, episode: Episode, handover: Handover) -> bool:
        """Drop the offer if it is still the pending one."""

    def decline_handover(self, episode: Episode, organisation: str, declined_at: datetime) -> bool:
        """Drop the offer to ``organisation`` if it is still pending, recording who declined it when."""

    def device_links(self, device_id: str) -> tuple[str, ...] | None:
        """The episodes an active device is linked to; None if the device is unknown or revoked."""

    def end(self, episode: Episode, ended_at: datetime, order: Order, revoked: Sequence[str],
            kept: Mapping[str, Sequence[str]]) -> bool:
        """End the open episode, release its guard, store the collect order, revoke those ``revoked``
        devices still active (the others are passed over) and unlink each ``kept`` device from it, on
        condition that the device is still active and the open episodes keeping it are still open."""


class EpisodeService:
    def __init__(self, store: EpisodeStore, citizens: CitizenStore, pseudonyms: CitizenPseudonyms,
                 access_log: AccessLog, clock: Clock) -> None:
        self._store = store
        self._citizens = citizens
        self._pseudonyms = pseudonyms
        self._access_log = access_log
        self._clock = clock
        self._guard = AccessGuard(access_log, clock)

    # --- referral intake ---------------------------------------------------------------------

    def accept_referral(self, referral: Referral, principal: Principal) -> tuple[ReferralAccepted, bool]:
        """Create the episode (status planned) with threshold version 1 and a delivery order, or return
        the reply of the same referral received before. Returns the reply and whether it is new."""
        pseudonym = self._pseudonyms.pseudonym(referral.citizen.cpr)
        # A referral for another organisation is refused (logged as denied if the citizen is known).
        held = episode_relations(organisation_of(principal), treating=referral.treating_organisation,
                                 monitoring=referral.monitoring_organisation)
        known = self._citizens.find_patient(pseudonym)
        self._guard.check(REFER, held, principal, Access(known, "create_episode", "") if known else None)
        area = disease_area(referral.disease_area)
        thresholds = _checked(merge(area.thresholds, referral.thresholds), area, "thresholds")
        body_hash = referral_hash(referral, pseudonym)
        stored = self._store.find_referral(referral.treating_organisation, referral.referral_id)
        if stored is not None:
            return self._repeat(stored, body_hash, principal), False
        patient_id = get_or_create_patient(self._citizens, pseudonym, referral.citizen.cpr)
        # One episode id for every attempt, logged once before the episode is stored: an entry that cannot
        # be written leaves nothing created, and a lost race adds no second entry.
        episode_id = new_id("epi")
        self._check_nothing_open(patient_id, referral, principal)
        self._access_log.record(patient_id, principal, "create_episode", episode_id, self._clock())
        for _ in range(ATTEMPTS):
            new = self._new_episode(referral, area, thresholds, patient_id, body_hash, episode_id)
            if self._store.create(new):
                return ReferralAccepted.model_validate(new.referral.reply), True
            stored = self._store.find_referral(referral.treating_organisation, referral.referral_id)
            if stored is not None:
                return self._repeat(stored, body_hash, principal), False
            # Lost to an episode opened meanwhile: its 409.
            self._check_nothing_open(patient_id, referral, principal)
        raise ServiceUnavailable("the referral could not be stored now; retry the same request")

    def _repeat(self, stored: StoredReferral, body_hash: str, principal: Principal) -> ReferralAccepted:
        """The reply of the referral received before, if this is the same referral; it names the citizen's
        patient id again, so it is logged again."""
        if stored.body_hash != body_hash:
            raise Conflict(f"referral {stored.referral_id} was received before with a different body",
                           [FieldProblem("referral_id", "was used for another referral")])
        reply = ReferralAccepted.model_validate(stored.reply)
        self._access_log.record(reply.patient_id, principal, "create_episode", reply.episode_id,
                                self._clock())
        return reply

    def _check_nothing_open(self, patient_id: str, referral: Referral, principal: Principal) -> None:
        open_id = self._store.open_episode_id(patient_id, referral.disease_area)
        if open_id is not None:
            raise self._area_taken(open_id, principal)
        centre = self._store.logistics_centre(patient_id)
        if centre is not None and centre != referral.logistics_centre:
            raise Conflict("the citizen has another logistics centre while an episode is open",
                           [FieldProblem("logistics_centre", "the citizen has exactly one logistics centre")])

    def _area_taken(self, open_id: str, principal: Principal) -> Conflict:
        """The open episode in the referral's area is named to an organisation that treats or monitors it
        (it may read it anyway; naming it is a read of the episode, logged as one first); another
        organisation's is not, nor is its area or anything of it."""
        episode = self._store.episode(open_id)
        if episode is not None and organisation_of(principal) in (episode.treating_organisation,
                                                                  episode.monitoring_organisation):
            self._access_log.record(episode.patient_id, principal, "read_episode", open_id, self._clock())
            return Conflict(f"the citizen has an open {episode.disease_area} episode: {open_id}",
                            [FieldProblem("disease_area", f"open episode {open_id}")])
        return Conflict(AREA_TAKEN_ELSEWHERE, [FieldProblem("disease_area", AREA_TAKEN_ELSEWHERE)])

    def _new_episode(self, referral: Referral, area: DiseaseArea, thresholds: Thresholds, patient_id: str,
                     body_hash: str, episode_id: str) -> NewEpisode:
        now = self._clock()
        schedule = {**area.schedule.model_dump(),
                    **(referral.schedule.model_dump(exclude_none=True) if referral.schedule else {})}
        episode = Episode(
            episode_id=episode_id,
            patient_id=patient_id,
            disease_area=area.code,
            status=EpisodeStatus.PLANNED,
            treating_organisation=referral.treating_organisation,
            monitoring_organisation=referral.monitoring_organisation,
            logistics_centre=referral.logistics_centre,
            referral_id=referral.referral_id,
            schedule=schedule,
            created_at=now,
            threshold_version=1,
            note=referral.note,
        )
        order = order_for(DELIVER, episode, now, package=package_of(area.package))
        reply = ReferralAccepted(episode_id=episode.episode_id, patient_id=patient_id, disease_area=area.code,
                                 status=EpisodeStatus.PLANNED, threshold_version=1, order_id=order.order_id,
                                 sharing_consent=referral.sharing_consent)
        return NewEpisode(
            episode=episode,
            thresholds=ThresholdVersion(1, now, thresholds, referral.treating_organisation, now),
            order=order,
            referral=StoredReferral(referral.referral_id, body_hash, reply.model_dump(mode="json")),
            citizen_name=referral.citizen.name,
            citizen_phone=referral.citizen.phone,
            consent=referral_consent(referral, now),
        )

    # --- reading ---------------------------------------------------------------------------------

    def read(self, episode_id: str, principal: Principal, history_limit: int = HISTORY_PAGE_SIZE,
             history_cursor: str | None = None) -> EpisodeView:
        """The episode for its treating or monitoring organisation or the offered receiver, with a page of
        its threshold history; the read is logged before anything is returned."""
        # The receiver reads what it is offered before it decides; it was told the episode id by the offer.
        episode = self._allowed(READ_EPISODE, episode_id, principal, "read_episode")
        after = _history_position(decode_cursor(history_cursor, _history_scope(episode_id), HISTORY_CURSOR))
        self._logged(episode, principal, "read_episode")
        return self._view(episode, history_limit, after)

    def _view(self, episode: Episode, history_limit: int = HISTORY_PAGE_SIZE, after: int = 0) -> EpisodeView:
        """The episode as the API shows it, with the page of its threshold history after version ``after``;
        only for a reply whose access is logged already."""
        current = self._store.threshold_version_at(episode.episode_id, self._clock())
        history, more = self._store.threshold_versions(episode.episode_id, after, history_limit)
        following = {"version": str(history[-1].version)} if more and history else None
        return EpisodeView.of(episode, current, history,
                              encode_cursor(_history_scope(episode.episode_id), following))

    # --- thresholds ------------------------------------------------------------------------------

    def change_thresholds(self, episode_id: str, change: ThresholdChange,
                          principal: Principal) -> ThresholdVersion:
        """A new version: the latest version with the changes, valid from ``valid_from`` (default now)."""
        episode = self._allowed(CHANGE_THRESHOLDS, episode_id, principal, "change_thresholds")
        organisation = organisation_of(principal)
        _require_open(episode)
        area = disease_area(episode.disease_area)
        now = self._clock()
        # Logged once, before the change (an entry that cannot be written changes nothing); the reply, and
        # a refusal naming the latest version, hold the episode's thresholds: a read too.
        self._logged(episode, principal, "change_thresholds")
        for _ in range(ATTEMPTS):
            latest = self._store.latest_threshold_version(episode_id)
            thresholds = _checked(merge(latest.thresholds, change.thresholds), area, "thresholds")
            if thresholds == latest.thresholds and change.valid_from in (None, latest.valid_from):
                return latest  # a retry of the same change: nothing new
            if change.valid_from is not None and change.valid_from < now - VALID_FROM_CLOCK_SKEW:
                raise InvalidInput.for_field("valid_from", "must not be in the past (5 minutes of clock skew "
                                             "allowed): measurements already judged keep their thresholds")
            if change.valid_from is not None and change.valid_from > now + VALID_FROM_MAX_AHEAD:
                raise InvalidInput.for_field(
                    "valid_from", f"must be at most {VALID_FROM_MAX_AHEAD.days} days ahead: a later change "
                    "could not start before it")
            valid_from = change.valid_from or now
            if valid_from < latest.valid_from:
                if change.valid_from is None:
                    scheduled = latest.valid_from.isoformat()
                    raise Conflict(f"version {latest.version} takes effect at {scheduled}; a change from now "
                                   "would come before it: send valid_from at or after that")
                raise InvalidInput.for_field("valid_from", "must not be before the latest version's "
                                             f"({latest.valid_from.isoformat()})")
            version = ThresholdVersion(latest.version + 1, valid_from, thresholds, organisation, now)
            if self._store.add_threshold_version(replace(episode, threshold_version=latest.version), version):
                return version
        raise ServiceUnavailable("the thresholds could not be changed now; retry the request")

    def _logged(self, episode: Episode, principal: Principal, action: str) -> None:
        """Append the caller's allowed access to the episode, before its change or its reply; raises
        ServiceUnavailable if it cannot be written (then nothing is changed or returned)."""
        self._access_log.record(episode.patient_id, principal, action, episode.episode_id, self._clock())

    # --- handover --------------------------------------------------------------------------------

    # Each change below is access-logged once it is allowed, before the store is written (an entry that
    # cannot be written changes nothing); a retry that changes nothing is logged too. The episode the offer
    # and the acceptance return is covered by that one entry, as a threshold change's reply is.

    def offer_handover(self, episode_id: str, to_organisation: str, principal: Principal) -> EpisodeView:
        episode = self._allowed(OFFER_HANDOVER, episode_id, principal, "offer_handover")
        organisation = organisation_of(principal)
        _require_open(episode)
        if to_organisation == organisation:
            raise InvalidInput.for_field("to_organisation", "already holds monitoring responsibility")
        if episode.handover is not None and episode.handover.to_organisation != to_organisation:
            raise Conflict(f"a handover to {episode.handover.to_organisation} is pending; it must be "
                           "accepted or declined first")
        self._logged(episode, principal, "offer_handover")
        if episode.handover is not None:
            return self._view(episode)  # a retry of the same offer
        handover = Handover(to_organisation, organisation, self._clock())
        if self._store.offer_handover(episode, handover):
            return self._view(replace(episode, handover=handover))
        return self._view(self._settled(episode_id, lambda e: e.handover is not None
                                        and e.handover.to_organisation == to_organisation))

    def accept_handover(self, episode_id: str, principal: Principal) -> EpisodeView:
        episode = self._allowed(ACCEPT_HANDOVER, episode_id, principal, "accept_handover")
        organisation = organisation_of(principal)
        self._logged(episode, principal, "accept_handover")
        if episode.handover is None or episode.handover.to_organisation != organisation:
            return self._view(episode)  # a retry: it holds the monitoring, with no offer pending
        for _ in range(ATTEMPTS):
            if self._store.accept_handover(episode, organisation):
                return self._view(replace(episode, monitoring_organisation=organisation, handover=None))
            # Lost to a change of the offer (settled below), or to an evaluation writing the worklist row
            # that moves with the acceptance: then the offer stands, and accepting is tried again.
            current = self._episode(episode_id)
            if current.handover != episode.handover or not current.is_open:
                return self._view(self._settled(episode_id,
                                                lambda e: e.monitoring_organisation == organisation))
            episode = current
        raise ServiceUnavailable("the handover could not be accepted now; retry the request")

    def withdraw_handover(self, episode_id: str, principal: Principal) -> Episode:
        """The offering organisation takes its pending offer back; with none pending (a retry, or the
        episode ended) nothing changes."""
        episode = self._allowed(WITHDRAW_HANDOVER, episode_id, principal, "withdraw_handover")
        organisation = organisation_of(principal)
        self._logged(episode, principal, "withdraw_handover")
        if episode.handover is None:
            return episode
        if self._store.withdraw_handover(episode, episode.handover):
            return replace(episode, handover=None)
        return self._settled(episode_id, lambda e: e.handover is None
                             and e.monitoring_organisation == organisation)

    def decline_handover(self, episode_id: str, principal: Principal) -> Episode:
        episode = self._allowed(DECLINE_HANDOVER, episode_id, principal, "decline_handover")
        organisation = organisation_of(principal)
        self._logged(episode, principal, "decline_handover")
        if _declined_by(episode, organisation):
            return episode  # a retry
        declined_at = self._clock()
        if self._store.decline_handover(episode, organisation, declined_at):
            return replace(episode, handover=None, declined_by=organisation, declined_at=declined_at)
        return self._settled(episode_id, lambda e: _declined_by(e, organisation))

    def _settled(self, episode_id: str, as_wanted: Any) -> Episode:
        """After a lost conditional write: the request's outcome if a concurrent one produced it, else 409."""
        current = self._episode(episode_id)
        if as_wanted(current):
            return current
        raise Conflict("the handover changed meanwhile; read the episode and decide again")

    # --- ending ----------------------------------------------------------------------------------

    def end(self, episode_id: str, principal: Principal) -> Episode:
        """End the episode: its guard released, a collect order sent for its devices that no other open
        episode of the citizen uses (those are revoked; the others stay, unlinked from this one). Ending
        an ended episode changes nothing."""
        episode = self._allowed(END_EPISODE, episode_id, principal, "end_episode")
        self._logged(episode, principal, "end_episode")
        for _ in range(ATTEMPTS):
            if episode.status == EpisodeStatus.ENDED:
                return episode
            now = self._clock()
            revoked, kept = self._devices_after(episode)
            order = order_for(COLLECT, episode, now, device_ids=revoked)
            if self._store.end(episode, now, order, revoked, kept):
                return replace(episode, status=EpisodeStatus.ENDED, ended_at=now, handover=None)
            episode = self._episode(episode_id)
        raise ServiceUnavailable("the episode could not be ended now; retry the request")

    def _devices_after(self, episode: Episode) -> tuple[list[str], dict[str, list[str]]]:
        """The episode's active devices split: those to revoke (every episode they serve has ended or is
        this one) and those kept, each with the other open episodes it still serves (e.g. a scale shared
        by COPD and heart failure)."""
        revoked: list[str] = []
        kept: dict[str, list[str]] = {}
        for device_id in episode.device_ids:
            links = self._store.device_links(device_id)
            if links is None:
                continue  # revoked already (by its logistics centre or an earlier ending)
            still_open = [other for other in links if other != episode.episode_id and self._is_open(other)]
            if still_open:
                kept[device_id] = still_open
            else:
                revoked.append(device_id)
        return revoked, kept

    def _is_open(self, episode_id: str) -> bool:
        episode = self._store.episode(episode_id)
        return episode is not None and episode.is_open

    def _allowed(self, route: str, episode_id: str, principal: Principal, action: str) -> Episode:
        """The episode, if the caller's relations to it open ``route``; else the route's 403, ``action``
        logged as denied first. An episode that does not exist gets the 403 of one the caller has no
        relation to, byte for byte (and no entry: there is no citizen to log for)."""
        organisation = organisation_of(principal)
        episode = self._store.episode(episode_id)
        if episode is None:
            raise nothing_found(route)
        self._guard.check(route, _relations(episode, organisation), principal,
                          Access(episode.patient_id, action, episode_id))
        return episode

    def _episode(self, episode_id: str) -> Episode:
        """The episode read again after a lost write (episodes are never deleted)."""
        episode = self._store.episode(episode_id)
        if episode is None:
            raise NoRelation()
        return episode


def _relations(episode: Episode, organisation: str) -> frozenset[Relation]:
    """What ``organisation`` is to the episode. The monitoring organisation, while no offer is pending, holds
    the monitoring as one that accepted it does: a retried acceptance is answered as the first was."""
    held = episode_relations(
        organisation, treating=episode.treating_organisation, monitoring=episode.monitoring_organisation,
        offered=episode.handover.to_organisation if episode.handover else None, declined=episode.declined_by)
    return held | {Relation.ACCEPTED} if Relation.MONITORING in held and episode.handover is None else held


def _declined_by(episode: Episode, organisation: str) -> bool:
    """The last offer was declined by ``organisation``, and no offer to it is pending."""
    pending_to_it = episode.handover is not None and episode.handover.to_organisation == organisation
    return episode.declined_by == organisation and not pending_to_it


HISTORY_CURSOR = "history_cursor"


def _history_scope(episode_id: str) -> str:
    return f"threshold-history#{episode_id}"


def _history_position(position: Position | None) -> int:
    """The version a history page continues after (0: the first page); a 422 for a forged position."""
    if position is None:
        return 0
    version = position.get("version", "")
    if not version.isdigit() or int(version) < 1:
        raise invalid_cursor(HISTORY_CURSOR)
    return int(version)


def _require_open(episode: Episode) -> None:
    if not episode.is_open:
        raise Conflict(f"episode {episode.episode_id} has ended")


def _checked(thresholds: Thresholds, area: DiseaseArea, prefix: str) -> Thresholds:
    """The merged set, or a 422 naming each broken rule and each type the area does not measure."""
    found = problems(thresholds, prefix)
    measured = set(area.measurement_types)
    for kind in ("absolute", "relative"):
        found += [FieldProblem(f"{prefix}.{kind}.{measurement_type}",
                               f"the {area.code} area does not measure {measurement_type}")
                  for measurement_type in getattr(thresholds, kind) if measurement_type not in measured]
    if found:
        raise InvalidInput("the thresholds are not valid; see errors", found)
    return thresholds


def referral_hash(referral: Referral, pseudonym: str) -> str:
    """sha256 of the validated referral as canonical JSON, the CPR number replaced by its pseudonym (the
    stored hash is then no function of the CPR alone). Only the fields sent count, so an explicit null
    (a threshold limit removed) differs from a field left out (the default kept)."""
    body = referral.model_dump(mode="json", exclude_unset=True)
    body["citizen"]["cpr"] = pseudonym
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def referral_consent(referral: Referral, recorded_at: datetime) -> SharingConsent | None:
    """The consent to sharing the referral gives, recorded by the treating organisation; None if it says
    nothing. Its id follows from the referral (as the referral record's key does), not from the attempt."""
    if referral.sharing_consent is None:
        return None
    name = f"{referral.treating_organisation}#{referral.referral_id}"
    return SharingConsent(consent_id=f"con_{hashlib.sha256(name.encode('utf-8')).hexdigest()[:24]}",
                          status=referral.sharing_consent, recorded_at=iso_utc(recorded_at),
                          organisation=referral.treating_organisation, source=ConsentSource.REFERRAL)


def order_for(kind: str, episode: Episode, ordered_at: datetime, *,
              package: list[dict[str, Any]] | None = None, device_ids: list[str] | None = None) -> Order:
    """The logistics centre's order: deliver the area's package, or collect the episode's devices. It names
    the citizen by patient id only: the centre reads the contact details through the access-logged
    contact endpoint (order_contact.py), so no order item, stream record or message holds them."""
    order_id = new_id("ord")
    body: dict[str, Any] = {
        "message_type": ORDER_MESSAGE_TYPE,
        "schema_version": ORDER_SCHEMA_VERSION,
        "order_id": order_id,
        "kind": kind,
        "episode_id": episode.episode_id,
        "patient_id": episode.patient_id,
        "disease_area": episode.disease_area,
        "logistics_centre": episode.logistics_centre,
        "treating_organisation": episode.treating_organisation,
        "monitoring_organisation": episode.monitoring_organisation,
        "ordered_at": ordered_at.isoformat(),
    }
    if kind == DELIVER:
        body["package"] = package or []
    else:
        body["device_ids"] = device_ids or []
    return Order(order_id, kind, episode.episode_id, episode.logistics_centre, body)

