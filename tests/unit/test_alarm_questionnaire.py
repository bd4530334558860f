"""Questionnaire severities (functions/alarm_evaluation/questionnaire.py): each answer a template lists
has the template's colour under that area, and none under an area whose template does not list it."""

from __future__ import annotations

import pytest

from functions.alarm_evaluation.questionnaire import answer_colour
from functions.alarm_evaluation.triage import Colour
from functions.shared.disease_areas import disease_area, disease_areas

GREEN, YELLOW, RED = Colour.GREEN, Colour.YELLOW, Colour.RED
COPD, HEART_FAILURE = disease_area("copd"), disease_area("heart_failure")


@pytest.mark.parametrize(
    ("area", "question_id", "answer", "colour"),
    [
        (COPD, "more_breathless_than_usual", "yes", YELLOW),
        (COPD, "more_cough_than_usual", "yes", YELLOW),
        (COPD, "coloured_sputum", "yes", RED),
        (COPD, "more_breathless_and_more_cough", "yes", RED),
        (COPD, "coloured_sputum", "no", GREEN),
        (HEART_FAILURE, "more_breathless_than_usual", "yes", YELLOW),
        (HEART_FAILURE, "swollen_ankles_or_legs", "yes", YELLOW),
        (HEART_FAILURE, "breathless_lying_flat", "yes", RED),
        (HEART_FAILURE, "breathless_lying_flat", "no", GREEN),
    ],
)
def test_an_answer_has_its_templates_severity(area, question_id, answer, colour):
    # Given an answer the area's questionnaire lists, When coloured under that area
    # Then it has the template's severity
    assert answer_colour(area, question_id, answer) is colour


def test_every_listed_answer_of_every_template_has_a_colour():
    # Given every answer of every shipped questionnaire, Then each is coloured as its template says
    for area in disease_areas().values():
        for question_id, severities in area.questionnaire.items():
            for answer, severity in severities.items():
                assert answer_colour(area, question_id, answer) is Colour(severity)


def test_a_question_both_areas_ask_is_coloured_under_each():
    # Given "more breathless than usual", which COPD and heart failure both ask
    # Then a yes is YELLOW under either area's template
    assert answer_colour(COPD, "more_breathless_than_usual", "yes") is YELLOW
    assert answer_colour(HEART_FAILURE, "more_breathless_than_usual", "yes") is YELLOW


@pytest.mark.parametrize(
    ("area", "question_id", "answer"),
    [
        (COPD, "swollen_ankles_or_legs", "yes"),  # heart failure's question
        (COPD, "breathless_lying_flat", "yes"),  # heart failure's RED question
        (HEART_FAILURE, "coloured_sputum", "yes"),  # COPD's RED question
        (COPD, "coloured_sputum", "sometimes"),  # an answer no template lists
        (COPD, "no_such_question", "yes"),
    ],
)
def test_an_answer_the_template_does_not_list_gives_no_colour(area, question_id, answer):
    # Given an answer to another area's question, or one the template does not list
    # When coloured under this area, Then it gives no colour (neither GREEN nor an alarm)
    assert answer_colour(area, question_id, answer) is None


def test_a_template_is_its_own_authority():
    # Given a template whose questionnaire rates a "no" RED (a question asked the other way round)
    data = HEART_FAILURE.model_dump()
    data["questionnaire"] = {"can_walk_up_stairs": {"yes": "GREEN", "no": "RED"}}
    area = type(HEART_FAILURE).model_validate(data)
    # Then the colour is that template's, not a rule about yes and no
    assert answer_colour(area, "can_walk_up_stairs", "no") is RED
    assert answer_colour(area, "can_walk_up_stairs", "yes") is GREEN
