"""The sharing publisher's inputs and fakes, for its tests in every tier: "upload evaluated" events of each
kind (docs/messages.md), the SQS event the publisher receives them in, the sharing state it decides by
(relations, consent, CPR), and in-memory fakes of its two ports (functions.cross_sector_sharing.logic)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from functions.cross_sector_sharing.logic import SharingState
from functions.cross_sector_sharing.models import BundleMessage
from functions.referral_intake.models import Episode, Handover
from functions.referral_intake.repository import DynamoEpisodeStore
from functions.shared import aws
from functions.shared.citizen_records import ConsentSource, ConsentStatus, SharingConsent, consent_items
from functions.shared.dynamo import transact
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.evaluation_records import measurement_id, upload_event_id
from infrastructure.resource_spec import ResourceNames
from tests.support.episodes import CREATED, new_episode
from tests.support.events import load_event
from tests.support.organisations import MONITORING, TREATING
from tests.support.profiles import citizen_store

PATIENT = "pat_9a3e7c1d5b2f8e4a6c0d1b37"
OTHER_PATIENT = "pat_1c5e9a3d7b0f2e4c6a8d0b21"
CPR = "2512489996"  # a test CPR number (DESIGN §5)
OTHER_CPR = "0101001234"
EPISODE = "epi_3f9a1c7e5b2d4a6c8e0f1a2b"
OTHER_EPISODE = "epi_7d1e3a5c9b2f4e6a8c0d2b4f"
DEVICE = "dev_5f0c2a9e41b7d3c8a6e1f042"
EVALUATED_AT = "2024-05-01T08:05:02.250Z"
# The COPD programme's types and its questionnaire (blood glucose is not among them).
SHARED_TYPES = frozenset({"spo2", "pulse", "weight", "blood_pressure", "temperature", "fev1", "fev6",
                          "fev1_fev6_ratio", "cat_score", "questionnaire"})
VERSION_1 = {"version": 1, "valid_from": "2024-04-01T00:00:00.000Z",
             "thresholds": {"absolute": {"spo2": {"red_low": 88, "yellow_low": 92},
                                         "systolic": {"yellow_high": 150, "red_high": 180}}, "relative": {}}}


def reading(measurement_type: str, value: Any, position: int = 0, upload_id: str = "u1",
            **changes: Any) -> dict[str, Any]:
    """A measurement of an event (a catalogue type), judged GREEN under version 1."""
    units = {"spo2": "%", "weight": "kg", "blood_glucose": "mmol/L", "pulse": "/min"}
    return {"measurement_id": measurement_id(f"{DEVICE}/{upload_id}", position), "type": measurement_type,
            "value": value, "unit": units[measurement_type],
            "measured_at": f"2024-05-01T08:{position % 60:02d}:00.000Z", "method": "automatic", "late": False,
            "colour": "GREEN", "threshold_version": 1, "invalidated": None, **changes}


def pressure(position: int = 0, upload_id: str = "u1", **changes: Any) -> dict[str, Any]:
    """A blood pressure with its cuff's pulse."""
    return {"measurement_id": measurement_id(f"{DEVICE}/{upload_id}", position), "type": "blood_pressure",
            "components": [{"type": "systolic", "value": 132 + position % 40, "unit": "mmHg"},
                           {"type": "diastolic", "value": 84, "unit": "mmHg"},
                           {"type": "pulse", "value": 71, "unit": "/min"}],
            "measured_at": f"2024-05-01T{8 + position // 60:02d}:{position % 60:02d}:00.000Z",
            "method": "automatic", "late": False, "colour": "GREEN", "threshold_version": 1,
            "invalidated": None, **changes}


def answer(question_id: str = "more_cough_than_usual", value: str = "yes",
           colour: str = "YELLOW") -> dict[str, Any]:
    return {"answer_id": f"ans_{question_id}", "question_id": question_id, "answer": value,
            "answered_at": "2024-05-01T08:04:00.000Z", "late": False, "colour": colour}


def evaluated(*measurements: dict[str, Any], episode_id: str = EPISODE, patient_id: str = PATIENT,
              upload_id: str = "u1", answers: Sequence[dict[str, Any]] = (),
              **changes: Any) -> dict[str, Any]:
    """An upload's "upload evaluated" event (docs/messages.md) under the episode, as of evaluation time."""
    dedupe_key = f"{DEVICE}/{upload_id}"
    return {"message_type": "telehub.upload.evaluated", "schema_version": 1,
            "event_id": upload_event_id(episode_id, dedupe_key), "trigger": "upload",
            "episode_id": episode_id,
            "patient_id": patient_id, "disease_area": "copd", "treating_organisation": TREATING,
            "monitoring_organisation": MONITORING, "evaluated_at": EVALUATED_AT,
            "upload": {"device_id": DEVICE, "upload_id": upload_id, "dedupe_key": dedupe_key,
                       "received_at": "2024-05-01T08:05:00.000Z"},
            "colour": "GREEN", "measurements": list(measurements), "re_evaluated": [],
            "threshold_versions": [VERSION_1], "answers": list(answers), "alarms": [], **changes}


def invalidation(measured: dict[str, Any], episode_id: str = EPISODE) -> dict[str, Any]:
    """The event of a clinician's invalidation of a measurement: no upload, the measurement marked."""
    marked = {**measured, "invalidated": {"by": "nurse-1", "organisation": MONITORING,
                                          "at": "2024-05-02T09:00:00.000Z", "reason": "cold finger"}}
    return evaluated(marked, episode_id=episode_id, trigger="invalidation", upload=None,
                     event_id=f"evt_invalidated_{measured['measurement_id']}")


def missed(episode_id: str = EPISODE) -> dict[str, Any]:
    """The schedule's event of a missed measurement: no upload, no measurements."""
    return evaluated(episode_id=episode_id, trigger="missed_measurement", upload=None, colour=None,
                     threshold_versions=[], event_id=f"evt_missed_{episode_id}")


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """The publisher's SQS event: one message per body (an event, or any text), ids ``message-<n>``."""
    template = load_event("cross_sector_sharing/evaluated_uploads_sqs.json")["Records"][0]
    return {"Records": [
        {**copy.deepcopy(template), "messageId": f"message-{n}",
         "body": body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))}
        for n, body in enumerate(bodies)]}


def relations(episode_id: str = EPISODE, patient_id: str = PATIENT, treating: str = TREATING,
              monitoring: str = MONITORING, handover_to: str | None = None) -> EpisodeRelations:
    return EpisodeRelations(episode_id=episode_id, patient_id=patient_id, disease_area="copd",
                            status=EpisodeStatus.ACTIVE, created_at=CREATED, treating_organisation=treating,
                            monitoring_organisation=monitoring, handover_to=handover_to)


def consent(status: ConsentStatus = ConsentStatus.GRANTED,
            recorded_at: str = "2024-04-01T00:00:00.000Z") -> SharingConsent:
    return SharingConsent(consent_id=f"con_{status}_{recorded_at}", status=status, recorded_at=recorded_at,
                          organisation=TREATING, source=ConsentSource.REFERRAL)


def validated(body: str) -> dict[str, Any]:
    """A published Bundle, after fhir.resources' R4B models accepted it (a rejected one fails the test)."""
    bundle: dict[str, Any] = json.loads(body)
    Bundle.model_validate(bundle)
    return bundle


def observations(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]
            if entry["resource"]["resourceType"] == "Observation"]


class FakeSharingDirectory:
    """The sharing state as a test sets it; each read counted, and ``before_read`` run first (a consent
    withdrawn or a handover accepted just before the publisher reads)."""

    def __init__(self) -> None:
        self.relations: dict[str, EpisodeRelations] = {}
        self.consents: dict[str, SharingConsent] = {}
        self.cprs: dict[str, str] = {}
        self.reads: list[tuple[frozenset[str], frozenset[str]]] = []
        self.before_read: Callable[[], None] = lambda: None

    def citizen(self, patient_id: str = PATIENT, cpr: str = CPR,
                consented: SharingConsent | None = None) -> None:
        self.cprs[patient_id] = cpr
        if consented is not None:
            self.consents[patient_id] = consented

    def state(self, episode_ids: Collection[str], patient_ids: Collection[str]) -> SharingState:
        self.before_read()
        self.reads.append((frozenset(episode_ids), frozenset(patient_ids)))
        return SharingState(
            relations={e: self.relations[e] for e in episode_ids if e in self.relations},
            consents={p: self.consents[p] for p in patient_ids if p in self.consents},
            cprs={p: self.cprs[p] for p in patient_ids
                  if p in self.cprs and p in self.consents and self.consents[p].granted},
        )


class FakeBundleTopic:
    """The sharing topic: every message it took, in order; it refuses the messages ``refuse`` says."""

    def __init__(self, refuse: Callable[[BundleMessage], bool] = lambda message: False) -> None:
        self.published: list[BundleMessage] = []
        self.calls = 0
        self.refuse = refuse

    def publish(self, messages: Sequence[BundleMessage]) -> set[int]:
        self.calls += 1
        refused = {position for position, message in enumerate(messages) if self.refuse(message)}
        self.published += [message for position, message in enumerate(messages) if position not in refused]
        return refused


class StoredSharingState:
    """The sharing state as the other features write it in moto's tables: a citizen's profile (referral
    intake), their consent (the consent API's transaction items), an episode and its handovers (referral
    intake's store)."""

    def __init__(self, names: ResourceNames) -> None:
        self._citizens_table = names.tables["citizens"]
        self._citizens = citizen_store(names)
        self._episodes = DynamoEpisodeStore(names.tables["episodes"], names.tables["devices"], self._citizens,
                                            evaluations_table=names.tables["evaluations"])
        self.episodes: dict[str, Episode] = {}  # as stored, by id

    def citizen(self, patient_id: str = PATIENT, cpr: str = CPR,
                consented: SharingConsent | None = None) -> None:
        assert self._citizens.add_patient(f"pseudonym-{patient_id}", patient_id, cpr)
        if consented is not None:
            self.consent(patient_id, consented)

    def consent(self, patient_id: str, consented: SharingConsent) -> None:
        assert transact(consent_items(self._citizens_table, patient_id, consented))

    def episode(self, episode_id: str = EPISODE, patient_id: str = PATIENT,
                monitoring: str = MONITORING) -> None:
        new = new_episode(episode_id, patient_id)
        new = replace(new, episode=replace(new.episode, monitoring_organisation=monitoring))
        assert self._episodes.create(new)
        self.episodes[episode_id] = new.episode

    def offer_handover(self, episode_id: str, to_organisation: str) -> None:
        episode = self.episodes[episode_id]
        handover = Handover(to_organisation, episode.monitoring_organisation, CREATED)
        assert self._episodes.offer_handover(episode, handover)

    def accept_handover(self, episode_id: str, organisation: str) -> None:
        assert self._episodes.accept_handover(self.episodes[episode_id], organisation)


def requests_sent() -> list[str]:
    """The operations the functions' DynamoDB, KMS and SNS clients send from now on (names, in order)."""
    sent: list[str] = []
    for service in ("dynamodb", "kms", "sns"):
        aws.client(service).meta.events.register(f"before-call.{service}",
                                                 lambda model, **_: sent.append(model.name))
    return sent
