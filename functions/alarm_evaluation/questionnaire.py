"""The colour of a questionnaire answer under one disease area's template.

Pure rules over the template's questionnaire (``{question_id: {answer: severity}}``): no event shapes, no
storage. The upload API has already refused answers that no open episode's template lists, so an answer
the caller passes is some area's; under an area whose template does not list it, it says nothing.
"""

from __future__ import annotations

from functions.alarm_evaluation.triage import Colour
from functions.shared.disease_areas import DiseaseArea


def answer_colour(area: DiseaseArea, question_id: str, answer: str) -> Colour | None:
    """The severity the area's template gives ``answer`` to ``question_id``, as a colour. None when the
    template asks no such question or lists no such answer to it: a question of another area (a citizen
    with COPD and heart failure answers both questionnaires in one sitting) gives no colour under this one.
    """
    severity = area.questionnaire.get(question_id, {}).get(answer)
    return None if severity is None else Colour(severity)
