"""The consent to sharing a referral gives, with in-memory fakes (referral_intake/logic.py): recorded with
the episode as the treating organisation's, only where the referral says so, and not again on a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.referral_intake.logic import EpisodeService, referral_consent
from functions.shared.citizen_records import ConsentSource, ConsentStatus
from functions.shared.clock import iso_utc
from functions.shared.principal import Principal, Role
from tests.support.episodes import referral
from tests.support.fakes import FakeAccessLog, FakeCitizenStore, FakeEpisodeStore, FakePseudonyms
from tests.support.organisations import TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
DOCTOR = Principal(role=Role.CLINICIAN, subject="doc-1", organisation=TREATING)


@pytest.fixture
def store():
    return FakeEpisodeStore(FakeCitizenStore())


def service_at(store: FakeEpisodeStore, now: datetime) -> EpisodeService:
    return EpisodeService(store, store.citizens, FakePseudonyms(), FakeAccessLog(), clock=lambda: now)


@pytest.mark.parametrize("status", [ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN])
def test_a_referral_saying_so_records_the_consent_with_its_episode(store, status):
    # When the treating organisation refers a citizen with the citizen's say on sharing
    reply, _ = service_at(store, NOW).accept_referral(referral(sharing_consent=status), DOCTOR)
    # Then the consent holds, recorded by the treating organisation at the referral's time; the reply says it
    consent = store.consents[reply.patient_id]
    assert (consent.status, consent.organisation, consent.recorded_at, consent.source) == (
        status, TREATING, iso_utc(NOW), ConsentSource.REFERRAL)
    assert reply.sharing_consent == status


def test_a_referral_saying_nothing_records_no_consent(store):
    # When the referral leaves sharing_consent out
    reply, _ = service_at(store, NOW).accept_referral(referral(), DOCTOR)
    # Then no consent is recorded (nothing will be shared), and the reply says none was
    assert store.consents == {}
    assert reply.sharing_consent is None


def test_a_retried_referral_records_nothing_new(store):
    # Given a referral granting consent
    first, _ = service_at(store, NOW).accept_referral(referral(sharing_consent="granted"), DOCTOR)
    recorded = store.consents[first.patient_id]
    # When it is sent again a minute later
    again, created = service_at(store, NOW + timedelta(minutes=1)).accept_referral(
        referral(sharing_consent="granted"), DOCTOR)
    # Then the reply is the first one and the consent is the one recorded then
    assert (again, created) == (first, False)
    assert store.consents[first.patient_id] == recorded


def test_the_consent_id_follows_from_the_referral_not_from_the_attempt():
    # Given the same referral decided at two instants, and another referral
    one = referral_consent(referral(sharing_consent="granted"), NOW)
    later = referral_consent(referral(sharing_consent="granted"), NOW + timedelta(seconds=3))
    other = referral_consent(referral(referral_id="ref-2", sharing_consent="granted"), NOW)
    # Then the first two have one id, the other its own, and none names the CPR number
    assert one is not None and later is not None and other is not None
    assert one.consent_id == later.consent_id != other.consent_id
    assert one.consent_id.startswith("con_") and "2512489996" not in one.consent_id
