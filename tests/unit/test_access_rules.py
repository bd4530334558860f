"""The rule table's semantics (functions/shared/access_rules.py): who a rule lets in, what a related caller is
told, the one reply of every other caller, the relations an organisation holds to an episode, and the guard
that logs a refusal of a known citizen as denied before raising it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.shared.access_log import Access
from functions.shared.access_rules import (
    ACCESS_RULES,
    AccessGuard,
    Relation,
    episode_relations,
    nothing_found,
    refusal,
)
from functions.shared.errors import NO_RELATION, Forbidden, NoRelation, ServiceUnavailable
from functions.shared.principal import Principal, Role
from tests.support.fakes import FakeAccessLog
from tests.support.organisations import HOSPITAL, MONITORING, OTHER, TREATING

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
THRESHOLDS = "PUT /v1/episodes/{episode_id}/thresholds"
READ_EPISODE = "GET /v1/episodes/{episode_id}"
REFER = "POST /v1/referrals"
ACCEPT = "POST /v1/episodes/{episode_id}/handover/accept"


def _reply(error: Forbidden) -> tuple[int, str, str]:
    return error.status, error.code, error.message


def test_a_caller_holding_an_allowed_relation_is_let_in():
    # Given the thresholds' rule (treating) and the episode's read (treating, monitoring, offered)
    # Then a caller holding one of the allowed relations, among others, is not refused
    assert refusal(THRESHOLDS, {Relation.TREATING}) is None
    assert refusal(THRESHOLDS, {Relation.MONITORING, Relation.TREATING}) is None
    assert refusal(READ_EPISODE, {Relation.OFFERED}) is None


def test_a_related_caller_the_rule_names_as_told_learns_why():
    # Given the monitoring organisation changing the thresholds (the rule tells it why not)
    told = refusal(THRESHOLDS, {Relation.MONITORING})
    # Then it gets a 403 with the rule's reason, not the reply of nothing
    assert told is not None and not isinstance(told, NoRelation)
    assert _reply(told) == (403, "forbidden", "only the treating organisation may change the thresholds")


@pytest.mark.parametrize("held", [set(), {Relation.OFFERED}, {Relation.DECLINED}])
def test_any_other_caller_gets_the_reply_of_nothing_byte_for_byte(held):
    # Given a caller without a relation, or with one the rule neither allows nor tells
    refused = refusal(THRESHOLDS, held)
    # Then its 403 is the one for something that does not exist
    assert refused is not None
    assert _reply(refused) == _reply(nothing_found(THRESHOLDS)) == _reply(NoRelation())
    assert refused.message == NO_RELATION


def test_a_referral_for_another_organisation_is_told_the_referral_rule():
    # Given a referral, which names nothing that exists yet
    refused = refusal(REFER, set())
    # Then an unrelated caller is told who may refer (unrelated_why), and nothing found is the same reply
    assert refused is not None
    assert refused.message == "only a clinician of the treating organisation may refer"
    assert _reply(nothing_found(REFER)) == _reply(refused)


def test_a_retried_acceptance_is_let_in_but_the_offerer_is_told():
    # Given the monitoring organisation, with no offer pending (it accepted: ACCEPTED) and with its own
    # offer pending (MONITORING only)
    assert refusal(ACCEPT, {Relation.MONITORING, Relation.ACCEPTED}) is None
    told = refusal(ACCEPT, {Relation.MONITORING})
    assert told is not None and told.message == "only the organisation offered the handover may accept it"


def test_every_rule_allows_some_relation_and_tells_only_with_a_reason():
    for route, rule in ACCESS_RULES.items():
        assert rule.roles and rule.allowed, route
        assert bool(rule.told) == bool(rule.told_why), route
        assert not rule.told & rule.allowed, route


@pytest.mark.parametrize(("organisation", "held"), [
    (TREATING, {Relation.TREATING}),
    (MONITORING, {Relation.MONITORING}),
    (HOSPITAL, {Relation.OFFERED}),
    (OTHER, {Relation.DECLINED}),
    ("999999", set()),
    (None, set()),
])
def test_episode_relations_are_what_the_organisation_holds(organisation, held):
    assert episode_relations(organisation, treating=TREATING, monitoring=MONITORING, offered=HOSPITAL,
                             declined=OTHER) == held


def test_one_organisation_may_hold_several_relations():
    assert episode_relations(TREATING, treating=TREATING, monitoring=TREATING) == {
        Relation.TREATING, Relation.MONITORING}


# --- the guard: decide, log a denial, raise --------------------------------------------------------


@pytest.fixture
def access_log() -> FakeAccessLog:
    return FakeAccessLog()


@pytest.fixture
def guard(access_log) -> AccessGuard:
    return AccessGuard(access_log, lambda: NOW)


def clinician(organisation: str) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="doc-1", organisation=organisation)


ABOUT = Access("pat_1", "change_thresholds", "epi_1")


def test_the_guard_lets_an_allowed_caller_through_and_logs_nothing(guard, access_log):
    guard.check(THRESHOLDS, {Relation.TREATING}, clinician(TREATING), ABOUT)
    assert access_log.entries == access_log.denials == []


@pytest.mark.parametrize(("organisation", "held", "error"), [
    (MONITORING, {Relation.MONITORING}, "only the treating organisation may change the thresholds"),
    (OTHER, set(), NO_RELATION),
])
def test_the_guard_logs_a_refusal_as_denied_before_raising_it(guard, access_log, organisation, held, error):
    # Given a told caller and an unrelated one
    # When the guard decides, Then the 403 is the rule's and the refusal was logged as denied
    with pytest.raises(Forbidden, match=error):
        guard.check(THRESHOLDS, held, clinician(organisation), ABOUT)
    assert access_log.denials == [("pat_1", organisation, "change_thresholds", "epi_1")]
    assert access_log.entries == []


def test_the_guard_logs_nothing_for_a_citizen_telehub_does_not_know(guard, access_log):
    with pytest.raises(Forbidden):
        guard.check(REFER, set(), clinician(OTHER), None)
    assert access_log.denials == []


def test_a_refusal_that_cannot_be_logged_is_a_503(guard, access_log, monkeypatch):
    # Given an access log that cannot store entries now
    def unavailable(*_: object) -> None:
        raise ServiceUnavailable("the access log could not store the entry; retry the request")

    monkeypatch.setattr(access_log, "record", unavailable)
    # When a caller is refused, Then the request fails closed (nothing is answered unlogged)
    with pytest.raises(ServiceUnavailable):
        guard.check(THRESHOLDS, set(), clinician(OTHER), ABOUT)
