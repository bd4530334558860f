"""The citizen's consent to sharing recorded by POST /v1/consents, with in-memory fakes (consents.py): who
may record it (relation x status x the consent recorded before), the refusal that tells nothing, the access
log first, and a race lost to a later consent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from functions.cross_sector_sharing.consents import ConsentService
from functions.cross_sector_sharing.relations import CitizenRelations
from functions.shared.citizen_records import ConsentSource, ConsentStatus, SharingConsent
from functions.shared.clock import iso_utc
from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import Conflict, Forbidden, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.consents import FakeConsentStore
from tests.support.fakes import FakeAccessLog, FakeCitizenStore, FakeEpisodeDirectory, FakePseudonyms
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CPR = "2512489996"
UNKNOWN_CPR = "0101709995"
PATIENT = "pat_1"
COPD = "epi_000000000000000000000001"
HEART = "epi_000000000000000000000002"
GRANTED, WITHDRAWN = ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN


def clinician(organisation: str) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=organisation)


def episode(episode_id: str = COPD, status: EpisodeStatus = EpisodeStatus.ACTIVE, treating: str = TREATING,
            monitoring: str = MONITORING, handover_to: str | None = None) -> EpisodeRelations:
    return EpisodeRelations(episode_id, PATIENT, "copd", status, NOW - timedelta(days=30), treating,
                            monitoring, handover_to)


def earlier(status: ConsentStatus, minutes: int = 60) -> SharingConsent:
    return SharingConsent("con_earlier", status, iso_utc(NOW - timedelta(minutes=minutes)), TREATING,
                          ConsentSource.REFERRAL)


def recorded_first(store: FakeConsentStore, consent: SharingConsent) -> None:
    """Another request records ``consent`` just before the next write (once)."""

    def concurrent() -> None:
        store.before_record = lambda: None
        assert store.record(PATIENT, consent)

    store.before_record = concurrent


class Setting:
    """The service with its fakes: the citizen of CPR known as PATIENT, with the given episodes."""

    def __init__(self, *episodes: EpisodeRelations, consent: SharingConsent | None = None) -> None:
        self.citizens = FakeCitizenStore()
        self.citizens.add_patient(FakePseudonyms().pseudonym(CPR), PATIENT, CPR)
        self.store = FakeConsentStore()
        if consent is not None:
            assert self.store.record(PATIENT, consent)
        self.access_log = FakeAccessLog()
        relations = CitizenRelations(self.citizens, FakePseudonyms(), FakeEpisodeDirectory(episodes))
        self.service = ConsentService(self.store, relations, self.access_log, clock=lambda: NOW)


@pytest.mark.parametrize("caller", [TREATING, MONITORING])
@pytest.mark.parametrize("before", [None, GRANTED, WITHDRAWN])
@pytest.mark.parametrize("requested", [GRANTED, WITHDRAWN])
def test_the_treating_or_monitoring_organisation_records_a_change_and_a_repeat_changes_nothing(
        caller, before, requested):
    # Given an open episode of the citizen, and the consent recorded before (if any)
    setting = Setting(episode(), consent=earlier(before) if before else None)
    # When a clinician of the treating or the monitoring organisation records the consent
    consent, recorded = setting.service.record(CPR, requested, clinician(caller))
    # Then a consent other than the one holding is recorded, as the caller's, from now
    if before == requested:
        assert (recorded, consent) == (False, earlier(before))
        assert setting.store.history[PATIENT] == [earlier(before)]
    else:
        assert recorded
        assert (consent.status, consent.recorded_at, consent.organisation, consent.source) == (
            requested, iso_utc(NOW), caller, ConsentSource.REQUEST)
        assert consent.consent_id.startswith("con_")
        assert setting.store.current(PATIENT) == consent
        assert setting.store.history[PATIENT][-1] == consent
    # And the request is access-logged either way
    assert setting.access_log.entries == [(PATIENT, caller, "record_consent", COPD)]


@pytest.mark.parametrize("relations, caller", [
    pytest.param([episode()], OTHER, id="no part in the episode"),
    pytest.param([episode(handover_to=HOSPITAL)], HOSPITAL, id="offered the monitoring, not accepted"),
    pytest.param([episode(status=EpisodeStatus.ENDED)], TREATING, id="treated an ended episode"),
    pytest.param([], TREATING, id="the citizen has no episode"),
])
def test_an_organisation_without_an_open_episode_it_treats_or_monitors_is_refused(relations, caller):
    # Given the citizen with a consent granted, and episodes the caller has no open relation to
    setting = Setting(*relations, consent=earlier(GRANTED))
    # When the caller withdraws the consent
    with pytest.raises(Forbidden) as refused:
        setting.service.record(CPR, WITHDRAWN, clinician(caller))
    # Then it is refused like a citizen unknown to Telehub, nothing is logged, and the consent holds
    with pytest.raises(Forbidden) as unknown:
        setting.service.record(UNKNOWN_CPR, WITHDRAWN, clinician(caller))
    assert (refused.value.message, refused.value.problems) == (unknown.value.message, unknown.value.problems)
    assert setting.access_log.entries == []
    assert setting.store.current(PATIENT) == earlier(GRANTED)


def test_the_request_is_logged_under_each_open_episode_the_caller_treats_or_monitors():
    # Given two open episodes the caller monitors, one it has no part in and one it monitored, ended
    setting = Setting(episode(COPD), episode(HEART, treating=HOSPITAL),
                      episode("epi_000000000000000000000003", treating=HOSPITAL, monitoring=OTHER),
                      episode("epi_000000000000000000000004", status=EpisodeStatus.ENDED))
    # When it records the consent
    setting.service.record(CPR, GRANTED, clinician(MONITORING))
    # Then the access log names the two open episodes it monitors
    assert setting.access_log.entries == [(PATIENT, MONITORING, "record_consent", COPD),
                                          (PATIENT, MONITORING, "record_consent", HEART)]


def test_nothing_is_recorded_when_the_access_log_cannot_be_written(monkeypatch):
    # Given an access log that refuses
    setting = Setting(episode(), consent=earlier(GRANTED))

    def unavailable(*_: object) -> None:
        raise ServiceUnavailable("the access log is busy")

    monkeypatch.setattr(setting.access_log, "record_many", unavailable)
    # When the consent is withdrawn, Then the request fails and the granted consent holds
    with pytest.raises(ServiceUnavailable):
        setting.service.record(CPR, WITHDRAWN, clinician(TREATING))
    assert setting.store.history[PATIENT] == [earlier(GRANTED)]


def test_a_withdrawal_losing_to_a_later_renewal_is_a_conflict_and_the_later_consent_holds():
    # Given a granted consent, and another request's consent, granted again and stamped later (a withdrawal
    # and a renewal came between this request's read and its write), recorded just before this one writes
    setting = Setting(episode(), consent=earlier(GRANTED))
    renewal = SharingConsent("con_renewal", GRANTED, iso_utc(NOW + timedelta(seconds=1)), MONITORING,
                             ConsentSource.REQUEST)
    recorded_first(setting.store, renewal)
    # When this request's withdrawal is written
    with pytest.raises(Conflict):
        setting.service.record(CPR, WITHDRAWN, clinician(TREATING))
    # Then the later renewal holds, and the withdrawal was not kept
    assert setting.store.current(PATIENT) == renewal
    assert [c.consent_id for c in setting.store.history[PATIENT]] == ["con_earlier", "con_renewal"]


def test_a_request_losing_to_a_later_one_of_the_same_status_is_answered_with_it():
    # Given a withdrawn consent, and another request's renewal recorded (stamped later) just before this
    # request's renewal is written
    setting = Setting(episode(), consent=earlier(WITHDRAWN))
    renewal = SharingConsent("con_renewal", GRANTED, iso_utc(NOW + timedelta(seconds=1)), MONITORING,
                             ConsentSource.REQUEST)
    recorded_first(setting.store, renewal)
    # When this request renews it too
    consent, recorded = setting.service.record(CPR, GRANTED, clinician(TREATING))
    # Then it is answered with the renewal that holds, as a repeat
    assert (consent, recorded) == (renewal, False)
