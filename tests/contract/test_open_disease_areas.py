"""The upload service's view of a citizen's open disease areas (functions.device_uploads.logic.
OpenDiseaseAreas), for the fake and for DynamoDbOpenDiseaseAreas under moto: the areas of the episodes the
referral intake opened and has not ended, of that citizen only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from functions.device_uploads.logic import OpenDiseaseAreas
from functions.device_uploads.repository import DynamoDbOpenDiseaseAreas
from functions.referral_intake.repository import DynamoEpisodeStore
from tests.support.contract import FAKE, REAL
from tests.support.episodes import new_episode, order
from tests.support.fakes import FakeOpenDiseaseAreas
from tests.support.profiles import citizen_store

ENDED_AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PATIENT, OTHER_PATIENT = "pat_000000000000000000000001", "pat_000000000000000000000002"


@dataclass
class Areas:
    """The view, and how a test opens and ends a citizen's episode of an area (the referral intake's
    writes)."""

    view: OpenDiseaseAreas
    open_episode: Callable[[str, str], None]  # patient id, disease area
    end_episode: Callable[[str, str], None]


@pytest.fixture(params=[FAKE, REAL])
def areas(request) -> Areas:
    if request.param == FAKE:
        fake = FakeOpenDiseaseAreas()
        return Areas(fake, fake.open, fake.end)
    names = request.getfixturevalue("moto_resources")
    tables = names.tables
    citizens = citizen_store(names)
    episodes = DynamoEpisodeStore(tables["episodes"], tables["devices"], citizens,
                                  evaluations_table=tables["evaluations"])

    def open_real(patient_id: str, disease_area: str) -> None:
        citizens.add_patient(f"pseudonym-{patient_id}", patient_id, "2512489996")
        assert episodes.create(new_episode(f"epi_{patient_id[-1]}_{disease_area}", patient_id, disease_area))

    def end_real(patient_id: str, disease_area: str) -> None:
        episode = episodes.episode(f"epi_{patient_id[-1]}_{disease_area}")
        assert episode is not None
        assert episodes.end(episode, ENDED_AT, order(episode.episode_id, "collect"), revoked=(), kept={})

    return Areas(DynamoDbOpenDiseaseAreas(tables["episodes"]), open_real, end_real)


def test_a_citizen_without_episodes_has_no_open_area(areas):
    assert areas.view.open_disease_areas(PATIENT) == frozenset()


def test_each_open_episode_gives_its_area_until_it_ends(areas):
    # Given a citizen with a COPD and a heart-failure episode
    areas.open_episode(PATIENT, "copd")
    areas.open_episode(PATIENT, "heart_failure")
    # Then both areas are open
    assert areas.view.open_disease_areas(PATIENT) == {"copd", "heart_failure"}
    # When the COPD episode ends, Then only heart failure is open
    areas.end_episode(PATIENT, "copd")
    assert areas.view.open_disease_areas(PATIENT) == {"heart_failure"}


def test_another_citizens_episodes_are_not_theirs(areas):
    # Given another citizen's open episode
    areas.open_episode(OTHER_PATIENT, "copd")
    # Then the first citizen has no open area, and the other one has theirs
    assert areas.view.open_disease_areas(PATIENT) == frozenset()
    assert areas.view.open_disease_areas(OTHER_PATIENT) == {"copd"}
