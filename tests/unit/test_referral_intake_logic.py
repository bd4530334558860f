"""Episode rules with in-memory fakes: who may act, one open episode per area, one logistics centre,
idempotent referrals, threshold versions, handover races, ending (logic.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.referral_intake.logic import EpisodeService
from functions.referral_intake.models import ThresholdChange
from functions.shared.cursors import encode_cursor
from functions.shared.device_records import DeviceStatus
from functions.shared.episode_records import EpisodeStatus
from functions.shared.errors import Conflict, Forbidden, InvalidInput, NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from functions.shared.thresholds import ThresholdOverrides
from tests.support.episodes import referral
from tests.support.fakes import (
    FakeAccessLog,
    FakeCitizenStore,
    FakeEpisodeStore,
    FakePseudonyms,
)
from tests.support.organisations import CENTRE, HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def doctor(organisation: str = TREATING) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="doc-1", organisation=organisation)


@pytest.fixture
def citizens():
    return FakeCitizenStore()


@pytest.fixture
def store(citizens):
    return FakeEpisodeStore(citizens)


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def service(store, citizens, access_log):
    return EpisodeService(store, citizens, FakePseudonyms(), access_log, clock=lambda: NOW)


def test_a_referral_opens_a_planned_episode_with_the_merged_thresholds_and_a_delivery_order(service, store):
    reply, created = service.accept_referral(
        referral(thresholds={"absolute": {"spo2": {"red_low": 86}}}), doctor())
    assert created and reply.status == EpisodeStatus.PLANNED and reply.threshold_version == 1
    (version,) = store.versions[reply.episode_id]
    assert version.thresholds.absolute["spo2"].given() == [("red_low", 86), ("yellow_low", 92)]
    (order,) = store.orders
    assert order.kind == "deliver" and order.logistics_centre == CENTRE and order.body["package"]


def test_only_the_treating_organisation_refers(service, store):
    with pytest.raises(Forbidden):
        service.accept_referral(referral(), doctor(OTHER))
    assert store.episodes == {}


def test_an_identical_retry_is_the_same_reply_and_another_body_a_conflict(service, store):
    first, _ = service.accept_referral(referral(), doctor())
    again, created = service.accept_referral(referral(), doctor())
    assert (again, created) == (first, False)
    with pytest.raises(Conflict, match="different body"):
        service.accept_referral(referral(note="changed"), doctor())
    assert len(store.episodes) == 1


def test_a_referral_removing_a_limit_is_not_a_retry_of_one_keeping_it(service):
    # Given a referral that keeps the area's default spo2 limits
    service.accept_referral(referral(thresholds={"absolute": {"spo2": {"red_low": 86}}}), doctor())
    # When the same referral_id comes with a body that removes a limit (explicit null)
    removing = referral(thresholds={"absolute": {"spo2": {"red_low": 86, "yellow_low": None}}})
    # Then it is another body, a 409, not a retry answered with the first reply
    with pytest.raises(Conflict):
        service.accept_referral(removing, doctor())


def test_a_referral_is_logged_as_the_episodes_creation_and_its_retry_again(service, access_log):
    # When a referral is accepted, and retried (its reply lost)
    first, _ = service.accept_referral(referral(), doctor())
    again, created = service.accept_referral(referral(), doctor())
    # Then each reply, which names the citizen's patient id, was logged as the episode's creation
    assert not created
    assert access_log.entries == [(first.patient_id, TREATING, "create_episode", first.episode_id)] * 2
    # And a refused referral (another body under the same id) is not
    with pytest.raises(Conflict):
        service.accept_referral(referral(note="changed"), doctor())
    assert len(access_log.entries) == 2


def _unavailable(*_: object) -> None:
    raise ServiceUnavailable("the access log could not store the entry; retry the request")


def test_nothing_is_created_when_the_referral_cannot_be_logged(service, store, access_log, monkeypatch):
    # Given an access log that cannot store entries now
    monkeypatch.setattr(access_log, "record", _unavailable)
    # When a citizen is referred, Then the request fails and no episode, order or referral record is stored
    with pytest.raises(ServiceUnavailable):
        service.accept_referral(referral(), doctor())
    assert (store.episodes, store.orders, store.referrals, store.guards) == ({}, [], {}, {})


def test_one_open_episode_per_area_and_one_logistics_centre(service):
    first, _ = service.accept_referral(referral(), doctor())
    with pytest.raises(Conflict, match=first.episode_id):
        service.accept_referral(referral(referral_id="ref-2"), doctor())
    with pytest.raises(Conflict) as refused:
        service.accept_referral(referral(referral_id="ref-3", disease_area="heart_failure",
                                         logistics_centre=OTHER), doctor())
    assert refused.value.problems[0].field == "logistics_centre"
    hf_referral = referral(referral_id="ref-4", disease_area="heart_failure")
    hf, created = service.accept_referral(hf_referral, doctor())
    assert created and hf.patient_id == first.patient_id


def test_a_referral_refused_for_another_organisations_open_episode_names_nothing_of_it(service, access_log):
    # Given the citizen's open COPD episode, treated and monitored by other organisations
    first, _ = service.accept_referral(referral(), doctor())
    # When a third organisation refers the citizen to COPD monitoring
    with pytest.raises(Conflict) as refused:
        service.accept_referral(referral(referral_id="ref-h", treating_organisation=HOSPITAL),
                                doctor(HOSPITAL))
    # Then the 409 names neither the episode nor the area, only the referral's own field
    said = f"{refused.value} {refused.value.problems}"
    assert first.episode_id not in said and "copd" not in said and TREATING not in said
    assert [problem.field for problem in refused.value.problems] == ["disease_area"]
    # And the only entry of the first episode is its creation: nothing of it was read
    assert [entry for entry in access_log.entries if entry[3] == first.episode_id] == [
        (first.patient_id, TREATING, "create_episode", first.episode_id)]


def test_a_referral_refused_for_an_open_episode_the_organisation_monitors_names_it(service, access_log):
    # Given the citizen's open COPD episode, monitored by MONITORING
    first, _ = service.accept_referral(referral(), doctor())
    # When MONITORING, treating the citizen now, refers the citizen to COPD monitoring
    with pytest.raises(Conflict, match=first.episode_id) as refused:
        service.accept_referral(referral(referral_id="ref-m", treating_organisation=MONITORING),
                                doctor(MONITORING))
    # Then the 409 names the episode it may read anyway, and its area
    assert "copd" in str(refused.value)
    # And naming it was logged as MONITORING reading the episode
    assert access_log.entries[-1] == (first.patient_id, MONITORING, "read_episode", first.episode_id)


def test_thresholds_for_a_type_the_area_does_not_measure_are_refused(service):
    with pytest.raises(InvalidInput) as refused:
        thresholds = {"absolute": {"temperature": {"red_high": 39}}}
        service.accept_referral(referral(disease_area="heart_failure", thresholds=thresholds), doctor())
    assert refused.value.problems[0].field == "thresholds.absolute.temperature"


def test_reading_is_logged_first_and_only_for_the_organisations_of_the_episode(service, access_log):
    reply, _ = service.accept_referral(referral(), doctor())
    access_log.entries.clear()  # the referral's own entry
    with pytest.raises(NoRelation) as not_related:
        service.read(reply.episode_id, doctor(OTHER))
    assert access_log.entries == []
    view = service.read(reply.episode_id, doctor(MONITORING))
    assert view.thresholds.version == 1
    assert access_log.entries == [(reply.patient_id, MONITORING, "read_episode", reply.episode_id)]
    # And an episode that does not exist is refused as another organisation's is
    with pytest.raises(NoRelation) as unknown:
        service.read("epi_000000000000000000000000", doctor())
    assert str(unknown.value) == str(not_related.value)


def change(valid_from=None, **absolute) -> ThresholdChange:
    return ThresholdChange(thresholds=ThresholdOverrides.model_validate({"absolute": absolute}),
                           valid_from=valid_from)


def test_a_threshold_change_is_a_new_version_and_a_retry_adds_none(service, store):
    reply, _ = service.accept_referral(referral(), doctor())
    version = service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor())
    assert version.version == 2
    assert service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor()).version == 2
    assert len(store.versions[reply.episode_id]) == 2


def _with_versions(service, count: int) -> str:
    """A referred episode with versions 2 to ``count``, each changing the RED saturation limit; its id."""
    episode_id = service.accept_referral(referral(), doctor())[0].episode_id
    for number in range(2, count + 1):
        service.change_thresholds(episode_id, change(spo2={"red_low": 80 + number}), doctor())
    return episode_id


def test_the_threshold_history_is_read_a_page_at_a_time_each_read_logged(service, access_log):
    # Given an episode of five threshold versions
    episode_id = _with_versions(service, 5)
    access_log.entries.clear()
    # When the treating organisation reads it two versions at a time, following each page's cursor
    pages, cursor = [], None
    while True:
        view = service.read(episode_id, doctor(), history_limit=2, history_cursor=cursor)
        pages.append([version.version for version in view.threshold_history])
        if (cursor := view.threshold_history_next_cursor) is None:
            break
    # Then the pages hold every version once, oldest first, and each shows the version valid now
    assert pages == [[1, 2], [3, 4], [5]]
    assert view.thresholds.version == 5
    # And each read was logged
    assert [entry[2] for entry in access_log.entries] == ["read_episode"] * 3


def test_a_history_cursor_continues_only_its_own_episodes_history(service, access_log):
    # Given two episodes, and a cursor of the first one's history
    first = _with_versions(service, 3)
    cursor = service.read(first, doctor(), history_limit=1).threshold_history_next_cursor
    second = service.accept_referral(referral(referral_id="ref-2", disease_area="heart_failure"),
                                     doctor())[0].episode_id
    access_log.entries.clear()
    # When the second one is read with it, with no cursor at all, or with one of its history naming no version
    forged = encode_cursor(f"threshold-history#{second}", {"version": "0"})
    for wrong in (cursor, "not-a-cursor", forged):
        with pytest.raises(InvalidInput) as refused:
            service.read(second, doctor(), history_cursor=wrong)
        # Then the read is a 422 naming the cursor, and nothing was returned, so nothing logged as read
        assert refused.value.problems[0].field == "history_cursor"
    assert access_log.entries == []


def test_a_threshold_change_may_not_start_before_the_current_version(service):
    reply, _ = service.accept_referral(referral(), doctor())
    with pytest.raises(InvalidInput) as refused:
        service.change_thresholds(reply.episode_id, change(NOW - timedelta(days=1)), doctor())
    assert refused.value.problems[0].field == "valid_from"


def test_a_threshold_reply_is_access_logged_like_a_read(service, access_log):
    # Given an episode
    reply, _ = service.accept_referral(referral(), doctor())
    access_log.entries.clear()  # the referral's own entry
    # When its thresholds are changed, and the change is retried
    service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor())
    service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor())
    # Then each reply, which holds the thresholds, was logged
    assert access_log.entries == [(reply.patient_id, TREATING, "change_thresholds", reply.episode_id)] * 2


def test_a_retried_change_with_valid_from_returns_the_version_it_made(service, store):
    # Given a change scheduled from a future instant
    reply, _ = service.accept_referral(referral(), doctor())
    later = NOW + timedelta(days=2)
    first = service.change_thresholds(reply.episode_id, change(later, spo2={"red_low": 85}), doctor())
    # When the same request is retried (the reply was lost)
    retry = service.change_thresholds(reply.episode_id, change(later, spo2={"red_low": 85}), doctor())
    # Then the retry gets the same version and no new one is stored
    assert retry == first and len(store.versions[reply.episode_id]) == 2


def test_a_change_from_now_while_a_later_version_is_scheduled_is_a_conflict_not_a_field_error(service):
    # Given a version scheduled from a future instant
    reply, _ = service.accept_referral(referral(), doctor())
    scheduled = change(NOW + timedelta(days=2), spo2={"red_low": 85})
    service.change_thresholds(reply.episode_id, scheduled, doctor())
    # When a change without valid_from (from now) arrives
    # Then it is a 409 explaining the scheduled version, not a 422 naming a field the client did not send
    with pytest.raises(Conflict, match="valid_from at or after"):
        service.change_thresholds(reply.episode_id, change(spo2={"red_low": 84}), doctor())


@pytest.mark.parametrize(("age", "refused"), [(timedelta(minutes=6), True), (timedelta(minutes=4), False)])
def test_a_back_dated_threshold_change_is_refused_beyond_the_clock_skew(service, store, age, refused):
    # Given an episode whose first version started ten days ago
    reply, _ = service.accept_referral(referral(), doctor())
    first = store.versions[reply.episode_id][0]
    store.versions[reply.episode_id][0] = replace(first, valid_from=NOW - timedelta(days=10))
    # When a change says it started `age` ago
    attempt = change(NOW - age, spo2={"red_low": 80})
    # Then more than the 5 minutes of clock skew is a 422 naming valid_from, and nothing is written
    if refused:
        with pytest.raises(InvalidInput) as refusal:
            service.change_thresholds(reply.episode_id, attempt, doctor())
        assert refusal.value.problems[0].field == "valid_from"
        assert len(store.versions[reply.episode_id]) == 1
    else:
        assert service.change_thresholds(reply.episode_id, attempt, doctor()).version == 2


@pytest.mark.parametrize(("ahead", "refused"),
                         [(timedelta(days=365, minutes=1), True), (timedelta(days=365), False)])
def test_a_threshold_change_is_scheduled_at_most_a_year_ahead(service, store, ahead, refused):
    # Given an episode
    reply, _ = service.accept_referral(referral(), doctor())
    # When a change is scheduled `ahead` of now
    attempt = change(NOW + ahead, spo2={"red_low": 80})
    # Then beyond 365 days it is a 422 naming valid_from and nothing is written (a version that far ahead
    # would hold every later change back); up to it, a new version
    if refused:
        with pytest.raises(InvalidInput) as refusal:
            service.change_thresholds(reply.episode_id, attempt, doctor())
        assert refusal.value.problems[0].field == "valid_from"
        assert "365 days" in refusal.value.problems[0].message
        assert len(store.versions[reply.episode_id]) == 1
    else:
        assert service.change_thresholds(reply.episode_id, attempt, doctor()).version == 2


def test_a_concurrent_threshold_change_is_built_on_not_overwritten(service, store):
    reply, _ = service.accept_referral(referral(), doctor())
    concurrent = service.change_thresholds(reply.episode_id, change(pulse={"red_high": 130}), doctor())
    store.episodes[reply.episode_id] = replace(store.episodes[reply.episode_id], threshold_version=1)
    store.before_write = lambda: setattr(store, "before_write", lambda: None) or store.episodes.__setitem__(
        reply.episode_id, replace(store.episodes[reply.episode_id], threshold_version=concurrent.version))
    version = service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor())
    assert version.version == 3
    assert version.thresholds.absolute["pulse"].red_high == 130


@pytest.mark.parametrize(("who", "allowed"), [(TREATING, True), (MONITORING, False), (OTHER, False)])
def test_only_the_treating_organisation_changes_thresholds_and_ends(service, who, allowed):
    reply, _ = service.accept_referral(referral(), doctor())
    if allowed:
        assert service.end(reply.episode_id, doctor(who)).status == EpisodeStatus.ENDED
        return
    with pytest.raises(Forbidden):
        service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor(who))
    with pytest.raises(Forbidden):
        service.end(reply.episode_id, doctor(who))


def test_a_handover_moves_responsibility_only_on_accept(service):
    reply, _ = service.accept_referral(referral(), doctor())
    with pytest.raises(Forbidden):
        service.offer_handover(reply.episode_id, HOSPITAL, doctor(TREATING))
    offered = service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    assert offered.monitoring_organisation == MONITORING
    with pytest.raises(Forbidden):
        service.accept_handover(reply.episode_id, doctor(OTHER))
    assert service.accept_handover(reply.episode_id, doctor(HOSPITAL)).monitoring_organisation == HOSPITAL
    assert service.accept_handover(reply.episode_id, doctor(HOSPITAL)).monitoring_organisation == HOSPITAL


def test_an_accept_that_loses_to_an_evaluation_writing_the_worklist_row_is_tried_again(service, store):
    # Given a pending offer to the hospital, and an evaluation that writes the episode's worklist row first
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    store.worklist_writes_first = 1
    # When the hospital accepts
    accepted = service.accept_handover(reply.episode_id, doctor(HOSPITAL))
    # Then it holds responsibility, and the worklist row moved to it
    assert accepted.monitoring_organisation == HOSPITAL
    assert store.worklist_organisations == {reply.episode_id: HOSPITAL}


def test_an_accept_that_keeps_losing_to_the_worklist_row_is_a_retry_later(service, store):
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    store.worklist_writes_first = 10
    with pytest.raises(ServiceUnavailable):
        service.accept_handover(reply.episode_id, doctor(HOSPITAL))
    assert store.episodes[reply.episode_id].monitoring_organisation == MONITORING


def test_a_withdrawal_that_loses_to_a_concurrent_accept_is_a_conflict(service, store):
    # Given a pending offer to the hospital
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    # When the hospital accepts between the withdrawal's read and its write
    store.before_write = lambda: setattr(store, "before_write", lambda: None) or service.accept_handover(
        reply.episode_id, doctor(HOSPITAL))
    # Then the withdrawal is a conflict and the hospital holds responsibility
    with pytest.raises(Conflict):
        service.withdraw_handover(reply.episode_id, doctor(MONITORING))
    assert store.episodes[reply.episode_id].monitoring_organisation == HOSPITAL


def test_a_decline_that_loses_to_a_concurrent_accept_is_a_conflict(service, store):
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))

    def concurrent_accept():
        store.before_write = lambda: None
        store.accept_handover(store.episodes[reply.episode_id], HOSPITAL)

    store.before_write = concurrent_accept
    with pytest.raises(Conflict):
        service.decline_handover(reply.episode_id, doctor(HOSPITAL))
    assert store.episodes[reply.episode_id].monitoring_organisation == HOSPITAL


def test_ending_is_idempotent_and_orders_collection_once(service, store):
    reply, _ = service.accept_referral(referral(), doctor())
    service.end(reply.episode_id, doctor())
    service.end(reply.episode_id, doctor())
    assert [order.kind for order in store.orders] == ["deliver", "collect"]


def test_ending_revokes_a_device_only_when_no_other_open_episode_uses_it(service, store):
    # Given a citizen with open COPD and heart-failure episodes sharing a scale, and a COPD-only oximeter
    copd, _ = service.accept_referral(referral(), doctor())
    heart, _ = service.accept_referral(referral(referral_id="ref-2", disease_area="heart_failure"), doctor())
    store.link("dev_scale", copd.episode_id, heart.episode_id)
    store.link("dev_oximeter", copd.episode_id)
    # When the COPD episode ends
    service.end(copd.episode_id, doctor())
    # Then only the oximeter is revoked and collected; the scale stays, serving heart failure alone
    assert store.devices["dev_oximeter"][0] == DeviceStatus.REVOKED
    assert store.devices["dev_scale"] == (DeviceStatus.ACTIVE, {heart.episode_id})
    assert store.orders[-1].body["device_ids"] == ["dev_oximeter"]
    # And when heart failure ends too, the scale is revoked and collected
    service.end(heart.episode_id, doctor())
    assert store.devices["dev_scale"][0] == DeviceStatus.REVOKED
    assert store.orders[-1].body["device_ids"] == ["dev_scale"]


def test_ending_decides_again_when_the_other_episode_ends_meanwhile(service, store):
    # Given two open episodes sharing a scale
    copd, _ = service.accept_referral(referral(), doctor())
    heart, _ = service.accept_referral(referral(referral_id="ref-2", disease_area="heart_failure"), doctor())
    store.link("dev_scale", copd.episode_id, heart.episode_id)
    ending_heart_failure = replace(store.episodes[heart.episode_id], status=EpisodeStatus.ENDED)

    def heart_failure_ends_concurrently():
        store.before_write = lambda: None
        store.episodes[heart.episode_id] = ending_heart_failure

    # When heart failure ends while COPD's ending is being decided
    store.before_write = heart_failure_ends_concurrently
    service.end(copd.episode_id, doctor())
    # Then COPD's ending sees it on its retry and revokes the scale (nobody uses it any more)
    assert store.devices["dev_scale"][0] == DeviceStatus.REVOKED
    assert store.orders[-1].body["device_ids"] == ["dev_scale"]


def test_each_handover_step_and_the_ending_is_logged_once_as_the_change_it_is(service, access_log):
    # Given an episode (its referral's entry set aside)
    reply, _ = service.accept_referral(referral(), doctor())
    episode_id, patient_id = reply.episode_id, reply.patient_id
    access_log.entries.clear()
    # When an offer is made and declined, another made, withdrawn, made again and accepted, and the episode
    # is ended
    service.offer_handover(episode_id, HOSPITAL, doctor(MONITORING))
    service.decline_handover(episode_id, doctor(HOSPITAL))
    service.offer_handover(episode_id, OTHER, doctor(MONITORING))
    service.withdraw_handover(episode_id, doctor(MONITORING))
    service.offer_handover(episode_id, HOSPITAL, doctor(MONITORING))
    accepted = service.accept_handover(episode_id, doctor(HOSPITAL))
    service.end(episode_id, doctor(TREATING))
    # Then each was logged once, as the change it is, by the organisation that made it (the offer's and the
    # acceptance's replies show the episode: no separate read)
    assert accepted.monitoring_organisation == HOSPITAL
    assert access_log.entries == [
        (patient_id, MONITORING, "offer_handover", episode_id),
        (patient_id, HOSPITAL, "decline_handover", episode_id),
        (patient_id, MONITORING, "offer_handover", episode_id),
        (patient_id, MONITORING, "withdraw_handover", episode_id),
        (patient_id, MONITORING, "offer_handover", episode_id),
        (patient_id, HOSPITAL, "accept_handover", episode_id),
        (patient_id, TREATING, "end_episode", episode_id),
    ]
    assert access_log.denials == []


def test_a_retried_change_is_logged_again(service, access_log):
    # Given an offer accepted and an episode ended
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    service.accept_handover(reply.episode_id, doctor(HOSPITAL))
    service.end(reply.episode_id, doctor())
    access_log.entries.clear()
    # When the acceptance (whose reply shows the episode) and the ending are retried
    service.accept_handover(reply.episode_id, doctor(HOSPITAL))
    service.end(reply.episode_id, doctor())
    # Then each retry is logged as well
    assert [entry[2] for entry in access_log.entries] == ["accept_handover", "end_episode"]


@pytest.mark.parametrize("change", ["offer", "withdraw", "accept", "decline", "end"])
def test_a_change_that_cannot_be_logged_changes_nothing(service, store, access_log, monkeypatch, change):
    # Given an episode (with an offer pending to the hospital, for all but the offer), and an access log
    # that cannot store entries now
    reply, _ = service.accept_referral(referral(), doctor())
    if change != "offer":
        service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    before = store.episodes[reply.episode_id]
    orders = len(store.orders)
    monkeypatch.setattr(access_log, "record", _unavailable)
    # When the change is asked for, Then the request fails and the episode and its orders are as they were
    attempts = {
        "offer": lambda: service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING)),
        "withdraw": lambda: service.withdraw_handover(reply.episode_id, doctor(MONITORING)),
        "accept": lambda: service.accept_handover(reply.episode_id, doctor(HOSPITAL)),
        "decline": lambda: service.decline_handover(reply.episode_id, doctor(HOSPITAL)),
        "end": lambda: service.end(reply.episode_id, doctor(TREATING)),
    }
    with pytest.raises(ServiceUnavailable):
        attempts[change]()
    assert store.episodes[reply.episode_id] == before and len(store.orders) == orders
    assert store.worklist_organisations == {}


# --- refusals and the access log ---------------------------------------------------------------------


@pytest.mark.parametrize(("who", "action", "attempt", "told"), [
    (MONITORING, "change_thresholds", lambda s, e, p: s.change_thresholds(e, change(spo2={"red_low": 85}), p),
     "only the treating organisation may change the thresholds"),
    (MONITORING, "end_episode", lambda s, e, p: s.end(e, p),
     "only the treating organisation may end the episode"),
    (TREATING, "offer_handover", lambda s, e, p: s.offer_handover(e, HOSPITAL, p),
     "only the organisation holding monitoring responsibility may offer a handover"),
    (TREATING, "accept_handover", lambda s, e, p: s.accept_handover(e, p),
     "only the organisation offered the handover may accept it"),
])
def test_a_related_organisation_refused_is_told_why_and_logged_as_denied(service, store, access_log, who,
                                                                          action, attempt, told):
    # Given an episode, with an offer to the hospital pending (its referral's entry set aside)
    reply, _ = service.accept_referral(referral(), doctor())
    service.offer_handover(reply.episode_id, HOSPITAL, doctor(MONITORING))
    before = store.episodes[reply.episode_id]
    access_log.entries.clear()
    # When an organisation of the episode asks for what its part does not allow
    # Then it is told why, the refusal is logged as denied first, and nothing changed
    with pytest.raises(Forbidden) as refused:
        attempt(service, reply.episode_id, doctor(who))
    assert refused.value.message == told
    assert access_log.denials == [(reply.patient_id, who, action, reply.episode_id)]
    assert access_log.entries == [] and store.episodes[reply.episode_id] == before


def test_a_referral_for_another_organisation_is_logged_as_denied_only_for_a_known_citizen(service,
                                                                                          access_log):
    # Given a referral whose treating organisation is not the caller's, for a citizen Telehub does not know
    # When it is sent, Then it is refused and nobody's log holds it
    with pytest.raises(Forbidden):
        service.accept_referral(referral(), doctor(OTHER))
    assert access_log.denials == []
    # Given the citizen referred since, When the same is sent again, Then the refusal is in the citizen's log
    reply, _ = service.accept_referral(referral(), doctor())
    with pytest.raises(Forbidden):
        service.accept_referral(referral(referral_id="ref-other"), doctor(OTHER))
    assert access_log.denials == [(reply.patient_id, OTHER, "create_episode", "")]


def test_a_referral_that_loses_a_race_is_logged_once_under_the_episode_it_creates(service, store, access_log,
                                                                                   monkeypatch):
    # Given a store whose first create loses to a concurrent change (written nothing)
    create = store.create
    attempts: list[str] = []

    def lose_once(new):
        attempts.append(new.episode.episode_id)
        return len(attempts) > 1 and create(new)

    monkeypatch.setattr(store, "create", lose_once)
    # When the referral is accepted
    reply, created = service.accept_referral(referral(), doctor())
    # Then both attempts wrote the same episode, and the request has one entry, naming it
    assert created and attempts == [reply.episode_id] * 2
    assert access_log.entries == [(reply.patient_id, TREATING, "create_episode", reply.episode_id)]


def test_a_threshold_change_is_logged_once_before_it_whatever_the_races(service, store, access_log):
    # Given an episode whose threshold version another change moves on before this one's write
    reply, _ = service.accept_referral(referral(), doctor())
    access_log.entries.clear()
    store.before_write = lambda: setattr(store, "before_write", lambda: None) or service.change_thresholds(
        reply.episode_id, change(pulse={"red_high": 130}), doctor())
    # When the change is made (built on the other, on the second attempt)
    assert service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor()).version == 3
    # Then each request has one entry
    assert access_log.entries == [(reply.patient_id, TREATING, "change_thresholds", reply.episode_id)] * 2


def test_a_threshold_change_that_cannot_be_logged_changes_nothing(service, store, access_log, monkeypatch):
    reply, _ = service.accept_referral(referral(), doctor())
    monkeypatch.setattr(access_log, "record", _unavailable)
    with pytest.raises(ServiceUnavailable):
        service.change_thresholds(reply.episode_id, change(spo2={"red_low": 85}), doctor())
    assert len(store.versions[reply.episode_id]) == 1
