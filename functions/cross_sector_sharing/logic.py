"""Publishing evaluated uploads to the organisations that may see them, decided when they are published.

For a batch of "upload evaluated" events: keep what the nationally agreed types allow, read (once for the
batch) each episode's relations as they are now and each citizen's consent and CPR number, build the
Bundle (fhir.py; parts if it is too large for one message) and publish it once to the sharing topic with
its recipients: the treating and the current monitoring organisation. An organisation offered the
monitoring receives nothing until it accepts; after a handover the new monitoring organisation receives,
the old one no longer does.

An event is withheld (acknowledged, counted by reason, nothing published) when nothing in it is shared or
the citizen's consent is not granted. An event whose episode or citizen cannot be found, or whose Bundle
SNS did not take, is not published: its record is reported, retried and in the end dead-lettered. The
logs name only the event and episode; never a CPR number, a value or a colour.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from functions.cross_sector_sharing.fhir import bundle_json, bundles_of
from functions.cross_sector_sharing.models import BundleMessage, UploadEvaluated
from functions.shared.catalogue import BLOOD_PRESSURE, QUESTIONNAIRE
from functions.shared.citizen_records import SharingConsent
from functions.shared.episode_records import EpisodeRelations
from functions.shared.observability import COUNT, MetricsRecorder, logger


@dataclass(frozen=True)
class SharingState:
    """What a batch's publication is decided by, as it is now: the episodes' relations (by episode id),
    the citizens' consents and, of those whose consent is granted, their CPR numbers (by patient id). A
    missing entry was not found."""

    relations: Mapping[str, EpisodeRelations]
    consents: Mapping[str, SharingConsent]
    cprs: Mapping[str, str]


class SharingDirectory(Protocol):
    def state(self, episode_ids: Collection[str], patient_ids: Collection[str]) -> SharingState:
        """The relations and consents of the episodes and citizens, read together, and the CPR numbers of
        the citizens whose consent is granted (no other is opened)."""


class BundleTopic(Protocol):
    def publish(self, messages: Sequence[BundleMessage]) -> set[int]:
        """Publish the messages (as few requests as SNS's limits allow); return the positions not taken."""


class Withheld(StrEnum):
    """Why an event is not shared (a metric's name: BundlesWithheld<reason>)."""

    NOTHING_MEASURED = "NothingMeasured"  # no measurement nor answer (a missed measurement)
    NOT_AGREED = "NotAgreedTypes"  # none of its measurements or answers is of an agreed type
    NO_CONSENT = "NoConsent"  # the citizen's consent was never recorded
    CONSENT_WITHDRAWN = "ConsentWithdrawn"


def recipients(relations: EpisodeRelations) -> tuple[str, ...]:
    """The treating and the current monitoring organisation (a pending handover's receiver is neither)."""
    return tuple(sorted({relations.treating_organisation, relations.monitoring_organisation}))


def agreed_part(event: UploadEvaluated, shared_types: frozenset[str]) -> UploadEvaluated:
    """The event with only the measurements and answers of the agreed types. A blood pressure's cuff pulse
    is a pulse measurement (its own catalogue entry and codes): it goes along only where pulse is agreed."""
    measurements = tuple(
        measurement if measurement.type != BLOOD_PRESSURE or "pulse" in shared_types
        else measurement.without_pulse()
        for measurement in event.measurements if measurement.type in shared_types
    )
    answers = event.answers if QUESTIONNAIRE in shared_types else ()
    return event.model_copy(update={"measurements": measurements, "answers": answers})


class NotShareable(Exception):
    """The event's episode or citizen is not there to decide by: reported, retried, in the end a DLQ."""


class BundlePublisher:
    def __init__(self, directory: SharingDirectory, topic: BundleTopic, shared_types: frozenset[str],
                 max_bundle_bytes: int, metrics: MetricsRecorder) -> None:
        self._directory = directory
        self._topic = topic
        self._shared_types = shared_types
        self._max_bundle_bytes = max_bundle_bytes
        self._metrics = metrics

    def publish(self, events: Sequence[tuple[str, UploadEvaluated]]) -> set[str]:
        """Publish each (record id, event) to its recipients; return the record ids not published."""
        to_share: list[tuple[str, UploadEvaluated]] = []
        for record_id, event in events:
            agreed = agreed_part(event, self._shared_types)
            if agreed.measurements or agreed.answers:
                to_share.append((record_id, agreed))
            else:
                measured = bool(event.measurements or event.answers)
                self._withhold(event, Withheld.NOT_AGREED if measured else Withheld.NOTHING_MEASURED)
        if not to_share:
            return set()
        state = self._directory.state({event.episode_id for _, event in to_share},
                                      {event.patient_id for _, event in to_share})
        failed: set[str] = set()
        pending: list[tuple[str, BundleMessage]] = []
        for record_id, event in to_share:
            try:
                pending.extend((record_id, message) for message in self._messages(event, state))
            except NotShareable as error:
                logger.error("evaluated upload not shared", extra={"event_id": event.event_id,
                                                                   "episode_id": event.episode_id,
                                                                   "reason": str(error)})
                failed.add(record_id)
        not_taken = self._topic.publish([message for _, message in pending]) if pending else set()
        failed |= {pending[position][0] for position in not_taken}
        self._count(pending, failed)
        return failed

    def _messages(self, event: UploadEvaluated, state: SharingState) -> list[BundleMessage]:
        relations = state.relations.get(event.episode_id)
        if relations is None:
            raise NotShareable("episode not found")
        consent = state.consents.get(event.patient_id)
        if consent is None or not consent.granted:
            self._withhold(event, Withheld.NO_CONSENT if consent is None else Withheld.CONSENT_WITHDRAWN)
            return []
        cpr = state.cprs.get(event.patient_id)
        if cpr is None:
            raise NotShareable("citizen's profile not found")
        bundles = bundles_of(event.as_body(), cpr=cpr, device_id=event.device_id,
                             max_bytes=self._max_bundle_bytes)
        return [BundleMessage(event_id=event.event_id, bundle_id=bundle["id"], body=bundle_json(bundle),
                              recipients=recipients(relations), part=part, parts=len(bundles),
                              observations=_observations(bundle))
                for part, bundle in enumerate(bundles, start=1)]

    def _withhold(self, event: UploadEvaluated, reason: Withheld) -> None:
        logger.info("evaluated upload not shared", extra={"event_id": event.event_id,
                                                          "episode_id": event.episode_id, "reason": reason})
        self._metrics.add_metric(f"BundlesWithheld{reason}", COUNT, 1)

    def _count(self, published: Sequence[tuple[str, BundleMessage]], failed: set[str]) -> None:
        taken = [message for record_id, message in published if record_id not in failed]
        self._metrics.add_metric("BundlesPublished", COUNT, len({message.event_id for message in taken}))
        self._metrics.add_metric("ObservationsShared", COUNT, sum(message.observations for message in taken))
        if failed:
            self._metrics.add_metric("BundlesNotPublished", COUNT, len(failed))


def _observations(bundle: Mapping[str, Any]) -> int:
    return sum(entry["resource"]["resourceType"] == "Observation" for entry in bundle["entry"])
