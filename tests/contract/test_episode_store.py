"""The episode store's contract (functions.referral_intake.logic.EpisodeStore), for the fake and for
DynamoEpisodeStore under moto: what each write requires, and what the reads show afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.devices.models import Device
from functions.devices.repository import DynamoDeviceRegistry
from functions.referral_intake.logic import EpisodeStore
from functions.referral_intake.models import Episode, Handover
from functions.referral_intake.repository import DynamoEpisodeStore
from functions.shared.device_records import DeviceStatus
from functions.shared.dynamo import get_item
from functions.shared.episode_records import EpisodeStatus
from functions.shared.evaluation_records import head_key
from functions.shared.thresholds import Thresholds, ThresholdVersion
from tests.support.contract import FAKE, REAL
from tests.support.episodes import CREATED, new_episode, order
from tests.support.fakes import FakeCitizenStore, FakeEpisodeStore
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING
from tests.support.profiles import citizen_store

LATER = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PATIENT = "pat_000000000000000000000001"
CPR = "2512489996"


@dataclass
class Stores:
    """The episode store, how a test arranges what other ports write (a citizen, a device), and the
    organisation whose worklist holds an episode's row (the evaluations table's head), if any."""

    episodes: EpisodeStore
    add_citizen: Callable[[str], bool]
    register_device: Callable[[str, str, tuple[str, ...]], None]  # device id, patient id, open episodes
    revoke_device: Callable[[str], None]
    worklist_organisation: Callable[[str], str | None]


@pytest.fixture(params=[FAKE, REAL])
def stores(request) -> Stores:
    if request.param == FAKE:
        fake_citizens = FakeCitizenStore()
        fake = FakeEpisodeStore(fake_citizens)
        return Stores(fake, lambda patient_id: fake_citizens.add_patient(f"p-{patient_id}", patient_id, CPR),
                      lambda device_id, patient_id, episode_ids: fake.link(device_id, *episode_ids),
                      fake.revoke, fake.worklist_organisations.get)
    names = request.getfixturevalue("moto_resources")
    tables = names.tables
    citizens = citizen_store(names)
    registry = DynamoDeviceRegistry(tables["citizens"], tables["devices"], tables["episodes"])

    def register_device(device_id: str, patient_id: str, episode_ids: tuple[str, ...]) -> None:
        assert registry.add_device(Device(
            device_id=device_id, patient_id=patient_id, status=DeviceStatus.ACTIVE, vendor="Nonin",
            model="3230", serial=device_id, measurement_types=("spo2",), registered_by=CENTRE,
            registered_at=CREATED, episode_ids=episode_ids,
        ))

    def revoke_device(device_id: str) -> None:
        device = registry.find_device(device_id)
        assert device is not None and registry.revoke_device(device, CREATED)

    return Stores(
        DynamoEpisodeStore(tables["episodes"], tables["devices"], citizens,
                           evaluations_table=tables["evaluations"]),
        lambda patient_id: citizens.add_patient(f"p-{patient_id}", patient_id, CPR),
        register_device,
        revoke_device,
        lambda episode_id: (get_item(tables["evaluations"], head_key(episode_id)) or {}).get(
            "worklist_organisation", {}).get("S"),
    )


def opened(stores: Stores, episode_id: str = "epi_1", disease_area: str = "copd", centre: str = CENTRE,
           patient_id: str = PATIENT) -> Episode:
    """An episode created for a known citizen, as the store reads it back."""
    stores.add_citizen(patient_id)
    assert stores.episodes.create(new_episode(episode_id, patient_id, disease_area, centre))
    episode = stores.episodes.episode(episode_id)
    assert episode is not None
    return episode


def offer(to: str = HOSPITAL, by: str = MONITORING) -> Handover:
    return Handover(to_organisation=to, offered_by=by, offered_at=LATER)


def ended(stores: Stores, episode: Episode) -> Episode:
    assert stores.episodes.end(episode, LATER, order(episode.episode_id, "collect"), revoked=(), kept={})
    current = stores.episodes.episode(episode.episode_id)
    assert current is not None and current.status == EpisodeStatus.ENDED
    return current


# --- creating and reading -----------------------------------------------------------------------------


def test_a_created_episode_is_read_back_with_its_referral_guard_centre_and_thresholds(stores):
    # Given a citizen, When an episode is created for them
    new = new_episode("epi_1", PATIENT)
    stores.add_citizen(PATIENT)
    assert stores.episodes.create(new)
    # Then every read shows what was written
    assert stores.episodes.episode("epi_1") == new.episode
    assert stores.episodes.find_referral(TREATING, new.referral.referral_id) == new.referral
    assert stores.episodes.find_referral(OTHER, new.referral.referral_id) is None
    assert stores.episodes.open_episode_id(PATIENT, "copd") == "epi_1"
    assert stores.episodes.open_episode_id(PATIENT, "heart_failure") is None
    assert stores.episodes.logistics_centre(PATIENT) == CENTRE
    assert versions(stores) == [new.thresholds]
    assert stores.episodes.episode("epi_unknown") is None


def test_a_referral_id_used_before_or_an_area_already_open_writes_nothing(stores):
    opened(stores)
    # The same referral id again (another episode id and area)
    again = new_episode("epi_2", PATIENT, "heart_failure", referral_id="ref-epi_1")
    assert not stores.episodes.create(again)
    # The same area again (another referral id)
    assert not stores.episodes.create(new_episode("epi_3", PATIENT, "copd"))
    assert stores.episodes.episode("epi_2") is None and stores.episodes.episode("epi_3") is None
    assert stores.episodes.open_episode_id(PATIENT, "heart_failure") is None


def test_a_citizen_keeps_one_logistics_centre_while_an_episode_is_open(stores):
    # Given an open episode served by one centre
    first = opened(stores)
    # Then another area from another centre is refused, and from the same centre accepted
    assert not stores.episodes.create(new_episode("epi_2", PATIENT, "heart_failure", centre=OTHER))
    assert stores.episodes.create(new_episode("epi_3", PATIENT, "heart_failure"))
    # And once nothing is open, the citizen may get another centre
    ended(stores, first)
    ended(stores, stores.episodes.episode("epi_3"))
    assert stores.episodes.logistics_centre(PATIENT) is None
    assert stores.episodes.create(new_episode("epi_4", PATIENT, "diabetes", centre=OTHER))
    assert stores.episodes.logistics_centre(PATIENT) == OTHER


def test_an_episode_for_a_citizen_the_store_does_not_know_is_refused(stores):
    assert not stores.episodes.create(new_episode("epi_1", "pat_000000000000000000000999"))
    assert stores.episodes.episode("epi_1") is None


# --- thresholds ---------------------------------------------------------------------------------------


def version(number: int, valid_from: datetime = LATER) -> ThresholdVersion:
    thresholds = Thresholds.model_validate({"absolute": {"spo2": {"red_low": 86}}})
    return ThresholdVersion(number, valid_from, thresholds, MONITORING, LATER)


def versions(stores: Stores, episode_id: str = "epi_1") -> list[ThresholdVersion]:
    """Every version of the episode (a history far shorter than a page)."""
    page, more = stores.episodes.threshold_versions(episode_id, 0, 100)
    assert not more
    return page


def with_versions(stores: Stores, count: int) -> Episode:
    """The opened episode with versions 2 to ``count`` added, each valid a day after the one before."""
    episode = opened(stores)
    for number in range(2, count + 1):
        assert stores.episodes.add_threshold_version(episode, version(number, LATER + timedelta(days=number)))
        episode = replace(episode, threshold_version=number)
    return episode


def test_a_threshold_version_is_added_only_on_top_of_the_version_read(stores):
    episode = opened(stores)
    # When version 2 is added on version 1, Then it is stored and the episode is at version 2
    assert stores.episodes.add_threshold_version(episode, version(2))
    assert [v.version for v in versions(stores)] == [1, 2]
    assert stores.episodes.episode("epi_1").threshold_version == 2
    # When another writer still believes version 1 is current, Then its version 2 is refused
    assert not stores.episodes.add_threshold_version(episode, replace(version(2), set_by=OTHER))
    assert versions(stores)[1].set_by == MONITORING


def test_a_threshold_change_keeps_a_pending_offer(stores):
    # Given an offer made after the episode was read
    episode = opened(stores)
    assert stores.episodes.offer_handover(episode, offer())
    # When a threshold version is added to the episode as read before the offer
    assert stores.episodes.add_threshold_version(episode, version(2))
    # Then the offer is still pending, at the new version
    current = stores.episodes.episode("epi_1")
    assert (current.handover, current.threshold_version) == (offer(), 2)


def test_an_ended_episode_gets_no_threshold_version(stores):
    episode = ended(stores, opened(stores))
    assert not stores.episodes.add_threshold_version(episode, version(2))
    assert len(versions(stores)) == 1


def test_the_threshold_history_is_read_a_page_at_a_time_oldest_first(stores):
    # Given an episode of five versions
    with_versions(stores, 5)
    # When read two at a time, each page continuing after the last version of the one before
    pages = [stores.episodes.threshold_versions("epi_1", after, 2) for after in (0, 2, 4)]
    # Then the pages hold the versions in order, and say whether more follow
    assert [([v.version for v in page], more) for page, more in pages] == [([1, 2], True), ([3, 4], True),
                                                                          ([5], False)]


def test_the_latest_version_and_the_version_valid_at_an_instant_are_read_without_the_history(stores):
    # Given versions 1 (valid from the referral) to 3, each valid a day after the one before
    with_versions(stores, 3)
    # Then the latest is version 3, whatever the instant
    assert stores.episodes.latest_threshold_version("epi_1").version == 3
    # And at an instant, the newest version not starting after it is valid; before them all, the first
    at = [(LATER + timedelta(days=2), 2), (LATER + timedelta(days=2, seconds=-1), 1),
          (LATER + timedelta(days=30), 3), (CREATED - timedelta(days=1), 1)]
    for instant, valid in at:
        assert stores.episodes.threshold_version_at("epi_1", instant).version == valid, instant


# --- handover -----------------------------------------------------------------------------------------


def test_an_offer_by_the_monitoring_organisation_is_recorded(stores):
    episode = opened(stores)
    assert stores.episodes.offer_handover(episode, offer())
    assert stores.episodes.episode("epi_1").handover == offer()


def test_an_offer_by_an_organisation_without_responsibility_is_refused(stores):
    episode = opened(stores)
    assert not stores.episodes.offer_handover(episode, offer(by=TREATING))
    assert stores.episodes.episode("epi_1").handover is None


def test_a_second_offer_while_one_is_pending_is_refused(stores):
    episode = opened(stores)
    stores.episodes.offer_handover(episode, offer())
    assert not stores.episodes.offer_handover(episode, offer(to=OTHER))
    assert stores.episodes.episode("epi_1").handover == offer()


def test_an_ended_episode_cannot_be_offered(stores):
    episode = ended(stores, opened(stores))
    assert not stores.episodes.offer_handover(episode, offer())


def test_the_offered_organisation_accepts_and_takes_responsibility(stores):
    episode = opened(stores)
    stores.episodes.offer_handover(episode, offer())
    assert not stores.episodes.accept_handover(episode, OTHER)
    assert stores.worklist_organisation("epi_1") is None  # the refusal moved nothing
    assert stores.episodes.accept_handover(episode, HOSPITAL)
    accepted = stores.episodes.episode("epi_1")
    assert (accepted.monitoring_organisation, accepted.handover) == (HOSPITAL, None)
    # And the episode's worklist row moved with it
    assert stores.worklist_organisation("epi_1") == HOSPITAL
    # And there is nothing left to accept
    assert not stores.episodes.accept_handover(episode, HOSPITAL)


def test_an_offer_cannot_be_accepted_once_the_episode_ended(stores):
    episode = opened(stores)
    stores.episodes.offer_handover(episode, offer())
    ended(stores, stores.episodes.episode("epi_1"))
    assert not stores.episodes.accept_handover(episode, HOSPITAL)
    assert stores.episodes.episode("epi_1").monitoring_organisation == MONITORING
    assert stores.worklist_organisation("epi_1") is None


def test_the_pending_offer_is_withdrawn_and_only_it(stores):
    episode = opened(stores)
    assert not stores.episodes.withdraw_handover(episode, offer())  # nothing pending
    stores.episodes.offer_handover(episode, offer())
    assert not stores.episodes.withdraw_handover(episode, offer(to=OTHER))
    # The offer is named by its receiver and offerer (not by when it was made)
    assert stores.episodes.withdraw_handover(episode, replace(offer(), offered_at=CREATED))
    assert stores.episodes.episode("epi_1").handover is None


def test_a_decline_by_the_offered_organisation_drops_the_offer_and_says_who_and_when(stores):
    episode = opened(stores)
    stores.episodes.offer_handover(episode, offer())
    assert not stores.episodes.decline_handover(episode, OTHER, LATER)
    assert stores.episodes.decline_handover(episode, HOSPITAL, LATER)
    declined = stores.episodes.episode("epi_1")
    assert (declined.handover, declined.declined_by, declined.declined_at) == (None, HOSPITAL, LATER)
    assert declined.monitoring_organisation == MONITORING


# --- devices and ending -------------------------------------------------------------------------------


def test_a_device_registered_for_an_episode_is_linked_and_activates_it(stores):
    opened(stores)
    stores.register_device("dev_1", PATIENT, ("epi_1",))
    assert stores.episodes.device_links("dev_1") == ("epi_1",)
    assert stores.episodes.device_links("dev_unknown") is None
    linked = stores.episodes.episode("epi_1")
    assert (linked.status, linked.device_ids) == (EpisodeStatus.ACTIVE, ("dev_1",))


def test_ending_releases_the_area_and_the_centre_revokes_and_unlinks_devices(stores):
    # Given two open episodes sharing a scale, and an oximeter for the first only
    opened(stores)
    opened(stores, "epi_2", "heart_failure")
    stores.register_device("dev_scale", PATIENT, ("epi_1", "epi_2"))
    stores.register_device("dev_oximeter", PATIENT, ("epi_1",))
    copd = stores.episodes.episode("epi_1")
    # When the first ends, revoking the oximeter and keeping the scale for the second
    assert stores.episodes.end(copd, LATER, order("epi_1", "collect"), revoked=("dev_oximeter",),
                               kept={"dev_scale": ("epi_2",)})
    # Then it is ended, its area free, the oximeter revoked and the scale linked to the second only
    assert stores.episodes.episode("epi_1").status == EpisodeStatus.ENDED
    assert stores.episodes.episode("epi_1").ended_at == LATER
    assert stores.episodes.open_episode_id(PATIENT, "copd") is None
    assert stores.episodes.logistics_centre(PATIENT) == CENTRE  # the second is still open
    assert stores.episodes.device_links("dev_oximeter") is None
    assert stores.episodes.device_links("dev_scale") == ("epi_2",)
    # And ending it again is refused
    assert not stores.episodes.end(copd, LATER, order("epi_1", "collect_again"), revoked=(), kept={})


def test_ending_is_refused_when_a_device_was_linked_since_the_episode_was_read(stores):
    episode = opened(stores)
    stores.register_device("dev_1", PATIENT, ("epi_1",))
    # When the episode as read before the device came is ended
    assert not stores.episodes.end(episode, LATER, order("epi_1", "collect"), revoked=(), kept={})
    # Then nothing changed: the device would otherwise stay active on an ended episode
    assert stores.episodes.episode("epi_1").status == EpisodeStatus.ACTIVE
    assert stores.episodes.device_links("dev_1") == ("epi_1",)


def test_ending_is_refused_when_an_episode_keeping_a_device_ended_meanwhile(stores):
    opened(stores)
    opened(stores, "epi_2", "heart_failure")
    stores.register_device("dev_scale", PATIENT, ("epi_1", "epi_2"))
    copd, heart = stores.episodes.episode("epi_1"), stores.episodes.episode("epi_2")
    ended(stores, heart)
    # When the first ends believing the second keeps the scale, Then it is refused
    assert not stores.episodes.end(copd, LATER, order("epi_1", "collect"), revoked=(),
                                   kept={"dev_scale": ("epi_2",)})
    assert stores.episodes.episode("epi_1").is_open


def test_ending_is_refused_when_a_kept_device_was_revoked_meanwhile(stores):
    opened(stores)
    opened(stores, "epi_2", "heart_failure")
    stores.register_device("dev_scale", PATIENT, ("epi_1", "epi_2"))
    copd = stores.episodes.episode("epi_1")
    stores.revoke_device("dev_scale")
    # When the first ends believing the scale is still active for the second, Then it is refused
    assert not stores.episodes.end(copd, LATER, order("epi_1", "collect"), revoked=(),
                                   kept={"dev_scale": ("epi_2",)})
    assert stores.episodes.episode("epi_1").is_open


def test_ending_passes_over_a_device_to_revoke_that_is_unknown_or_already_revoked(stores):
    opened(stores)
    stores.register_device("dev_1", PATIENT, ("epi_1",))
    episode = stores.episodes.episode("epi_1")
    stores.revoke_device("dev_1")
    # When the episode ends revoking a device revoked meanwhile and one never registered
    assert stores.episodes.end(episode, LATER, order("epi_1", "collect"), revoked=("dev_1", "dev_unknown"),
                               kept={})
    # Then it is ended, and neither device is active
    assert stores.episodes.episode("epi_1").status == EpisodeStatus.ENDED
    assert stores.episodes.device_links("dev_1") is None
    assert stores.episodes.device_links("dev_unknown") is None
