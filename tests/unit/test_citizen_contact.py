"""The clinicians' read of whom an episode is for (citizen_contact.py), with in-memory fakes: the treating and
the monitoring organisation and the one a pending handover is offered to read the citizen's CPR number, name
and phone as the profile holds them now, logged before the profile is read; anyone else is the one 403 of
something that does not exist, logged as denied when the citizen is known."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.referral_intake.citizen_contact import READ_CITIZEN, CitizenContacts
from functions.referral_intake.logic import EpisodeService
from functions.shared.access_log import Outcome
from functions.shared.errors import NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.episodes import referral
from tests.support.fakes import FakeAccessLog, FakeCitizenStore, FakeEpisodeStore, FakePseudonyms
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CPR, NAME, PHONE = "2512489996", "Karen Jensen", "+45 20 30 40 50"
UNKNOWN_EPISODE = "epi_" + "0" * 24


class UnavailableAccessLog(FakeAccessLog):
    def record(self, *args: object, **kwargs: object) -> None:
        raise ServiceUnavailable("the access log cannot be written now")


class WatchedProfiles(FakeCitizenStore):
    """The citizen store, noting for each profile read the allowed entries the access log held then."""

    def __init__(self, access_log: FakeAccessLog) -> None:
        super().__init__()
        self.access_log = access_log
        self.logged_at_reads: list[int] = []

    def profile(self, patient_id: str) -> dict[str, str] | None:
        self.logged_at_reads.append(len(self.access_log.entries))
        return super().profile(patient_id)


class UnopenableProfiles(FakeCitizenStore):
    """The citizen store whose profile key KMS refuses to use now."""

    def profile(self, patient_id: str) -> dict[str, str] | None:
        raise ServiceUnavailable("the citizen's profile cannot be read or written now; retry the request")


def clinician(organisation: str) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=organisation)


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def citizens(access_log):
    return WatchedProfiles(access_log)


@pytest.fixture
def store(citizens):
    return FakeEpisodeStore(citizens)


@pytest.fixture
def episodes(store, citizens, access_log):
    return EpisodeService(store, citizens, FakePseudonyms(), access_log, lambda: NOW)


@pytest.fixture
def contacts(store, citizens, access_log):
    return CitizenContacts(store, citizens, access_log, lambda: NOW)


def reads(access_log: FakeAccessLog, outcome: Outcome = Outcome.ALLOWED) -> list[tuple[str | None, ...]]:
    """The citizen reads the access log holds with that outcome: (patient, organisation, action, episode)."""
    entries = access_log.entries if outcome is Outcome.ALLOWED else access_log.denials
    return [entry for entry in entries if entry[2] == READ_CITIZEN]


def offered_to_hospital(episodes: EpisodeService, episode_id: str) -> None:
    episodes.offer_handover(episode_id, HOSPITAL, clinician(MONITORING))


@pytest.mark.parametrize("organisation", [TREATING, MONITORING, HOSPITAL])
def test_the_episodes_organisations_read_whom_it_is_for_logged_before_the_profile_is_read(
        episodes, contacts, access_log, citizens, organisation):
    # Given a referred citizen whose monitoring is offered to the hospital
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    offered_to_hospital(episodes, reply.episode_id)
    # When a clinician of the treating, the monitoring or the offered organisation reads whom it is for
    contact = contacts.contact(reply.episode_id, clinician(organisation))
    # Then it gets the citizen's CPR number, name and phone, and nothing else
    assert contact.model_dump() == {"cpr": CPR, "name": NAME, "phone": PHONE}
    # And the read is one allowed entry of the citizen under the episode, written before the profile was read
    assert reads(access_log) == [(reply.patient_id, organisation, READ_CITIZEN, reply.episode_id)]
    assert citizens.logged_at_reads[-1] == len(access_log.entries)
    assert reads(access_log, Outcome.DENIED) == []


def test_the_reply_is_the_profile_as_it_is_now(episodes, contacts):
    # Given a referred citizen, referred again in another area with a new phone number
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    episodes.accept_referral(referral(referral_id="ref-2", disease_area="heart_failure", citizen={
        "cpr": CPR, "name": NAME, "phone": "+45 99 88 77 66"}), clinician(TREATING))
    # When the first episode's monitoring nurse reads whom it is for, Then she gets the new number
    assert contacts.contact(reply.episode_id, clinician(MONITORING)).phone == "+45 99 88 77 66"


def test_a_profile_without_contact_details_gives_those_known(episodes, contacts, citizens):
    # Given a referred citizen whose profile holds only the CPR number
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    citizens.profiles[reply.patient_id] = {"cpr": CPR}
    # When the monitoring nurse reads whom the episode is for, Then name and phone are null
    assert contacts.contact(reply.episode_id, clinician(MONITORING)).model_dump() == {
        "cpr": CPR, "name": None, "phone": None}


@pytest.mark.parametrize("refused", ["no part in it", "the logistics centre's organisation",
                                     "handed it over", "declined it", "its offer withdrawn",
                                     "its offer ended with the episode"])
def test_a_refusal_of_a_known_citizen_is_the_403_of_nothing_and_is_logged_as_denied(
        episodes, contacts, access_log, citizens, refused):
    # Given a referred citizen, and an organisation that has (or is left with) no part in the episode
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    episode_id, organisation = reply.episode_id, {
        "no part in it": OTHER, "the logistics centre's organisation": CENTRE, "handed it over": MONITORING,
    }.get(refused, HOSPITAL)
    if refused not in ("no part in it", "the logistics centre's organisation"):
        offered_to_hospital(episodes, episode_id)
    if refused == "handed it over":
        episodes.accept_handover(episode_id, clinician(HOSPITAL))
    elif refused == "declined it":
        episodes.decline_handover(episode_id, clinician(HOSPITAL))
    elif refused == "its offer withdrawn":
        episodes.withdraw_handover(episode_id, clinician(MONITORING))
    elif refused == "its offer ended with the episode":
        episodes.end(episode_id, clinician(TREATING))
    # When a clinician of it asks whom the episode is for
    with pytest.raises(NoRelation) as refusal:
        contacts.contact(episode_id, clinician(organisation))
    # Then it is the one 403 that tells nothing, no profile was read, and the refusal is logged as denied
    assert refusal.type is NoRelation and citizens.logged_at_reads == []
    assert reads(access_log, Outcome.DENIED) == [(reply.patient_id, organisation, READ_CITIZEN, episode_id)]
    assert reads(access_log) == []


def test_an_ended_episode_is_still_read_by_its_treating_and_monitoring_organisations(episodes, contacts):
    # Given an episode that has ended (its record of care stays with the organisations that held it)
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    episodes.end(reply.episode_id, clinician(TREATING))
    # When its treating and its monitoring organisation read whom it was for, Then they get the citizen
    for organisation in (TREATING, MONITORING):
        assert contacts.contact(reply.episode_id, clinician(organisation)).cpr == CPR


def test_an_unknown_episode_is_the_same_403_and_leaves_no_entry(contacts, access_log):
    with pytest.raises(NoRelation):
        contacts.contact(UNKNOWN_EPISODE, clinician(TREATING))
    assert access_log.entries == access_log.denials == []


def test_nothing_is_read_when_the_access_cannot_be_logged(episodes, store, citizens):
    # Given a referral, and an access log that cannot be written
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    contacts = CitizenContacts(store, citizens, UnavailableAccessLog(), lambda: NOW)
    # When the monitoring nurse reads whom the episode is for, Then it is a 503 and the profile was not read
    with pytest.raises(ServiceUnavailable):
        contacts.contact(reply.episode_id, clinician(MONITORING))
    assert citizens.logged_at_reads == []


def test_a_profile_that_cannot_be_opened_is_a_503(episodes, store, access_log):
    # Given a referral, and a profile key KMS refuses to use now
    reply, _ = episodes.accept_referral(referral(), clinician(TREATING))
    contacts = CitizenContacts(store, UnopenableProfiles(), access_log, lambda: NOW)
    # When the monitoring nurse reads whom the episode is for, Then it is a 503, nothing returned
    with pytest.raises(ServiceUnavailable):
        contacts.contact(reply.episode_id, clinician(MONITORING))
