"""The sharing publisher's ports (functions.cross_sector_sharing.logic), for their fakes and for the real
adapters under moto: the sharing state (DynamoSharingDirectory: relations, consent and CPR as the other
features store them, read together, the latest consent and handover counting) and the sharing topic
(SnsBundleTopic: each message delivered as published, with its attributes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from functions.cross_sector_sharing.logic import BundleTopic, SharingDirectory
from functions.cross_sector_sharing.models import BundleMessage
from functions.cross_sector_sharing.publisher import SnsBundleTopic
from functions.cross_sector_sharing.repository import DynamoSharingDirectory
from functions.shared.citizen_records import ConsentStatus, SharingConsent
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.profile_sealing import KmsProfileSealer
from tests.support.contract import FAKE, REAL
from tests.support.moto_state import queued_messages, subscribed_queue
from tests.support.organisations import HOSPITAL, MONITORING, TREATING
from tests.support.profiles import PROFILE_KEY
from tests.support.sharing import (
    CPR,
    EPISODE,
    OTHER_CPR,
    OTHER_EPISODE,
    OTHER_PATIENT,
    PATIENT,
    FakeBundleTopic,
    FakeSharingDirectory,
    StoredSharingState,
    consent,
    relations,
)

# --- the sharing state -----------------------------------------------------------------------------------


@dataclass
class Directories:
    """The directory, and how a test arranges what the other features store."""

    directory: SharingDirectory
    citizen: Callable[[str, str, SharingConsent | None], None]
    consent: Callable[[str, SharingConsent], None]
    episode: Callable[[str, str], None]
    offer_handover: Callable[[str, str], None]
    accept_handover: Callable[[str, str], None]


def _fake_directories() -> Directories:
    fake = FakeSharingDirectory()

    def episode(episode_id: str, patient_id: str) -> None:
        fake.relations[episode_id] = replace(relations(episode_id, patient_id), status=EpisodeStatus.PLANNED)

    def change(episode_id: str, **changes: Any) -> None:
        fake.relations[episode_id] = replace(fake.relations[episode_id], **changes)

    return Directories(
        fake, fake.citizen, fake.consents.__setitem__, episode,
        lambda episode_id, to: change(episode_id, handover_to=to),
        lambda episode_id, to: change(episode_id, monitoring_organisation=to, handover_to=None))


def _real_directories(names: Any) -> Directories:
    stored = StoredSharingState(names)
    directory = DynamoSharingDirectory(names.tables["citizens"], names.tables["episodes"],
                                       KmsProfileSealer(names.key_ids[PROFILE_KEY]))
    return Directories(directory, stored.citizen, stored.consent, stored.episode, stored.offer_handover,
                       stored.accept_handover)


@pytest.fixture(params=[FAKE, REAL])
def directories(request) -> Directories:
    return _fake_directories() if request.param == FAKE else _real_directories(
        request.getfixturevalue("moto_resources"))


def test_the_state_names_each_episodes_relations_and_each_citizens_consent_and_cpr(directories):
    # Given two citizens with their episodes, one with a consent recorded
    directories.citizen(PATIENT, CPR, consent())
    directories.citizen(OTHER_PATIENT, OTHER_CPR, None)
    directories.episode(EPISODE, PATIENT)
    directories.episode(OTHER_EPISODE, OTHER_PATIENT)
    # When both are read together
    state = directories.directory.state({EPISODE, OTHER_EPISODE}, {PATIENT, OTHER_PATIENT})
    # Then each episode's organisations and the one consent are there, and the CPR number of the citizen
    # who consented (no other is opened: nothing is shared without consent)
    assert state.relations[EPISODE] == EpisodeRelations(
        EPISODE, PATIENT, "copd", EpisodeStatus.PLANNED, state.relations[EPISODE].created_at, TREATING,
        MONITORING, None)
    assert state.relations[OTHER_EPISODE].patient_id == OTHER_PATIENT
    assert state.cprs == {PATIENT: CPR}
    assert state.consents == {PATIENT: consent()}


def test_the_latest_consent_holds(directories):
    # Given a consent granted, then withdrawn
    directories.citizen(PATIENT, CPR, consent())
    withdrawn = consent(ConsentStatus.WITHDRAWN, "2024-05-01T09:00:00.000Z")
    directories.consent(PATIENT, withdrawn)
    # Then the state holds the withdrawal, and no CPR number
    state = directories.directory.state(set(), {PATIENT})
    assert state.consents[PATIENT] == withdrawn
    assert not state.consents[PATIENT].granted
    assert dict(state.cprs) == {}


def test_a_pending_handover_names_its_receiver_and_an_accepted_one_the_new_monitoring_organisation(
        directories):
    directories.citizen(PATIENT, CPR, consent())
    directories.episode(EPISODE, PATIENT)
    directories.offer_handover(EPISODE, HOSPITAL)
    offered = directories.directory.state({EPISODE}, set()).relations[EPISODE]
    assert (offered.monitoring_organisation, offered.handover_to) == (MONITORING, HOSPITAL)
    directories.accept_handover(EPISODE, HOSPITAL)
    accepted = directories.directory.state({EPISODE}, set()).relations[EPISODE]
    assert (accepted.monitoring_organisation, accepted.handover_to) == (HOSPITAL, None)


def test_what_is_not_stored_is_missing_from_the_state(directories):
    state = directories.directory.state({EPISODE}, {PATIENT})
    assert (dict(state.relations), dict(state.consents), dict(state.cprs)) == ({}, {}, {})


def test_a_state_of_more_than_a_hundred_keys_is_read_whole(directories):
    # Given 40 citizens, each with an episode: 120 keys, over one BatchGetItem's 100
    patients = [f"pat_{n:024d}" for n in range(40)]
    for n, patient_id in enumerate(patients):
        directories.citizen(patient_id, f"25124899{n:02d}", consent())
        directories.episode(f"epi_{n:024d}", patient_id)
    # When read
    state = directories.directory.state({f"epi_{n:024d}" for n in range(40)}, set(patients))
    # Then every one is there
    assert (len(state.relations), len(state.consents), len(state.cprs)) == (40, 40, 40)


# --- the sharing topic ------------------------------------------------------------------------------------


@dataclass
class Topics:
    topic: BundleTopic
    received: Callable[[], list[dict[str, Any]]]  # body and attributes ({name: value}) of what arrived


@pytest.fixture(params=[FAKE, REAL])
def topics(request) -> Topics:
    if request.param == FAKE:
        fake = FakeBundleTopic()
        return Topics(fake, lambda: [
            {"body": json.loads(m.body), "attributes": {"recipients": list(m.recipients),
                                                        "bundle_id": m.bundle_id, "event_id": m.event_id,
                                                        "bundle_part": str(m.part)}}
            for m in fake.published])
    topic_arn = request.getfixturevalue("moto_resources").topic_arns["sharing"]
    inbox = subscribed_queue(topic_arn, "contract-sharing-inbox")

    def received() -> list[dict[str, Any]]:
        return [{"body": m["body"], "attributes": {
            "recipients": json.loads(m["attributes"]["recipients"]["StringValue"]),
            **{name: m["attributes"][name]["StringValue"]
               for name in ("bundle_id", "event_id", "bundle_part")}}}
            for m in queued_messages(inbox)]

    return Topics(SnsBundleTopic(topic_arn), received)


def bundle_message(n: int, size: int = 10) -> BundleMessage:
    body = json.dumps({"resourceType": "Bundle", "id": f"bundle-{n}", "padding": "x" * size})
    return BundleMessage(event_id=f"evt_{n}", bundle_id=f"bundle-{n}", body=body,
                         recipients=(TREATING, HOSPITAL), part=1, parts=1, observations=0)


def test_every_message_arrives_as_published(topics):
    # Given 23 messages (three requests' worth), When published
    assert topics.topic.publish([bundle_message(n) for n in range(23)]) == set()
    # Then each arrives once, its body and attributes as sent
    received = sorted(topics.received(), key=lambda m: int(m["attributes"]["event_id"].removeprefix("evt_")))
    assert [m["body"]["id"] for m in received] == [f"bundle-{n}" for n in range(23)]
    assert received[0]["attributes"] == {"recipients": [TREATING, HOSPITAL], "bundle_id": "bundle-0",
                                         "event_id": "evt_0", "bundle_part": "1"}


def test_messages_near_the_size_limit_all_arrive(topics):
    # Given three messages of 200 KiB (one request each), When published
    assert topics.topic.publish([bundle_message(n, 200 * 1024) for n in range(3)]) == set()
    # Then all arrive
    assert sorted(m["body"]["id"] for m in topics.received()) == ["bundle-0", "bundle-1", "bundle-2"]
