"""An episode's questionnaire answers with in-memory fakes (functions/worklist/logic.py): every answer of its
"upload evaluated" events newest answered first, the range, paging over the sorted list with cursors of that
list only, and who may read them (logged before the reply)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from functions.shared.episode_records import EpisodeRelations, EpisodeStatus
from functions.shared.errors import InvalidInput, NoRelation
from functions.shared.principal import Principal, Role
from functions.worklist.logic import WorklistService, encode_cursor
from tests.support.fakes import FakeAccessLog, FakeEpisodeDirectory, FakeWorklistStore
from tests.support.organisations import MONITORING, OTHER, TREATING
from tests.support.worklist_items import answers_event_item

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
SPUTUM = "copd_coloured_sputum"


def answer_id(n: int) -> str:
    return f"ans_{n:024x}"


def answer(n: int, answered_at: str, value: str = "no", colour: str = "GREEN") -> dict[str, Any]:
    return {"answer_id": answer_id(n), "question_id": SPUTUM, "answer": value, "answered_at": answered_at,
            "late": False, "colour": colour}


def nurse(organisation: str = MONITORING) -> Principal:
    return Principal(role=Role.CLINICIAN, subject="nurse-1", organisation=organisation)


def relations(episode_id: str, patient_id: str) -> EpisodeRelations:
    return EpisodeRelations(episode_id, patient_id, "copd", EpisodeStatus.ACTIVE, NOW, TREATING, MONITORING,
                            handover_to=None)


@pytest.fixture
def store():
    # Given two uploads' events: a GREEN answer of the 21st, and a RED one (with its alarm) and a GREEN one
    # of the 23rd; and an event without answers
    return FakeWorklistStore([
        answers_event_item("epi_1", "evt_1", [answer(1, "2026-11-21T08:00:00.000Z")]),
        answers_event_item("epi_1", "evt_2", [answer(2, "2026-11-23T08:00:00.000Z", "yes", "RED"),
                                              answer(3, "2026-11-23T08:00:00.000Z")],
                           alarms={answer_id(2): "alm_" + "2" * 24}),
        answers_event_item("epi_1", "evt_3", []),
        answers_event_item("epi_2", "evt_4", [answer(4, "2026-11-22T08:00:00.000Z")]),
    ])


@pytest.fixture
def access_log():
    return FakeAccessLog()


@pytest.fixture
def service(store, access_log):
    directory = FakeEpisodeDirectory([relations("epi_1", "pat_1"), relations("epi_2", "pat_2")])
    return WorklistService(store, directory, access_log, clock=lambda: NOW)


def ids(page) -> list[str]:
    return [answer.answer_id for answer in page.answers]


def test_every_answer_of_the_episode_is_listed_newest_first_with_its_alarm_and_the_read_logged(
        service, access_log):
    # When the treating organisation's nurse reads the episode's answers
    page = service.answers("epi_1", nurse(TREATING), None, None, 50, None)
    # Then every answer of its events comes, GREEN ones too, newest answered first (the same instant by id)
    assert ids(page) == [answer_id(3), answer_id(2), answer_id(1)]
    assert page.next_cursor is None
    # And the RED one names its alarm, the GREEN ones none
    assert [(a.colour, a.answer, a.alarm_id) for a in page.answers] == [
        ("GREEN", "no", None), ("RED", "yes", "alm_" + "2" * 24), ("GREEN", "no", None)]
    # And the read was logged
    assert access_log.entries == [("pat_1", TREATING, "read_answers", "epi_1")]


def test_answers_are_read_within_the_range_both_ends_included(service):
    page = service.answers("epi_1", nurse(), datetime(2026, 11, 21, 8, tzinfo=UTC),
                           datetime(2026, 11, 22, tzinfo=UTC), 50, None)
    assert ids(page) == [answer_id(1)]


def test_from_after_to_is_refused_naming_the_field_and_nothing_is_logged(service, access_log):
    with pytest.raises(InvalidInput) as refused:
        service.answers("epi_1", nurse(), datetime(2026, 11, 23, tzinfo=UTC),
                        datetime(2026, 11, 22, tzinfo=UTC), 50, None)
    assert [problem.field for problem in refused.value.problems] == ["from"]
    assert access_log.entries == []


def test_answers_page_through_the_sorted_list(service, access_log):
    first = service.answers("epi_1", nurse(), None, None, 2, None)
    second = service.answers("epi_1", nurse(), None, None, 2, first.next_cursor)
    assert [ids(first), ids(second)] == [[answer_id(3), answer_id(2)], [answer_id(1)]]
    assert second.next_cursor is None
    assert len(access_log.entries) == 2


POSITION = {"answered_at": "2026-11-23T08:00:00+00:00", "answer_id": answer_id(3)}


@pytest.mark.parametrize("cursor", [
    encode_cursor("answers#epi_2##", POSITION),  # another episode's answers
    encode_cursor("answers#epi_1#2026-11-01T00:00:00.000Z#", POSITION),  # other filters
    encode_cursor("answers#epi_1##", {"answered_at": "yesterday", "answer_id": answer_id(3)}),  # forged
    encode_cursor("answers#epi_1##", {**POSITION, "pk": "EPISODE#epi_1"}),  # another list's shape
])
def test_a_cursor_of_another_list_or_a_forged_one_is_refused_naming_it(service, cursor):
    with pytest.raises(InvalidInput) as refused:
        service.answers("epi_1", nurse(), None, None, 1, cursor)
    assert [problem.field for problem in refused.value.problems] == ["cursor"]


def test_another_organisation_gets_the_refusal_of_an_unknown_episode_logged_as_denied(service, access_log):
    with pytest.raises(NoRelation) as not_related:
        service.answers("epi_1", nurse(OTHER), None, None, 50, None)
    with pytest.raises(NoRelation) as unknown:
        service.answers("epi_unknown", nurse(OTHER), None, None, 50, None)
    assert str(not_related.value) == str(unknown.value)
    assert access_log.entries == []
    assert access_log.denials == [("pat_1", OTHER, "read_answers", "epi_1")]
