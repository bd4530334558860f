"""The episode directory's contract (functions.shared.episode_directory), for the fake and for
DynamoEpisodeDirectory under moto: an episode's relations as referral intake stored them, a pending
handover's receiver included, and none for an unknown episode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import pytest

from functions.referral_intake.models import Episode, Handover
from functions.referral_intake.repository import DynamoEpisodeStore
from functions.shared.access_rules import Relation
from functions.shared.episode_directory import DynamoEpisodeDirectory
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from tests.support.contract import FAKE, REAL
from tests.support.episodes import CREATED, new_episode
from tests.support.fakes import FakeEpisodeDirectory
from tests.support.organisations import HOSPITAL, MONITORING, TREATING
from tests.support.profiles import citizen_store

PATIENT = "pat_000000000000000000000001"
OFFER = Handover(HOSPITAL, MONITORING, CREATED)


class Directory(Protocol):
    def relations(self, episode_id: str) -> EpisodeRelations | None: ...

    def open_relations(self, patient_id: str) -> list[EpisodeRelations]: ...


@dataclass
class Directories:
    """The directory, and how a test arranges the episodes referral intake writes."""

    directory: Directory
    store: Callable[[Episode], None]


def relations_of(episode: Episode) -> EpisodeRelations:
    return EpisodeRelations(
        episode.episode_id, episode.patient_id, episode.disease_area, episode.status, episode.created_at,
        episode.treating_organisation, episode.monitoring_organisation,
        episode.handover.to_organisation if episode.handover else None)


@pytest.fixture(params=[FAKE, REAL])
def directories(request) -> Directories:
    if request.param == FAKE:
        fake = FakeEpisodeDirectory()
        return Directories(fake, lambda episode: fake.episodes.__setitem__(episode.episode_id,
                                                                           relations_of(episode)))
    names = request.getfixturevalue("moto_resources")
    tables = names.tables
    citizens = citizen_store(names)
    episodes = DynamoEpisodeStore(tables["episodes"], tables["devices"], citizens,
                                  evaluations_table=tables["evaluations"])

    def store(episode: Episode) -> None:
        citizens.add_patient(f"p-{episode.patient_id}", episode.patient_id, "2512489996")  # once per citizen
        new = new_episode(episode.episode_id, episode.patient_id)
        assert episodes.create(replace(new, episode=replace(episode, handover=None)))
        if episode.handover is not None:
            assert episodes.offer_handover(episode, episode.handover)

    return Directories(DynamoEpisodeDirectory(tables["episodes"]), store)


def test_an_episode_names_whom_it_concerns_and_who_holds_it(directories):
    # Given an episode as a referral stored it
    episode = new_episode("epi_1", PATIENT).episode
    directories.store(episode)
    # Then its relations name the citizen, the area, the status and both organisations, and no receiver
    assert directories.directory.relations("epi_1") == EpisodeRelations(
        "epi_1", PATIENT, "copd", EpisodeStatus.PLANNED, CREATED, TREATING, MONITORING, None)


def test_a_pending_handover_names_its_receiver(directories):
    directories.store(replace(new_episode("epi_1", PATIENT).episode, handover=OFFER))
    relations = directories.directory.relations("epi_1")
    assert relations is not None and relations.handover_to == HOSPITAL
    assert relations.held_by(MONITORING) == {Relation.MONITORING}
    assert relations.held_by(HOSPITAL) == {Relation.OFFERED}


def test_an_unknown_episode_has_no_relations(directories):
    assert directories.directory.relations("epi_unknown") is None


def test_a_citizen_s_open_episodes_are_listed_with_their_relations(directories):
    # Given a citizen with a COPD and a heart-failure episode, and another citizen's episode
    copd = new_episode("epi_1", PATIENT).episode
    heart = replace(new_episode("epi_2", PATIENT, "heart_failure").episode, handover=OFFER)
    directories.store(copd)
    directories.store(heart)
    directories.store(new_episode("epi_3", "pat_000000000000000000000002").episode)
    # Then the citizen's open episodes are both, in episode order, each with its organisations
    assert directories.directory.open_relations(PATIENT) == [relations_of(copd), relations_of(heart)]


def test_a_citizen_without_an_open_episode_has_no_open_relations(directories):
    assert directories.directory.open_relations("pat_unknown") == []
